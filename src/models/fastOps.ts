// Cheaper formulations of CNN-F's building blocks with the same values and the same gradients.
// Why (scripts/perf.ts profile of one PGD step on wasm): autograd of x * mask differentiates the mask
// branch too (a multiply, a cast copy, zeros and an add per ReLU, all thrown away because the mask is a
// step function); pooling through 2x2 windows + argMax + one-hot costs transposes and four-fold
// multiplies even where nothing reads the pooling choice; and every dense backward and feedback pass
// transposed a 3136x1000 kernel (scripts/perf/dense-bench.ts: 12 ms for the transpose alone, and the
// product with a new right-hand tensor then re-packs it for XNNPACK).
// Each fast path can be turned off with BENCH_DISABLE_FAST (src/engine/fastPaths.ts) to measure it.
import { tf, type Tensor, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import { fastPath } from '../engine/fastPaths.js';
import { insNormKernelsApply, insNormOnKernels } from '../engine/kernels/ins-norm-kernels.js';

type GradFn = (dy: Tensor, saved: Tensor[]) => Tensor;

/**
 * y = forward(x) with dy -> grad(dy, saved) as its only gradient (x is the op's only input). Tensors the
 * gradient needs must be passed in `save`: tf.grad disposes every intermediate of the forward pass
 * before the backward pass runs, and keeps only what was saved (with src/engine/kernels/shared-identity
 * on wasm, saving shares the buffer instead of copying it).
 */
function unaryWithGrad(x: Tensor, forward: (x: Tensor) => Tensor, grad: GradFn, save: Tensor[] = []): Tensor {
  const op = tf.customGrad(((xi: Tensor, saveFn: (t: Tensor[]) => void) => {
    if (save.length > 0) saveFn(save);
    return { value: forward(xi), gradFunc: (dy: Tensor, saved: Tensor[]) => grad(dy, saved) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as Tensor;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * x * mask where the mask is a constant of the pass (ReLU masks, pooling choices, feedback signs):
 * the gradient is dy * mask for x and nothing for the mask. Autograd gives the same dx but also
 * computes the mask's gradient, which the step/argMax behind every mask then zeroes.
 */
export function maskedMul(x: Tensor, mask: Tensor): Tensor {
  if (!fastPath('masked-grad')) return tf.mul(x, mask);
  const outShape = tf.broadcast_util.assertAndGetBroadcastShape(x.shape, mask.shape);
  if (!sameShape(outShape, x.shape)) return tf.mul(x, mask); // x itself broadcasts: keep autograd's reduction
  return unaryWithGrad(x, (xi) => tf.mul(xi, mask), (dy, [m]) => tf.mul(dy, m), [mask]);
}

/**
 * expandDims(v, 4) * choice for a one-hot (constant) choice [N,h,w,C,4]: puts each value of v [N,h,w,C]
 * at its chosen window position. Gradient: the chosen position's dy, summed over the window.
 */
export function scatterToChoice(v: Tensor, choice: Tensor): Tensor {
  if (!fastPath('masked-grad')) return tf.mul(tf.expandDims(v, 4), choice);
  return unaryWithGrad(v, (vi) => tf.mul(tf.expandDims(vi, 4), choice), (dy, [c]) => tf.sum(tf.mul(dy, c), 4), [choice]);
}

/**
 * sum(win * choice, 4) for a one-hot (constant) choice: the chosen value of every window. Gradient:
 * dy placed at the chosen position.
 */
export function selectByChoice(win: Tensor, choice: Tensor): Tensor {
  if (!fastPath('masked-grad')) return tf.sum(tf.mul(win, choice), 4);
  return unaryWithGrad(win, (w) => tf.sum(tf.mul(w, choice), 4), (dy, [c]) => tf.mul(tf.expandDims(dy, 4), c), [choice]);
}

/**
 * InsNorm y = x / sqrt(mean(x², spatial) + eps) with a hand-written gradient that performs, in the same
 * order, the float operations autograd performs for it (so the result is bit-identical), minus the work
 * autograd spends on broadcasting: its Mean gradient materialises a full-size ones tensor, multiplies by it
 * and divides by the pixel count, and its Square gradient doubles x at full size; here those steps run
 * on the per-channel [N,1,1,C] values (dividing by the count and doubling are exact there as well).
 *   dA = dy / b,  t = sum(dy * x), dB = -(t / b²),  dS = dB / (2 sqrt(s)),  q2 = 2 (dS / HW),
 *   dx = dA + q2 * x,  with s = mean(x²) + eps and b = sqrt(s).
 */
export function insNormFast(x: Tensor4D, epsilon: number): Tensor4D {
  const [, h, w, c] = x.shape;
  if (fastPath('ins-norm-mean-wasm') && insNormKernelsApply(c)) return insNormWasm(x, epsilon);
  const op = tf.customGrad(((xi: Tensor4D, save: (t: Tensor[]) => void) => {
    const s = tf.add(tf.mean(tf.square(xi), [1, 2], true), epsilon);
    const b = tf.sqrt(s);
    save([xi, b]);
    return {
      value: tf.div(xi, b),
      gradFunc: (dy: Tensor, [xs, bs]: Tensor[]) => {
        const dA = tf.div(dy, bs);
        const t = tf.reshape(tf.sum(tf.mul(dy, xs), [1, 2]), bs.shape);
        const dB = tf.neg(tf.div(t, tf.square(bs)));
        const dS = tf.div(dB, tf.mul(bs, 2));
        const q2 = tf.mul(tf.div(dS, h * w), 2);
        return tf.add(dA, tf.mul(q2, xs));
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as Tensor4D;
}

/**
 * insNormFast with its full-size passes as the wasm kernels of src/engine/kernels/ins-norm-kernels.ts
 * (fast path `ins-norm-mean-wasm`): wasm's Mean and Sum over the spatial axes [1,2] add the H·W products
 * of each image and channel in sequence from 0 in row-major order and then divide by H·W, which is what
 * spatialSumProducts computes on the map viewed as [N,H·W,1,C] (one row pass, one column); x / b and
 * dy / b + q·x are one pass each. The per-channel arithmetic stays the same TensorFlow.js ops, so the
 * value and gradient keep insNormFast's bits (tests/models/fastOps.test.ts). NHWC with C a multiple of
 * 4, on wasm.
 */
function insNormWasm(x: Tensor4D, epsilon: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  return insNormOnKernels(x, epsilon, (t) => tf.reshape(t, [n, h * w, 1, c]) as Tensor4D);
}

/** How the pooling ops find and undo window positions (feedbackLayers.ts owns the layout). */
export interface WindowLayout {
  /** One-hot [N,h,w,C,4] of the first maximum of every 2x2 window of x (of the minimum if `min`). */
  choice(x: Tensor4D, min: boolean): Tensor;
  /** [N,h,w,C,4] back to an NHWC tensor of `shape`. */
  scatter(v: Tensor, shape: readonly number[]): Tensor4D;
}

/**
 * 2x2 stride-2 max pooling (min pooling if `min`: -maxPool(-x)) whose value comes from the backend's
 * MaxPool kernel (exact: a max is a max) and whose gradient goes to the first maximum (minimum) in
 * row-major window order, as PyTorch's max_pool2d routes it (wasm's MaxPoolGrad takes the last one on
 * ties, so it is not used). Pass the choice if the pass computes it anyway; otherwise the gradient, if
 * one is taken, computes it from x.
 */
export function pool2x2(x: Tensor4D, min: boolean, choice: Tensor | null, layout: WindowLayout): Tensor4D {
  const forward = (xi: Tensor) =>
    min ? tf.neg(tf.maxPool(tf.neg(xi) as Tensor4D, [2, 2], [2, 2], 'valid')) : tf.maxPool(xi as Tensor4D, [2, 2], [2, 2], 'valid');
  const grad: GradFn = (dy, [saved]) => {
    const c = choice === null ? layout.choice(saved as Tensor4D, min) : saved;
    return layout.scatter(tf.mul(tf.expandDims(dy, 4), c), x.shape);
  };
  return unaryWithGrad(x, forward, grad, [choice ?? x]) as Tensor4D;
}

const isConstant = (w: Tensor) => !(w instanceof tf.Variable && w.trainable);

/** a · bᵀ computed as (b · aᵀ)ᵀ: the kernel b is the left operand, so it is never transposed. */
function timesTransposed(a: Tensor, b: Tensor): Tensor2D {
  return tf.transpose(tf.matMul(b as Tensor2D, tf.transpose(a) as Tensor2D)) as Tensor2D;
}

/**
 * x · w of a dense layer. For a constant kernel (anything but a trainable tf.Variable: training keeps
 * TensorFlow's gradients, which also give the kernel's) the input gradient dy · wᵀ is computed as
 * (w · dyᵀ)ᵀ: two transposes of the small [N, out] and [in, N] tensors instead of one of the kernel
 * (3136x1000 for fc1), and on wasm the kernel is then not packed again for XNNPACK in every backward
 * pass. On wasm both orders give bit-identical results (XNNPACK accumulates along k in order), tested.
 */
export function dense(x: Tensor2D, w: Tensor): Tensor2D {
  if (!fastPath('dense') || !isConstant(w)) return tf.matMul(x, w as Tensor2D);
  return unaryWithGrad(x, (xi) => tf.matMul(xi as Tensor2D, w as Tensor2D), (dy) => timesTransposed(dy, w)) as Tensor2D;
}

/**
 * x · wᵀ, the tied transposed layer of the feedback pass. For a constant kernel: (w · xᵀ)ᵀ, with the
 * input gradient dy · w (the kernel as the backend's cached right-hand operand).
 */
export function denseTransposed(x: Tensor2D, w: Tensor): Tensor2D {
  if (!fastPath('dense') || !isConstant(w)) return tf.matMul(x, tf.transpose(w) as Tensor2D);
  return unaryWithGrad(x, (xi) => timesTransposed(xi, w), (dy) => tf.matMul(dy as Tensor2D, w as Tensor2D)) as Tensor2D;
}
