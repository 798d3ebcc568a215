import { inputError } from '../../engine/errors.js';
import { tf, type Tensor2D, type Tensor4D } from '../../engine/tf.js';
import { defaultModelName, imageInputShape } from './common.js';
import { resolveModelOptions } from './options.js';
import type { HeadReading } from './tfjsClassifier.js';
import { finishTfjsModel } from './tfjsLoaded.js';
import { artifactsHandler, explainTfjsError, graphConstShapes, manifestShapeMismatch, readModelJson, readTfjsArtifacts, tfjsFormatOf } from './tfjsFiles.js';
import type { LoadedModel, LoadOptions, ModelFamily } from './types.js';

/** A GraphDef node as tfjs-converter writes it in model.json (modelTopology.node[]). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; list?: unknown; [k: string]: unknown }>;
}

/** The node name of a tensor reference `name`, `name:1` or control input `^name`. */
export const nodeOf = (ref: string): string => ref.replace(/^\^/, '').replace(/:\d+$/, '');

/** Ops that pass their first input through unchanged (followed back when looking for a final Softmax). */
const PASS_THROUGH = new Set(['Identity', 'Snapshot', 'StopGradient']);

/**
 * The node a final Softmax is applied to, following pass-through ops back from the output node; null when
 * the output is not a softmax.
 */
export function preSoftmaxNode(nodes: Map<string, GraphNode>, outputNode: string): string | null {
  let node = nodes.get(outputNode);
  for (let hops = 0; node && hops < nodes.size; hops++) {
    if (node.op === 'Softmax') return node.input && node.input.length > 0 ? node.input[0].replace(/^\^/, '') : null;
    if (!PASS_THROUGH.has(node.op) || !node.input || node.input.length === 0) return null;
    node = nodes.get(nodeOf(node.input[0]));
  }
  return null;
}

/** Ops whose cost is their (constant) kernel times their output positions: convolutions and matrix products. */
const KERNEL_OPS = new Set(['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative', 'MatMul', '_FusedMatMul']);
/** Ops whose cost the count ignores (elementwise, shape, pooling, reductions, normalisation). */
const UNCOUNTED_HEAVY = new Set(['Conv2DBackpropInput', 'Conv3D', 'BatchMatMul', 'BatchMatMulV2', 'Einsum', 'Conv1D']);

/**
 * Forward FLOPs of one image through a graph model: 2 x multiply-adds of its convolution and matmul ops
 * (constant kernel elements x output positions, the output shapes measured on one zero image). Null when
 * the graph holds a convolution or matmul-like op whose kernel is not a constant weight, or an op of that
 * kind not listed.
 */
export function graphForwardFlops(
  model: tf.GraphModel,
  nodes: GraphNode[],
  weightShapes: Map<string, number[]>,
  inputShape: readonly [number, number, number],
): number | null {
  const counted: { name: string; kernel: number }[] = [];
  for (const node of nodes) {
    if (UNCOUNTED_HEAVY.has(node.op)) return null;
    if (!KERNEL_OPS.has(node.op)) continue;
    const kernel = node.input && node.input.length > 1 ? weightShapes.get(nodeOf(node.input[1])) : undefined;
    if (!kernel) return null;
    counted.push({ name: node.name, kernel: kernel.reduce((a, b) => a * b, 1) });
  }
  if (counted.length === 0) return 0;
  return tf.tidy(() => {
    const outs = model.execute(tf.zeros([1, ...inputShape]), counted.map((c) => c.name)) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(outs) ? outs : [outs];
    let macs = 0;
    list.forEach((t, i) => {
      const positions = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      macs += counted[i].kernel * positions;
    });
    return 2 * macs;
  });
}

/**
 * Loads a TF.js graph-model (model.json written by tfjs-converter from a SavedModel, Keras or a frozen
 * graph, plus weight shards) from disk. One float32 NHWC image input with fixed H, W, C; one
 * [batch, classes] output; executed synchronously (models with dynamic control flow are refused). A dry run
 * on a zero image at load makes an op with no TF.js implementation fail here, naming the op.
 * `output: auto` reads a final Softmax op (through Identity) as probabilities and returns log-softmax of
 * its input tensor. Refused in one line (InputError): a manifest shape that differs from its Const node's,
 * a NaN weight (±Infinity constants are allowed: graphs use them as clip bounds and masks).
 */
export async function loadGraphModel(path: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const modelJson = await readModelJson(path);
  const { file } = modelJson;
  // A graph's constants may hold ±Infinity on purpose (clip bounds, masks); a NaN weight is refused.
  const topologyShapes = async () => graphConstShapes(modelJson.json.modelTopology as Record<string, unknown>);
  const { artifacts, weightsSha256, weightShapes, entries } = await readTfjsArtifacts(modelJson, 'graph-model', { topologyShapes, refuseNonFinite: 'nan' });
  const mismatch = manifestShapeMismatch(file, entries, await topologyShapes());
  if (mismatch) throw mismatch;
  const topology = artifacts.modelTopology as { node: GraphNode[] };
  const nodes = topology.node;
  if (!nodes.every((n) => n && typeof n.name === 'string' && typeof n.op === 'string'))
    throw inputError(`${file}: modelTopology.node`, 'holds an entry without a name or op');
  let model: tf.GraphModel;
  try {
    model = await tf.loadGraphModel(artifactsHandler(artifacts));
  } catch (err) {
    throw explainTfjsError(err, file, 'TF.js cannot build the graph-model');
  }
  const dispose = () => model.dispose();
  try {
    if (model.inputs.length !== 1) throw inputError(file, `has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}), bench feeds one image input`);
    if (model.outputs.length !== 1) throw inputError(file, `has ${model.outputs.length} outputs (${model.outputs.map((o) => o.name).join(', ')}), bench reads one [batch, classes] output`);
    const input = model.inputs[0];
    if (input.dtype !== undefined && input.dtype !== 'float32')
      throw inputError(file, `input "${input.name}" has dtype ${input.dtype}`, 'float32');
    const inputShape = imageInputShape(input.shape, file);
    const outputName = model.outputs[0].name;
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const softmaxInput = preSoftmaxNode(byName, nodeOf(outputName));
    const where = options.where ?? file;

    const forward = (x: Tensor4D) => model.execute(x, outputName) as Tensor2D;
    // Classes from the output's declared shape when known, else from a first execution.
    let numClasses = model.outputs[0].shape?.length === 2 ? model.outputs[0].shape[1] : -1;
    if (!(numClasses > 0)) {
      try {
        numClasses = tf.tidy(() => forward(tf.zeros([1, ...inputShape])).shape[1] ?? -1);
      } catch (err) {
        throw explainTfjsError(err, file, 'the model fails on a zero image');
      }
    }
    if (!(numClasses > 0)) throw inputError(file, 'output is not [batch, classes]');
    const resolved = resolveModelOptions(options, { defaultName: defaultModelName(file), channels: inputShape[2], numClasses }, where, options.baseDir);
    if (options.defaultOutput !== undefined && options.defaultOutput !== 'logits')
      throw inputError(`${where}: defaultOutput`, `${JSON.stringify(options.defaultOutput)} is not an output of this model`, 'logits');

    let head: HeadReading = 'logits';
    if (resolved.output === 'probabilities' || (resolved.output === 'auto' && softmaxInput)) head = softmaxInput ? 'log-softmax' : 'clipped-log';
    return finishTfjsModel({
      family: 'tfjs-graph',
      path,
      file,
      weightsSha256,
      inputShape,
      numClasses,
      resolved,
      head,
      softmaxFound: softmaxInput ? 'Softmax op detected at the output' : null,
      preSoftmaxName: 'the Softmax input',
      forward,
      preSoftmax: softmaxInput ? (x: Tensor4D) => model.execute(x, softmaxInput) as Tensor2D : undefined,
      forwardFlops: () => graphForwardFlops(model, nodes, weightShapes, inputShape),
      dispose,
    });
  } catch (err) {
    dispose();
    throw err;
  }
}

export const tfjsGraphFamily: ModelFamily = {
  name: 'tfjs-graph',
  description: 'TF.js graph-model (model.json with format "graph-model" and a GraphDef node list, plus weight shards; from tfjs-converter)',
  async detect(path: string): Promise<boolean> {
    try {
      return tfjsFormatOf((await readModelJson(path)).json) === 'graph-model';
    } catch {
      return false;
    }
  },
  load: loadGraphModel,
};
