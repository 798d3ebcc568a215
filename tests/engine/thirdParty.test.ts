// A real third-party TF.js graph-model on the wasm backend: NSFWJS's MobileNetV2 "mid" classifier
// (npm package nsfwjs@4.4.0, MIT, https://github.com/infinitered/nsfwjs; a tfjs-converter graph-model
// with uint8-quantised weights, 224x224x3 input in [0,1], 5 classes; ops _FusedConv2D,
// FusedDepthwiseConv2dNative with strides 1 and 2, AddV2, AvgPool, _FusedMatMul, Softmax). Plain
// TensorFlow.js 4.22 fails its input gradient on wasm ("Kernel 'Conv2DBackpropFilter' not registered").
// Here, on wasm: the logits (the _FusedMatMul before the Softmax) match the cpu backend; the input
// gradient of a fixed combination of the logits matches central finite differences of the forward pass
// along sign(g) (the direction of an L-inf attack step) and a sparse +-1 direction; no kernel runs through the
// cpu fallback. (The cpu backend's own gradient of this model takes minutes: its Conv2DBackpropFilter
// and depthwise kernels are plain loops, so it is not the reference here; the kernel-level tests in
// convBackpropKernels.test.ts compare every gradient kernel with the cpu backend.)
//
// The package is a devDependency of bench (npm ci installs it); without it this test is skipped, or
// BENCH_NSFWJS_DIR may point at an unpacked copy of its tarball (the folder holding package.json).
// Its model files are UMD JavaScript modules: model.min.js exports the model.json object, each
// group1-shardNofM.min.js the shard's bytes as base64.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { cpuFallbacksRun, resetCpuFallbacksRun } from '../../src/engine/kernels/index.js';

const VERSION = '4.4.0';
const MODEL_DIR = 'dist/models/mobilenet_v2_mid';
const LOGITS = 'StatefulPartitionedCall/sequential/dense/BiasAdd';
const require = createRequire(import.meta.url);

/** The nsfwjs package folder: installed, or BENCH_NSFWJS_DIR; null when neither is there. */
function packageRoot(): string | null {
  const candidates: string[] = [];
  try {
    // The package's exports map hides package.json; its main entry is dist/cjs/index.js.
    candidates.push(join(dirname(require.resolve('nsfwjs')), '..', '..'));
  } catch {
    // not installed
  }
  if (process.env.BENCH_NSFWJS_DIR) candidates.push(process.env.BENCH_NSFWJS_DIR);
  return candidates.find((d) => existsSync(join(d, MODEL_DIR, 'model.min.js'))) ?? null;
}

const root = packageRoot();
if (!root) console.warn(`thirdParty.test.ts skipped: nsfwjs is not installed (npm install -D nsfwjs@${VERSION}, or set BENCH_NSFWJS_DIR)`);

interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** model.json and its concatenated weight shards, read from the package's UMD modules. */
function artifacts(dir: string): tf.io.ModelArtifacts {
  const load = (file: string) => require(join(dir, MODEL_DIR, file)) as unknown;
  const json = load('model.min.js') as ModelJson;
  const shards = json.weightsManifest.flatMap((g) => g.paths).map((p) => Buffer.from(load(`${p}.min.js`) as string, 'base64'));
  const all = Buffer.concat(shards);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, label: string) {
  expect(actual.length, label).toBe(expected.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxRef, label).toBeGreaterThan(0);
  expect(maxDiff, `${label}: max diff ${maxDiff} vs max ${maxRef}`).toBeLessThanOrEqual(rtol * maxRef);
}

describe.skipIf(!root)(`nsfwjs@${VERSION} MobileNetV2-mid graph-model on wasm`, () => {
  let model: tf.GraphModel;
  const image = (() => {
    const s = new SampleStream(5, 'nsfwjs-image', 0);
    return Float32Array.from({ length: 224 * 224 * 3 }, () => s.next());
  })();
  const weights = [1, -0.5, 0.25, 2, -1]; // a fixed combination of the 5 logits

  beforeAll(async () => {
    await initBackend('wasm');
    const pkg = JSON.parse(readFileSync(join(root!, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(pkg.license).toBe('MIT');
    if (pkg.version !== VERSION) console.warn(`thirdParty.test.ts: nsfwjs ${pkg.version} found, written for ${VERSION}`);
    model = await tf.loadGraphModel(tf.io.fromMemory(artifacts(root!)));
  }, 60_000);

  const combination = (x: tf.Tensor) => tf.sum(tf.mul(model.execute(x, LOGITS) as tf.Tensor, tf.tensor1d(weights)));

  it('logits on wasm equal the cpu backend', async () => {
    expect(model.inputs[0].shape).toEqual([-1, 224, 224, 3]);
    const logits = () => tf.tidy(() => (model.execute(tf.tensor4d(image, [1, 224, 224, 3]), LOGITS) as tf.Tensor).dataSync().slice());
    await tf.setBackend('cpu');
    const ref = logits();
    await tf.setBackend('wasm');
    const got = logits();
    expect(got.length).toBe(5);
    expectClose(got, ref, 1e-4, 'logits');
  }, 120_000);

  it('input gradient of the logits on wasm matches finite differences, with no cpu-fallback kernel', async () => {
    await tf.setBackend('wasm');
    resetCpuFallbacksRun();
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => tf.grad(combination)(tf.tensor4d(image, [1, 224, 224, 3])).dataSync().slice());
    expect(tf.memory().numTensors).toBe(before);
    expect(cpuFallbacksRun()).toEqual([]);
    const norm = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
    expect(norm).toBeGreaterThan(0);
    // Central differences (f(x + h v) - f(x - h v)) / 2h in float32 forward passes, against <g, v>.
    // The steps are small because ReLU6 kinks bend f quickly along sign(g) (measured: the central
    // difference goes 831.8, 873.8, 885.5, 890.1, 895.1 for h = 1e-3 ... 1e-5, the gradient says 894.6).
    const sparse = new Float32Array(g.length);
    for (let i = 0; i < 3000; i++) sparse[(i * 50 + 7) % g.length] = i % 2 ? 1 : -1; // every 50th value, alternating signs
    const directions: { name: string; v: Float32Array; h: number }[] = [
      { name: 'sign(g)', v: Float32Array.from(g, (d) => Math.sign(d)), h: 1e-5 },
      { name: 'sparse +-1', v: sparse, h: 1e-3 },
    ];
    for (const { name, v, h } of directions) {
      const predicted = g.reduce((a, d, i) => a + d * v[i], 0);
      const at = (t: number) => tf.tidy(() => combination(tf.tensor4d(image.map((p, i) => p + t * v[i]), [1, 224, 224, 3])).dataSync()[0]);
      const measured = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(measured - predicted), `${name}: finite difference ${measured}, gradient ${predicted}`).toBeLessThanOrEqual(0.01 * Math.abs(predicted));
    }
  }, 180_000);
});
