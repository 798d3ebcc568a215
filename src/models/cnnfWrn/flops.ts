import { blockSpecs, groupWidths, type WrnArchitecture } from './architecture.js';

/**
 * FLOPs of one image through the first (feedforward) pass of a Wide-ResNet CNN-F (./architecture.ts):
 * 2 x the multiply-adds of its convolutions (3x3 conv1; per BasicBlock the two 3x3 convolutions at the
 * block's output size and the 1x1 shortcut where the width changes) and of the final linear layer.
 * Padding-1 3x3 convolutions with stride s give an output of floor((size - 1) / s) + 1. InsNorm, AdaReLU,
 * pooling and biases are not counted (the same terms as the Fashion-MNIST CNN-F's count in
 * src/models/families/cnnf.ts and scripts/perf/wrnFlops.ts).
 */
export function wrnFirstPassFlops(a: WrnArchitecture): number {
  let [h, w, c] = a.inputShape;
  let macs = h * w * 9 * c * groupWidths(a)[0];
  for (const b of blockSpecs(a)) {
    h = Math.floor((h - 1) / b.stride) + 1;
    w = Math.floor((w - 1) / b.stride) + 1;
    macs += h * w * 9 * (b.inChannels + b.outChannels) * b.outChannels + (b.shortcut ? h * w * b.inChannels * b.outChannels : 0);
    c = b.outChannels;
  }
  macs += c * a.numClasses;
  return 2 * macs;
}
