// The README's third-party example: scripts/examples/nsfwjs.ts turns the nsfwjs package's JavaScript
// model modules into a standard graph-model folder, and bench's tfjs-graph family loads it. Checked here:
// the folder loads through the family (input [224, 224, 3], 5 classes, Softmax head read as
// log-softmax of its input, recorded weight hash = the extracted shards'), the scores are finite and are
// log-probabilities of the package's own model: exp(scores) equals the softmax output of the same
// model.json and weights loaded straight from the package's modules with tf.loadGraphModel.
//
// nsfwjs is a devDependency (npm ci installs it); without it this file is skipped with a message.
// BENCH_NSFWJS_DIR may point at an unpacked copy of the package instead.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { tf } from '../../../src/engine/tf.js';
import { tfjsGraphFamily } from '../../../src/models/families/tfjsGraph.js';
import type { LoadedModel } from '../../../src/models/families/types.js';
import { mulberry32 } from '../../helpers/mulberry32.js';
import { extractNsfwjsModel, NSFWJS_CLASSES, NSFWJS_MODEL, NSFWJS_VERSION, nsfwjsPackageRoot, umdExport, type ExtractedModel } from '../../../scripts/examples/nsfwjs.js';

const root = nsfwjsPackageRoot();
if (!root) console.warn(`tests/scripts/examples/nsfwjs.test.ts skipped: nsfwjs is not installed (npm install -D nsfwjs@${NSFWJS_VERSION}, or set BENCH_NSFWJS_DIR)`);

const tmp = mkdtempSync(join(tmpdir(), 'bench-nsfwjs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!root)(`nsfwjs@${NSFWJS_VERSION} graph-model extracted by scripts/examples`, () => {
  let extracted: ExtractedModel;
  let loaded: LoadedModel;
  // Two 224x224 RGB images in [0,1] from a seeded generator.
  const rand = mulberry32(14);
  const images = Float32Array.from({ length: 2 * 224 * 224 * 3 }, () => rand());

  beforeAll(async () => {
    await initBackend('wasm');
    extracted = extractNsfwjsModel(root!, join(tmp, 'nsfwjs'));
    loaded = await tfjsGraphFamily.load(extracted.modelJson, { classNames: NSFWJS_CLASSES });
  }, 60_000);
  afterAll(() => loaded?.dispose());

  it('writes a graph-model folder with a NOTICE naming the package, version and licence', () => {
    expect(extracted.version).toBe(NSFWJS_VERSION);
    expect(extracted.license).toBe('MIT');
    const json = JSON.parse(readFileSync(extracted.modelJson, 'utf8'));
    expect(json.format).toBe('graph-model');
    expect(json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths)).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin']);
    const notice = readFileSync(join(tmp, 'nsfwjs', 'NOTICE'), 'utf8');
    expect(notice).toContain(`nsfwjs@${NSFWJS_VERSION} (MIT licence`);
    expect(readFileSync(join(tmp, 'nsfwjs', 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('loads through the tfjs-graph family: 224x224x3, 5 classes, Softmax head read as log-softmax', () => {
    expect(loaded.description).toMatchObject({
      family: 'tfjs-graph',
      inputShape: [224, 224, 3],
      numClasses: 5,
      outputKind: 'log-probabilities',
      logProbabilities: 'log-softmax',
      weightsSha256: extracted.weightsSha256,
    });
    expect(loaded.classifier.classNames).toEqual(NSFWJS_CLASSES);
    expect(loaded.notices.join('\n')).toContain('Softmax op detected at the output');
  });

  it('scores are finite log-probabilities of the package’s own model', async () => {
    const scores = tf.tidy(() => loaded.classifier.logits(tf.tensor4d(images, [2, 224, 224, 3])).arraySync());
    // The same model.json and weights, straight from the package's modules, through plain TF.js.
    const dir = join(root!, 'dist', 'models', NSFWJS_MODEL);
    const json = umdExport(join(dir, 'model.min.js')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
    const shards = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths).map((p) => Buffer.from(umdExport(join(dir, `${p}.min.js`)) as string, 'base64')));
    const direct = await tf.loadGraphModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: new Uint8Array(shards).buffer }),
    );
    const probabilities = tf.tidy(() => (direct.predict(tf.tensor4d(images, [2, 224, 224, 3])) as tf.Tensor).arraySync() as number[][]);
    direct.dispose();
    expect(scores).toHaveLength(2);
    for (let n = 0; n < 2; n++) {
      expect(scores[n]).toHaveLength(5);
      for (const s of scores[n]) expect(Number.isFinite(s), `score ${s}`).toBe(true);
      for (let k = 0; k < 5; k++) expect(Math.exp(scores[n][k])).toBeCloseTo(probabilities[n][k], 5);
    }
  }, 60_000);
});
