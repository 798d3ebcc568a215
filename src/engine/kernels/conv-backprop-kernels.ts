// wasm kernels for the gradients of 2-D convolutions, written as forward convolutions (fast XNNPACK
// kernels on wasm) plus transposes, pads and slices. They replace, at the kernel level, what TensorFlow.js
// 4.22's wasm backend lacks or does slowly:
//   Conv2DBackpropInput                 wasm has a plain C++ loop, ~10-20x slower than its Conv2D;
//   Conv2DBackpropFilter                missing on wasm;
//   DepthwiseConv2dNativeBackpropInput  missing on wasm;
//   DepthwiseConv2dNativeBackpropFilter missing on wasm.
// Kernel level matters because tfjs's fused ops (FusedConv2D, FusedDepthwiseConv2D: what tfjs-converter
// turns a graph-model's conv + bias into) have a custom gradient that calls these kernels directly for the
// input and the filter at once, whatever the caller asked for; src/engine/kernels/conv2d-gradients.ts only
// replaces the gradient of the unfused Conv2D op at stride 1.
//
// Mathematics (NHWC, filter HWIO, stride s, forward padding top/left, dilation 1), with
// y[n,p,q,o] = sum_{i,j,c} x[n, s*p+i-top, s*q+j-left, c] * w[i,j,c,o]:
//   input gradient  dx = conv2d_valid(pad(zeroInsert_s(dy)), rot180(w) with in/out swapped), where
//     zeroInsert_s puts dy[p] at s*p, and the pad is kh-1-top rows before and H+top-s*Ho after
//     (negative amounts crop) -- the adjoint of a strided convolution is a stride-1 convolution of the
//     zero-upsampled output gradient (Dumoulin & Visin 2016, "A guide to convolution arithmetic", sec. 4.5);
//   filter gradient dw[i,j,c,o] = sum_{n,p,q} xpad[n, s*p+i, s*q+j, c] * dy[n,p,q,o]: a stride-1
//     convolution of x with batch and channels swapped ([C,H,W,N]) by dy as a kernel [Ho,Wo,N,O]
//     dilated by s, giving [C,kh,kw,O];
//   depthwise (filter [kh,kw,C,M], output channel c*M+m): the input gradient is a depthwise convolution
//     of the zero-inserted dy (C*M channels) by rot180(w) reshaped to [kh,kw,C*M,1], summed over m; the
//     filter gradient is, per tap (i,j), sum_{n,p,q} xpad[n, s*p+i, s*q+j, c] * dy[n,p,q,c*M+m] (a strided
//     slice, a product and a sum).
// Dilations other than 1 and NCHW go to the original kernel (or the cpu fallback where wasm has none).
import { tf } from '../tf.js';
import { fastPath, type FastPath } from '../fastPaths.js';
import { runOnCpu, type TensorInfo } from './cpu-fallback.js';
import { composite, type KernelScope } from './kernel-scope.js';
import { cachedAdjointKernel } from './constant-kernels.js';
import { subPixelPhases, subPixelTransposeInfo } from './sub-pixel.js';

type Pair = [number, number];
type Shape4 = [number, number, number, number];

interface ConvAttrs {
  strides: number | Pair;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | Pair;
  inputShape?: Shape4;
  filterShape?: Shape4;
}

const isOne = (v: number | Pair | undefined) => v === undefined || (typeof v === 'number' ? v === 1 : v.every((d) => d === 1));

function geometry(xShape: Shape4, filterShape: Shape4, attrs: ConvAttrs, depthwise: boolean) {
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, depthwise, 'channelsLast');
  return {
    sh: info.strideHeight, sw: info.strideWidth, kh: info.filterHeight, kw: info.filterWidth,
    top: info.padInfo.top, bottom: info.padInfo.bottom, left: info.padInfo.left, right: info.padInfo.right,
    outH: info.outHeight, outW: info.outWidth,
  };
}

/**
 * The output gradient zero-upsampled by the stride and padded/cropped so that a stride-1 'valid'
 * convolution with a kh x kw kernel gives an [N,H,W,*] input gradient.
 */
function adjointInput(s: KernelScope, dy: TensorInfo, H: number, W: number, g: ReturnType<typeof geometry>): TensorInfo {
  const up = s.zeroInsert(dy, g.sh, g.sw);
  return s.padOrCrop(up, [[0, 0], [g.kh - 1 - g.top, H + g.top - g.outH * g.sh], [g.kw - 1 - g.left, W + g.left - g.outW * g.sw], [0, 0]]);
}

/** The filter rotated by 180 degrees in its spatial axes (a 1x1 filter is returned as it is). */
function rot180(s: KernelScope, filter: TensorInfo): TensorInfo {
  return filter.shape[0] === 1 && filter.shape[1] === 1 ? filter : s.run('Reverse', { x: filter }, { dims: [0, 1] });
}

/** Conv2DBackpropInput: inputs {dy, filter}, attrs.inputShape; see the header for the formula. */
export function conv2dBackpropInputFast(s: KernelScope, dy: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): TensorInfo {
  const xShape = attrs.inputShape!;
  const g = geometry(xShape, filter.shape as Shape4, attrs, false);
  // Stride > 1 with a model's constant weight: one stride-1 convolution per row phase with the cached
  // sub-pixel kernels (./sub-pixel.ts), 12/9 instead of 4x the forward multiply-adds at stride 2, 3x3.
  const phases = g.sh === g.sw && isOne(attrs.dilations)
    ? subPixelPhases(filter.dataId, filter.shape, g.sh, g.top, g.left, g.outH, g.outW, xShape[1], xShape[2])
    : null;
  if (phases) return subPixelTransposeInfo(s, dy, phases, filter.shape[2], g.sh, xShape[1], xShape[2]);
  const dyp = adjointInput(s, dy, xShape[1], xShape[2], g);
  // A model's constant weight has its adjoint made once (./constant-kernels.ts): no Reverse, and wasm's
  // Conv2D reuses its packed operator for that filter.
  const cached = fastPath('constant-kernels') ? cachedAdjointKernel(filter.dataId, filter.shape) : null;
  const wAdj = cached ? { dataId: cached.dataId, shape: cached.shape, dtype: cached.dtype } : s.transpose(rot180(s, filter), [0, 1, 3, 2]);
  return s.run('Conv2D', { x: dyp, filter: wAdj }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 });
}

/** Conv2DBackpropFilter: inputs {x, dy}, attrs.filterShape; see the header for the formula. */
export function conv2dBackpropFilterFast(s: KernelScope, x: TensorInfo, dy: TensorInfo, attrs: ConvAttrs): TensorInfo {
  const [, H, W] = x.shape;
  const g = geometry(x.shape as Shape4, attrs.filterShape!, attrs, false);
  const channelsAsBatch = s.padOrCrop(s.transpose(x, [3, 1, 2, 0]), [
    [0, 0], [g.top, g.kh + g.sh * (g.outH - 1) - H - g.top], [g.left, g.kw + g.sw * (g.outW - 1) - W - g.left], [0, 0]]);
  const dyAsKernel = s.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, O]
  const out = s.run('Conv2D', { x: channelsAsBatch, filter: dyAsKernel }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [g.sh, g.sw] });
  return s.transpose(out, [1, 2, 0, 3]); // [C, kh, kw, O] -> [kh, kw, C, O]
}

/** DepthwiseConv2dNativeBackpropInput: inputs {dy, filter [kh,kw,C,M]}, attrs.inputShape. */
export function depthwiseBackpropInputFast(s: KernelScope, dy: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): TensorInfo {
  const xShape = attrs.inputShape!;
  const [N, H, W, C] = xShape;
  const [kh, kw, , M] = filter.shape;
  const g = geometry(xShape, filter.shape as Shape4, attrs, true);
  const dyp = adjointInput(s, dy, H, W, g);
  const wFlat = s.reshape(rot180(s, filter), [kh, kw, C * M, 1]);
  const dx = s.run('DepthwiseConv2dNative', { x: dyp, filter: wFlat }, { strides: 1, pad: 'valid', dilations: 1 });
  return M === 1 ? dx : s.run('Sum', { x: s.reshape(dx, [N, H, W, C, M]) }, { axis: [4], keepDims: false });
}

/** DepthwiseConv2dNativeBackpropFilter: inputs {x, dy}, attrs.filterShape [kh,kw,C,M]. */
export function depthwiseBackpropFilterFast(s: KernelScope, x: TensorInfo, dy: TensorInfo, attrs: ConvAttrs): TensorInfo {
  const [N, , , C] = x.shape;
  const [kh, kw, , M] = attrs.filterShape!;
  const g = geometry(x.shape as Shape4, attrs.filterShape!, attrs, true);
  const xp = s.padOrCrop(x, [[0, 0], [g.top, g.bottom], [g.left, g.right], [0, 0]]);
  const dyC = M === 1 ? dy : s.reshape(dy, [N, g.outH, g.outW, C, M]);
  const taps: TensorInfo[] = [];
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) {
      let tap = s.run('StridedSlice', { x: xp }, {
        begin: [0, i, j, 0], end: [N, i + g.sh * (g.outH - 1) + 1, j + g.sw * (g.outW - 1) + 1, C], strides: [1, g.sh, g.sw, 1],
        beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
      });
      if (M !== 1) tap = s.reshape(tap, [N, g.outH, g.outW, C, 1]);
      const sum = s.run('Sum', { x: s.run('Multiply', { a: tap, b: dyC }) }, { axis: [0, 1, 2], keepDims: false });
      taps.push(s.reshape(sum, [1, C * M]));
    }
  const all = taps.length === 1 ? taps[0] : s.run('Concat', taps as unknown as Record<string, TensorInfo>, { axis: 0 });
  return s.reshape(all, [kh, kw, C, M]);
}

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs: ConvAttrs;
}

interface FastKernel {
  kernelName: string;
  fastPath: FastPath;
  /** Whether the fast formulation covers this call (else the original kernel or the cpu fallback runs). */
  covers(attrs: ConvAttrs): boolean;
  run(s: KernelScope, inputs: Record<string, TensorInfo>, attrs: ConvAttrs): TensorInfo;
}

const nhwc = (a: ConvAttrs) => a.dataFormat === undefined || a.dataFormat === 'NHWC';

export const FAST_KERNELS: readonly FastKernel[] = [
  { kernelName: 'Conv2DBackpropInput', fastPath: 'conv-backprop', covers: nhwc, run: (s, i, a) => conv2dBackpropInputFast(s, i.dy, i.filter, a) },
  { kernelName: 'Conv2DBackpropFilter', fastPath: 'conv-backprop', covers: nhwc, run: (s, i, a) => conv2dBackpropFilterFast(s, i.x, i.dy, a) },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', fastPath: 'depthwise-backprop', covers: (a) => isOne(a.dilations), run: (s, i, a) => depthwiseBackpropInputFast(s, i.dy, i.filter, a) },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', fastPath: 'depthwise-backprop', covers: (a) => isOne(a.dilations), run: (s, i, a) => depthwiseBackpropFilterFast(s, i.x, i.dy, a) },
];

let originals: Map<string, tf.KernelConfig | undefined> | null = null;

/**
 * Registers the four kernels above on the wasm backend. Each checks its fast path (BENCH_DISABLE_FAST
 * conv-backprop / depthwise-backprop) at every call; when it is off, or the call is outside what the
 * formulation covers, wasm's own kernel runs, or the cpu backend's where wasm has none. Idempotent.
 */
export function registerWasmConvBackpropKernels(): void {
  if (originals) return;
  originals = new Map();
  for (const k of FAST_KERNELS) {
    const original = tf.getKernel(k.kernelName, 'wasm');
    originals.set(k.kernelName, original);
    if (original) tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: 'wasm',
      setupFunc: original?.setupFunc,
      kernelFunc: (raw) => {
        const args = raw as unknown as KernelArgs;
        if (!fastPath(k.fastPath) || !k.covers(args.attrs)) {
          return (original ? original.kernelFunc(raw) : runOnCpu(k.kernelName, args)) as never;
        }
        return composite(args.backend, 'wasm', (s) => k.run(s, args.inputs, args.attrs)) as never;
      },
    });
  }
}

/** Puts the wasm backend's own kernels back (missing ones stay missing). Idempotent. */
export function unregisterWasmConvBackpropKernels(): void {
  if (!originals) return;
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    if (original) tf.registerKernel(original);
  }
  originals = null;
}
