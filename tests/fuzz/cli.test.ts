import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { encodeIdx } from '../../src/data/idx.js';
import { weightSpecs, type ArchitectureSpec } from '../../src/models/architecture.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/models/checkpoint.js';
import { numElements } from '../../src/models/torch/binary.js';
import { parseTorchFile } from '../../src/models/torch/load.js';
import type { WeightArrays } from '../../src/models/weights.js';
import { readJsonFile, validateConfig } from '../../src/suite/config.js';
import { le, makeZip, osSystemPickle, stateDictPickle, tensorPickle } from '../models/torchPickle.helpers.js';
import { mutateBytesRepeatedly, mutateJson, outcomeOf, Rand } from './mutate.js';

/**
 * The user-facing half of the fuzz contract, through the real CLI (a child process per case): garbage
 * that the parsers refuse in-process makes `bench` exit 2 with exactly that message as its one stderr
 * line (`error: ...`), no stack trace, and a pre-existing output directory untouched. Cases are the
 * first seeded mutations the in-process parser refuses, a few per input kind.
 */
const SEED = Number(process.env.BENCH_FUZZ_SEED ?? 20261127);
const PER_KIND = Number(process.env.BENCH_FUZZ_CLI_CASES ?? 3);
const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'bench-fuzz-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bench <args>` through tsx (no build needed), killed after `timeoutMs`. */
function bench(args: string[], timeoutMs = 300_000): Promise<Result> {
  return new Promise((resolvePromise) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, BENCH_BACKEND: 'cpu' },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Every file under `dir` with its bytes, for "untouched" checks. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = readFileSync(path).toString('base64');
    }
  };
  walk(dir);
  return out;
}

interface CliCase {
  what: string;
  args: string[];
  /** The message the in-process parser gave for the same input. */
  message: string;
  /** Output directory that existed before and must be left as it was. */
  out: string;
  /** A file that must not exist afterwards (a pickle's os.system payload). */
  marker?: string;
}

const TINY: ArchitectureSpec = {
  family: 'cnnf',
  inputShape: [28, 28, 1],
  numClasses: 10,
  kernelSize: 3,
  convs: [{ filters: 1, pool: true }],
  dense: [],
  ind: 0,
  cycles: 0,
  resParam: 0,
  insNormEpsilon: 1e-8,
};

async function tinyCheckpoint(dir: string): Promise<void> {
  const weights: WeightArrays = {};
  for (const spec of weightSpecs(TINY)) weights[spec.name] = { shape: spec.shape, data: new Float32Array(numElements(spec.shape)).fill(0.01) };
  const classNames = Array.from({ length: 10 }, (_, i) => `c${i}`);
  await saveCheckpoint(dir, { name: 'tiny', architecture: TINY, normalization: { mean: [0.5], std: [0.5] }, classNames, provenance: { source: 'fuzz' } }, weights);
}

/** Mutates until the in-process parser refuses (seeded), then writes that input where the CLI will read it. */
async function refusedCases(kind: string, count: number, attempt: (r: Rand, index: number) => Promise<CliCase | null>): Promise<CliCase[]> {
  const found: CliCase[] = [];
  for (let i = 0; found.length < count && i < 500; i++) {
    const c = await attempt(new Rand(SEED, `cli-${kind}`, i), i);
    if (c) found.push(c);
  }
  expect(found.length, kind).toBe(count);
  return found;
}

let cases: CliCase[] = [];

beforeAll(async () => {
  // Outputs that exist before each command and must survive it.
  const sentinelDir = (name: string) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'sentinel.txt'), `keep ${name}\n`);
    return dir;
  };

  // Suite configs -> bench run --config FILE --out DIR.
  const configBase = JSON.parse(readFileSync(join(ROOT, 'configs', 'ci.json'), 'utf8'));
  const configCases = await refusedCases('config', PER_KIND, async (r, i) => {
    const file = join(work, `config-${i}.json`);
    const m = r.chance(0.5) ? mutateJson(configBase, r, true) : null;
    const bytes = m ? JSON.stringify(m.value) : mutateBytesRepeatedly(new TextEncoder().encode(JSON.stringify(configBase, null, 2)), r).bytes;
    writeFileSync(file, bytes);
    const o = await outcomeOf(file, () => validateConfig(readJsonFile(file), file));
    if (o.ok) return null;
    const out = sentinelDir(`run-out-${i}`);
    return { what: `config ${i} (${m?.what ?? 'bytes'})`, args: ['run', '--config', file, '--out', out, '--quiet', '--workers', '1'], message: o.message, out };
  });

  // Checkpoints -> bench run --checkpoints DIR (a valid config) --out DIR.
  const good = join(work, 'tiny-good');
  await tinyCheckpoint(good);
  const goodWeights = new Uint8Array(readFileSync(join(good, 'weights.safetensors')));
  const goodManifest = new Uint8Array(readFileSync(join(good, 'model.json')));
  const checkpointCases = await refusedCases('checkpoint', PER_KIND, async (r, i) => {
    const dir = join(work, `ckpt-${i}`);
    mkdirSync(dir, { recursive: true });
    const weightsFile = r.chance(0.7);
    const m = mutateBytesRepeatedly(weightsFile ? goodWeights : goodManifest, r);
    writeFileSync(join(dir, 'weights.safetensors'), weightsFile ? m.bytes : goodWeights);
    writeFileSync(join(dir, 'model.json'), weightsFile ? goodManifest : m.bytes);
    const o = await outcomeOf(dir, () => loadCheckpoint(dir));
    if (o.ok) return null;
    const out = sentinelDir(`run-ckpt-out-${i}`);
    return {
      what: `checkpoint ${i} (${weightsFile ? 'weights' : 'model.json'}: ${m.what})`,
      args: ['run', '--suite', 'corruption', '--checkpoints', dir, '--corruptions', 'fog', '--severities', '1', '--limit', '2', '--out', out, '--quiet', '--workers', '1'],
      message: o.message,
      out,
    };
  });

  // PyTorch files -> bench import FILE --out EXISTING-CHECKPOINT --force.
  const pickle = stateDictPickle([['w', tensorPickle('zip', { type: 'FloatStorage', key: '0', count: 4 }, 0, [2, 2], [2, 1])]]);
  const pt = makeZip([['archive/data.pkl', pickle], ['archive/data/0', le.f32([1, 2, 3, 4])]], 0);
  const importOut = (i: number) => {
    const out = join(work, `import-out-${i}`);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'model.json'), readFileSync(join(good, 'model.json')));
    writeFileSync(join(out, 'weights.safetensors'), readFileSync(join(good, 'weights.safetensors')));
    return out;
  };
  const importArgs = (file: string, out: string) => ['import', file, '--arch', 'cnnf-fmnist', '--cycles', '0', '--out', out, '--force'];
  const ptCases = await refusedCases('pt', PER_KIND, async (r, i) => {
    const file = join(work, `state-${i}.pt`);
    const m = mutateBytesRepeatedly(pt, r);
    writeFileSync(file, m.bytes);
    const o = await outcomeOf(file, () => parseTorchFile(m.bytes, file));
    if (o.ok) return null;
    const out = importOut(i);
    return { what: `pt ${i} (${m.what})`, args: importArgs(file, out), message: o.message, out };
  });
  const marker = join(work, 'pwned');
  const evil = join(work, 'evil.pt');
  writeFileSync(evil, makeZip([['archive/data.pkl', osSystemPickle(`touch ${marker}`)]], 8));
  const evilOutcome = await outcomeOf(evil, () => parseTorchFile(new Uint8Array(readFileSync(evil)), evil));
  expect(evilOutcome.ok).toBe(false);
  const evilOut = importOut(999);
  ptCases.push({ what: 'pt os.system', args: importArgs(evil, evilOut), message: evilOutcome.ok ? '' : evilOutcome.message, out: evilOut, marker });

  // IDX files -> bench train --data-dir DIR --out DIR.
  const images = encodeIdx([4, 28, 28], Uint8Array.from({ length: 4 * 784 }, (_, k) => k % 251));
  const labels = encodeIdx([4], Uint8Array.from([1, 2, 3, 4]));
  const idxCases = await refusedCases('idx', PER_KIND, async (r, i) => {
    const dir = join(work, `data-${i}`);
    mkdirSync(dir, { recursive: true });
    const mutateLabels = r.chance(0.4);
    const m = mutateBytesRepeatedly(mutateLabels ? labels : images, r);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), mutateLabels ? images : m.bytes);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), mutateLabels ? m.bytes : labels);
    const o = await outcomeOf(dir, () => loadFashionMnist('train', { dataDir: dir }));
    if (o.ok) return null;
    const out = sentinelDir(`train-out-${i}`);
    return {
      what: `idx ${i} (${mutateLabels ? 'labels' : 'images'}: ${m.what})`,
      args: ['train', '--arch', 'cnn', '--data-dir', dir, '--out', out, '--epochs', '1', '--train-limit', '2', '--validation-size', '1', '--quiet'],
      message: o.message,
      out,
    };
  });

  // A misspelt flag value: the config validator's message, named by the flag.
  const usageOut = sentinelDir('run-usage-out');
  const usage: CliCase = {
    what: 'usage: --output lst',
    args: ['run', '--suite', 'adversarial', '--output', 'lst', '--out', usageOut, '--quiet'],
    message: '--output: invalid value "lst" (did you mean "last"?) (allowed: first, last, average (CNN-F), logits (TF.js models))',
    out: usageOut,
  };

  cases = [...configCases, ...checkpointCases, ...ptCases, ...idxCases, usage];
}, 120_000);

describe('fuzz through the CLI: garbage exits 2 with one line and touches nothing', () => {
  it('every refused input gives exit 2, `error: <the parser message>` as the only stderr line, no stack, output intact', async () => {
    expect(cases.length).toBe(4 * PER_KIND + 2);
    const before = new Map(cases.map((c) => [c.what, snapshot(c.out)]));
    // Two at a time: the machine has two cores.
    const results: Result[] = new Array(cases.length);
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < cases.length) {
          const i = next++;
          results[i] = await bench(cases[i].args);
        }
      }),
    );
    cases.forEach((c, i) => {
      const r = results[i];
      const context = `${c.what}: bench ${c.args.join(' ')}\n${r.stderr}`;
      expect(r.code, context).toBe(2);
      expect(r.stderr, context).toBe(`error: ${c.message}\n`);
      expect(r.stderr, context).not.toMatch(/\n\s+at |internal error/);
      expect(r.stdout, context).toBe('');
      expect(snapshot(c.out), `${c.what}: output changed`).toEqual(before.get(c.what));
      if (c.marker) expect(existsSync(c.marker), `${c.what}: the pickle ran`).toBe(false);
    });
  }, 900_000);
});
