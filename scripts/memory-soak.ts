// Memory soak of a long corruption run: does memory stay flat? Runs `bench run` in process on N test
// images and samples tf.memory() (tensors, bytes) and process.memoryUsage() (RSS, JS heap) before every
// batch of every corruption unit and after every cell, then writes the samples and a summary as JSON.
//   npx tsx scripts/memory-soak.ts [--limit 10000] [--corruptions gaussian_noise,brightness]
//     [--severities 1,5] [--checkpoints checkpoints/cnn-fmnist,checkpoints/cnnf-fmnist]
//     [--batch-size 100] [--backend wasm] [--out memory-soak.json] [--keep] [--rss-slack 64]
// The run directory goes to a temp dir (removed unless --keep). "Flat" means: the live tensor count is
// the same before every batch, and RSS after the first tenth of the batches grows by less than
// --rss-slack MiB (default 64) to the end.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { getCorruption } from '../corruptions/registry.js';
import type { AnyCorruption } from '../corruptions/types.js';
import { executeRun, prepareRun } from '../src/suite/runner.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  limit: { type: 'string', default: '10000' },
  corruptions: { type: 'string', default: 'gaussian_noise,brightness' },
  severities: { type: 'string', default: '1,5' },
  checkpoints: { type: 'string', default: 'checkpoints/cnn-fmnist,checkpoints/cnnf-fmnist' },
  'batch-size': { type: 'string', default: '100' },
  backend: { type: 'string', default: 'wasm' },
  out: { type: 'string', default: 'memory-soak.json' },
  'rss-slack': { type: 'string', default: '64' },
  keep: { type: 'boolean' },
});
const limit = Number(flags.limit);
const corruptions = flags.corruptions.split(',');
const severities = flags.severities.split(',').map(Number);
const checkpoints = flags.checkpoints.split(',');
const batchSize = Number(flags['batch-size']);
const backendName = flags.backend;
const outFile = flags.out;
const rssSlackMiB = Number(flags['rss-slack']);
const keep = flags.keep;

interface Sample {
  /** Seconds since the start of the run. */
  t: number;
  /** 'batch': before a run batch; 'cell': after a cell; 'after': corruption calls after the last cell (the example panels). */
  at: 'batch' | 'cell' | 'after';
  /** The corruption unit ("name/severity") of a batch sample, the cell id of a cell sample. */
  what: string;
  /** Batch index within its unit (batch samples). */
  batch?: number;
  numTensors: number;
  tensorBytes: number;
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
}

const MiB = 2 ** 20;
const samples: Sample[] = [];
const t0 = Date.now();
function sample(at: Sample['at'], what: string, batch?: number): void {
  const m = tf.memory();
  const p = process.memoryUsage();
  samples.push({
    t: (Date.now() - t0) / 1000,
    at,
    what,
    ...(batch !== undefined ? { batch } : {}),
    numTensors: m.numTensors,
    tensorBytes: m.numBytes,
    rssMiB: Number((p.rss / MiB).toFixed(1)),
    heapUsedMiB: Number((p.heapUsed / MiB).toFixed(1)),
    externalMiB: Number((p.external / MiB).toFixed(1)),
  });
}

/** The registry's corruption, sampling memory each time a batch is corrupted (the start of every batch). */
const batches = new Map<string, number>();
const plannedCells = checkpoints.length * (1 + corruptions.length * severities.length);
let cellsDone = 0;
function sampled(name: string): AnyCorruption {
  const c = getCorruption(name);
  return {
    ...c,
    apply: ((x: tf.Tensor4D, severity: number, rng: unknown) => {
      const key = `${name}/${severity}`;
      const k = batches.get(key) ?? 0;
      batches.set(key, k + 1);
      sample(cellsDone < plannedCells ? 'batch' : 'after', key, k);
      return (c.apply as (x: tf.Tensor4D, s: number, r: unknown) => tf.Tensor4D)(x, severity, rng);
    }) as AnyCorruption['apply'],
  } as AnyCorruption;
}

const backend = await initBackend(backendName);
const work = mkdtempSync(join(tmpdir(), 'bench-soak-'));
const configFile = join(work, 'soak.json');
writeFileSync(configFile, JSON.stringify({ suite: 'corruption', checkpoints, corruptions, severities, limit, batchSize, seed: 0 }));
const runDir = join(work, 'run');
process.stderr.write(`memory soak: ${limit} images, ${corruptions.join(', ')} at severities ${severities.join(', ')}, ${checkpoints.length} checkpoint(s), batch ${batchSize}, ${backend.name}\n`);
const before = tf.memory().numTensors;
try {
  await executeRun(await prepareRun({ configFile, out: runDir, workers: 1 }), {
    backend,
    quiet: false,
    corruptionLookup: sampled,
    onCell: (c) => {
      cellsDone++;
      sample('cell', c.id);
    },
  });
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
const after = tf.memory().numTensors;

const batchSamples = samples.filter((s) => s.at === 'batch');
const tensors = batchSamples.map((s) => s.numTensors);
const rss = batchSamples.map((s) => s.rssMiB);
const warm = rss[Math.floor(rss.length / 10)] ?? rss[0];
const summary = {
  images: limit,
  batches: batchSamples.length,
  seconds: (Date.now() - t0) / 1000,
  tensors: { min: Math.min(...tensors), max: Math.max(...tensors), beforeRun: before, afterRun: after },
  rssMiB: { first: rss[0], afterWarmup: warm, max: Math.max(...rss), last: rss[rss.length - 1], growthAfterWarmup: Number((rss[rss.length - 1] - warm).toFixed(1)) },
  heapUsedMiB: { first: batchSamples[0]?.heapUsedMiB, last: batchSamples[batchSamples.length - 1]?.heapUsedMiB },
  flat: {
    tensors: Math.min(...tensors) === Math.max(...tensors) && after === before,
    rss: rss[rss.length - 1] - warm < rssSlackMiB,
  },
};
writeFileSync(
  outFile,
  `${JSON.stringify({ format: 'bench-memory-soak/1', config: { limit, corruptions, severities, checkpoints, batchSize, backend: backend.name }, summary, samples }, null, 1)}\n`,
);
process.stdout.write(
  `${summary.batches} batches in ${summary.seconds.toFixed(0)} s: tensors ${summary.tensors.min}..${summary.tensors.max} (before ${before}, after ${after}); ` +
    `RSS ${summary.rssMiB.first} -> ${summary.rssMiB.afterWarmup} (warm) -> ${summary.rssMiB.last} MiB (max ${summary.rssMiB.max}); ` +
    `flat: tensors ${summary.flat.tensors}, rss ${summary.flat.rss}; samples in ${outFile}\n`,
);
process.exitCode = summary.flat.tensors && summary.flat.rss ? 0 : 1;
