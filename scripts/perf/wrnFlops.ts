// Analytic FLOP count of the Wide-ResNet CNN-F (src/models/cnnfWrn), in the same terms as ./flops.ts:
// multiply-adds of convolutions and of the classifier at 2 FLOP each (InsNorm, AdaReLU, pooling and
// biases are memory-bound and not counted).
//   conv at output size Ho x Wo, k x k, Cin -> Cout:  Ho * Wo * k * k * Cin * Cout multiply-adds
//   first pass F: conv1, every BasicBlock (conv1, conv2, 1x1 shortcut where the width changes), fc
//   one feedback cycle C: the generative pass (fc transposed, blocks from the last down to block `ind`
//     of the first group, conv1 transposed when ind = 0: each transposed conv has its forward conv's
//     multiply-adds) plus the feedforward pass from `ind` (blocks ind.., fc, and conv1 when ind = 0)
//   full inference: F + cycles * C; a PGD e2e step per image: 2 (F + cycles * C) (./flops.ts)
// The stride-2 transposed convolutions run as stride-1 convolutions of the zero-upsampled input
// (src/engine/kernels/conv2d-transpose.ts), which does 4x their multiply-adds; those extra zeros are
// work the backend does, not FLOPs of the network, and are not counted.
import { blockSpecs, type WrnArchitecture } from '../../src/models/cnnfWrn/architecture.js';
import type { FlopCount, LayerCount } from './flops.js';

export function countWrnFlops(a: WrnArchitecture): FlopCount {
  const [H, W, C] = a.inputShape;
  const layers: LayerCount[] = [{ name: 'conv1', macs: H * W * 9 * C * 16 }];
  const blockMacs: number[] = [];
  let h = H;
  let w = W;
  for (const b of blockSpecs(a)) {
    h = Math.floor((h + 2 - 3) / b.stride) + 1;
    w = Math.floor((w + 2 - 3) / b.stride) + 1;
    const macs = h * w * 9 * b.inChannels * b.outChannels + h * w * 9 * b.outChannels * b.outChannels + (b.shortcut ? h * w * b.inChannels * b.outChannels : 0);
    blockMacs.push(macs);
    layers.push({ name: b.prefix, macs });
  }
  const fc = blockSpecs(a)[blockMacs.length - 1].outChannels * a.numClasses;
  layers.push({ name: 'fc', macs: fc });
  const firstPassMacs = layers.reduce((s, l) => s + l.macs, 0);
  const fromInd = blockMacs.slice(a.ind).reduce((s, m) => s + m, 0) + fc + (a.ind === 0 ? layers[0].macs : 0);
  const cycleMacs = 2 * fromInd;
  return {
    layers,
    firstPassMacs,
    cycleMacs,
    cycles: a.cycles,
    forwardFlops: 2 * (firstPassMacs + a.cycles * cycleMacs),
    firstPassFlops: 2 * firstPassMacs,
  };
}
