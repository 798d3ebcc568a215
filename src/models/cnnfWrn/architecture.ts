import { inputError, showValue } from '../../engine/errors.js';
import { MAX_FEEDBACK_CYCLES, type Normalization } from '../architecture.js';

/**
 * The CIFAR-10 CNN-F of Huang et al. (NeurIPS 2020): a pre-activation Wide-ResNet with generative
 * feedback, as the reference code defines it (yjhuangcd/CNNF, cnnf/model_cifar.py,
 * `WideResNet(depth, num_classes, widen_factor, drop_rate, ind, cycles, res_param)`). The paper's network
 * is WRN-40-2 with ind 5, 2 cycles and res_param 0.1; its CNN baseline is the same network with ind 0,
 * cycles 0.
 *
 * Layout: conv1 (3x3, 3 -> 16), then three groups of n = (depth - 4) / 6 BasicBlocks of widths 16w, 32w,
 * 64w (the first block of groups 2 and 3 has stride 2), then InsNorm -> bias -> AdaReLU, global average
 * pooling over the 8x8 map, and a linear classifier with a bias.
 *
 * Weight names and layouts of a checkpoint (safetensors, float32; NHWC network, HWIO kernels):
 *   conv1.kernel                 [3, 3, 3, 16]
 *   block{g}.{i}.ins1.bias       [in]            bias after the block's first InsNorm
 *   block{g}.{i}.conv1.kernel    [3, 3, in, out] (stride 2 for i = 0 of groups 2 and 3)
 *   block{g}.{i}.ins2.bias       [out]
 *   block{g}.{i}.conv2.kernel    [3, 3, out, out]
 *   block{g}.{i}.shortcut.kernel [1, 1, in, out] only where in != out (i = 0 of every group)
 *   final.bias                   [64w]           bias after the last InsNorm
 *   fc.kernel                    [64w, classes]
 *   fc.bias                      [classes]
 * with g = 1..3 and i = 0..n-1.
 */
export interface WrnArchitecture {
  family: 'cnnf-wrn';
  /** Total depth 6n + 4 (40 for WRN-40-2). */
  depth: number;
  /** Widen factor w: group widths 16w, 32w, 64w. */
  widen: number;
  /** [height, width, channels]; the reference fixes [32, 32, 3] (8x8 average pooling after two stride-2 groups). */
  inputShape: [number, number, number];
  numClasses: number;
  /** BasicBlocks of the first group the feedback reconstructs to: 0 = the (normalised) image, k = output of block k. */
  ind: number;
  cycles: number;
  resParam: number;
  insNormEpsilon: number;
}

/** Bounds on what a model.json may declare, so a hostile file cannot make one pass allocate without limit. */
export const MAX_WRN_DEPTH = 202;
export const MAX_WRN_WIDEN = 20;

/** BasicBlocks per group: (depth - 4) / 6. */
export function blocksPerGroup(a: Pick<WrnArchitecture, 'depth'>): number {
  return (a.depth - 4) / 6;
}

/** Channel widths [conv1, group 1, group 2, group 3] = [16, 16w, 32w, 64w]. */
export function groupWidths(a: Pick<WrnArchitecture, 'widen'>): [number, number, number, number] {
  return [16, 16 * a.widen, 32 * a.widen, 64 * a.widen];
}

/** One BasicBlock: its weight-name prefix, widths and stride. */
export interface BlockSpec {
  prefix: string;
  /** Group 1..3 and index 0..n-1 within the group. */
  group: number;
  index: number;
  inChannels: number;
  outChannels: number;
  stride: number;
  /** A 1x1 shortcut convolution (in != out); otherwise the identity. */
  shortcut: boolean;
}

/** The BasicBlocks in forward order (group 1 block 0 first). */
export function blockSpecs(a: Pick<WrnArchitecture, 'depth' | 'widen'>): BlockSpec[] {
  const n = blocksPerGroup(a);
  const widths = groupWidths(a);
  const blocks: BlockSpec[] = [];
  for (let g = 1; g <= 3; g++)
    for (let i = 0; i < n; i++) {
      const inChannels = i === 0 ? widths[g - 1] : widths[g];
      const outChannels = widths[g];
      blocks.push({
        prefix: `block${g}.${i}`,
        group: g,
        index: i,
        inChannels,
        outChannels,
        stride: i === 0 && g > 1 ? 2 : 1,
        shortcut: inChannels !== outChannels,
      });
    }
  return blocks;
}

/** The architecture of `WideResNet(depth, numClasses, widen, 0.0, ind, cycles, resParam)` on 32x32x3 images. */
export function wrnArchitecture(depth: number, widen: number, ind: number, cycles: number, resParam: number, numClasses = 10): WrnArchitecture {
  return { family: 'cnnf-wrn', depth, widen, inputShape: [32, 32, 3], numClasses, ind, cycles, resParam, insNormEpsilon: 1e-8 };
}

/** Every weight the architecture needs, in a fixed order (names and layouts above). */
export function wrnWeightSpecs(a: WrnArchitecture): { name: string; shape: number[] }[] {
  const widths = groupWidths(a);
  const specs = [{ name: 'conv1.kernel', shape: [3, 3, a.inputShape[2], widths[0]] }];
  for (const b of blockSpecs(a)) {
    specs.push({ name: `${b.prefix}.ins1.bias`, shape: [b.inChannels] });
    specs.push({ name: `${b.prefix}.conv1.kernel`, shape: [3, 3, b.inChannels, b.outChannels] });
    specs.push({ name: `${b.prefix}.ins2.bias`, shape: [b.outChannels] });
    specs.push({ name: `${b.prefix}.conv2.kernel`, shape: [3, 3, b.outChannels, b.outChannels] });
    if (b.shortcut) specs.push({ name: `${b.prefix}.shortcut.kernel`, shape: [1, 1, b.inChannels, b.outChannels] });
  }
  specs.push({ name: 'final.bias', shape: [widths[3]] });
  specs.push({ name: 'fc.kernel', shape: [widths[3], a.numClasses] });
  specs.push({ name: 'fc.bias', shape: [a.numClasses] });
  return specs;
}

/** Validates a parsed `cnnf-wrn` architecture object; `where` names the file. Throws InputError. */
export function validateWrnArchitecture(a: Record<string, unknown>, where: string): WrnArchitecture {
  const field = (name: string) => `${where}: architecture.${name}`;
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!posInt(a.depth) || (a.depth as number) < 10 || ((a.depth as number) - 4) % 6 !== 0 || (a.depth as number) > MAX_WRN_DEPTH)
    throw inputError(field('depth'), `${showValue(a.depth)} is not a Wide-ResNet depth`, `6n + 4 with n >= 1, at most ${MAX_WRN_DEPTH} (e.g. 16, 28, 40)`);
  if (!posInt(a.widen) || (a.widen as number) > MAX_WRN_WIDEN)
    throw inputError(field('widen'), `${showValue(a.widen)} is not a widen factor`, `1..${MAX_WRN_WIDEN}`);
  const shape = a.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape[0] !== 32 || shape[1] !== 32 || shape[2] !== 3)
    throw inputError(field('inputShape'), `${showValue(shape)} is not supported (the reference pools the 8x8 map after two stride-2 groups)`, '[32, 32, 3]');
  if (!posInt(a.numClasses)) throw inputError(field('numClasses'), 'must be a positive integer');
  const n = ((a.depth as number) - 4) / 6;
  if (!Number.isInteger(a.ind) || (a.ind as number) < 0 || (a.ind as number) > n)
    throw inputError(field('ind'), `${showValue(a.ind)} is not a block of the first group`, `0..${n} (0 = the image)`);
  if (!Number.isInteger(a.cycles) || (a.cycles as number) < 0 || (a.cycles as number) > MAX_FEEDBACK_CYCLES)
    throw inputError(field('cycles'), 'must be an integer', `0..${MAX_FEEDBACK_CYCLES}`);
  if (typeof a.resParam !== 'number' || !(a.resParam >= 0 && a.resParam <= 1)) throw inputError(field('resParam'), 'must be a number', '0..1');
  if (typeof a.insNormEpsilon !== 'number' || !(a.insNormEpsilon > 0)) throw inputError(field('insNormEpsilon'), 'must be a positive number');
  return a as unknown as WrnArchitecture;
}

/** CIFAR-10's class names in label order (Krizhevsky 2009, batches.meta). */
export const CIFAR10_CLASS_NAMES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The reference's CIFAR input transform: ToTensor then Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), i.e. [0,1] -> [-1,1]. */
export const CIFAR_REFERENCE_NORMALIZATION: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
