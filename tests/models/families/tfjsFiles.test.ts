import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/engine/errors.js';
import { tf } from '../../../src/engine/tf.js';
import { detectFamily, loadModel } from '../../../src/models/families/index.js';
import { tfjsFormatOf } from '../../../src/models/families/tfjsFiles.js';
import { mulberry32 } from '../../helpers/mulberry32.js';
import { saveGraphModel, saveLayersModel, SHARD } from './tfjsModels.helpers.js';

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'bench-tfjs-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function smallModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3 }));
  return m;
}

/** The InputError a promise rejects with; fails the test when it resolves or throws anything else. */
async function inputErrorOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  const message = (err as InputError).message;
  expect(message).not.toContain('\n');
  return message;
}

function graphWeights() {
  const rand = mulberry32(9);
  const r = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  return { kernel: r(3 * 3 * 1 * 2), convBias: r(2), dense: r(2 * 2 * 2 * 3), denseBias: r(3) };
}

describe('TF.js model files: formats and bad files, each refused in one line naming the file', () => {
  it('tells the formats apart by the format field, else by the topology (older files without "format")', () => {
    expect(tfjsFormatOf({ format: 'layers-model', modelTopology: {} })).toBe('layers-model');
    expect(tfjsFormatOf({ format: 'graph-model', modelTopology: {} })).toBe('graph-model');
    expect(tfjsFormatOf({ modelTopology: { class_name: 'Sequential', config: {} } })).toBe('layers-model');
    expect(tfjsFormatOf({ modelTopology: { model_config: { class_name: 'Model' } } })).toBe('layers-model');
    expect(tfjsFormatOf({ modelTopology: { node: [] } })).toBe('graph-model');
    expect(tfjsFormatOf({ format: 'onnx', modelTopology: { node: [] } })).toBeNull();
    expect(tfjsFormatOf({ weightsManifest: [] })).toBeNull();
  });

  it('neither format: names the file and the formats bench reads', async () => {
    const dir = join(root, 'neither');
    await saveLayersModel(smallModel(), dir);
    const file = join(dir, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...json, format: 'onnx-model' }));
    const message = await inputErrorOf(loadModel(file));
    expect(message).toBe(
      `${file}: format "onnx-model": not a model bench reads (allowed: a bench checkpoint directory (bench-checkpoint/1), a TF.js layers-model or graph-model model.json)`,
    );
    await writeFile(file, JSON.stringify({ weightsManifest: [] }));
    expect(await inputErrorOf(detectFamily(dir))).toMatch(/no "format" field and no Keras or GraphDef topology: not a model bench reads/);
    expect(await inputErrorOf(loadModel(join(root, 'nowhere')))).toMatch(/nowhere: does not exist/);
  });

  it('weights split over several shards (as tfjs-converter writes 4 MB shards) load as one, in manifest order', async () => {
    const dir = join(root, 'two-shards');
    const model = smallModel();
    await saveLayersModel(model, dir);
    const file = join(dir, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    const bin = await readFile(join(dir, SHARD));
    await writeFile(join(dir, 'group1-shard1of2.bin'), bin.subarray(0, 200));
    await writeFile(join(dir, 'group1-shard2of2.bin'), bin.subarray(200));
    await unlink(join(dir, SHARD));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    await writeFile(file, JSON.stringify(json));
    const loaded = await loadModel(dir);
    const x = tf.randomUniform([2, 6, 6, 1]) as tf.Tensor4D;
    expect(Array.from(loaded.classifier.logits(x).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
    loaded.dispose();
  });

  it('a missing weight shard: names the shard', async () => {
    const dir = join(root, 'missing');
    await saveLayersModel(smallModel(), dir);
    await unlink(join(dir, SHARD));
    expect(await inputErrorOf(loadModel(dir))).toBe(`${join(dir, SHARD)}: weight shard missing (named by model.json weightsManifest[0].paths[0])`);
  });

  it('a short (truncated) shard: names the shard, expected and actual bytes', async () => {
    const dir = join(root, 'short');
    await saveLayersModel(smallModel(), dir);
    // conv kernel 3*3*1*2 + bias 2 + dense kernel 32*3 + bias 3 = 119 float32 = 476 bytes.
    await truncate(join(dir, SHARD), 470);
    expect(await inputErrorOf(loadModel(dir))).toBe(
      `${join(dir, SHARD)}: weight shards of model.json weightsManifest[0] hold 470 bytes, its 4 weight specs need 476 bytes (truncated shard)`,
    );
  });

  it('a weight of the wrong size (manifest and shard agree, the model needs another shape): names the weight and both shapes', async () => {
    const dir = join(root, 'wrong-size');
    await saveLayersModel(smallModel(), dir);
    const file = join(dir, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    const w = json.weightsManifest[0].weights.findIndex((s: { shape: number[] }) => s.shape.length === 2);
    const spec = json.weightsManifest[0].weights[w];
    spec.shape = [spec.shape[0], 4]; // dense kernel [32, 3] -> [32, 4]: 32 more floats
    await writeFile(file, JSON.stringify(json));
    const shard = await readFile(join(dir, SHARD));
    await writeFile(join(dir, SHARD), Buffer.concat([shard, Buffer.alloc(32 * 4)]));
    const layer = spec.name.split('/')[0];
    expect(await inputErrorOf(loadModel(dir))).toBe(
      `${file}: weightsManifest[0].weights[${w}]: weight "${spec.name}" has shape [32, 4] in the manifest, layer "${layer}" needs [32, 3]`,
    );
  });

  it('a manifest shape the layer contradicts (shard sized for the layer): blames the shape, not the shard', async () => {
    const dir = join(root, 'wrong-shape');
    await saveLayersModel(smallModel(), dir);
    const file = join(dir, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    const spec = json.weightsManifest[0].weights[0];
    expect(spec.shape).toEqual([3, 3, 1, 2]);
    spec.shape = [3, 3, 1, 3]; // the shard still holds [3,3,1,2]: 9 floats short
    await writeFile(file, JSON.stringify(json));
    expect(await inputErrorOf(loadModel(dir))).toBe(
      `${file}: weightsManifest[0].weights[0]: weight "${spec.name}" has shape [3, 3, 1, 3] in the manifest, layer "${spec.name.split('/')[0]}" needs [3, 3, 1, 2]`,
    );
  });

  it('a graph-model manifest shape that differs from its Const node: names the weight and the node', async () => {
    const dir = join(root, 'graph-shape');
    const file = await saveGraphModel(dir, [4, 4, 1], 2, 3, graphWeights());
    const json = JSON.parse(await readFile(file, 'utf8'));
    json.weightsManifest[0].weights[1].shape = [3]; // conv/bias: node [2]; the shard is 4 bytes short now
    await writeFile(file, JSON.stringify(json));
    expect(await inputErrorOf(loadModel(file))).toBe(
      `${file}: weightsManifest[0].weights[1]: weight "conv/bias" has shape [3] in the manifest, the graph's Const node "conv/bias" needs [2]`,
    );
  });

  it('a non-finite weight is refused like a bench checkpoint\'s: the file, the weight, the value and its flat index', async () => {
    const dir = join(root, 'nan-layers');
    await saveLayersModel(smallModel(), dir);
    const file = join(dir, 'model.json');
    const names = JSON.parse(await readFile(file, 'utf8')).weightsManifest[0].weights.map((s: { name: string }) => s.name);
    const shard = await readFile(join(dir, SHARD));
    const poisoned = (index: number, value: number) => {
      const copy = Buffer.from(shard);
      copy.writeFloatLE(value, index * 4);
      return copy;
    };
    // Shard floats: conv kernel 0..17, conv bias 18..19, dense kernel 20..115: float 19 is the bias's element 1, float 30 the dense kernel's element 10.
    await writeFile(join(dir, SHARD), poisoned(19, NaN));
    expect(await inputErrorOf(loadModel(dir))).toBe(`${file}: weight "${names[1]}": non-finite value NaN at flat index 1`);
    await writeFile(join(dir, SHARD), poisoned(30, -Infinity));
    expect(await inputErrorOf(loadModel(dir))).toBe(`${file}: weight "${names[2]}": non-finite value -Infinity at flat index 10`);

    // graph-model: a NaN constant is refused; an infinite one may be meant (a clip bound) and loads.
    const g = join(root, 'nan-graph');
    const weights = graphWeights();
    weights.denseBias[1] = NaN;
    const gfile = await saveGraphModel(g, [4, 4, 1], 2, 3, weights);
    expect(await inputErrorOf(loadModel(gfile))).toBe(`${gfile}: weight "dense/bias": non-finite value NaN at flat index 1`);
    weights.denseBias[1] = Infinity;
    await saveGraphModel(g, [4, 4, 1], 2, 3, weights);
    (await loadModel(gfile)).dispose();
  });

  it('a graph op with no implementation fails at load time, naming the op', async () => {
    const dir = join(root, 'unknown-op');
    const file = await saveGraphModel(dir, [4, 4, 1], 2, 3, graphWeights(), { extraOp: 'FancyRelu' });
    expect(await inputErrorOf(loadModel(file))).toBe(`${file}: op "FancyRelu" has no TF.js implementation (allowed: the ops of tfjs-converter 4.x)`);
  });

  it('a graph shard path that is a URL is refused (no network)', async () => {
    const dir = join(root, 'url');
    const file = await saveGraphModel(dir, [4, 4, 1], 2, 3, graphWeights());
    const json = JSON.parse(await readFile(file, 'utf8'));
    json.weightsManifest[0].paths = ['https://example.com/group1-shard1of1.bin'];
    await writeFile(file, JSON.stringify(json));
    expect(await inputErrorOf(loadModel(file))).toMatch(/weightsManifest\[0\]\.paths\[0\]: "https:\/\/example.com\/group1-shard1of1.bin" is a URL; bench reads weight shards from disk only/);
  });
});
