// The gradient of tf.fused.conv2d (tfjs-layers' Conv2D layers, a converted graph-model's _FusedConv2D) without
// the weight gradients an attack does not ask for.
// Why: TensorFlow.js 4.22's fused conv2d op differentiates through customGrad, whose gradient computes the
// input, filter and bias gradients together whichever are asked for. An attack asks only for the input's,
// yet every Conv2D layer of a user model paid for a Conv2DBackpropFilter: ~40% of an attack step on the
// depthwise-separable user model of `npm run perf` once the batch-norm gradient was fixed
// (docs/performance.md, "Weight gradients of fused convolutions").
// Under a gradient tape the op only fuses a linear activation (tfjs's shouldFuse: a ReLU runs unfused there
// already), so this replacement takes exactly that case: it runs the same FusedConv2D kernel with the same
// attributes (the same output bits) as a kernel call with a registered gradient whose input, filter and bias
// gradients are separate thunks, each the kernel call tfjs's gradient makes (Conv2DBackpropInput,
// Conv2DBackpropFilter with the same attributes; the bias gradient summed over the broadcast axes), so each
// gradient has TensorFlow.js's bits (tests/engine/kernels/fused-conv-gradient.test.ts). Every other call
// (no tape, another activation, NCHW, dilations, rank 3, PReLU weights, a bias other than [Cout],
// non-tensor arguments) goes to the
// original op. Fast path `fused-conv-grad`, checked per call.
//
// How: tf.fused is a plain object shared by tfjs-core's users (tfjs-layers and tfjs-converter read
// `fused.conv2d` from it at call time), so its conv2d entry is replaced; unregister puts the original back.
import { tf } from '../tf.js';
import { fastPath } from '../fastPaths.js';

type FusedConv2dArgs = Parameters<typeof tf.fused.conv2d>[0];
type FusedConv2d = typeof tf.fused.conv2d;

const fusedOps = tf.fused as unknown as { conv2d: FusedConv2d };
let originalOp: FusedConv2d | null = null;

const isOnes = (v: number | readonly number[] | undefined) => v === undefined || (typeof v === 'number' ? v === 1 : v.every((d) => d === 1));

/** The FusedConv2D kernel's attributes, plus the bias shape the gradient needs (the kernel ignores it). */
interface LazyAttrs {
  strides: FusedConv2dArgs['strides'];
  pad: FusedConv2dArgs['pad'];
  dataFormat: 'NHWC';
  dilations: FusedConv2dArgs['dilations'];
  dimRoundingMode: FusedConv2dArgs['dimRoundingMode'];
  activation: 'linear';
  leakyreluAlpha: number | undefined;
  biasShape: number[] | null;
}

/** True when `args` is a call this replacement computes (see the header); false sends it to the original op. */
function takes(args: FusedConv2dArgs): boolean {
  const { x, filter, bias, dataFormat, dilations, activation, preluActivationWeights } = args;
  if (!fastPath('fused-conv-grad') || tf.engine().state.gradientDepth === 0) return false;
  if ((activation ?? 'linear') !== 'linear' || preluActivationWeights != null) return false;
  if ((dataFormat ?? 'NHWC') !== 'NHWC' || !isOnes(dilations as number | number[] | undefined)) return false;
  if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.dtype !== 'float32') return false;
  if (!(filter instanceof tf.Tensor) || filter.rank !== 4 || filter.dtype !== 'float32' || filter.shape[2] !== x.shape[3]) return false;
  if (bias != null && !(bias instanceof tf.Tensor && bias.dtype === 'float32' && bias.rank === 1 && bias.shape[0] === filter.shape[3])) return false;
  return true;
}

/** tf.fused.conv2d with a per-input gradient (see the header). Shapes: x [N,H,W,Cin], filter [kh,kw,Cin,Cout], bias [Cout]. */
function lazyFusedConv2d(args: FusedConv2dArgs): tf.Tensor {
  if (originalOp === null) throw new Error('internal: fused conv2d replacement called before registration');
  if (!takes(args)) return originalOp(args);
  const bias = args.bias as tf.Tensor | undefined | null;
  const attrs: LazyAttrs = {
    strides: args.strides,
    pad: args.pad,
    dataFormat: 'NHWC',
    dilations: args.dilations ?? [1, 1],
    dimRoundingMode: args.dimRoundingMode,
    activation: 'linear',
    leakyreluAlpha: args.leakyreluAlpha,
    biasShape: bias != null ? [...bias.shape] : null,
  };
  // A missing bias is left out of the inputs: the tape would otherwise hold an undefined input.
  const inputs: tf.NamedTensorMap = { x: args.x as tf.Tensor, filter: args.filter as tf.Tensor };
  if (bias != null) inputs.bias = bias;
  return tf.engine().runKernel(tf.FusedConv2D, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const lazyGradient: tf.GradConfig = {
  kernelName: tf.FusedConv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as LazyAttrs;
    if (a.activation !== 'linear') throw new Error(`internal: FusedConv2D gradient for activation ${a.activation}`);
    const dy4 = dy as tf.Tensor4D;
    // The attributes tfjs's own fused gradient passes (conv2DBackpropInput / conv2DBackpropFilter called
    // without a rounding mode).
    const common = { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    return {
      x: () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: dy4, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      filter: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: dy4 }, { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      bias: () => {
        const shape = a.biasShape ?? [];
        const axes = tf.broadcast_util.getReductionAxes(shape, dy4.shape);
        return axes.length > 0 ? tf.reshape(tf.sum(dy4, axes), shape) : dy4;
      },
    };
  },
};

/**
 * Routes tf.fused.conv2d through the replacement above and registers its gradient (idempotent). Call once
 * at start-up (src/engine/backend.ts initBackend).
 */
export function registerFusedConvGradient(): void {
  if (fusedOps.conv2d === (lazyFusedConv2d as unknown as FusedConv2d)) return;
  originalOp = fusedOps.conv2d;
  fusedOps.conv2d = lazyFusedConv2d as unknown as FusedConv2d;
  tf.registerGradient(lazyGradient);
}

/** Puts TensorFlow.js's own fused conv2d back (its FusedConv2D gradient registration stays; only this file's calls use it). */
export function unregisterFusedConvGradient(): void {
  if (fusedOps.conv2d !== (lazyFusedConv2d as unknown as FusedConv2d) || originalOp === null) return;
  fusedOps.conv2d = originalOp;
}

export function fusedConvGradientRegistered(): boolean {
  return fusedOps.conv2d === (lazyFusedConv2d as unknown as FusedConv2d);
}
