// Our WRN CNN-F's intermediates on a reference fixture's inputs, under the names of
// scripts/reference/wrn_parity_trace.py (its header lists them): every AdaReLU input z of every pass, the
// residual-updated value m and the feedback signal h it is compared with, and their gradients in the
// end-to-end backward pass of sum-CE(logits of the last pass), plus the logits of every pass and the
// input gradient (in the reference's [-1,1] space). Computed as `bench verify` computes (convolutions in
// 16-channel chunks, the sum-reordering fast paths off) unless --conv-chunk 0.
//   npx tsx scripts/parity/wrn-trace.ts CHECKPOINT_DIR FIXTURE_DIR OUT_PREFIX [--backend wasm] [--conv-chunk 16] [--images 0,6] [--pairwise-sums]
// Writes OUT_PREFIX.bin (float32 arrays, concatenated) and OUT_PREFIX.json (the image indices, [name, shape] in order);
// scripts/reference/wrn_parity_compare.py reads them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { setConvChannelChunk, TORCH_MATCHED_CONV_CHUNK } from '../../src/engine/kernels/index.js';
import { disabledFastPaths, setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import { loadCheckpoint } from '../../src/models/checkpoint.js';
import { buildNetwork } from '../../src/models/network.js';
import { CnnfClassifier } from '../../src/models/cnnfClassifier.js';
import { REORDERING_FAST_PATHS } from '../../src/models/verify.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { WrnCnnfNetwork } from '../../src/models/cnnfWrn/network.js';
import { insNormAccurate, setPairwiseSpatialSums } from '../../src/models/cnnfWrn/insNorm.js';
import { adaptiveRelu } from '../../src/models/feedbackLayers.js';
import type { WrnArchitecture } from '../../src/models/cnnfWrn/architecture.js';
import { scriptArgs } from '../lib/cliArgs.js';

const {
  values: flags,
  positionals: [checkpointDir, fixtureDir, outPrefix],
} = scriptArgs(
  import.meta.url,
  {
    backend: { type: 'string', default: 'wasm' },
    'conv-chunk': { type: 'string', default: String(TORCH_MATCHED_CONV_CHUNK) },
    images: { type: 'string', default: '' },
    'pairwise-sums': { type: 'boolean' },
  },
  { positionals: ['CHECKPOINT_DIR', 'FIXTURE_DIR', 'OUT_PREFIX'] },
);
await initBackend(flags.backend);
const chunk = Number(flags['conv-chunk']);
setConvChannelChunk(chunk === 0 ? null : chunk);
if (chunk !== 0) setDisabledFastPaths([...disabledFastPaths(), ...REORDERING_FAST_PATHS]);
// --pairwise-sums: InsNorm's and the pooling's spatial sums as pairwise trees (setPairwiseSpatialSums).
setPairwiseSpatialSums(flags['pairwise-sums']);

const checkpoint = await loadCheckpoint(checkpointDir);
const arch = checkpoint.manifest.architecture as unknown as WrnArchitecture;
const params: Record<string, Tensor> = {};
for (const [name, w] of Object.entries(checkpoint.weights)) params[name] = tf.tensor(w.data, w.shape);
const network = buildNetwork(checkpoint.manifest.architecture, checkpoint.manifest.normalization, params);
const classifier = new CnnfClassifier('trace', network);

// AdaReLU call order of one inference: the first pass through every block, later passes from block ind.
const blocks = (arch.depth - 4) / 2;
const passLayers = (from: number) => [...Array.from({ length: blocks - from }, (_, i) => [`b${from + i}.relu1`, `b${from + i}.relu2`]).flat(), 'top'];
const order: [number, string][] = [];
for (let p = 0; p <= arch.cycles; p++) for (const l of passLayers(p === 0 ? 0 : arch.ind)) order.push([p, l]);

const arrays: [string, number[], Float32Array][] = [];
const record = (name: string, t: Tensor) => arrays.push([name, t.shape, Float32Array.from(t.dataSync() as Float32Array)]);
/** t unchanged; records its value now and its gradient when the backward pass reaches it. */
const tap = (t: Tensor, name: string): Tensor => {
  record(name, t);
  const g = name.replace(/\.(\w+)$/, '.g$1');
  return tf.customGrad(((xi: Tensor) => ({ value: tf.clone(xi), gradFunc: (dy: Tensor) => (record(g, dy), dy) })) as never)(t) as Tensor;
};

let call = 0;
const proto = WrnCnnfNetwork.prototype as unknown as Record<string, unknown>;
// The network's preActivation (InsNorm -> bias -> AdaReLU) with taps on z and on the feedback signal.
proto.preActivation = function (this: WrnCnnfNetwork, x: Tensor4D, bias: Tensor, hidden: Tensor | null) {
  const [pass, layer] = order[call++ % order.length];
  const z = tap(tf.add(insNormAccurate(x, this.arch.insNormEpsilon), bias), `p${pass}.${layer}.z`);
  // The signal's value only: its gradient here would be the part through this AdaReLU alone, not the
  // reference's (which also flows on through the rest of the feedback pass).
  const h = hidden;
  if (h) record(`c${pass - 1}.${layer}.h`, h);
  if (h) record(`p${pass}.${layer}.m`, tf.add(z, tf.mul(this.arch.resParam, tf.sub(h, z))));
  const r = adaptiveRelu(z, h, this.arch.resParam);
  return { out: r.out as Tensor4D, state: r.state };
};
const logits: Tensor2D[] = [];
const feedforward = proto.feedforward as (...a: unknown[]) => { logits: Tensor2D };
proto.feedforward = function (this: WrnCnnfNetwork, ...a: unknown[]) {
  const r = feedforward.apply(this, a);
  logits.push(tf.keep(tf.clone(r.logits)));
  return r;
};

const cases = (await readSafetensors(join(fixtureDir, 'cases.safetensors'))).tensors;
const raw = cases.get('x_uint8_nchw')!;
const [n, c, h, w] = raw.shape;
// --images 0,6: a subset (per-image outputs do not depend on the rest of the batch); the compare script
// reads the indices from the .json.
const images = flags.images.split(',').filter(Boolean).map(Number);
const picked = images.length > 0 ? images : Array.from({ length: n }, (_, i) => i);
const index = tf.tensor1d(Int32Array.from(picked), 'int32');
const x = tf.tidy(() => tf.gather(tf.div(tf.transpose(tf.tensor(Float32Array.from(raw.data), [n, c, h, w]), [0, 2, 3, 1]), 255), index)) as Tensor4D;
const y = tf.tidy(() => tf.gather(tf.tensor1d(Int32Array.from(cases.get('y')!.data), 'int32'), index));
const std = checkpoint.manifest.normalization.std;
const grad = tf.tidy(() => tf.mul(classifier.lossAndGrad(x, y, { path: 'e2e', output: 'last', loss: 'ce' }).grad, tf.tensor1d(std)));
if (call !== order.length) throw new Error(`expected ${order.length} AdaReLU calls, saw ${call}`);
record('logits', tf.stack(logits));
record('grad_x', grad);

const total = arrays.reduce((s, [, , d]) => s + d.length, 0);
const buf = new Float32Array(total);
let off = 0;
for (const [, , d] of arrays) (buf.set(d, off), (off += d.length));
writeFileSync(`${outPrefix}.bin`, Buffer.from(buf.buffer));
writeFileSync(`${outPrefix}.json`, JSON.stringify({ images: picked, arrays: arrays.map(([name, shape]) => [name, shape]) }));
process.stdout.write(`${outPrefix}: ${arrays.length} arrays, logits_last[0,:3] = ${Array.from(logits[logits.length - 1].dataSync().slice(0, 3))}\n`);
