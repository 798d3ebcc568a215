/**
 * Paired comparison of a baseline run and a candidate run of the same config (see identity.ts for when
 * two runs compare and how cells match). Every row is gated: it FAILS when the candidate is lower by more
 * than `maxDrop` accuracy points AND the paired test rejects equality at level `alpha`; requiring both
 * keeps tiny-but-significant drops (large samples) and large-but-noisy ones (small samples) from failing a
 * build.
 *
 * Rows:
 *  - one per matched cell (clean, attack, corruption): exact McNemar test on the per-sample outcomes;
 *  - worst-case robust accuracy per checkpoint, threat model and epsilon: the per-sample AND over the
 *    matched attack cells of that threat model at that epsilon and the clean cell (AutoAttack's
 *    convention, as summary.ts), then McNemar;
 *  - mean corruption accuracy per checkpoint: the mean over matched corruption cells; the test is the
 *    exact paired sign-flip test on d_i = (cells the candidate gets right on sample i) - (cells the
 *    baseline gets right on sample i). sum_i d_i / (n * cells) is exactly the difference of the two means,
 *    so the test is about the gated number itself (a McNemar on "right on most corruptions" would test a
 *    different statistic), keeps the pairing (the same image under the same corruption draw), and reduces
 *    to McNemar's test when there is one cell.
 * Cells of unequal sample counts (an attack with `limit`) join a summary over their common prefix, the
 * first n images every one of them evaluated.
 *
 * A row whose sample is too small for the test to detect a drop just beyond `maxDrop` at `alpha` even in
 * the most favourable outcome (power.ts) is INCONCLUSIVE, not passed: the verdict is REGRESSION when any
 * row fails, else INCONCLUSIVE when any row is inconclusive, else PASS. PASS therefore means: no row
 * fails, and every row could have failed on a drop of more than maxDrop points.
 */
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import { decodeBits, type CellResult } from '../rundir/records.js';
import { missingCells, type RunData } from '../rundir/read.js';
import { epsKey, runThreatModels } from '../suite/summary.js';
import { normSymbol, threatModelOf } from '../../attacks/threatModels.js';
import { assertComparable, cellKey } from './identity.js';
import { discordantCounts, mcnemarExact, signFlipTest } from './pairedTests.js';
import { conclusiveMaxDrop, DROP_TOLERANCE, detectability } from './power.js';

export interface Gates {
  /** Accuracy points (percent) the candidate may lose before a significant drop fails. */
  maxDrop: number;
  /** Significance level of the paired test. */
  alpha: number;
  /** An INCONCLUSIVE verdict exits 0 instead of 4 (it is still reported as INCONCLUSIVE). */
  allowInconclusive?: boolean;
}

export const DEFAULT_GATES: Gates = { maxDrop: 1.0, alpha: 0.05 };

/** Exit codes of `bench compare` (2 is unusable input, as for every verb). */
export const EXIT_CODES = { PASS: 0, REGRESSION: 1, INCONCLUSIVE: 4 } as const;

export type Verdict = 'PASS' | 'REGRESSION' | 'INCONCLUSIVE';
export type RowStatus = 'pass' | 'fail' | 'inconclusive';

export type RowScope = 'cell' | 'worst-case' | 'mean-corruption';

export interface RowSide {
  checkpoint: string;
  /** The cell id (cell rows), or the ids of the combined cells (summary rows). */
  cellIds: string[];
  /** Correct outcomes: samples (cell and worst-case rows) or sample-cells (mean corruption). */
  correct: number;
  /** Outcomes counted: samples, or samples x cells for the mean corruption accuracy. */
  samples: number;
  accuracy: number;
}

export interface PairedTest {
  method: 'mcnemar-exact' | 'sign-flip-exact' | 'sign-flip-normal';
  /** Samples where the baseline does better (McNemar's b). */
  b: number;
  /** Samples where the candidate does better (McNemar's c). */
  c: number;
  pValue: number;
}

export interface ComparisonRow {
  /** Stable id: the candidate's cell id, or "<candidate checkpoint>|worst-case|<linf|l2>|<eps>" / "<candidate checkpoint>|mean-corruption". */
  id: string;
  scope: RowScope;
  /** What the row measures, with the norm of eps, e.g. "pgd e2e L∞ eps=0.1", "worst case L2 eps=1.5", "mean corruption accuracy". */
  label: string;
  /** Checkpoint position in run.json (the matching key). */
  position: number;
  baseline: RowSide;
  candidate: RowSide;
  /** Candidate minus baseline accuracy, in points. */
  deltaPoints: number;
  test: PairedTest;
  failed: boolean;
  /** fail: drop beyond maxDrop and p < alpha; inconclusive: not failed, and the sample cannot detect a drop just beyond maxDrop at alpha; pass otherwise. */
  status: RowStatus;
  /** Smallest drop (points) this row's sample can detect at alpha (all changed samples one way); null when none can. */
  detectableDrop: number | null;
  /** Smallest --max-drop (points) for which this row would be conclusive at alpha; null when none below 100 is. */
  conclusiveMaxDrop: number | null;
}

export interface RunInfo {
  dir: string;
  checkpoints: { name: string; dir: string; weightsSha256: string }[];
  backend: string;
  createdAt: string;
  /** Planned cells without a result. */
  missingCells: number;
}

export interface Comparison {
  format: 'bench-compare/2';
  verdict: Verdict;
  gates: Gates;
  baseline: RunInfo;
  candidate: RunInfo;
  suite: string;
  seed: number;
  samples: number;
  /** Summary rows (per checkpoint: worst case per eps, mean corruption), then cell rows in the baseline's plan order. */
  rows: ComparisonRow[];
  failures: number;
  /** Rows that are neither failed nor able to detect a drop beyond maxDrop. */
  inconclusive: number;
  /** Cells present in only one run (not compared). */
  unmatched: { baselineOnly: string[]; candidateOnly: string[] };
  notes: string[];
}

interface Pair {
  key: string;
  position: number;
  base: CellResult;
  cand: CellResult;
  baseBits: boolean[];
  candBits: boolean[];
}

function bitsOf(run: RunData, cell: CellResult): boolean[] {
  const bits = decodeBits(cell.correctBits, cell.samples);
  const set = bits.filter(Boolean).length;
  if (set !== cell.correct)
    throw inputError(join(run.dir, 'cells', cell.id), `correct is ${cell.correct} but correctBits has ${set} samples set`, 'a cell written by `bench run`');
  return bits;
}

export function cellLabel(cell: CellResult): string {
  switch (cell.kind) {
    case 'clean':
      return 'clean';
    case 'corruption':
      return `${cell.corruption} s${cell.severity}`;
    case 'attack': {
      const path = cell.path && cell.path !== 'none' ? ` ${cell.path}` : '';
      return `${cell.attack}${path} ${normSymbol(threatModelOf(cell))} eps=${cell.eps}`;
    }
  }
}

const points = (correct: number, samples: number) => (samples === 0 ? 0 : (100 * correct) / samples);

/** Applies the gate: lower by more than maxDrop points and significant. */
export function gateFails(deltaPoints: number, pValue: number, gates: Gates): boolean {
  // The tolerance keeps an exact drop of maxDrop (e.g. 10 of 1000 samples at 1.0) from failing through rounding.
  return -deltaPoints > gates.maxDrop + DROP_TOLERANCE && pValue < gates.alpha;
}

/** status and detectableDrop of a row: `samples` images, accuracy counted over `units` outcomes. */
function judge(failed: boolean, samples: number, units: number, gates: Gates): Pick<ComparisonRow, 'status' | 'detectableDrop' | 'conclusiveMaxDrop'> {
  const d = detectability(samples, units, gates.maxDrop, gates.alpha);
  return {
    status: failed ? 'fail' : d.conclusive ? 'pass' : 'inconclusive',
    detectableDrop: d.detectableDrop,
    conclusiveMaxDrop: conclusiveMaxDrop(samples, units, gates.alpha),
  };
}

/** The verdict of a set of rows: any failure is a REGRESSION; else any inconclusive row makes it INCONCLUSIVE. */
export function verdictOf(rows: readonly Pick<ComparisonRow, 'status'>[]): Verdict {
  if (rows.some((r) => r.status === 'fail')) return 'REGRESSION';
  return rows.some((r) => r.status === 'inconclusive') ? 'INCONCLUSIVE' : 'PASS';
}

/** The exit code for a verdict: 0 pass, 1 regression, 4 inconclusive (0 with allowInconclusive). */
export function exitCodeOf(verdict: Verdict, gates: Pick<Gates, 'allowInconclusive'>): number {
  if (verdict === 'INCONCLUSIVE' && gates.allowInconclusive) return EXIT_CODES.PASS;
  return EXIT_CODES[verdict];
}

function side(checkpoint: string, cellIds: string[], correct: number, samples: number): RowSide {
  return { checkpoint, cellIds, correct, samples, accuracy: samples === 0 ? 0 : correct / samples };
}

function binaryRow(
  scope: RowScope,
  id: string,
  label: string,
  position: number,
  names: [string, string],
  ids: [string[], string[]],
  base: readonly boolean[],
  cand: readonly boolean[],
  gates: Gates,
): ComparisonRow {
  const kb = base.filter(Boolean).length;
  const kc = cand.filter(Boolean).length;
  const n = base.length;
  const { b, c } = discordantCounts(base, cand);
  const test = mcnemarExact(b, c);
  const deltaPoints = points(kc, n) - points(kb, n);
  const failed = gateFails(deltaPoints, test.pValue, gates);
  return {
    id,
    scope,
    label,
    position,
    baseline: side(names[0], ids[0], kb, n),
    candidate: side(names[1], ids[1], kc, n),
    deltaPoints,
    test: { method: 'mcnemar-exact', ...test },
    failed,
    ...judge(failed, n, n, gates),
  };
}

function andPrefix(vectors: boolean[][]): boolean[] {
  const n = Math.min(...vectors.map((v) => v.length));
  return Array.from({ length: n }, (_, i) => vectors.every((v) => v[i]));
}

function info(run: RunData): RunInfo {
  return {
    dir: run.dir,
    checkpoints: run.manifest.checkpoints.map((c) => ({ name: c.name, dir: c.dir, weightsSha256: c.weightsSha256 })),
    backend: run.manifest.backend?.name ?? 'unknown',
    createdAt: run.manifest.createdAt,
    missingCells: missingCells(run).length,
  };
}

function keyed(run: RunData): Map<string, CellResult> {
  const out = new Map<string, CellResult>();
  for (const cell of run.cells) {
    const where = join(run.dir, 'cells');
    const key = cellKey(run.manifest, cell, where);
    const other = out.get(key);
    if (other) throw inputError(where, `cells ${JSON.stringify(other.id)} and ${JSON.stringify(cell.id)} are the same evaluation`, 'one cell per evaluation');
    out.set(key, cell);
  }
  return out;
}

/** Refuses gates that are not a number of points >= 0 and a level in (0, 1]. */
export function checkGates(gates: Gates): void {
  if (!(gates.maxDrop >= 0 && gates.maxDrop <= 100)) throw inputError('--max-drop', `${gates.maxDrop} is not a number of accuracy points`, 'a number in [0, 100]');
  if (!(gates.alpha > 0 && gates.alpha <= 1)) throw inputError('--alpha', `${gates.alpha} is not a significance level`, 'a number in (0, 1]');
}

/** Compares two runs; throws InputError when they are not comparable. */
export function compareRuns(baseline: RunData, candidate: RunData, gates: Gates = DEFAULT_GATES): Comparison {
  checkGates(gates);
  assertComparable(baseline, candidate);

  const baseCells = keyed(baseline);
  const candCells = keyed(candidate);
  const pairs: Pair[] = [];
  for (const [key, base] of baseCells) {
    const cand = candCells.get(key);
    if (!cand) continue;
    if (base.samples !== cand.samples)
      throw inputError(
        join(candidate.dir, 'cells', cand.id),
        `samples ${cand.samples} differs from the baseline cell ${JSON.stringify(base.id)} (${base.samples})`,
        'cells evaluated on the same images',
      );
    pairs.push({ key, position: Number(key.slice(1, key.indexOf('|'))), base, cand, baseBits: bitsOf(baseline, base), candBits: bitsOf(candidate, cand) });
  }
  if (pairs.length === 0)
    throw inputError(join(candidate.dir, 'cells'), 'no cell matches a baseline cell', 'runs of the same config with completed cells');

  const names = (p: number): [string, string] => [baseline.manifest.checkpoints[p].name, candidate.manifest.checkpoints[p].name];
  const summaryRows: ComparisonRow[] = [];
  const positions = [...new Set(pairs.map((p) => p.position))].sort((a, b) => a - b);
  for (const position of positions) {
    const mine = pairs.filter((p) => p.position === position);
    const [baseName, candName] = names(position);
    const clean = mine.find((p) => p.base.kind === 'clean');
    const allAttacks = mine.filter((p) => p.base.kind === 'attack');
    // A worst case combines the attacks of one threat model: an L2 and an L-inf radius are different balls.
    for (const threatModel of runThreatModels(allAttacks.map((p) => p.base))) {
      const attacks = allAttacks.filter((p) => threatModelOf(p.base) === threatModel);
      const epsilons = [...new Set(attacks.map((p) => epsKey(p.base.eps!)))].sort((a, b) => a - b);
      for (const eps of epsilons) {
        const group = attacks.filter((p) => epsKey(p.base.eps!) === eps);
        if (clean) group.push(clean);
        summaryRows.push(
          binaryRow(
            'worst-case',
            `${candName}|worst-case|${threatModel}|${eps}`,
            `worst case ${normSymbol(threatModel)} eps=${eps}`,
            position,
            [baseName, candName],
            [group.map((p) => p.base.id), group.map((p) => p.cand.id)],
            andPrefix(group.map((p) => p.baseBits)),
            andPrefix(group.map((p) => p.candBits)),
            gates,
          ),
        );
      }
    }
    const corruptions = mine.filter((p) => p.base.kind === 'corruption');
    if (corruptions.length > 0) {
      const n = Math.min(...corruptions.map((p) => p.base.samples));
      const differences = new Array<number>(n).fill(0);
      let kb = 0;
      let kc = 0;
      for (const p of corruptions)
        for (let i = 0; i < n; i++) {
          const b = p.baseBits[i] ? 1 : 0;
          const c = p.candBits[i] ? 1 : 0;
          kb += b;
          kc += c;
          differences[i] += c - b;
        }
      const total = n * corruptions.length;
      const test = signFlipTest(differences);
      const deltaPoints = points(kc, total) - points(kb, total);
      const failed = gateFails(deltaPoints, test.pValue, gates);
      summaryRows.push({
        id: `${candName}|mean-corruption`,
        scope: 'mean-corruption',
        label: `mean corruption accuracy (${corruptions.length} cells)`,
        position,
        baseline: side(baseName, corruptions.map((p) => p.base.id), kb, total),
        candidate: side(candName, corruptions.map((p) => p.cand.id), kc, total),
        deltaPoints,
        test: { method: test.method === 'exact' ? 'sign-flip-exact' : 'sign-flip-normal', b: test.worse, c: test.better, pValue: test.pValue },
        failed,
        ...judge(failed, n, total, gates),
      });
    }
  }
  const cellRows = pairs.map((p) =>
    binaryRow('cell', p.cand.id, cellLabel(p.base), p.position, names(p.position), [[p.base.id], [p.cand.id]], p.baseBits, p.candBits, gates),
  );
  const rows = [...summaryRows, ...cellRows];

  const matched = new Set(pairs.map((p) => p.key));
  const unmatched = {
    baselineOnly: [...baseCells].filter(([k]) => !matched.has(k)).map(([, c]) => c.id),
    candidateOnly: [...candCells].filter(([k]) => !matched.has(k)).map(([, c]) => c.id),
  };
  const notes: string[] = [];
  const b = info(baseline);
  const c = info(candidate);
  if (unmatched.baselineOnly.length + unmatched.candidateOnly.length > 0)
    notes.push(`${unmatched.baselineOnly.length} baseline and ${unmatched.candidateOnly.length} candidate cells have no counterpart and are not compared.`);
  for (const [what, r] of [['baseline', b], ['candidate', c]] as const)
    if (r.missingCells > 0) notes.push(`The ${what} run is incomplete: ${r.missingCells} planned cells have no result.`);
  if (b.backend !== c.backend) notes.push(`The runs used different backends (baseline ${b.backend}, candidate ${c.backend}); float rounding may move a few samples.`);
  b.checkpoints.forEach((ck, i) => {
    if (ck.weightsSha256 && ck.weightsSha256 === c.checkpoints[i]?.weightsSha256)
      notes.push(`Checkpoint #${i} has the same weights in both runs (sha256 ${ck.weightsSha256.slice(0, 12)}).`);
  });
  const failures = rows.filter((r) => r.failed).length;
  return {
    format: 'bench-compare/2',
    verdict: verdictOf(rows),
    gates,
    baseline: b,
    candidate: c,
    suite: baseline.manifest.suite,
    seed: baseline.manifest.seed,
    samples: baseline.manifest.sampleIndices.length,
    rows,
    failures,
    inconclusive: rows.filter((r) => r.status === 'inconclusive').length,
    unmatched,
    notes,
  };
}
