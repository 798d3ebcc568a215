import { inputError } from '../../engine/errors.js';
import { tf, type Tensor2D, type Tensor4D } from '../../engine/tf.js';
import { defaultModelName, imageInputShape } from './common.js';
import { resolveModelOptions } from './options.js';
import type { HeadReading } from './tfjsClassifier.js';
import { finishTfjsModel } from './tfjsLoaded.js';
import {
  artifactsHandler,
  explainTfjsError,
  manifestShapeMismatch,
  readModelJson,
  readTfjsArtifacts,
  tfjsFormatOf,
  type TopologyShape,
} from './tfjsFiles.js';
import type { LoadedModel, LoadOptions, ModelFamily } from './types.js';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor;

/** True when a layer's last operation is a softmax: a `softmax` activation, an Activation('softmax') or a Softmax layer. */
export function endsInSoftmax(layer: Layer): boolean {
  const config = layer.getConfig() as Record<string, unknown>;
  return layer.getClassName() === 'Softmax' || config.activation === 'softmax';
}

/**
 * A model computing the last layer's input to its softmax, sharing the loaded model's layers and weights:
 * for an Activation/Softmax layer, the tensor it receives; for a layer with `activation: 'softmax'`
 * (Dense, Conv...), a copy of the layer with a linear activation and the same weights. Null when the
 * last layer is not the model's single output (shared or nested layers).
 */
function preSoftmaxModel(model: tf.LayersModel, last: Layer): { model: tf.LayersModel; copy: Layer | null } | null {
  let input: SymbolicTensor;
  try {
    if (model.outputs.length !== 1 || model.outputs[0] !== last.output) return null;
    input = last.input as SymbolicTensor;
  } catch {
    return null; // a layer applied several times has no single input/output
  }
  if (Array.isArray(input)) return null;
  if (last.getClassName() === 'Softmax' || last.getClassName() === 'Activation') return { model: tf.model({ inputs: model.inputs, outputs: input }), copy: null };
  const config: Record<string, unknown> = { ...(last.getConfig() as Record<string, unknown>), activation: 'linear', name: `${last.name}_pre_softmax` };
  delete config.batchInputShape;
  delete config.inputShape;
  const Ctor = last.constructor as new (config: Record<string, unknown>) => Layer;
  const linear = new Ctor(config);
  const output = linear.apply(input) as SymbolicTensor;
  linear.setWeights(last.getWeights());
  return { model: tf.model({ inputs: model.inputs, outputs: output }), copy: linear };
}

/** The fields of tfjs-layers' BatchNormalization that decide whether it passes a scale and an offset. */
interface BatchNormInternals {
  scale: boolean;
  center: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
}

/**
 * Gives every BatchNormalization layer built without a scale (`scale: false`, no gamma) or without an
 * offset (`center: false`, no beta), nested models included, a constant scale of ones or offset of zeros
 * in its place, so that its tf.batchNorm call receives both. Why: TensorFlow.js 4.22 computes such a layer's
 * forward pass, but its gradient fails inside the engine (a missing scale: "Cannot read properties of
 * undefined (reading 'dtype')", while saving the inputs for the backward pass; a missing offset: "(reading
 * 'id')", in the tape), so no attack could differentiate, for instance, Keras's InceptionV3 (scale=False
 * throughout). x * 1 and x + 0 are exact in float32, so the outputs keep their values. Returns the constants
 * (the caller disposes them with the model). Changes the layers in place (tfjs-layers' own fields,
 * read in BatchNormalization.call: its weights stay as loaded, its getConfig now reports scale and center
 * true).
 */
export function completeBatchNormAffine(model: tf.LayersModel): tf.Tensor[] {
  const constants: tf.Tensor[] = [];
  const visit = (layers: Layer[]) => {
    for (const layer of layers) {
      if ('layers' in layer && Array.isArray((layer as unknown as tf.LayersModel).layers)) visit((layer as unknown as tf.LayersModel).layers);
      if (layer.getClassName() !== 'BatchNormalization') continue;
      const bn = layer as unknown as BatchNormInternals;
      if (bn.scale && bn.center) continue;
      // The moving variance, the layer's last weight, has one entry per normalised channel.
      const variance = layer.weights[layer.weights.length - 1];
      if (variance === undefined || variance.shape.length !== 1) continue;
      const channels = variance.shape[0] as number;
      if (!bn.scale) {
        const ones = tf.ones([channels]);
        constants.push(ones);
        bn.gamma = { read: () => ones };
        bn.scale = true;
      }
      if (!bn.center) {
        const zeros = tf.zeros([channels]);
        constants.push(zeros);
        bn.beta = { read: () => zeros };
        bn.center = true;
      }
    }
  };
  visit(model.layers);
  return constants;
}

/** Multiply-adds per output position of the layers whose cost is their kernel (see CostHints). */
const KERNEL_LAYERS = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D', 'Dense']);
/** Layers with weights whose cost is elementwise (not counted). */
const ELEMENTWISE_WEIGHTED = new Set(['BatchNormalization', 'LayerNormalization', 'PReLU']);

/**
 * Forward FLOPs of one image through a layers model: 2 x multiply-adds of its convolution and dense
 * layers (kernel elements x output positions; separable: depthwise + pointwise kernels), nested models
 * included. Null when a layer with weights is of a kind not listed here.
 */
export function layersForwardFlops(model: tf.LayersModel): number | null {
  let macs = 0;
  const visit = (layers: Layer[]): boolean => {
    for (const layer of layers) {
      const cls = layer.getClassName();
      if ('layers' in layer && Array.isArray((layer as unknown as tf.LayersModel).layers)) {
        if (!visit((layer as unknown as tf.LayersModel).layers)) return false;
        continue;
      }
      const weights = layer.getWeights();
      if (weights.length === 0 || ELEMENTWISE_WEIGHTED.has(cls)) continue;
      if (!KERNEL_LAYERS.has(cls)) return false;
      const out = layer.outputShape as (number | null)[];
      if (!Array.isArray(out) || out.slice(1).some((d) => d === null)) return false;
      const positions = (out.slice(1, -1) as number[]).reduce((a, b) => a * b, 1);
      const kernels = cls.startsWith('Separable') ? weights.slice(0, 2) : weights.slice(0, 1);
      macs += kernels.reduce((a, k) => a + k.size, 0) * positions;
    }
    return true;
  };
  return visit(model.layers) ? 2 * macs : null;
}

/**
 * The shape of every weight of a layers-model topology (a Keras config), keyed by the name the
 * weightsManifest uses (the variable's original name, `<layer>/<weight>`), found by building the model
 * (weights initialised, then disposed). Null when the topology does not build.
 */
export async function layersTopologyShapes(topology: object): Promise<Map<string, TopologyShape> | null> {
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON);
  } catch {
    return null;
  }
  const shapes = new Map<string, TopologyShape>();
  for (const layer of model.layers)
    for (const w of layer.weights) shapes.set(w.originalName, { shape: [...w.shape] as number[], owner: `layer ${JSON.stringify(layer.name)}` });
  model.dispose();
  return shapes;
}

/**
 * Loads a TF.js layers-model (model.json written by LayersModel.save or the Keras converter) from disk.
 * Input: one NHWC image input with fixed H, W, C; output: one [batch, classes] tensor. Inference mode
 * (dropout off, batch norm on moving statistics; a batch norm without scale or offset gets a constant one,
 * see completeBatchNormAffine). Options: see options.ts; `output: auto` reads a final
 * softmax (see endsInSoftmax) as probabilities and returns log-softmax of the pre-softmax tensor.
 * Refused in one line (InputError): a manifest shape that differs from the layer's (layersTopologyShapes),
 * a NaN or ±Infinity weight (as bench checkpoints are), besides the file problems of readTfjsArtifacts.
 */
export async function loadLayersModel(path: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const modelJson = await readModelJson(path);
  const { file } = modelJson;
  const topologyShapes = () => layersTopologyShapes(modelJson.json.modelTopology as object);
  const { artifacts, weightsSha256, entries } = await readTfjsArtifacts(modelJson, 'layers-model', { topologyShapes });
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(artifactsHandler(artifacts), { strict: true });
  } catch (err) {
    // Manifest and shards agree but the topology needs other shapes: name the weight, not TF.js's message.
    const shapes = await topologyShapes();
    const mismatch = shapes && manifestShapeMismatch(file, entries, shapes);
    throw mismatch ?? explainTfjsError(err, file, 'TF.js cannot build the layers-model');
  }
  // The pre-softmax model shares the loaded model's layers: only its own layer copy is disposed with it.
  let copy: Layer | null = null;
  const affineConstants = completeBatchNormAffine(model);
  const dispose = () => {
    model.dispose();
    copy?.dispose();
    tf.dispose(affineConstants);
  };
  try {
    if (model.inputs.length !== 1) throw inputError(file, `has ${model.inputs.length} inputs, bench feeds one image input`);
    if (model.outputs.length !== 1) throw inputError(file, `has ${model.outputs.length} outputs, bench reads one [batch, classes] output`);
    const inputShape = imageInputShape(model.inputs[0].shape, file);
    const outShape = model.outputs[0].shape;
    if (outShape.length !== 2 || !(typeof outShape[1] === 'number' && outShape[1] > 0))
      throw inputError(file, `output shape [${outShape.map((d) => d ?? '?').join(', ')}] is not [batch, classes]`);
    const numClasses = outShape[1];
    const where = options.where ?? file;
    const resolved = resolveModelOptions(options, { defaultName: defaultModelName(file), channels: inputShape[2], numClasses }, where, options.baseDir);
    if (options.defaultOutput !== undefined && options.defaultOutput !== 'logits')
      throw inputError(`${where}: defaultOutput`, `${JSON.stringify(options.defaultOutput)} is not an output of this model`, 'logits');

    const last = model.layers[model.layers.length - 1];
    const softmax = endsInSoftmax(last);
    let head: HeadReading = 'logits';
    let pre: tf.LayersModel | null = null;
    if (resolved.output === 'probabilities' || (resolved.output === 'auto' && softmax)) {
      const found = softmax ? preSoftmaxModel(model, last) : null;
      pre = found?.model ?? null;
      copy = found?.copy ?? null;
      head = pre ? 'log-softmax' : 'clipped-log';
    }
    const run = (m: tf.LayersModel) => (input: Tensor4D) => m.apply(input, { training: false }) as Tensor2D;
    return finishTfjsModel({
      family: 'tfjs-layers',
      path,
      file,
      weightsSha256,
      inputShape,
      numClasses,
      resolved,
      head,
      softmaxFound: softmax ? 'softmax head detected' : null,
      preSoftmaxName: 'the pre-softmax tensor',
      forward: run(model),
      preSoftmax: pre ? run(pre) : undefined,
      forwardFlops: () => layersForwardFlops(model),
      dispose,
    });
  } catch (err) {
    dispose();
    throw err;
  }
}

export const tfjsLayersFamily: ModelFamily = {
  name: 'tfjs-layers',
  description: 'TF.js layers-model (model.json with format "layers-model" and a Keras topology, plus weight shards)',
  async detect(path: string): Promise<boolean> {
    try {
      return tfjsFormatOf((await readModelJson(path)).json) === 'layers-model';
    } catch {
      return false;
    }
  },
  load: loadLayersModel,
};
