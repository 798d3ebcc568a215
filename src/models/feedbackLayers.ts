import { tf, type Tensor, type Tensor4D } from '../engine/tf.js';
import { conv2dTransposeSame } from '../engine/kernels/index.js';
import { poolChoose, poolGather, poolScatter, windowPoolKernelsApply, type PoolUses } from '../engine/kernels/window-pool-kernels.js';
import { fastPath } from '../engine/fastPaths.js';
import type { Normalization } from './architecture.js';
import { insNormFast, maskedMul, pool2x2, scatterToChoice, selectByChoice, type WindowLayout } from './fastOps.js';

/*
 * The layers of CNN-F as pure functions. The reference implementation keeps per-layer mutable state
 * (ReLU masks, pooling indices, the "hidden" feedback signal); here that state is explicit, passed in and
 * returned, so a pass is a function and tf.grad can differentiate through a whole unrolled loop.
 *
 * Masks and pooling choices are computed with tf.step / argMax+oneHot, whose gradients are zero: they
 * are constants of the pass, exactly as autograd treats the reference's boolean masks and indices.
 * The products with them go through src/models/fastOps.ts, which gives the same values and gradients
 * without differentiating the constants (docs/performance.md).
 */

/** InsNorm: divide each channel by its root mean square over the spatial positions (not mean-centred). */
export function insNorm(x: Tensor4D, epsilon: number): Tensor4D {
  if (fastPath('ins-norm')) return insNormFast(x, epsilon);
  return tf.tidy(() => {
    const meanSquare = tf.mean(tf.square(x), [1, 2], true);
    return tf.div(x, tf.sqrt(tf.add(meanSquare, epsilon)));
  });
}

/** What an AdaReLU remembers from a pass: which units were on. */
export interface ReluState {
  mask: Tensor;
}

/**
 * [0,1] pixels to a network's input space: (x - mean) / std per channel, x NHWC [N,H,W,C] with mean and std
 * of length C (or 1). Both CNN-F networks (Fashion-MNIST and the CIFAR Wide-ResNet) start with it.
 */
export function normalizeInput(x: Tensor4D, normalization: Normalization): Tensor4D {
  const { mean, std } = normalization;
  return tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as Tensor4D;
}

/**
 * AdaReLU forward. Without feedback (first pass) it is a ReLU. With the feedback signal `hidden` of the
 * previous generative pass, the input first moves towards it by `resParam` (the residual update), and a
 * unit stays on only where input and feedback agree in sign.
 */
export function adaptiveRelu(x: Tensor, hidden: Tensor | null, resParam: number): { out: Tensor; state: ReluState } {
  if (hidden === null) {
    const mask = tf.step(x);
    return { out: maskedMul(x, mask), state: { mask } };
  }
  const moved = tf.add(x, tf.mul(resParam, tf.sub(hidden, x)));
  const mask = tf.step(tf.mul(moved, hidden));
  return { out: maskedMul(moved, mask), state: { mask } };
}

/** AdaReLU in the generative (feedback) direction: pass through the units that were on. */
export function adaptiveReluFeedback(x: Tensor, state: ReluState): Tensor {
  return maskedMul(x, state.mask);
}

/** Arranges the 2x2 windows of an NHWC tensor along a trailing axis: [N,H/2,W/2,C,4], window order (dy,dx). */
function windows2x2(x: Tensor4D): Tensor {
  const [n, h, w, c] = x.shape;
  const cropped = h % 2 || w % 2 ? tf.slice(x, [0, 0, 0, 0], [n, h - (h % 2), w - (w % 2), c]) : x;
  const h2 = Math.floor(h / 2);
  const w2 = Math.floor(w / 2);
  const six = tf.reshape(cropped, [n, h2, 2, w2, 2, c]);
  return tf.reshape(tf.transpose(six, [0, 1, 3, 5, 2, 4]), [n, h2, w2, c, 4]);
}

/** Inverse of windows2x2: scatters [N,h,w,C,4] back to [N,H,W,C] (zero-padding an odd last row/column). */
function unwindows2x2(v: Tensor, outShape: readonly number[]): Tensor4D {
  const [n, h2, w2, c] = v.shape;
  const six = tf.transpose(tf.reshape(v, [n, h2, w2, c, 2, 2]), [0, 1, 4, 2, 5, 3]);
  const full = tf.reshape(six, [n, h2 * 2, w2 * 2, c]) as Tensor4D;
  const [, h, w] = outShape;
  if (h === h2 * 2 && w === w2 * 2) return full;
  return tf.pad(full, [[0, 0], [0, h - h2 * 2], [0, w - w2 * 2], [0, 0]]);
}

/**
 * What an AdaPool remembers: the one-hot position of the max (and, after feedback, of the min) in each
 * 2x2 window, and which of the two the feedback selected. Ties go to the first position in row-major
 * window order, as PyTorch's max_pool2d does. A pass whose state no feedback pass reads (the CNN's, the
 * last pass of CNN-F) skips the choices: they are null there.
 */
export interface PoolState {
  inputShape: number[];
  maxChoice: Tensor | null;
  minChoice: Tensor | null;
  /** 1 where the feedback signal was positive (take the max), null in the first pass. */
  usesMax: Tensor | null;
  /** 1 where the feedback signal was negative (take the min). */
  usesMin: Tensor | null;
  /**
   * How the choices are stored: 'windows', one-hot [N,h,w,C,4] in windows2x2 order; 'map' (the wasm
   * kernels, fast path ada-pool-wasm), [N,H,W,C] with 1 at each window's chosen position.
   */
  layout?: 'windows' | 'map';
}

/** One-hot [N,h,w,C,4] of the first maximum (minimum) of every 2x2 window. */
function windowChoice(x: Tensor4D, min: boolean): Tensor {
  const win = windows2x2(x);
  return oneHotFloat(tf.argMax(min ? tf.neg(win) : win, 4), 4);
}

const LAYOUT: WindowLayout = { choice: windowChoice, scatter: (v, shape) => unwindows2x2(v, shape) };

/**
 * AdaPool forward (2x2, stride 2). First pass: max pooling. With feedback `hidden` (the pooled-resolution
 * signal of the previous generative pass): max-pool where hidden > 0, min-pool where hidden < 0, zero
 * where it is exactly 0 (as the reference does). `keepState`: a feedback pass will read the choices.
 */
export function adaptivePool(x: Tensor4D, hidden: Tensor | null, keepState = true): { out: Tensor4D; state: PoolState } {
  if (fastPath('ada-pool-wasm') && windowPoolKernelsApply(x.shape[3])) return adaptivePoolWasm(x, hidden, keepState);
  if (fastPath('max-pool')) return adaptivePoolFast(x, hidden, keepState);
  const win = windows2x2(x);
  const maxChoice = oneHotFloat(tf.argMax(win, 4), 4);
  const maxPooled = selectByChoice(win, maxChoice) as Tensor4D;
  if (hidden === null) {
    return { out: maxPooled, state: { inputShape: x.shape, maxChoice, minChoice: null, usesMax: null, usesMin: null } };
  }
  const minChoice = oneHotFloat(tf.argMax(tf.neg(win), 4), 4);
  const minPooled = selectByChoice(win, minChoice);
  const usesMax = tf.step(hidden);
  const usesMin = tf.step(tf.neg(hidden));
  const out = tf.add(maskedMul(maxPooled, usesMax), maskedMul(minPooled, usesMin)) as Tensor4D;
  return { out, state: { inputShape: x.shape, maxChoice, minChoice, usesMax, usesMin } };
}

/**
 * adaptivePool with the pooled values from the backend's MaxPool kernel (min pooling as -maxPool(-x));
 * the window choices are computed only for a feedback pass that reads them, or by the gradient.
 */
function adaptivePoolFast(x: Tensor4D, hidden: Tensor | null, keepState: boolean): { out: Tensor4D; state: PoolState } {
  const maxChoice = keepState ? windowChoice(x, false) : null;
  const maxPooled = pool2x2(x, false, maxChoice, LAYOUT);
  if (hidden === null) {
    return { out: maxPooled, state: { inputShape: x.shape, maxChoice, minChoice: null, usesMax: null, usesMin: null } };
  }
  const minChoice = keepState ? windowChoice(x, true) : null;
  const minPooled = pool2x2(x, true, minChoice, LAYOUT);
  const usesMax = tf.step(hidden);
  const usesMin = tf.step(tf.neg(hidden));
  const out = tf.add(maskedMul(maxPooled, usesMax), maskedMul(minPooled, usesMin)) as Tensor4D;
  return { out, state: { inputShape: x.shape, maxChoice, minChoice, usesMax, usesMin } };
}

/**
 * adaptivePool on the wasm window kernels (src/engine/kernels/window-pool-kernels.ts): one pass for the
 * pooled values and the choice maps, one for the gradient (the pooled gradient placed at the chosen
 * positions, as pool2x2's). Values and gradients have the bits of the TensorFlow.js formulation.
 * Without keepState the maps are computed only by the gradient, from the saved input.
 */
function adaptivePoolWasm(x: Tensor4D, hidden: Tensor | null, keepState: boolean): { out: Tensor4D; state: PoolState } {
  const uses: PoolUses | null = hidden === null ? null : { usesMax: tf.step(hidden), usesMin: tf.step(tf.neg(hidden)) };
  let maxChoice: Tensor | null = null;
  let minChoice: Tensor | null = null;
  const op = tf.customGrad(((xi: Tensor4D, save: (t: Tensor[]) => void) => {
    const [pooled, maxMap, minMap] = poolChoose(xi, uses, keepState);
    if (keepState) {
      // customGrad runs this in a tidy: keep the maps through it, handed to the caller's scope below.
      maxChoice = tf.keep(maxMap);
      minChoice = minMap ? tf.keep(minMap) : null;
    }
    const consts = uses ? [uses.usesMax, uses.usesMin] : [];
    save(keepState ? [...consts, maxMap, ...(minMap ? [minMap] : [])] : [...consts, xi]);
    return {
      value: pooled,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const u = uses ? { usesMax: saved[0], usesMin: saved[1] } : null;
        const rest = saved.slice(uses ? 2 : 0);
        const maps = keepState ? rest : tf.tidy(() => poolChoose(rest[0] as Tensor4D, u, true).slice(1));
        const dx = poolScatter(dy, maps[0], maps[1] ?? null, u);
        if (!keepState) tf.dispose(maps);
        return dx;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const out = op(x) as Tensor4D;
  for (const t of [maxChoice, minChoice] as (Tensor | null)[]) if (t) handOver(t);
  return {
    out,
    state: { inputShape: x.shape, maxChoice, minChoice, usesMax: uses?.usesMax ?? null, usesMin: uses?.usesMin ?? null, layout: 'map' },
  };
}

/** A kept tensor back under the active scope (the enclosing tidy disposes it, as any other intermediate). */
function handOver(t: Tensor): void {
  (t as { kept: boolean }).kept = false;
  (tf.engine() as unknown as { track(t: Tensor): Tensor }).track(t);
}

/**
 * AdaPool in the generative direction: put each value back at the position its window chose (max or
 * min). Before any feedback has been seen, all windows were max-pooled.
 */
export function adaptivePoolFeedback(x: Tensor4D, state: PoolState): Tensor4D {
  if (state.maxChoice === null) throw new Error('adaptivePoolFeedback: the pass did not keep its pooling choices');
  if (state.layout === 'map') return poolFeedbackWasm(x, state);
  if (state.usesMax === null || state.usesMin === null || state.minChoice === null) {
    return unwindows2x2(scatterToChoice(x, state.maxChoice), state.inputShape);
  }
  const fromMax = scatterToChoice(maskedMul(x, state.usesMax), state.maxChoice);
  const fromMin = scatterToChoice(maskedMul(x, state.usesMin), state.minChoice);
  return unwindows2x2(tf.add(fromMax, fromMin), state.inputShape);
}

/**
 * adaptivePoolFeedback for choices kept as maps (adaptivePoolWasm): the wasm scatter, whose gradient is
 * the wasm gather; the same values and gradients as scatterToChoice + unwindows2x2.
 */
function poolFeedbackWasm(x: Tensor4D, state: PoolState): Tensor4D {
  const { maxChoice, minChoice, usesMax, usesMin } = state;
  const uses = usesMax && usesMin && minChoice ? { usesMax, usesMin } : null;
  const consts = uses ? [maxChoice!, minChoice!, usesMax!, usesMin!] : [maxChoice!];
  const op = tf.customGrad(((xi: Tensor4D, save: (t: Tensor[]) => void) => {
    save(consts);
    return {
      value: poolScatter(xi, maxChoice!, uses ? minChoice : null, uses),
      gradFunc: (dy: Tensor, s: Tensor[]) => poolGather(dy, s[0], uses ? s[1] : null, uses ? { usesMax: s[2], usesMin: s[3] } : null),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as Tensor4D;
}

/** Stride-1 'same' convolution with an HWIO kernel. */
export function conv(x: Tensor4D, kernel: Tensor): Tensor4D {
  return tf.conv2d(x, kernel as tf.Tensor4D, 1, 'same');
}

/**
 * The tied transposed convolution of the feedback path: the adjoint of `conv` with the same kernel. It
 * runs as a forward convolution with the adjoint kernel (src/engine/kernels), because wasm's
 * Conv2DBackpropInput is ~10x slower than its Conv2D.
 */
export function transposedConv(x: Tensor4D, kernel: Tensor): Tensor4D {
  return conv2dTransposeSame(x, kernel as tf.Tensor4D);
}

/**
 * One-hot as float32. tf.oneHot(..., 'float32') on the wasm backend (tfjs 4.22) writes integer bit patterns
 * into the float buffer (1 reads as 1.4e-45), so we build the int32 one-hot and cast it.
 */
export function oneHotFloat(indices: Tensor, depth: number): Tensor {
  return tf.cast(tf.oneHot(indices as tf.Tensor1D, depth), 'float32');
}
