// The transposed convolution of a strided conv2d as ONE stride-1 convolution followed by depth-to-space
// (the "sub-pixel" formulation: Shi et al. 2016, "Real-time single image and video super-resolution
// using an efficient sub-pixel convolutional neural network", and Dumoulin & Visin 2016, sec. 4.5).
//
// Why: the zero-insertion formulation (./conv2d-transpose.ts, ./conv-backprop-kernels.ts) runs a
// kh x kw convolution over a map s² times larger, three quarters of it zeros at stride 2: 4x the
// multiply-adds of the forward convolution. Here each output phase (a, b) = (m mod s, n mod s) reads
// only the taps that land on it. Per row phase a, one stride-1 convolution over the small map gives all
// s column phases as s·C output channels (channel b·C + c), which a reshape interleaves into columns;
// the s row phases are then interleaved by one Concat (a copy of whole rows). For the 3x3 stride-2
// layers of a Wide-ResNet that is a 1x2 and a 2x2 convolution to 2·C channels: 12/9 of the forward
// multiply-adds instead of 4x. (wasm's DepthToSpace, the one-kernel interleave, measured 6x slower than
// the Concat on [32,16,16,128]; scripts/perf/micro-kernels.ts.)
//
// Mathematics, per spatial axis (forward y[p] = sum_i u[s·p + i - top] w[i], p in [0,Ho), u of size H):
// the adjoint t[m] = sum over (p, i) with s·p + i - top = m of x[p] w[i]. Writing m = s·r + a,
// a in [0, s), a tap i contributes iff (a + top - i) is a multiple of s, from x[r + e] with
// e = (a + top - i) / s. So t[s·r + a] = sum_j x[r + eMin + j] K[j, a] with
// K[j, a] = w[a + top - s·(eMin + j)] (0 where that index is outside [0, k)), for j in [0, span):
//   eMin = ceil((top - (k - 1)) / s), eMax = floor((s - 1 + top) / s), span = eMax - eMin + 1,
// a stride-1 'valid' convolution over x padded by -eMin before and (R - 1 + eMax) - (Ho - 1) after
// (negative amounts crop), R = ceil(H / s) rows of phases, then cropped to H. The row window is taken
// per row phase a (eMin, eMax of a alone: fewer taps), the column window over all column phases.
import { tf } from '../tf.js';
import { fastPath } from '../fastPaths.js';
import { cachedDerivedKernel } from './constant-kernels.js';
import type { KernelScope } from './kernel-scope.js';
import type { TensorInfo } from './cpu-fallback.js';

/** Where the taps of one spatial axis land for the given phases: window start eMin and length span (0: no tap). */
export interface SubPixelAxis {
  eMin: number;
  span: number;
}

/**
 * The window of an axis with kernel size k, stride s and forward padding `before` (top or left), for
 * output phase `phase` alone or (phase undefined) for all s phases together.
 */
export function subPixelAxis(k: number, s: number, before: number, phase?: number): SubPixelAxis {
  const lo = phase ?? 0;
  const hi = phase ?? s - 1;
  const eMin = Math.ceil((lo + before - (k - 1)) / s) + 0; // + 0: no -0
  const eMax = Math.floor((hi + before) / s);
  return { eMin, span: Math.max(0, eMax - eMin + 1) };
}

/**
 * The kernel [span_a, spanW, O, s·C] of row phase a of the transposed convolution of an HWIO [kh,kw,C,O]
 * filter `w` (values row-major) at stride s with forward padding top/left, with the row window of phase
 * a and the column window of all column phases (subPixelAxis):
 * K[jh, jw, o, b·C + c] = w[a + top - s(eMin_a + jh), b + left - s(eMinW + jw), c, o], 0 outside.
 * Null when no tap lands on row phase a (the phase's rows are zero).
 */
export function subPixelKernelValues(w: ArrayLike<number>, shape: readonly number[], s: number, top: number, left: number, a: number): { values: Float32Array; shape: [number, number, number, number] } | null {
  const [kh, kw, C, O] = shape;
  const ah = subPixelAxis(kh, s, top, a);
  const aw = subPixelAxis(kw, s, left);
  if (ah.span === 0 || aw.span === 0) return null;
  const P = s * C;
  const values = new Float32Array(ah.span * aw.span * O * P);
  for (let jh = 0; jh < ah.span; jh++)
    for (let jw = 0; jw < aw.span; jw++)
      for (let b = 0; b < s; b++) {
        const ih = a + top - s * (ah.eMin + jh);
        const iw = b + left - s * (aw.eMin + jw);
        if (ih < 0 || ih >= kh || iw < 0 || iw >= kw) continue;
        for (let c = 0; c < C; c++)
          for (let o = 0; o < O; o++)
            values[((jh * aw.span + jw) * O + o) * P + b * C + c] = w[((ih * kw + iw) * C + c) * O + o];
      }
  return { values, shape: [ah.span, aw.span, O, P] };
}

/** One row phase's convolution: its kernel (null: the phase is zero) and the paddings of x [N,Ho,Wo,O] for it. */
export interface SubPixelPhase {
  kernel: tf.Tensor4D | null;
  rows: [number, number];
  cols: [number, number];
}

/** The cached kernel of row phase a, made on first use; null when the weight is not registered. */
function phaseKernel(dataId: object, shape: readonly number[], s: number, top: number, left: number, a: number): tf.Tensor4D | null {
  return cachedDerivedKernel(dataId, shape, `subpixel:${s}:${top}:${left}:${a}`, (weight) => {
    const k = subPixelKernelValues(weight.dataSync(), weight.shape, s, top, left, a)!;
    return tf.tensor4d(k.values, k.shape);
  }) as tf.Tensor4D | null;
}

/**
 * Makes now the sub-pixel kernels that subPixelPhases would make on first use, for a constant weight
 * (registered with registerConstantKernels; otherwise, or with the fast path off, nothing happens) used
 * by a convolution at stride s with forward padding top/left. A network calls it at construction for
 * its strided layers, so that no tensor is created during an attack step (a cache filled on first use
 * shows up as tensors left over after the first call). They are freed by releaseConstantKernels.
 */
export function prepareSubPixelKernels(kernel: tf.Tensor, s: number, top: number, left: number): void {
  if (!fastPath('subpixel-transpose') || !fastPath('constant-kernels') || s < 2 || kernel.rank !== 4) return;
  const [kh, kw] = kernel.shape;
  if (subPixelAxis(kw, s, left).span === 0) return;
  for (let a = 0; a < s; a++) if (subPixelAxis(kh, s, top, a).span > 0) phaseKernel(kernel.dataId, kernel.shape, s, top, left, a);
}

/**
 * The s row phases of the transposed convolution of a constant weight (registered with
 * registerConstantKernels) at stride s, forward padding top/left, for an input x [N,Ho,Wo,O] and an
 * output of H x W: per phase the cached kernel (made on first use from the weight's values) and the
 * paddings of x (negative: crop). Null when the weight is not registered, the fast path
 * `subpixel-transpose` is off, or s < 2.
 */
export function subPixelPhases(dataId: object, shape: readonly number[], s: number, top: number, left: number, ho: number, wo: number, H: number, W: number): SubPixelPhase[] | null {
  if (!fastPath('subpixel-transpose') || !fastPath('constant-kernels') || s < 2) return null;
  const [kh, kw] = shape;
  const R = Math.ceil(H / s);
  const Rw = Math.ceil(W / s);
  const aw = subPixelAxis(kw, s, left);
  const phases: SubPixelPhase[] = [];
  for (let a = 0; a < s; a++) {
    const ah = subPixelAxis(kh, s, top, a);
    let kernel: tf.Tensor4D | null = null;
    if (ah.span > 0 && aw.span > 0) {
      kernel = phaseKernel(dataId, shape, s, top, left, a);
      if (kernel === null) return null;
    }
    phases.push({
      kernel,
      rows: [-ah.eMin, R - 1 + ah.eMin + ah.span - 1 - (ho - 1)],
      cols: [-aw.eMin, Rw - 1 + aw.eMin + aw.span - 1 - (wo - 1)],
    });
  }
  return phases;
}

/**
 * Kernel-level sub-pixel transposed convolution: dy [N,Ho,Wo,O] -> [N,H,W,C] from the row phases of
 * subPixelPhases (C input channels of the filter, stride s).
 */
export function subPixelTransposeInfo(sc: KernelScope, dy: TensorInfo, phases: SubPixelPhase[], C: number, s: number, H: number, W: number): TensorInfo {
  const [n] = dy.shape;
  const R = Math.ceil(H / s);
  const Rw = Math.ceil(W / s);
  const rows = phases.map((p) => {
    if (!p.kernel) return sc.run('Fill', {}, { shape: [n, R, 1, Rw * s * C], value: 0, dtype: 'float32' });
    const framed = sc.padOrCrop(dy, [[0, 0], p.rows, p.cols, [0, 0]]);
    const k = p.kernel;
    const z = sc.run('Conv2D', { x: framed, filter: { dataId: k.dataId, shape: k.shape, dtype: k.dtype } }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 });
    return sc.reshape(z, [n, R, 1, Rw * s * C]);
  });
  const joined = sc.run('Concat', rows as unknown as Record<string, TensorInfo>, { axis: 2 });
  const full = sc.reshape(joined, [n, R * s, Rw * s, C]);
  return sc.padOrCrop(full, [[0, 0], [0, H - s * R], [0, W - s * Rw], [0, 0]]);
}
