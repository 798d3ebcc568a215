// Analytic FLOP count of the CNN-F family (src/models/architecture.ts) for the performance benchmark.
// Only multiply-adds of convolutions and dense layers are counted, at 2 FLOP each; InsNorm, AdaReLU,
// AdaPool, biases and the attack's own element-wise update are memory-bound and add well under 1% of
// the arithmetic. Convolutions are stride 1 'same' with kxk kernels.
//
// Per image:
//   conv block k at HxW, Cin -> Cout:      H * W * k * k * Cin * Cout multiply-adds
//   dense layer in -> out:                 in * out
//   first (feedforward) pass F:            sum over every conv block and every dense layer
//   one feedback cycle C:                  the generative pass (every dense layer transposed, then the
//                                          transposed conv of blocks convs-1 down to ind) plus the feedforward
//                                          pass from block ind upwards (blocks ind.., every dense layer)
//   full inference:                        F + cycles * C
// A gradient w.r.t. the input costs one more multiply-add per forward multiply-add (each conv's and dense
// layer's input gradient is a product of the same size; weight gradients are not formed: tf.grad prunes
// inputs not reachable from x, and the conv kernels are constants of the attack). Hence per image-step:
//   PGD, path first (and any CNN):         2 F
//   PGD, path e2e:                         2 (F + cycles * C)
//   PGD, path bpda:                        (F + cycles C) forward value + F backward of the first pass
//                                          (+ F more when the first pass is run a second time for the
//                                          gradient, as before the bpda-first-pass fast path; docs/performance.md)
// For the Fashion-MNIST CNN-F (ind 2, 1 cycle): F = 17.83 M MAC = 35.66 MFLOP (design.md: 35.7),
// C = 28.21 M MAC (design.md: ~28 M).
import type { ArchitectureSpec } from '../../src/models/architecture.js';
import type { GradientPath } from '../../src/models/classifier.js';

export interface LayerCount {
  name: string;
  /** Multiply-adds per image in the forward direction. */
  macs: number;
}

export interface FlopCount {
  /** Per-layer multiply-adds of the first feedforward pass. */
  layers: LayerCount[];
  /** Multiply-adds of the first pass, per image. */
  firstPassMacs: number;
  /** Multiply-adds of one feedback cycle (generative pass + feedforward from ind), per image. */
  cycleMacs: number;
  cycles: number;
  /** FLOP (2 per multiply-add) of the full inference (first pass + cycles), per image. */
  forwardFlops: number;
  /** FLOP of the first pass only, per image. */
  firstPassFlops: number;
}

export function countFlops(a: ArchitectureSpec): FlopCount {
  const k2 = a.kernelSize * a.kernelSize;
  let [h, w, channels] = a.inputShape;
  const convMacs: number[] = [];
  const layers: LayerCount[] = [];
  a.convs.forEach((c, i) => {
    const macs = h * w * k2 * channels * c.filters;
    convMacs.push(macs);
    layers.push({ name: `conv${i + 1}`, macs });
    channels = c.filters;
    if (c.pool) {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
  });
  let width = h * w * channels;
  const denseMacs: number[] = [];
  [...a.dense, a.numClasses].forEach((units, j) => {
    denseMacs.push(width * units);
    layers.push({ name: `fc${j + 1}`, macs: width * units });
    width = units;
  });
  const sum = (v: number[]) => v.reduce((s, x) => s + x, 0);
  const firstPassMacs = sum(convMacs) + sum(denseMacs);
  const upperConvs = sum(convMacs.slice(a.ind));
  // Generative pass: all dense layers transposed + transposed convs of blocks ind..end; then feedforward from ind.
  const cycleMacs = 2 * (sum(denseMacs) + upperConvs);
  return {
    layers,
    firstPassMacs,
    cycleMacs,
    cycles: a.cycles,
    forwardFlops: 2 * (firstPassMacs + a.cycles * cycleMacs),
    firstPassFlops: 2 * firstPassMacs,
  };
}

/** FLOP per image of one forward evaluation of `output` ('first' runs the first pass only). */
export function forwardFlops(f: FlopCount, output: 'first' | 'last' | 'average'): number {
  return output === 'first' || f.cycles === 0 ? f.firstPassFlops : f.forwardFlops;
}

/**
 * FLOP per image per PGD step (one loss-and-gradient evaluation) for a gradient path. `bpdaReusesFirstPass`
 * (the default, CnnfClassifier.bpdaLogits with the bpda-first-pass fast path) takes the first-pass logits
 * from the full inference; false counts a second first pass.
 */
export function stepFlops(f: FlopCount, path: GradientPath, bpdaReusesFirstPass = true): number {
  if (f.cycles === 0 || path === 'first') return 2 * f.firstPassFlops;
  if (path === 'e2e') return 2 * f.forwardFlops;
  return f.forwardFlops + (bpdaReusesFirstPass ? 1 : 2) * f.firstPassFlops;
}
