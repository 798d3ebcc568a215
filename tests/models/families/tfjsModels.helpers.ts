import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../../../src/engine/tf.js';

export const SHARD = 'group1-shard1of1.bin';

/**
 * Saves a LayersModel in the on-disk TF.js format (what tfjs-node's file:// handler writes): model.json
 * with format, generatedBy, convertedBy, modelTopology and a weightsManifest naming one shard, plus the
 * shard holding the weights in manifest order.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = tf.io.CompositeArrayBuffer.join(a.weightData!);
      const json = {
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy ?? null,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [SHARD], weights: a.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      await writeFile(join(dir, SHARD), Buffer.from(data));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return join(dir, 'model.json');
}

/** Base64 of an ASCII string, as GraphDef JSON encodes string attributes (`s`). */
export const b64 = (s: string) => Buffer.from(s).toString('base64');

export interface GraphWeights {
  /** 3x3 conv kernel HWIO [3,3,C,F]. */
  kernel: Float32Array;
  convBias: Float32Array;
  /** dense [F*Ho*Wo, K]. */
  dense: Float32Array;
  denseBias: Float32Array;
}

/**
 * A hand-written tfjs-converter graph-model: x [-1,H,W,C] -> Conv2D 3x3 stride 2 SAME -> BiasAdd -> Relu ->
 * (or opts.extraOp in place of Relu) -> Reshape [-1, F*Ho*Wo] -> MatMul -> BiasAdd -> (Softmax) -> Identity. GraphDef JSON as tfjs-converter
 * writes it (attr types DT_FLOAT/DT_INT32, string attrs base64, int lists as strings).
 */
export async function saveGraphModel(
  dir: string,
  shape: [number, number, number],
  filters: number,
  classes: number,
  w: GraphWeights,
  opts: { softmax?: boolean; extraOp?: string; extraAttr?: Record<string, unknown> } = {},
): Promise<string> {
  const [h, wd, c] = shape;
  const ho = Math.ceil(h / 2);
  const wo = Math.ceil(wd / 2);
  const flat = ho * wo * filters;
  const f32 = { type: 'DT_FLOAT' };
  const dim = (ns: number[]) => ({ dim: ns.map((n) => ({ size: String(n) })) });
  const constNode = (name: string, dims: number[], dtype = 'DT_FLOAT') => ({
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: dim(dims) } }, dtype: { type: dtype } },
  });
  const nodes: object[] = [
    { name: 'x', op: 'Placeholder', attr: { dtype: f32, shape: { shape: dim([-1, h, wd, c]) } } },
    constNode('conv/kernel', [3, 3, c, filters]),
    constNode('conv/bias', [filters]),
    constNode('flat/shape', [2], 'DT_INT32'),
    constNode('dense/kernel', [flat, classes]),
    constNode('dense/bias', [classes]),
    {
      name: 'conv/Conv2D',
      op: 'Conv2D',
      input: ['x', 'conv/kernel'],
      attr: {
        T: f32,
        strides: { list: { i: ['1', '2', '2', '1'] } },
        padding: { s: b64('SAME') },
        data_format: { s: b64('NHWC') },
        dilations: { list: { i: ['1', '1', '1', '1'] } },
        use_cudnn_on_gpu: { b: true },
      },
    },
    { name: 'conv/BiasAdd', op: 'BiasAdd', input: ['conv/Conv2D', 'conv/bias'], attr: { T: f32, data_format: { s: b64('NHWC') } } },
    { name: 'conv/Relu', op: opts.extraOp ?? 'Relu', input: ['conv/BiasAdd'], attr: { T: f32, ...opts.extraAttr } },
    { name: 'flat/Reshape', op: 'Reshape', input: ['conv/Relu', 'flat/shape'], attr: { T: f32, Tshape: { type: 'DT_INT32' } } },
    { name: 'dense/MatMul', op: 'MatMul', input: ['flat/Reshape', 'dense/kernel'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'dense/BiasAdd', op: 'BiasAdd', input: ['dense/MatMul', 'dense/bias'], attr: { T: f32, data_format: { s: b64('NHWC') } } },
  ];
  let last = 'dense/BiasAdd';
  if (opts.softmax) {
    nodes.push({ name: 'probs/Softmax', op: 'Softmax', input: [last], attr: { T: f32 } });
    last = 'probs/Softmax';
  }
  nodes.push({ name: 'Identity', op: 'Identity', input: [last], attr: { T: f32 } });
  const shapeValues = new Int32Array([-1, flat]);
  const parts = [w.kernel, w.convBias, new Uint8Array(shapeValues.buffer), w.dense, w.denseBias].map(
    (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
  );
  const bin = Buffer.concat(parts);
  const json = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'hand-written for tests (TensorFlow.js Converter v4 layout)',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1482 } },
    weightsManifest: [
      {
        paths: [SHARD],
        weights: [
          { name: 'conv/kernel', shape: [3, 3, c, filters], dtype: 'float32' },
          { name: 'conv/bias', shape: [filters], dtype: 'float32' },
          { name: 'flat/shape', shape: [2], dtype: 'int32' },
          { name: 'dense/kernel', shape: [flat, classes], dtype: 'float32' },
          { name: 'dense/bias', shape: [classes], dtype: 'float32' },
        ],
      },
    ],
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  await writeFile(join(dir, SHARD), bin);
  return join(dir, 'model.json');
}
