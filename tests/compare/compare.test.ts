import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { describe, expect, test } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { InputError } from '../../src/engine/errors.js';
import { readRun } from '../../src/rundir/read.js';
import { compareRuns, type Comparison } from '../../src/compare/compareRuns.js';
import { renderJunit, renderMarkdown } from '../../src/compare/render.js';
import { compareCommand, runCompare, type CompareArgs } from '../../src/cli/compare.js';
import type { CellResult, RunManifest } from '../../src/rundir/records.js';
import { cell, checkpointRef, flip, manifest, mcnemarClosedForm, randomBits, signFlipClosedForm, tempDir, writeRun } from './fixtures.js';

const N = 1000;
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(b, 1e-300));

interface Bits {
  clean: boolean[];
  first: boolean[];
  e2e: boolean[];
}

/** An adversarial run of one checkpoint: clean, PGD first path and PGD e2e path at eps 0.1. */
function adversarialRun(dir: string, name: string, bits: Bits, edit: (m: RunManifest) => void = () => undefined): string {
  const ids = { clean: `${name}|clean`, first: `${name}|pgd|first|0.1`, e2e: `${name}|pgd|e2e|0.1` };
  const m = manifest([checkpointRef(name, 1, name.length % 2 ? 'cd' : 'ab')], bits.clean.length, Object.values(ids));
  edit(m);
  const attack = { attack: 'pgd', attackParams: { steps: 20, restarts: 1 }, eps: 0.1, threatModel: 'linf' as const };
  const cells: CellResult[] = [
    cell({ id: ids.clean, kind: 'clean', checkpoint: name }, bits.clean),
    cell({ id: ids.first, kind: 'attack', checkpoint: name, path: 'first', ...attack }, bits.first),
    cell({ id: ids.e2e, kind: 'attack', checkpoint: name, path: 'e2e', ...attack }, bits.e2e),
  ];
  return writeRun(dir, m, cells);
}

function baselineBits(n = N): Bits {
  const clean = randomBits(n, 0.9, 1);
  const first = clean.map((c, i) => c && randomBits(n, 0.6, 2)[i]);
  const e2e = first.map((c, i) => c && randomBits(n, 0.8, 3)[i]);
  return { clean, first, e2e };
}

async function pair(candidate: (b: Bits) => Bits, edit?: (m: RunManifest) => void, n = N) {
  const root = tempDir('compare');
  const base = baselineBits(n);
  const cand = candidate(base);
  const bDir = adversarialRun(join(root, 'baseline'), 'cnnf-main', base);
  const cDir = adversarialRun(join(root, 'candidate'), 'cnnf-pr', cand, edit);
  return { root, base, cand, bDir, cDir };
}

const args = (bDir: string, cDir: string, extra: Partial<CompareArgs> = {}): CompareArgs => ({ baseline: bDir, candidate: cDir, maxDrop: 1, alpha: 0.05, quiet: true, ...extra });

function discordant(a: boolean[], b: boolean[]) {
  return { b: a.filter((x, i) => x && !b[i]).length, c: a.filter((x, i) => !x && b[i]).length };
}

describe('bench compare on two runs', () => {
  test('40 samples flip right->wrong and 5 wrong->right under e2e PGD: REGRESSION, exit code 1, exact McNemar p', async () => {
    const { root, base, cand, bDir, cDir } = await pair((b) => ({ ...b, e2e: flip(b.e2e, 40, 5) }));
    const out = { markdown: join(root, 'out/compare.md'), json: join(root, 'out/compare.json'), junit: join(root, 'out/compare.xml') };
    const { code, comparison } = await runCompare(args(bDir, cDir, out));
    expect(code).toBe(1);
    expect(comparison.verdict).toBe('REGRESSION');

    // The cell row: matched by checkpoint position although the checkpoint names differ.
    const row = comparison.rows.find((r) => r.id === 'cnnf-pr|pgd|e2e|0.1')!;
    expect(row.baseline.checkpoint).toBe('cnnf-main');
    expect([row.test.b, row.test.c]).toEqual([40, 5]);
    close(row.test.pValue, mcnemarClosedForm(40, 5));
    expect(row.deltaPoints).toBeCloseTo(-3.5, 12);
    expect(row.failed).toBe(true);
    // Unchanged cells pass with p = 1.
    for (const id of ['cnnf-pr|clean', 'cnnf-pr|pgd|first|0.1']) {
      const r = comparison.rows.find((x) => x.id === id)!;
      expect([r.test.b, r.test.c, r.test.pValue, r.failed]).toEqual([0, 0, 1, false]);
    }

    // Worst case at eps 0.1: the per-sample AND of clean, first and e2e, recomputed here.
    const and = (x: Bits) => x.clean.map((c, i) => c && x.first[i] && x.e2e[i]);
    const worst = comparison.rows.find((r) => r.scope === 'worst-case')!;
    const d = discordant(and(base), and(cand));
    expect([worst.test.b, worst.test.c]).toEqual([d.b, d.c]);
    expect(worst.baseline.correct).toBe(and(base).filter(Boolean).length);
    expect(worst.candidate.correct).toBe(and(cand).filter(Boolean).length);
    close(worst.test.pValue, mcnemarClosedForm(d.b, d.c));

    // Outputs: Markdown leads with the verdict, then failing rows, then all rows; JSON has every row.
    const md = readFileSync(out.markdown, 'utf8');
    expect(md.split('\n')[0]).toMatch(/^## REGRESSION/);
    expect(md.indexOf('### Failing rows')).toBeGreaterThan(0);
    expect(md.indexOf('### Failing rows')).toBeLessThan(md.indexOf('### All rows'));
    const json = JSON.parse(readFileSync(out.json, 'utf8')) as Comparison;
    expect(json.rows.length).toBe(comparison.rows.length);
    expect(json.rows.filter((r) => r.failed).map((r) => r.id)).toEqual(comparison.rows.filter((r) => r.failed).map((r) => r.id));

    // JUnit: well-formed, one testcase per gated row, a failure element per failing row.
    const xml = readFileSync(out.junit, 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testcase' }).parse(xml);
    const cases = doc.testsuites.testsuite.testcase as Record<string, unknown>[];
    expect(cases.length).toBe(comparison.rows.length);
    expect(cases.filter((c) => c.failure !== undefined).length).toBe(comparison.failures);
    expect(Number(doc.testsuites['@_failures'])).toBe(comparison.failures);
  });

  test('the command handler sets exit code 1 on a regression', async () => {
    const { bDir, cDir } = await pair((b) => ({ ...b, e2e: flip(b.e2e, 40, 5) }));
    const before = process.exitCode;
    try {
      await (compareCommand.handler as (a: CompareArgs) => Promise<void>)(args(bDir, cDir));
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
    }
  });

  test('a 0.3-point wobble with balanced flips: PASS, exit code 0', async () => {
    // 10 samples robust to everything become wrong everywhere, 7 wrong everywhere become right everywhere.
    const wobble = (b: Bits): Bits => {
      const robust = b.clean.flatMap((c, i) => (c && b.first[i] && b.e2e[i] ? [i] : [])).slice(50, 60);
      const wrong = b.clean.flatMap((c, i) => (!c ? [i] : [])).slice(5, 12);
      const edit = (bits: boolean[]) => bits.map((x, i) => (robust.includes(i) ? false : wrong.includes(i) ? true : x));
      return { clean: edit(b.clean), first: edit(b.first), e2e: edit(b.e2e) };
    };
    const { bDir, cDir } = await pair(wobble);
    const { code, comparison } = await runCompare(args(bDir, cDir));
    expect(code).toBe(0);
    expect(comparison.verdict).toBe('PASS');
    const row = comparison.rows.find((r) => r.id === 'cnnf-pr|pgd|first|0.1')!;
    expect(row.deltaPoints).toBeCloseTo(-0.3, 12);
    close(row.test.pValue, mcnemarClosedForm(10, 7));
    expect(renderMarkdown(comparison).split('\n')[0]).toMatch(/^## PASS/);
  });

  test('the gate needs both: a significant 0.9-point drop passes; a 6-point drop on 50 images (p = 0.25) is inconclusive, and passes at --max-drop 10', async () => {
    const significantSmall = await pair((b) => ({ ...b, clean: flip(b.clean, 9, 0) }));
    const small = await runCompare(args(significantSmall.bDir, significantSmall.cDir));
    const clean = small.comparison.rows.find((r) => r.id === 'cnnf-pr|clean')!;
    expect(clean.test.pValue).toBeCloseTo(2 / 512, 12);
    expect([clean.failed, small.code]).toEqual([false, 0]);
    // With --max-drop 0.5 the same drop fails.
    expect((await runCompare(args(significantSmall.bDir, significantSmall.cDir, { maxDrop: 0.5 }))).code).toBe(1);

    // 50 images cannot detect a drop beyond 1 point (it takes 6 one-way samples, 12 points): not a PASS.
    const noisy = await pair((b) => ({ ...b, e2e: flip(b.e2e, 3, 0) }), undefined, 50);
    let printed = '';
    const big = await runCompare(args(noisy.bDir, noisy.cDir), (t) => (printed += t));
    // --quiet still prints the verdict, one line, so a CI log shows why the step exits 4.
    expect(printed).toBe(`INCONCLUSIVE: ${big.comparison.inconclusive} of ${big.comparison.rows.length} gated rows cannot detect a drop of more than 1 points at alpha 0.05 (exit 4)\n`);
    const e2e = big.comparison.rows.find((r) => r.id === 'cnnf-pr|pgd|e2e|0.1')!;
    expect(e2e.deltaPoints).toBeCloseTo(-6, 12);
    close(e2e.test.pValue, mcnemarClosedForm(3, 0));
    expect([e2e.failed, e2e.status, big.comparison.verdict, big.code]).toEqual([false, 'inconclusive', 'INCONCLUSIVE', 4]);
    // With --max-drop 10 (the smallest 50 images support: 5 samples allowed, 6 detectable) it is a conclusive pass.
    const wide = await runCompare(args(noisy.bDir, noisy.cDir, { maxDrop: 10 }));
    expect([wide.comparison.verdict, wide.code]).toEqual(['PASS', 0]);
  });

  test('a bench-run/1 baseline (an older run directory) compares with a bench-run/2 candidate', async () => {
    const toV2 = (m: RunManifest) => {
      Object.assign(m, { format: 'bench-run/2', probes: [], plan: { cells: m.cells, probes: [], units: [{ id: 'all', cells: m.cells, probes: [], cost: 1 }] } });
    };
    const { bDir, cDir } = await pair((b) => b, toV2);
    expect(JSON.parse(readFileSync(join(bDir, 'run.json'), 'utf8')).format).toBe('bench-run/1');
    expect(JSON.parse(readFileSync(join(cDir, 'run.json'), 'utf8')).format).toBe('bench-run/2');
    const { code, comparison } = await runCompare(args(bDir, cDir));
    expect(code).toBe(0);
    expect(comparison.verdict).toBe('PASS');
    expect(comparison.rows.map((r) => r.id)).toContain('cnnf-pr|pgd|e2e|0.1');
  });

  test('runs of different samples, seeds or configs are refused with one line naming the difference', async () => {
    const shifted = await pair((b) => b, (m) => (m.sampleIndices = m.sampleIndices.map((i) => i + 1)));
    await expect(runCompare(args(shifted.bDir, shifted.cDir))).rejects.toThrow(InputError);
    await expect(runCompare(args(shifted.bDir, shifted.cDir))).rejects.toThrow(/sampleIndices\[0\] differs from the baseline's \(baseline 0, candidate 1\)/);

    const seed = await pair((b) => b, (m) => (m.seed = 8));
    await expect(runCompare(args(seed.bDir, seed.cDir))).rejects.toThrow(/: seed differs/);

    const eps = await pair((b) => b, (m) => (m.config = { ...m.config, epsilons: [0, 0.2] }));
    const err = await runCompare(args(eps.bDir, eps.cDir)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/config\.epsilons\[1\] differs .*baseline 0\.1, candidate 0\.2/);
    expect((err as Error).message.split('\n').length).toBe(1);

    // Checkpoint directories and the batch size do not change results: still comparable.
    const batch = await pair((b) => b, (m) => (m.config = { ...m.config, batchSize: 7 }));
    expect((await runCompare(args(batch.bDir, batch.cDir))).code).toBe(0);

    const shard = await pair((b) => b, (m) => (m.shard = { index: 1, count: 2 }));
    await expect(runCompare(args(shard.bDir, shard.cDir))).rejects.toThrow(/shard 1\/2 .*bench merge/);
  });

  test('the one-step form validates its input before starting a backend or loading a model', async () => {
    const root = tempDir('onestep');
    await expect(runCompare(args('checkpoints/a', 'checkpoints/b', { config: join(root, 'missing.json') }))).rejects.toThrow(/missing\.json: cannot read the config/);
    await expect(runCompare(args('a', 'b', { out: root }))).rejects.toThrow(/--out: only the one-step form/);
    await expect(runCompare(args('a', undefined as unknown as string))).rejects.toThrow(/needs a baseline and a candidate/);
  });

  test('bad gates are input errors', async () => {
    const { bDir, cDir } = await pair((b) => b);
    await expect(runCompare(args(bDir, cDir, { alpha: 0 }))).rejects.toThrow(/--alpha/);
    await expect(runCompare(args(bDir, cDir, { maxDrop: Number.NaN }))).rejects.toThrow(/--max-drop/);
  });
});

/** A run of one checkpoint whose clean and PGD cells follow `bits` on n images. */
function uniformRun(dir: string, name: string, clean: boolean[], pgd: boolean[]): string {
  return adversarialRun(dir, name, { clean, first: pgd, e2e: pgd });
}

describe('a gate that cannot detect --max-drop says so (issue 13, item 3)', () => {
  test('5 images, the candidate gets every one wrong (100% -> 0%): INCONCLUSIVE, exit 4, not PASS', async () => {
    const root = tempDir('tiny');
    const right = Array<boolean>(5).fill(true);
    const wrong = Array<boolean>(5).fill(false);
    const bDir = uniformRun(join(root, 'b'), 'cnn-main', right, right);
    const cDir = uniformRun(join(root, 'c'), 'cnn-pr', wrong, wrong);
    const out = { markdown: join(root, 'compare.md'), junit: join(root, 'compare.xml'), json: join(root, 'compare.json') };
    const { code, comparison } = await runCompare(args(bDir, cDir, out));
    expect(code).toBe(4);
    expect(comparison.verdict).toBe('INCONCLUSIVE');
    const clean = comparison.rows.find((r) => r.id === 'cnn-pr|clean')!;
    expect(clean.deltaPoints).toBe(-100);
    close(clean.test.pValue, mcnemarClosedForm(5, 0)); // 2/32 = 0.0625: no outcome on 5 images reaches 0.05
    expect([clean.failed, clean.status, clean.detectableDrop, clean.conclusiveMaxDrop]).toEqual([false, 'inconclusive', null, null]);
    expect(comparison.inconclusive).toBe(comparison.rows.length);

    const md = readFileSync(out.markdown, 'utf8');
    expect(md.split('\n')[0]).toBe(`## INCONCLUSIVE: ${comparison.rows.length} of ${comparison.rows.length} gated rows cannot detect a drop of more than 1 points at alpha 0.05`);
    expect(md).toContain('at least 6 samples change, all one way');
    expect(md).toContain('needs at least 500 images in every row');
    expect(md).toContain('Exit code 4');
    expect(md).not.toMatch(/PASS/);
    // JUnit: inconclusive rows fail like the exit code, with their own type.
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testcase' }).parse(readFileSync(out.junit, 'utf8'));
    const cases = doc.testsuites.testsuite.testcase as { failure?: Record<string, string> }[];
    expect(cases.every((c) => c.failure?.['@_type'] === 'inconclusive')).toBe(true);
    expect(Number(doc.testsuites['@_failures'])).toBe(cases.length);
    expect((JSON.parse(readFileSync(out.json, 'utf8')) as Comparison).verdict).toBe('INCONCLUSIVE');

    // --allow-inconclusive: exit 0, still called INCONCLUSIVE; JUnit marks the rows skipped.
    const allowed = await runCompare(args(bDir, cDir, { ...out, allowInconclusive: true }));
    expect([allowed.code, allowed.comparison.verdict]).toEqual([0, 'INCONCLUSIVE']);
    expect(readFileSync(out.markdown, 'utf8').split('\n')[0]).toMatch(/^## INCONCLUSIVE/);
    const doc2 = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testcase' }).parse(readFileSync(out.junit, 'utf8'));
    expect(Number(doc2.testsuites['@_failures'])).toBe(0);
    expect(Number(doc2.testsuites['@_skipped'])).toBe(cases.length);
  });

  test('100 images (configs/ci.json), a 5-point drop all one way: INCONCLUSIVE at --max-drop 1; conclusive at --max-drop 5, where 6 points fail', async () => {
    const n = 100;
    const base = baselineBits(n);
    const root = tempDir('ci100');
    const bDir = adversarialRun(join(root, 'b'), 'cnnf-main', base);
    const five = adversarialRun(join(root, 'c5'), 'cnnf-pr', { ...base, clean: flip(base.clean, 5, 0) });
    const six = adversarialRun(join(root, 'c6'), 'cnnf-pr', { ...base, clean: flip(base.clean, 6, 0) });

    const r1 = await runCompare(args(bDir, five));
    const clean = r1.comparison.rows.find((r) => r.id === 'cnnf-pr|clean')!;
    expect(clean.deltaPoints).toBeCloseTo(-5, 12);
    expect([clean.status, clean.detectableDrop, clean.conclusiveMaxDrop]).toEqual(['inconclusive', 6, 5]);
    expect([r1.comparison.verdict, r1.code]).toEqual(['INCONCLUSIVE', 4]);
    expect(renderMarkdown(r1.comparison)).toContain('On these samples the gate is conclusive with --max-drop 5 or more');

    const r5 = await runCompare(args(bDir, five, { maxDrop: 5 }));
    expect([r5.comparison.verdict, r5.code]).toEqual(['PASS', 0]);
    const r6 = await runCompare(args(bDir, six, { maxDrop: 5 }));
    expect([r6.comparison.verdict, r6.code]).toEqual(['REGRESSION', 1]);
    close(r6.comparison.rows.find((r) => r.id === 'cnnf-pr|clean')!.test.pValue, 2 / 64);
  });

  test('a regression outranks inconclusive rows: REGRESSION, exit 1', async () => {
    const { bDir, cDir } = await pair((b) => ({ ...b, e2e: flip(b.e2e, 40, 5) }));
    const r = await runCompare(args(bDir, cDir, { maxDrop: 0.4 }));
    // A drop beyond 0.4 points of 1000 can be 5 samples, never significant: the unchanged rows are inconclusive.
    expect(r.comparison.rows.some((x) => x.status === 'inconclusive')).toBe(true);
    expect([r.comparison.verdict, r.code]).toEqual(['REGRESSION', 1]);
  });

  test('the command handler sets exit code 4 on an inconclusive comparison, and --help documents it', async () => {
    const root = tempDir('tiny-handler');
    const right = Array<boolean>(5).fill(true);
    const bDir = uniformRun(join(root, 'b'), 'cnn-main', right, right);
    const cDir = uniformRun(join(root, 'c'), 'cnn-pr', right.map(() => false), right.map(() => false));
    const before = process.exitCode;
    try {
      await (compareCommand.handler as (a: CompareArgs) => Promise<void>)(args(bDir, cDir));
      expect(process.exitCode).toBe(4);
    } finally {
      process.exitCode = before;
    }
    const help = await new Promise<string>((done) => {
      void yargs()
        .command(compareCommand)
        .exitProcess(false)
        .parse(['compare', '--help'], (_err: unknown, _argv: unknown, output: string) => done(output));
    });
    expect(help).toContain('--allow-inconclusive');
    expect(help.replace(/\s+/g, ' ')).toMatch(/4 INCONCLUSIVE: no row fails/);
  });
});

describe('threat models in a comparison (issue 13, item 7)', () => {
  test('worst-case rows combine one norm each and every label names it', async () => {
    const { writeMixedNormRun } = await import('../report/fixtures.js');
    const root = tempDir('norms');
    writeMixedNormRun(join(root, 'b'), 'cnn-main');
    writeMixedNormRun(join(root, 'c'), 'cnn-pr');
    const cmp = compareRuns(await readRun(join(root, 'b')), await readRun(join(root, 'c')), { maxDrop: 10, alpha: 0.05 });
    const worst = cmp.rows.filter((r) => r.scope === 'worst-case');
    expect(worst.map((r) => r.label)).toEqual([
      'worst case L∞ eps=0',
      'worst case L∞ eps=0.1',
      'worst case L∞ eps=1',
      'worst case L2 eps=0',
      'worst case L2 eps=1',
      'worst case L2 eps=3',
    ]);
    const l2At1 = worst.find((r) => r.id === 'cnn-pr|worst-case|l2|1')!;
    expect(l2At1.baseline.correct).toBe(15);
    expect(l2At1.baseline.cellIds).toEqual(['cnn-main|pgd-l2|first|1', 'cnn-main|clean']);
    expect(cmp.rows.find((r) => r.id === 'cnn-pr|pgd-l2|first|1')!.label).toBe('pgd-l2 first L2 eps=1');
  });
});

describe('mean corruption accuracy', () => {
  test('difference of means and the exact sign-flip p on per-sample counts of correct cells', async () => {
    const n = 300;
    const root = tempDir('corr');
    const specs = ['gaussian_noise', 'fog', 'contrast'].flatMap((c) => [1, 3].map((s) => ({ c, s })));
    const write = (dir: string, name: string, bitsOf: (k: number) => boolean[]) => {
      const cells = specs.map(({ c, s }, k) =>
        cell({ id: `${name}|corruption|${c}|${s}`, kind: 'corruption', checkpoint: name, corruption: c, family: 'noise', severity: s }, bitsOf(k)),
      );
      const m = manifest([checkpointRef(name)], n, cells.map((x) => x.id), { suite: 'corruption', corruptions: ['gaussian_noise', 'fog', 'contrast'], severities: [1, 3] });
      m.suite = 'corruption';
      delete (m.config as Record<string, unknown>).epsilons;
      return { dir: writeRun(dir, m, cells), cells };
    };
    const baseBits = specs.map((_, k) => randomBits(n, 0.8 - 0.05 * k, 10 + k));
    const candBits = baseBits.map((b, k) => flip(b, 6 + 2 * k, 3, 37 * k));
    const base = write(join(root, 'b'), 'cnn-a', (k) => baseBits[k]);
    const cand = write(join(root, 'c'), 'cnn-b', (k) => candBits[k]);

    const cmp = compareRuns(await readRun(base.dir), await readRun(cand.dir));
    const row = cmp.rows.find((r) => r.scope === 'mean-corruption')!;
    const meanAcc = (cells: CellResult[]) => cells.reduce((s, c) => s + c.accuracy, 0) / cells.length;
    expect(row.baseline.accuracy).toBeCloseTo(meanAcc(base.cells), 12);
    expect(row.deltaPoints).toBeCloseTo(100 * (meanAcc(cand.cells) - meanAcc(base.cells)), 9);
    const d = Array.from({ length: n }, (_, i) => candBits.filter((b) => b[i]).length - baseBits.filter((b) => b[i]).length);
    close(row.test.pValue, signFlipClosedForm(d));
    expect(row.test.method).toBe('sign-flip-exact');
    expect(cmp.rows.filter((r) => r.scope === 'cell').length).toBe(specs.length);
  });
});

describe('JUnit XML', () => {
  test('names with XML metacharacters are escaped and the document parses', async () => {
    const name = `cnn<&>"'\u0001`;
    const { bDir, cDir } = await (async () => {
      const root = tempDir('xml');
      const base = baselineBits(200);
      return {
        bDir: adversarialRun(join(root, 'b'), name, base),
        cDir: adversarialRun(join(root, 'c'), name, { ...base, e2e: flip(base.e2e, 30, 0) }),
      };
    })();
    const cmp = compareRuns(await readRun(bDir), await readRun(cDir));
    const xml = renderJunit(cmp);
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testcase' }).parse(xml);
    const cases = doc.testsuites.testsuite.testcase as Record<string, string>[];
    expect(cases.length).toBe(cmp.rows.length);
    expect(cases.some((c) => c['@_name'].startsWith('cnn&lt;&amp;&gt;&quot;&apos;') || c['@_name'].startsWith(`cnn<&>"'`))).toBe(true);
  });
});

describe('cell identity across runs', () => {
  test('a transfer attack from the run\'s own checkpoint #1 matches whatever #1 is called', async () => {
    const { cellKey, assertComparable } = await import('../../src/compare/identity.js');
    const side = (names: [string, string]) => {
      const refs = [checkpointRef(names[0]), checkpointRef(names[1], 0)];
      const m = manifest(refs, 10, [], {
        attacks: [{ name: 'pgd', label: `pgd@${names[1]}`, params: {}, paths: ['first'], transferFrom: refs[1].dir }],
      });
      const c = cell(
        { id: `${names[0]}|pgd@${names[1]}|first|0.1`, kind: 'attack', checkpoint: names[0], attack: `pgd@${names[1]}`, path: 'first', eps: 0.1, threatModel: 'linf', attackParams: {}, transferFrom: names[1] },
        randomBits(10, 0.5, 1),
      );
      return { dir: `/runs/${names[0]}`, manifest: m, key: cellKey(m, c, 'x') };
    };
    const a = side(['cnnf-main', 'cnn-main']);
    const b = side(['cnnf-pr', 'cnn-pr']);
    expect(a.key).toBe(b.key);
    expect(a.key).toContain('pgd@#1');
    expect(() => assertComparable(a, b)).not.toThrow();
  });
});
