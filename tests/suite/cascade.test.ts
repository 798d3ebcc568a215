/**
 * The cascade (ensemble) of attacks, src/suite/cascade.ts: each stage attacks only the samples every earlier
 * stage left correct, AutoAttack's rule. The runner's cells are checked against a plain re-implementation of
 * that rule with the attacks called directly (same rng keys), and the minimisation stage's derivation against
 * thresholding each sample's distance at every eps.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist, type ImageDataset } from '../../src/data/fashionMnist.js';
import { cellFileName } from '../../src/rundir/files.js';
import { decodeBits, type SuiteCellResult } from '../../src/rundir/records.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { executeRun, prepareRun, type RunOutcome, type RunRequest } from '../../src/suite/runner.js';
import { brokenBy, deriveFromDistances } from '../../src/suite/cascade.js';
import { answersRadius } from '../../attacks/define.js';
import { validateConfig } from '../../src/suite/config.js';
import { worstCase } from '../../src/suite/summary.js';
import { getAttack } from '../../attacks/registry.js';
import { fixtureCheckpoint } from './fixtures.js';

const N = 10;
const SEED = 5;
const EPS = [0, 0.02, 0.05];
const STAGES = [
  { name: 'fgsm', label: 'fgsm', params: {} },
  { name: 'pgd', label: 'pgd', params: { steps: 2 } },
  { name: 'square', label: 'square', params: { queries: 6 } },
];
let root: string;
let backend: BackendInfo;
let cnnf: SuiteModel;
let data: ImageDataset;
let outcome: RunOutcome;

const configOf = () => ({
  suite: 'adversarial',
  checkpoints: [join(root, 'cnnf')],
  attacks: STAGES.map((s) => ({ name: s.name, params: s.params, cascade: 'ens', ...(s.name !== 'square' ? { paths: ['exact'] } : {}) })),
  epsilons: EPS,
  limit: N,
  batchSize: 100,
  seed: SEED,
  sanity: false,
});

async function run(req: RunRequest): Promise<RunOutcome> {
  const prep = await prepareRun(req);
  return executeRun(prep, { backend, quiet: true, transformData: (d) => ({ ...d, labels: data.labels.slice(0, d.count) }) });
}

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-cascade-'));
  await fixtureCheckpoint('cnnf', join(root, 'cnnf'), 'cnnf-fmnist');
  cnnf = await loadSuiteModel({ path: join(root, 'cnnf'), output: 'last', where: 'cnnf' });
  const loaded = await loadFashionMnist('test', { limit: N });
  // Labels: the model's own clean predictions, except two, so the clean cell has misclassified samples too.
  const x = tf.tensor4d(loaded.images, [N, 28, 28, 1]);
  const logits = cnnf.classifier.logits(x, 'last');
  const pred = tf.argMax(logits, 1);
  const labels = Int32Array.from(pred.dataSync());
  labels[3] = (labels[3] + 1) % 10;
  labels[7] = (labels[7] + 1) % 10;
  tf.dispose([x, logits, pred]);
  data = { ...loaded, labels };
  const path = join(root, 'cascade.json');
  writeFileSync(path, JSON.stringify(configOf()));
  outcome = await run({ configFile: path, out: join(root, 'run') });
}, 300_000);

afterAll(() => {
  cnnf?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

const bits = (c: SuiteCellResult) => decodeBits(c.correctBits, c.samples);
const cell = (id: string) => outcome.cells.find((c) => c.id === id)!;

describe('cascade runner', () => {
  it('equals the plain AutoAttack loop: per eps, each stage attacks the survivors of the earlier stages (and of its own smaller eps)', async () => {
    const x = tf.tensor4d(data.images, [N, 28, 28, 1]);
    const clean = Array.from({ length: N }, (_, i) => i !== 3 && i !== 7);
    expect(bits(cell('cnnf-fmnist|clean'))).toEqual(clean);
    let before = EPS.map(() => clean);
    for (const stage of STAGES) {
      const attack = getAttack(stage.name);
      const params = attack.parseParams(stage.params, 'p');
      let prev = clean;
      const now: boolean[][] = [];
      for (const [k, eps] of EPS.entries()) {
        const id = `cnnf-fmnist|ens/${stage.label}|e2e|${eps}`;
        const start = before[k].map((ok, i) => ok && prev[i]);
        const rows = start.flatMap((ok, i) => (ok ? [i] : []));
        const correct = start.slice();
        if (eps > 0 && rows.length > 0) {
          const xs = tf.gather(x, rows) as tf.Tensor4D;
          const ys = tf.tensor1d(rows.map((r) => data.labels[r]), 'int32');
          const res = await attack.run(cnnf.classifier, xs, ys, eps, new KeyedRng(SEED, id, rows), {
            path: attack.usesGradient ? 'e2e' : 'first',
            output: 'last',
            params,
          });
          rows.forEach((r, j) => (correct[r] = !res.fooled[j]));
          tf.dispose([xs, ys, res.xAdv]);
        }
        const rec = cell(id);
        expect(bits(rec), id).toEqual(correct);
        expect(rec.attacked).toBe(eps > 0 ? rows.length : 0);
        expect(rec.cascade).toMatchObject({ label: 'ens', stage: STAGES.indexOf(stage) + 1, stages: ['fgsm', 'pgd', 'square'] });
        expect(rec.cascade!.broken).toBe(before[k].filter(Boolean).length - correct.filter(Boolean).length);
        now.push(correct);
        prev = correct;
      }
      before = now;
    }
    tf.dispose(x);
    // The attacks break something, so the stages are exercised.
    expect(cell(`cnnf-fmnist|ens|e2e|0.05`).correct).toBeLessThan(8);
  }, 300_000);

  it('the worst-case cell holds the last stage\'s bits and which stage broke each sample; the run\'s worst case agrees', () => {
    for (const eps of EPS) {
      const w = cell(`cnnf-fmnist|ens|e2e|${eps}`);
      const stages = STAGES.map((s) => bits(cell(`cnnf-fmnist|ens/${s.label}|e2e|${eps}`)));
      expect(bits(w)).toEqual(stages[2]);
      expect(w.attack).toBe('ens');
      expect(w.cascade!.stage).toBeUndefined();
      // The samples the cascade attacked at this eps: every stage's attacked samples are among the first stage's.
      expect(w.attacked).toBe(cell(`cnnf-fmnist|ens/fgsm|e2e|${eps}`).attacked);
      // At the first eps > 0 that is every clean-correct sample (8 of 10).
      expect(w.attacked).toBe(eps === 0 ? 0 : eps === EPS[1] ? 8 : w.attacked);
      const by = w.cascade!.brokenBy!;
      expect(by[3]).toBe(0);
      expect(by[7]).toBe(0);
      by.forEach((s, i) => {
        if (s === -1) expect(stages.every((b) => b[i])).toBe(true);
        if (s > 0) {
          expect(stages[s - 1][i]).toBe(false);
          if (s > 1) expect(stages[s - 2][i]).toBe(true);
        }
      });
      const row = worstCase({ dir: outcome.runDir, manifest: outcome.manifest, cells: outcome.cells, sanity: [] }).find((r) => r.eps === eps)!;
      expect(row.correct).toBe(w.correct);
    }
  });

  it('the more-steps probe of a cascade stage starts from the cascade after that stage: read when stored, recomputed identically in a shard without it', async () => {
    const path = join(root, 'cascade-sanity.json');
    writeFileSync(path, JSON.stringify({ ...configOf(), sanity: true, sanityLimit: 6 }));
    const full = await run({ configFile: path, out: join(root, 'sanity-run') });
    // The probes run the cascade's PGD (the only untargeted iterative stage) at eps 0.02 (sanityEps default).
    const probeOf = (o: RunOutcome) => o.probes.find((p) => (p as SuiteCellResult).probe?.kind === 'more-steps') as SuiteCellResult | undefined;
    const more = probeOf(full)!;
    expect(more.id).toBe('cnnf-fmnist|probe|pgd-steps8|e2e|0.02');
    expect(more.reference!.id).toBe('cnnf-fmnist|ens/pgd|e2e|0.02');
    // Its reference is the stage cell's first 6 bits (the samples FGSM then PGD left correct), and it attacked exactly those.
    const stageBits = decodeBits(full.cells.find((c) => c.id === 'cnnf-fmnist|ens/pgd|e2e|0.02')!.correctBits, N).slice(0, 6);
    expect(more.reference!.correct).toBe(stageBits.filter(Boolean).length);
    expect(more.attacked).toBe(stageBits.filter(Boolean).length);
    decodeBits(more.correctBits, 6).forEach((ok, i) => ok && expect(stageBits[i]).toBe(true));
    expect(full.sanity.find((c) => c.checkpoint === 'cnnf-fmnist' && c.name === 'more-steps')!.detail).toContain('on the samples cascade ens left correct after its stage pgd at eps 0.02');
    // Sharded: the shard holding the probe without the cascade recomputes the stages on the 6 images, the same bits.
    const shards = [await run({ configFile: path, out: join(root, 'sanity-shard1'), shard: '1/2' }), await run({ configFile: path, out: join(root, 'sanity-shard2'), shard: '2/2' })];
    const alone = shards.find((o) => probeOf(o) && !o.manifest.cells.includes(more.reference!.id));
    expect(alone, 'a shard with the probe but not the cascade').toBeDefined();
    const strip = ({ timings, completedAt, sha256, ...rest }: SuiteCellResult & { sha256?: string }) => (void timings, void completedAt, void sha256, rest);
    expect(strip(probeOf(alone!)!)).toEqual(strip(more));
  }, 300_000);

  it('writes one example panel per cascade: per eps the worst-case example its worst-case cell counts (the stage that broke each image)', () => {
    const dir = join(outcome.runDir, 'images');
    const name = 'adversarial-cnnf-fmnist-ens-e2e';
    expect(readdirSync(dir).filter((f) => f.startsWith(name)).sort()).toEqual([`${name}.json`, `${name}.png`]);
    const side = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    const n = 6;
    const positive = EPS.filter((e) => e > 0);
    expect(side.group).toBe('adversarial');
    expect(side.title).toBe('cnnf-fmnist: cascade ens (fgsm → pgd → square), e2e gradient path');
    expect(side.columns).toEqual(['clean', ...positive.map((e) => `L∞ ε=${e}`), `perturbation (L∞ ε=${positive[positive.length - 1]})`]);
    expect(side.grid).toMatchObject({ rows: n, cols: positive.length + 2 });
    positive.forEach((eps, k) => {
      const w = cell(`cnnf-fmnist|ens|e2e|${eps}`);
      const by = w.cascade!.brokenBy!.slice(0, n);
      expect(side.details.brokenBy[k]).toEqual(by);
      for (let r = 0; r < n; r++) {
        // The tile is misclassified exactly when the worst-case cell counts the image as broken.
        expect(side.details.predictions[k][r] === data.labels[r], `eps ${eps} row ${r}`).toBe(bits(w)[r]);
        const stage = side.details.exampleStage[k][r];
        const text: string = side.tiles[r][k + 1].text;
        if (by[r] === 0) expect(stage).toBeNull();
        else if (by[r] === -1) expect([stage, text.endsWith('(robust)')]).toEqual([3, true]);
        else if (stage === null) expect(text.endsWith('(kept)')).toBe(true);
        else expect([stage, text.endsWith(`(by ${STAGES[by[r] - 1].label})`)]).toEqual([by[r], true]);
      }
    });
    // Something was broken by a stage in view, so the panel shows more than clean images.
    expect(side.details.exampleStage.flat().some((s: number | null) => s !== null && s < 3)).toBe(true);
  });

  it('--resume redraws a deleted cascade panel from the stored cells, recomputing its examples: the same bytes', async () => {
    const dir = join(outcome.runDir, 'images');
    const name = 'adversarial-cnnf-fmnist-ens-e2e';
    const before = [readFileSync(join(dir, `${name}.png`)), readFileSync(join(dir, `${name}.json`))];
    unlinkSync(join(dir, `${name}.png`));
    await run({ resume: outcome.runDir });
    expect([readFileSync(join(dir, `${name}.png`)), readFileSync(join(dir, `${name}.json`))]).toEqual(before);
  }, 300_000);

  it('--resume recomputes deleted stage and worst-case cells identically', async () => {
    const dir = outcome.runDir;
    unlinkSync(join(dir, 'cells', cellFileName('cnnf-fmnist|ens/pgd|e2e|0.05')));
    unlinkSync(join(dir, 'cells', cellFileName('cnnf-fmnist|ens|e2e|0.02')));
    const resumed = await run({ resume: dir });
    const strip = (cs: SuiteCellResult[]) => cs.map(({ timings, completedAt, ...rest }) => (void timings, void completedAt, rest));
    expect(strip(resumed.cells)).toEqual(strip(outcome.cells));
  }, 300_000);
});

describe('minimisation stages', () => {
  it('one run\'s distances answer every eps: the same cells as thresholding each eps on that eps\'s survivors', () => {
    const eps = [0, 0.01, 0.03, 0.1];
    // Correct after the earlier stages, per eps (monotone: a sample broken at a smaller eps stays broken).
    const previous = [
      [true, true, true, false, true, true],
      [true, true, true, false, true, false],
      [true, false, true, false, true, false],
      [false, false, true, false, true, false],
    ];
    const rows = [0, 1, 2, 4, 5];
    const distance = [0.02, 0.005, Infinity, 0.1, 0.03];
    const derived = deriveFromDistances(previous, eps, rows, distance);
    // Per eps: attack that eps's survivors; broken iff distance <= eps.
    const d = new Map(rows.map((r, j) => [r, distance[j]]));
    const expected = previous.map((b, k) => b.map((ok, i) => (eps[k] === 0 ? ok : ok && !(d.get(i)! <= eps[k]))));
    expect(derived).toEqual(expected);
    expect(derived[1]).toEqual([true, false, true, false, true, false]);
    expect(derived[3]).toEqual([false, false, true, false, false, false]);
    expect(() => deriveFromDistances(previous, eps, [0, 1, 2, 5], [1, 1, 1, 1])).toThrow(/not attacked/);
  });

  it('reads a distance at eps as the per-eps run and the sweep do: within the float32 slack of the ball counts as broken', () => {
    // A projection onto the ball can land a hair outside it in float32; thresholdAt (one eps) and the
    // sweep's minimisation cells accept it with attacks/norms.ts withinBall, so the cascade must too.
    const eps = [0.03];
    const inside = 0.03 * (1 + 1e-6);
    const outside = 0.0301;
    expect([answersRadius(inside, 0.03), answersRadius(outside, 0.03)]).toEqual([true, false]);
    expect(deriveFromDistances([[true, true]], eps, [0, 1], [inside, outside])).toEqual([[false, true]]);
  });

  it('brokenBy names the first stage after which a sample is wrong', () => {
    expect(brokenBy([false, true, true, true], [[false, true, false, true], [false, false, false, true]])).toEqual([0, 2, 1, -1]);
  });
});

/** Runs `fn` with cascades split into parts of `samples` (BENCH_CASCADE_PART_SAMPLES, read by the worker processes too). */
async function inPartsOf<T>(samples: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.BENCH_CASCADE_PART_SAMPLES;
  process.env.BENCH_CASCADE_PART_SAMPLES = String(samples);
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.BENCH_CASCADE_PART_SAMPLES;
    else process.env.BENCH_CASCADE_PART_SAMPLES = previous;
  }
}

describe('cascade split by samples over worker processes (--workers, src/suite/cascadeParts.ts)', () => {
  it('gives the cells of one process, the minimisation stage included, and leaves no part files', async () => {
    // The real labels (worker processes read the dataset themselves, not this test's relabelled copy);
    // parts of 3 samples, so the 10 images make 4 parts for the 2 processes.
    const config = {
      ...configOf(),
      // The committed checkpoint: trained, so most panel rows are correct clean and get attacked.
      checkpoints: [fileURLToPath(new URL('../../checkpoints/cnnf-fmnist', import.meta.url))],
      attacks: [
        { name: 'fgsm', params: {}, cascade: 'mix', paths: ['exact'] },
        { name: 'fmn', params: { steps: 20 }, cascade: 'mix', paths: ['exact'] },
        { name: 'square', params: { queries: 6 }, cascade: 'mix' },
      ],
    };
    const path = join(root, 'split.json');
    writeFileSync(path, JSON.stringify(config));
    // What the parts folder holds when the main process writes the cells (it removes it at the end).
    const partsSeen = new Set<string>();
    // The panel's examples the parts captured (so the main process need not recompute them).
    const examplesSeen = new Set<string>();
    const once = async (out: string, workers: number) =>
      executeRun(await prepareRun({ configFile: path, out: join(root, out), workers }), {
        backend,
        quiet: true,
        onCell: () => {
          const dir = join(root, out, 'parts');
          if (existsSync(dir))
            for (const f of readdirSync(dir)) {
              partsSeen.add(f);
              const examples = JSON.parse(readFileSync(join(dir, f), 'utf8')).examples ?? {};
              for (const [id, byRow] of Object.entries(examples)) for (const r of Object.keys(byRow as object)) examplesSeen.add(`${id}#${r}`);
            }
        },
      });
    const single = await once('split-1', 1);
    expect(partsSeen.size).toBe(0);
    const split = await inPartsOf(3, () => once('split-2', 2));
    const view = (c: SuiteCellResult) => ({ id: c.id, bits: c.correctBits, correct: c.correct, attacked: c.attacked, cascade: c.cascade, gradients: c.timings.gradientEvaluations });
    expect([...partsSeen].sort()).toEqual(['0-3', '3-6', '6-9', '9-10'].map((r) => `cascade_cnnf-fmnist_mix_e2e_samples_${r}.json`));
    expect(split.cells.map(view)).toEqual(single.cells.map(view));
    // Some stage broke something, so the comparison is not between two untouched runs.
    expect(split.cells.some((c) => (c.cascade?.broken ?? 0) > 0 && c.cascade?.stage === 2)).toBe(true);
    expect(readdirSync(split.runDir).sort()).toEqual(readdirSync(single.runDir).sort());
    // The example panel: drawn from the parts' captured examples (the first stage attacked every panel
    // row correct clean at eps > 0), the same image as one process draws.
    const firstStage = 'cnnf-fmnist|mix/fgsm|e2e|0.05';
    const attackedRows = decodeBits(single.cells.find((c) => c.id === 'cnnf-fmnist|clean')!.correctBits, N).flatMap((ok, i) => (ok && i < 6 ? [i] : []));
    expect(attackedRows.length, JSON.stringify(single.cells.map((c) => [c.id, c.correct]))).toBeGreaterThan(0);
    for (const r of attackedRows) expect(examplesSeen.has(`${firstStage}#${r}`), `row ${r}`).toBe(true);
    const images = readdirSync(join(single.runDir, 'images'));
    expect(images.some((f) => f.endsWith('.png'))).toBe(true);
    for (const f of images) expect(readFileSync(join(split.runDir, 'images', f)).equals(readFileSync(join(single.runDir, 'images', f))), f).toBe(true);
  }, 600_000);

  it('the more-steps probe of a split cascade\'s stage gets the same cell as with one process (claimed after the parts, it starts from them)', async () => {
    // FGSM -> PGD -> Square with sanity probes on 6 images: the more-steps probe continues the cascade after
    // its PGD stage at eps 0.02. In parts of 3 its 6 images are the first two parts. The probe is claimed
    // last (workers.ts claimOrder) and each process finishes a unit before claiming the next, so those two
    // parts are stored by then and answer FGSM and PGD (cascadeParts.ts partsAnswering; the lookup and the
    // order have their own tests in cascadeParts.test.ts and workers.test.ts) instead of a recomputation.
    const config = { ...configOf(), checkpoints: [fileURLToPath(new URL('../../checkpoints/cnnf-fmnist', import.meta.url))], sanity: true, sanityLimit: 6 };
    const path = join(root, 'split-sanity.json');
    writeFileSync(path, JSON.stringify(config));
    const once = async (out: string, workers: number) => executeRun(await prepareRun({ configFile: path, out: join(root, out), workers }), { backend, quiet: true });
    const single = await once('split-sanity-1', 1);
    const split = await inPartsOf(3, () => once('split-sanity-2', 2));
    const strip = ({ timings, completedAt, sha256, ...rest }: SuiteCellResult & { sha256?: string }) => (void timings, void completedAt, void sha256, rest);
    const probes = (o: RunOutcome) => (o.probes as SuiteCellResult[]).filter((p) => p.probe).map(strip).sort((a, b) => a.id.localeCompare(b.id));
    const more = probes(single).find((p) => p.probe?.kind === 'more-steps');
    expect(more?.reference?.id).toBe('cnnf-fmnist|ens/pgd|e2e|0.02');
    expect(probes(split)).toEqual(probes(single));
    expect(split.sanity.map((c) => c.detail)).toEqual(single.sanity.map((c) => c.detail));
  }, 600_000);
});

describe('cascade config', () => {
  const base = () => ({ suite: 'adversarial', checkpoints: ['c'], epsilons: [0.03] });
  const bad = (attacks: unknown[]) => () => validateConfig({ ...base(), attacks }, 'f.json');
  it('refuses stages with their own images, mixed threat models or paths, and a label that collides', () => {
    expect(bad([{ name: 'pgd', cascade: 'aa', limit: 5 }, { name: 'square', cascade: 'aa' }])).toThrow(/attacks\[0\]\.limit: a stage of the cascade "aa"/);
    expect(bad([{ name: 'pgd', cascade: 'aa' }, { name: 'pgd-l2', cascade: 'aa', epsilons: [0.5] }])).toThrow(InputError);
    expect(bad([{ name: 'pgd', cascade: 'aa' }, { name: 'pgd-l2', cascade: 'aa' }])).toThrow(/L2 but the cascade "aa" starts with an L-inf attack/);
    expect(bad([{ name: 'pgd', cascade: 'aa', paths: ['e2e'] }, { name: 'fgsm', cascade: 'aa', paths: ['first'] }])).toThrow(/must attack the same paths/);
    expect(bad([{ name: 'pgd', cascade: 'fgsm' }, { name: 'fgsm' }])).toThrow(/has the label of attacks\[1\]/);
    expect(bad([{ name: 'pgd', cascade: 'a b' }])).toThrow(/invalid cascade label/);
    const ok = validateConfig({ ...base(), attacks: [{ name: 'pgd', cascade: 'aa' }, { name: 'square', cascade: 'aa' }, 'fgsm'] }, 'f.json');
    expect(ok.suite === 'adversarial' && ok.attacks.map((a) => a.cascade)).toEqual(['aa', 'aa', undefined]);
  });
});
