/**
 * Synthetic run directories in the record format of src/rundir/records.ts (pure JSON, no model), and
 * independent closed forms of the paired tests in exact integer arithmetic.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealedJson } from '../../src/rundir/checksums.js';
import { cellFileName } from '../../src/rundir/files.js';
import { type CellResult, type CheckpointRef, encodeBits, type RunManifest, wilsonInterval } from '../../src/rundir/records.js';
import { mulberry32 } from '../helpers/mulberry32.js';

export { mulberry32 };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bench-${prefix}-`));
}


export function checkpointRef(name: string, cycles = 1, sha = 'ab'): CheckpointRef {
  return { name, dir: `checkpoints/${name}`, weightsSha256: sha.repeat(32).slice(0, 64), family: cycles > 0 ? 'cnnf' : 'cnn', cycles, ind: 2, output: 'last' };
}

export function manifest(checkpoints: CheckpointRef[], samples: number, cells: string[], config: Record<string, unknown> = {}): RunManifest {
  return {
    format: 'bench-run/1',
    suite: 'adversarial',
    config: { suite: 'adversarial', checkpoints: checkpoints.map((c) => ({ dir: c.dir })), epsilons: [0, 0.1], seed: 7, limit: samples, batchSize: 100, ...config },
    configFile: 'configs/ci.json',
    seed: 7,
    sampleIndices: Array.from({ length: samples }, (_, i) => i),
    dataset: { name: 'fashion-mnist', split: 'test', source: 'data/fashion-mnist' },
    checkpoints,
    cells,
    shard: null,
    backend: { name: 'wasm', provider: 'tfjs-backend-wasm', tfjsVersion: '4.22.0', workers: 1 },
    versions: { bench: '0.1.0', node: 'v20.0.0' },
    machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'Test CPU', memoryGiB: 8, hostname: 'fixture-host' },
    createdAt: '2025-01-02T03:04:05.000Z',
  };
}

/** A cell from its per-sample correctness, with count, accuracy and interval as the runner computes them. */
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
    timings: { seconds: 1, imagesPerSecond: correct.length },
    backend: 'wasm',
    completedAt: '2025-01-02T03:05:00.000Z',
    ...fields,
  };
}

export function writeRun(dir: string, m: RunManifest, cells: CellResult[]): string {
  mkdirSync(join(dir, 'cells'), { recursive: true });
  writeFileSync(join(dir, 'run.json'), JSON.stringify(m, null, 2));
  for (const c of cells) writeFileSync(join(dir, 'cells', cellFileName(c.id)), sealedJson(c));
  return dir;
}

/** Random correctness with probability p, from a seeded generator. */
export function randomBits(n: number, p: number, seed: number): boolean[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => r() < p);
}

/**
 * Flips `worse` correct samples to wrong and `better` wrong samples to right (the first ones found from
 * `start`), so the discordant counts are exactly b = worse, c = better.
 */
export function flip(bits: readonly boolean[], worse: number, better: number, start = 0): boolean[] {
  const out = [...bits];
  let w = worse;
  let b = better;
  for (let k = 0; k < out.length && (w > 0 || b > 0); k++) {
    const i = (start + k) % out.length;
    if (out[i] && w > 0) {
      out[i] = false;
      w--;
    } else if (!out[i] && b > 0 && bits[i] === false) {
      out[i] = true;
      b--;
    }
  }
  if (w > 0 || b > 0) throw new Error('flip: not enough samples to flip');
  return out;
}

function binomial(n: number, k: number): bigint {
  let r = 1n;
  for (let j = 1; j <= k; j++) r = (r * BigInt(n - k + j)) / BigInt(j);
  return r;
}

/** Exact McNemar p = min(1, 2 sum_{k<=min(b,c)} C(b+c, k) / 2^(b+c)) in integer arithmetic, then divided. */
export function mcnemarClosedForm(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  let tail = 0n;
  for (let k = 0; k <= Math.min(b, c); k++) tail += binomial(n, k);
  // 2 * tail / 2^n, with enough digits kept to divide in floating point.
  const scale = 10n ** 30n;
  const ratio = Number((2n * tail * scale) / 2n ** BigInt(n)) / 1e30;
  return Math.min(1, ratio);
}

/**
 * Exact two-sided sign-flip p for integer differences, by counting sign patterns with BigInt: the
 * generating polynomial prod_i (x^{-|d_i|} + x^{|d_i|}), shifted to non-negative exponents.
 */
export function signFlipClosedForm(d: readonly number[]): number {
  const mags = d.filter((x) => x !== 0).map(Math.abs);
  const total = d.reduce((a, b) => a + b, 0);
  if (mags.length === 0) return 1;
  let poly: bigint[] = [1n]; // coefficient of x^(e - offset)
  for (const m of mags) {
    const next = new Array<bigint>(poly.length + 2 * m).fill(0n);
    poly.forEach((coef, e) => {
      next[e] += coef; // -m
      next[e + 2 * m] += coef; // +m
    });
    poly = next;
  }
  const offset = mags.reduce((a, b) => a + b, 0);
  let count = 0n;
  poly.forEach((coef, e) => {
    if (e - offset <= -Math.abs(total)) count += coef;
  });
  const scale = 10n ** 30n;
  return Math.min(1, Number((2n * count * scale) / 2n ** BigInt(mags.length)) / 1e30);
}
