/**
 * Synthetic run directories in the exact record format of src/rundir/records.ts (run.json, cells/*.json,
 * sanity.json), so the reporter is built and tested without running any model.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sealedJson } from '../../src/rundir/checksums.js';
import { cellFileName } from '../../src/rundir/files.js';
import { type CellResult, type CheckpointRef, encodeBits, type RunManifest, type SanityCheck, wilsonInterval } from '../../src/rundir/records.js';
import { encodePng, type RasterImage } from '../../src/report/png.js';
import { mulberry32 } from '../helpers/mulberry32.js';

export { mulberry32 };


export function checkpointRef(name: string, cycles: number): CheckpointRef {
  return { name, dir: `checkpoints/${name}`, weightsSha256: 'ab'.repeat(32), family: cycles > 0 ? 'cnnf' : 'cnn', cycles, ind: 2, output: cycles > 0 ? 'last' : 'first' };
}

export function manifest(checkpoints: CheckpointRef[], samples: number, cells: string[], config: Record<string, unknown> = {}): RunManifest {
  return {
    format: 'bench-run/1',
    suite: 'adversarial',
    config: { name: 'fixture', seed: 7, ...config },
    configFile: 'configs/fixture.json',
    seed: 7,
    sampleIndices: Array.from({ length: samples }, (_, i) => i),
    dataset: { name: 'fashion-mnist', split: 'test', source: 'data/fashion-mnist' },
    checkpoints,
    cells,
    shard: null,
    backend: { name: 'wasm', provider: 'tfjs-backend-wasm (simd, 2 threads)', tfjsVersion: '4.22.0', workers: 2 },
    versions: { bench: '0.1.0', node: 'v20.20.2' },
    machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'Test CPU @ 2.0GHz', memoryGiB: 8, hostname: 'fixture-host' },
    createdAt: '2025-01-02T03:04:05.000Z',
  };
}

/** A cell from its per-sample correctness; accuracy, count and interval follow from it as the runner computes them. */
export function cell(fields: Partial<CellResult> & Pick<CellResult, 'id' | 'kind' | 'checkpoint'>, correct: readonly boolean[]): CellResult {
  const k = correct.filter(Boolean).length;
  return {
    format: 'bench-cell/1',
    output: 'last',
    samples: correct.length,
    correct: k,
    accuracy: correct.length ? k / correct.length : 0,
    ci95: wilsonInterval(k, correct.length),
    correctBits: encodeBits(correct),
    timings: { seconds: 1.5, imagesPerSecond: correct.length / 1.5 },
    backend: 'wasm',
    completedAt: '2025-01-02T03:05:00.000Z',
    ...fields,
  };
}

/** Writes a run directory from records; returns its path. */
export function writeRun(dir: string, m: RunManifest, cells: CellResult[], sanity?: SanityCheck[]): string {
  mkdirSync(join(dir, 'cells'), { recursive: true });
  writeFileSync(join(dir, 'run.json'), JSON.stringify(m, null, 2));
  for (const c of cells) writeFileSync(join(dir, 'cells', cellFileName(c.id)), sealedJson(c));
  if (sanity) writeFileSync(join(dir, 'sanity.json'), JSON.stringify(sanity, null, 2));
  return dir;
}

export const FIXTURE_EPS = [0, 0.02, 0.04, 0.06, 0.08, 0.1];
export const FIXTURE_CORRUPTIONS: [string, string][] = [
  ['gaussian_noise', 'noise'],
  ['defocus_blur', 'blur'],
  ['fog', 'weather'],
  ['contrast', 'digital'],
];

export interface SyntheticRunOptions {
  samples?: number;
  /** Names of the feedforward CNN and the CNN-F checkpoint. */
  cnn?: string;
  cnnf?: string;
  /** Write a few small PNGs under images/. */
  images?: boolean;
  /** Extra config fields (e.g. baseline). */
  config?: Record<string, unknown>;
}

/**
 * A plausible two-checkpoint run: CNN-F cleaner and more robust than the CNN. Each sample has a latent
 * "hardness"; an attack fools it when hardness plus a little per-attack noise exceeds a threshold that
 * falls with ε, so attacks disagree per sample and the worst case is below every single attack.
 */
export function writeSyntheticRun(dir: string, opts: SyntheticRunOptions = {}): { manifest: RunManifest; cells: CellResult[]; sanity: SanityCheck[] } {
  const n = opts.samples ?? 200;
  const cnn = opts.cnn ?? 'cnn-fmnist';
  const cnnf = opts.cnnf ?? 'cnnf-fmnist';
  const rand = mulberry32(1234);
  const hardness = Array.from({ length: n }, () => rand());
  const cells: CellResult[] = [];
  const models = [
    { name: cnn, cycles: 0, clean: 0.9, decay: 9, other: cnnf },
    { name: cnnf, cycles: 2, clean: 0.92, decay: 6, other: cnn },
  ];
  const strength: Record<string, number> = { fgsm: 0.75, pgd: 1, 'apgd-ce': 1.05, square: 0.85, transfer: 0.6 };
  const pathFactor: Record<string, number> = { first: 0.9, e2e: 1, bpda: 0.97, none: 1 };
  for (const m of models) {
    const correctAt = (threshold: number, noise: number) => hardness.map((h) => h + noise * (rand() - 0.5) < threshold);
    const clean = correctAt(m.clean, 0);
    cells.push(cell({ id: `${m.name}|clean`, kind: 'clean', checkpoint: m.name }, clean));
    const attacks: [string, string, string | undefined][] = [
      ['fgsm', 'first', undefined],
      ['fgsm', 'e2e', undefined],
      ['fgsm', 'bpda', undefined],
      ['pgd', 'first', undefined],
      ['pgd', 'e2e', undefined],
      ['pgd', 'bpda', undefined],
      ['apgd-ce', 'e2e', undefined],
      ['square', 'none', undefined],
      ['pgd', 'e2e', m.other],
    ];
    for (const [attack, path, from] of attacks)
      for (const eps of FIXTURE_EPS) {
        const s = (from ? strength.transfer : strength[attack]) * pathFactor[path];
        const threshold = m.clean * Math.exp(-m.decay * s * eps);
        const ok = correctAt(threshold, eps === 0 ? 0 : 0.08).map((c, i) => c && clean[i]);
        const id = from ? `${m.name}|transfer|${from}|${attack}|${path}|${eps}` : `${m.name}|${attack}|${path}|${eps}`;
        cells.push(
          cell(
            {
              id,
              kind: 'attack',
              checkpoint: m.name,
              attack,
              path: path as CellResult['path'],
              eps,
              threatModel: 'linf',
              attackParams: attack === 'pgd' ? { steps: 20, stepSize: eps / 4 } : {},
              ...(from ? { transferFrom: from } : {}),
            },
            ok,
          ),
        );
      }
    FIXTURE_CORRUPTIONS.forEach(([corruption, family], ci) => {
      for (let severity = 1; severity <= 5; severity++) {
        const threshold = m.clean * (1 - (0.04 + 0.03 * ci) * severity * (m.cycles > 0 ? 0.8 : 1));
        cells.push(
          cell({ id: `${m.name}|corruption|${corruption}|${severity}`, kind: 'corruption', checkpoint: m.name, corruption, family, severity }, correctAt(threshold, 0.05)),
        );
      }
    });
  }
  const sanity: SanityCheck[] = [
    { checkpoint: cnn, name: 'monotone-in-eps', status: 'pass', detail: 'Accuracy never rises with ε (largest rise 0.0 points).', numbers: { maxRise: 0 } },
    { checkpoint: cnnf, name: 'monotone-in-eps', status: 'pass', detail: 'Accuracy never rises with ε (largest rise 0.0 points).', numbers: { maxRise: 0 } },
    { checkpoint: cnnf, name: 'large-eps-chance', status: 'warn', detail: 'At ε=0.5 PGD leaves 23.0% accuracy, above chance (10%): gradients may be masked.', numbers: { eps: 0.5, accuracy: 0.23, chance: 0.1 } },
    { checkpoint: cnnf, name: 'black-box-not-better', status: 'pass', detail: 'Square (black-box) 41.0% >= PGD e2e 38.5% at ε=0.1.', numbers: { square: 0.41, pgd: 0.385 } },
    { checkpoint: cnn, name: 'gradients-finite', status: 'skip', detail: 'Not run on this backend.', numbers: {} },
  ];
  const m = manifest([checkpointRef(cnn, 0), checkpointRef(cnnf, 2)], n, cells.map((c) => c.id), opts.config);
  writeRun(dir, m, cells, sanity);
  if (opts.images) writeImages(dir);
  return { manifest: m, cells, sanity };
}

/** A few small grey-level PNGs under images/, named as a runner might. */
export function writeImages(dir: string): void {
  const tile = (w: number, h: number, f: (x: number, y: number) => number) => {
    const data = new Float32Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(x, y);
    return { width: w, height: h, channels: 1 as const, data };
  };
  const png = (path: string, img: RasterImage) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, encodePng(img));
  };
  png(join(dir, 'images', 'adversarial-cnnf-fmnist-pgd-e2e.png'), tile(168, 56, (x, y) => ((x >> 3) + (y >> 3)) % 2 * 0.8 + 0.1));
  png(join(dir, 'images', 'corruption-fog.png'), tile(168, 28, (x) => (x % 28) / 28));
}

/**
 * A corruption run of two checkpoints on 40 images, baseline `base` (the config's), where the baseline's
 * degradation is exactly 0 under contrast (its corrupted bits equal its clean bits at every severity),
 * one image under fog (within sampling noise) and large under gaussian_noise. `model` is worse everywhere.
 */
export function writeMceEdgeRun(dir: string, base = 'base-net', model = 'other-net'): { manifest: RunManifest; cells: CellResult[] } {
  const n = 40;
  const firstK = (k: number) => Array.from({ length: n }, (_, i) => i < k);
  const cells: CellResult[] = [
    cell({ id: `${base}|clean`, kind: 'clean', checkpoint: base }, firstK(36)),
    cell({ id: `${model}|clean`, kind: 'clean', checkpoint: model }, firstK(34)),
  ];
  const correct: Record<string, Record<string, number[]>> = {
    [base]: { gaussian_noise: [30, 26, 22], fog: [36, 35, 36], contrast: [36, 36, 36] },
    [model]: { gaussian_noise: [26, 20, 14], fog: [30, 28, 25], contrast: [30, 28, 24] },
  };
  const family: Record<string, string> = { gaussian_noise: 'noise', fog: 'weather', contrast: 'digital' };
  for (const checkpoint of [base, model])
    for (const [corruption, ks] of Object.entries(correct[checkpoint]))
      ks.forEach((k, i) =>
        cells.push(
          cell({ id: `${checkpoint}|corruption|${corruption}|${i + 1}`, kind: 'corruption', checkpoint, corruption, family: family[corruption], severity: i + 1 }, firstK(k)),
        ),
      );
  const m = { ...manifest([checkpointRef(base, 0), checkpointRef(model, 1)], n, cells.map((c) => c.id), { baseline: base }), suite: 'corruption' as const };
  writeRun(dir, m, cells);
  return { manifest: m, cells };
}

/**
 * A run mixing an L-inf and an L2 attack whose radii share a number: PGD (L-inf) at 0, 0.1, 1 and PGD-L2
 * at 0, 1, 3 on 20 images of one checkpoint. At eps 1 the L-inf attack breaks every image and the L2 one
 * only the last 5, so a worst case that mixed the norms at "eps 1" would read 0% instead of L2's 75%.
 */
export const MIXED_NORM_SAMPLES = 20;
export function writeMixedNormRun(dir: string, name = 'cnn-fmnist'): { manifest: RunManifest; cells: CellResult[] } {
  const n = MIXED_NORM_SAMPLES;
  const upTo = (k: number) => Array.from({ length: n }, (_, i) => i < k);
  const pgd = (eps: number, k: number) =>
    cell({ id: `${name}|pgd|first|${eps}`, kind: 'attack', checkpoint: name, attack: 'pgd', path: 'first', eps, threatModel: 'linf', attackParams: {} }, upTo(k));
  const pgdL2 = (eps: number, k: number) =>
    cell({ id: `${name}|pgd-l2|first|${eps}`, kind: 'attack', checkpoint: name, attack: 'pgd-l2', path: 'first', eps, threatModel: 'l2', attackParams: {} }, upTo(k));
  const cells = [
    cell({ id: `${name}|clean`, kind: 'clean', checkpoint: name }, upTo(n)),
    pgd(0, n),
    pgd(0.1, 12),
    pgd(1, 0),
    pgdL2(0, n),
    pgdL2(1, 15),
    pgdL2(3, 4),
  ];
  const m = manifest([checkpointRef(name, 0)], n, cells.map((c) => c.id), {
    suite: 'adversarial',
    attacks: [{ name: 'pgd' }, { name: 'pgd-l2', epsilons: [0, 1, 3] }],
    epsilons: [0, 0.1, 1],
  });
  writeRun(dir, m, cells);
  return { manifest: m, cells };
}

/**
 * A run of one TF.js layers-model (family tfjs-layers, gradient path `direct`, no cycles or ind), as the
 * runner records it for a non-CNN-F model: FGSM and PGD on the `direct` path, Square (score-based, path
 * `none`), a clean cell, and its sanity checks; 30 images, accuracy falling with ε.
 */
export function writeDirectModelRun(dir: string, name = 'mobilenet-tiny'): { manifest: RunManifest; cells: CellResult[]; sanity: SanityCheck[] } {
  const n = 30;
  const upTo = (k: number) => Array.from({ length: n }, (_, i) => i < k);
  const eps = [0, 0.01, 0.03];
  const cells: CellResult[] = [cell({ id: `${name}|clean`, kind: 'clean', checkpoint: name, output: 'logits' }, upTo(27))];
  const correctAt: Record<string, number[]> = { fgsm: [27, 20, 12], pgd: [27, 15, 6], square: [27, 22, 16] };
  for (const attack of ['fgsm', 'pgd', 'square']) {
    const path = attack === 'square' ? 'none' : 'direct';
    eps.forEach((e, i) =>
      cells.push(
        cell(
          { id: `${name}|${attack}|${path}|${e}`, kind: 'attack', checkpoint: name, output: 'logits', attack, path: path as CellResult['path'], eps: e, threatModel: 'linf', attackParams: {} },
          upTo(correctAt[attack][i]),
        ),
      ),
    );
  }
  const ref: CheckpointRef = {
    name,
    dir: 'models/mobilenet-tiny/model.json',
    weightsSha256: 'cd'.repeat(32),
    family: 'tfjs-layers',
    output: 'logits',
    inputShape: [32, 32, 3],
    numClasses: 10,
    outputs: ['logits'],
    gradientPaths: ['direct'],
    scores: 'logits',
  };
  const sanity: SanityCheck[] = [
    { checkpoint: name, name: 'monotone-in-eps', status: 'pass', detail: 'Accuracy never rises with ε (largest rise 0.0 points).', numbers: { maxRise: 0 } },
    { checkpoint: name, name: 'black-box-not-better', status: 'pass', detail: 'Square (black-box) 53.3% >= PGD direct 20.0% at ε=0.03.', numbers: { square: 0.533, pgd: 0.2 } },
  ];
  const m = manifest([ref], n, cells.map((c) => c.id), {
    attacks: [{ name: 'fgsm' }, { name: 'pgd' }, { name: 'square' }],
    epsilons: eps,
  });
  m.dataset = { name: 'folder', split: 'test', source: 'folder:images', numClasses: 10, shape: [n, 32, 32, 3], labels: 'dataset' };
  writeRun(dir, m, cells, sanity);
  return { manifest: m, cells, sanity };
}
