import { oihwToHwio, StateDictReader, type HostTensor } from '../stateDictReader.js';
import type { WeightArrays } from '../weights.js';
import { blockSpecs, groupWidths, type WrnArchitecture } from './architecture.js';

/**
 * Maps a state_dict of the reference Wide-ResNet CNN-F (yjhuangcd/CNNF, cnnf/model_cifar.py) to our
 * weight names (./architecture.ts):
 *   conv1.conv.weight                          [16, 3, 3, 3] (OIHW) -> conv1.kernel [3, 3, 3, 16] (HWIO)
 *   block{g}.layer.{i}.ins1_bias.bias          [1, in, 1, 1]        -> block{g}.{i}.ins1.bias [in]
 *   block{g}.layer.{i}.conv1.conv.weight       [out, in, 3, 3]      -> block{g}.{i}.conv1.kernel
 *   block{g}.layer.{i}.ins2_bias.bias          [1, out, 1, 1]       -> block{g}.{i}.ins2.bias
 *   block{g}.layer.{i}.conv2.conv.weight       [out, out, 3, 3]     -> block{g}.{i}.conv2.kernel
 *   block{g}.layer.{i}.conv_shortcut.conv.weight [out, in, 1, 1]    -> block{g}.{i}.shortcut.kernel
 *   ins1_bias.bias                             [1, 64w, 1, 1]       -> final.bias
 *   fc.linear.weight (alias fc.weight)         [classes, 64w]       -> fc.kernel [64w, classes]
 *   fc_bias.bias                               [1, classes]         -> fc.bias
 * The tied copies (`*.conv_t.weight`: the same tensor; fc.linear_t.weight: its transpose) are checked
 * and dropped. The classifier's input is the pooled vector, so no flattening order is involved.
 * Throws InputError naming `where` for a missing, misshapen or unexpected tensor.
 */
export function importWrnStateDict(input: ReadonlyMap<string, HostTensor>, a: WrnArchitecture, where: string): WeightArrays {
  const reader = new StateDictReader(input, where, `WRN-${a.depth}-${a.widen} (${(a.depth - 4) / 6} BasicBlocks per group, ${a.numClasses} classes)`);
  const weights: WeightArrays = {};
  const conv = (torchPrefix: string, ours: string, O: number, I: number, k: number) => {
    const key = `${torchPrefix}.conv.weight`;
    const oihw = reader.get(key, [[O, I, k, k]]);
    reader.checkTied(`${torchPrefix}.conv_t.weight`, key, [O, I, k, k], oihw);
    weights[ours] = { shape: [k, k, I, O], data: oihwToHwio(oihw, O, I, k, k) };
  };
  const bias = (key: string, ours: string, C: number) => {
    weights[ours] = { shape: [C], data: reader.get(key, [[1, C, 1, 1], [C]]).slice() };
  };

  const widths = groupWidths(a);
  conv('conv1', 'conv1.kernel', widths[0], a.inputShape[2], 3);
  for (const b of blockSpecs(a)) {
    const t = `block${b.group}.layer.${b.index}`;
    bias(`${t}.ins1_bias.bias`, `${b.prefix}.ins1.bias`, b.inChannels);
    conv(`${t}.conv1`, `${b.prefix}.conv1.kernel`, b.outChannels, b.inChannels, 3);
    bias(`${t}.ins2_bias.bias`, `${b.prefix}.ins2.bias`, b.outChannels);
    conv(`${t}.conv2`, `${b.prefix}.conv2.kernel`, b.outChannels, b.outChannels, 3);
    if (b.shortcut) conv(`${t}.conv_shortcut`, `${b.prefix}.shortcut.kernel`, b.outChannels, b.inChannels, 1);
  }
  bias('ins1_bias.bias', 'final.bias', widths[3]);

  const inputs = widths[3];
  const outputs = a.numClasses;
  const primary = reader.has('fc.linear.weight') ? 'fc.linear.weight' : 'fc.weight';
  const w = reader.get(primary, [[outputs, inputs]]);
  if (primary !== 'fc.weight') reader.checkTied('fc.weight', primary, [outputs, inputs], w);
  // linear_t.weight[i, o] = weight[o, i].
  reader.checkTied('fc.linear_t.weight', primary, [inputs, outputs], w, (i) => (i % outputs) * inputs + Math.floor(i / outputs));
  const kernel = new Float32Array(inputs * outputs);
  for (let r = 0; r < inputs; r++) for (let o = 0; o < outputs; o++) kernel[r * outputs + o] = w[o * inputs + r];
  weights['fc.kernel'] = { shape: [inputs, outputs], data: kernel };
  weights['fc.bias'] = { shape: [outputs], data: reader.get('fc_bias.bias', [[1, outputs], [outputs]]).slice() };
  reader.finish();
  return weights;
}
