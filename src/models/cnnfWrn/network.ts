import { tf, type Tensor, type Tensor2D, type Tensor4D } from '../../engine/tf.js';
import { unrollFeedback } from '../feedbackLoop.js';
import { conv2dTransposeSame, conv2dTransposeStrided, prepareSubPixelKernels } from '../../engine/kernels/index.js';
import type { Normalization } from '../architecture.js';
import { adaptiveRelu, adaptiveReluFeedback, normalizeInput, type ReluState } from '../feedbackLayers.js';
import { dense, denseTransposed } from '../fastOps.js';
import type { FeedbackRun } from '../network.js';
import { blockSpecs, type BlockSpec, type WrnArchitecture } from './architecture.js';
import { insNormAccurate as wrnInsNorm, spatialSum } from './insNorm.js';

/** The tensors of the network by weight name (see ./architecture.ts). */
export type WrnParams = Record<string, Tensor>;

/** What a BasicBlock's AdaReLUs remember from a pass, and the block's input shape (for the transposed convs). */
interface BlockState {
  relu1: ReluState | null;
  relu2: ReluState | null;
  inputShape: [number, number, number, number] | null;
}

interface PassState {
  blocks: BlockState[];
  top: ReluState | null;
}

/** The feedback signals ("hidden" of the reference's AdaReLUs) a generative pass leaves for the next feedforward pass. */
interface FeedbackSignals {
  blocks: { hidden1: Tensor | null; hidden2: Tensor | null }[];
  top: Tensor;
}

/**
 * One full inference with what the reference's training loss reads besides the logits (train.py with
 * `inter=True` / `inter_recon=True`): the first-pass outputs of the three groups and, per cycle, the
 * feedback's reconstructions of them (block1_recon, block2_recon, block3_recon), all NHWC.
 */
export interface WrnTrainingRun extends FeedbackRun {
  /** First-pass outputs of groups 1, 2, 3: [N,32,32,16w], [N,16,16,32w], [N,8,8,64w]. */
  blockFeatures: Tensor4D[];
  /** Per cycle, the feedback's reconstructions of those three outputs, in the same order. */
  blockReconstructions: Tensor4D[][];
}

/** Padding of the reference's convolutions: 1 for 3x3 (PyTorch pads both sides, also at stride 2), 0 for 1x1. */
const padOf = (k: Tensor) => (k.shape[0] - 1) / 2;

/**
 * conv2d with PyTorch's symmetric padding (k-1)/2 at any stride. TensorFlow's 'same' at stride 2 on an
 * even size pads only bottom/right, which would shift every sample by one pixel; explicit padding does not.
 */
function convTorch(x: Tensor4D, kernel: Tensor, stride: number): Tensor4D {
  const p = padOf(kernel);
  return tf.conv2d(x, kernel as tf.Tensor4D, stride, p === 0 ? 'valid' : [[0, 0], [p, p], [p, p], [0, 0]]);
}

/** The tied transposed convolution of convTorch, back to the forward input's size (output_padding as the reference). */
function convTorchTransposed(x: Tensor4D, kernel: Tensor, stride: number, inputShape: readonly number[]): Tensor4D {
  if (stride === 1) return conv2dTransposeSame(x, kernel as tf.Tensor4D);
  const p = padOf(kernel);
  return conv2dTransposeStrided(x, kernel as tf.Tensor4D, stride, { top: p, left: p }, [inputShape[1], inputShape[2]]);
}

/**
 * The pooled vector v [N,C] spread over an h x w map, [N,h,w,C] (the reference's F.interpolate with
 * scale_factor 8, nearest, of the [N,C,1,1] map: every position holds v). Its gradient is the spatial
 * sum of dy (two-pass, as spatialSum). Why not tf.tile: tfjs's Tile gradient adds one Slice of dy
 * per repetition (64 for an 8x8 map), which was 8% of a WRN-40-2 e2e step on wasm (1.4 s of Slice at
 * batch 32; docs/performance.md).
 */
function upsampleNearest(v: Tensor2D, h: number, w: number): Tensor4D {
  const [n, c] = v.shape;
  const op = tf.customGrad(((vi: Tensor2D) => ({
    // v times a ones map (broadcast; exact): wasm's Tile took 84 ms on [32,1,1,128] -> [32,8,8,128].
    value: tf.mul(tf.reshape(vi, [n, 1, 1, c]), tf.ones([1, h, w, 1])),
    gradFunc: (dy: Tensor) => tf.reshape(spatialSum(dy), [n, c]),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(v) as Tensor4D;
}

/**
 * The CIFAR-10 CNN-F of Huang et al. (NeurIPS 2020) as the reference implementation defines it
 * (yjhuangcd/CNNF, cnnf/model_cifar.py): a pre-activation Wide-ResNet whose BasicBlocks apply
 * InsNorm -> bias -> AdaReLU before each convolution, with generative feedback from the logits down to
 * BasicBlock `ind` of the first group (0: the image) through the tied transposed weights, global average
 * pooling undone by nearest-neighbour upsampling, and InsNorm (no bias) on the generated features.
 *
 * NHWC tensors, inputs in [0,1] pixels (normalised inside). AdaReLU masks are constants of the pass, as
 * autograd treats the reference's boolean masks. A CNN is the same network with cycles = 0.
 */
export class WrnCnnfNetwork {
  private readonly blocks: BlockSpec[];

  /**
   * `feedbackFcKernel`, when given, is the classifier kernel the feedback's transposed linear layer uses
   * instead of `params['fc.kernel']`. Training passes a copy made outside the gradient tape: the
   * reference's Linear copies `weight.t()` into a separate `linear_t` by `.data` before each feedback
   * pass, so no gradient reaches the classifier through the feedback (cnnf/layers.py, Linear.forward).
   */
  constructor(
    readonly arch: WrnArchitecture,
    readonly normalization: Normalization,
    readonly params: WrnParams,
    private readonly feedbackFcKernel?: Tensor,
  ) {
    this.blocks = blockSpecs(arch);
    // The sub-pixel kernels of the strided layers' transposed convolutions, when the weights are
    // registered constants (src/engine/kernels/sub-pixel.ts): made now rather than inside the first pass.
    for (const b of this.blocks) {
      if (b.stride === 1) continue;
      for (const name of ['conv1', 'shortcut']) {
        const k = params[`${b.prefix}.${name}.kernel`];
        if (k) prepareSubPixelKernels(k, b.stride, padOf(k), padOf(k));
      }
    }
  }

  get cycles(): number {
    return this.arch.cycles;
  }

  /** [0,1] pixels to the network's input space, (x - mean) / std per channel. */
  normalize(x: Tensor4D): Tensor4D {
    return normalizeInput(x, this.normalization);
  }

  private emptyState(): PassState {
    return { blocks: this.blocks.map(() => ({ relu1: null, relu2: null, inputShape: null })), top: null };
  }

  /** InsNorm -> bias -> AdaReLU (the pre-activation of every convolution). */
  private preActivation(x: Tensor4D, bias: Tensor, hidden: Tensor | null): { out: Tensor4D; state: ReluState } {
    const z = tf.add(wrnInsNorm(x, this.arch.insNormEpsilon), bias) as Tensor4D;
    const r = adaptiveRelu(z, hidden, this.arch.resParam);
    return { out: r.out as Tensor4D, state: r.state };
  }

  /** One BasicBlock forward (reference BasicBlock.forward): pre-activated convolutions plus the shortcut. */
  private blockForward(b: BlockSpec, x: Tensor4D, signal: FeedbackSignals['blocks'][number] | null): { out: Tensor4D; state: BlockState } {
    const p = this.params;
    const a = this.preActivation(x, p[`${b.prefix}.ins1.bias`], signal ? signal.hidden1 : null);
    const h = this.preActivation(convTorch(a.out, p[`${b.prefix}.conv1.kernel`], b.stride), p[`${b.prefix}.ins2.bias`], signal ? signal.hidden2 : null);
    const residual = convTorch(h.out, p[`${b.prefix}.conv2.kernel`], 1);
    // Where the width changes, the 1x1 shortcut takes the pre-activated input; otherwise the raw input.
    const skip = b.shortcut ? convTorch(a.out, p[`${b.prefix}.shortcut.kernel`], b.stride) : x;
    return { out: tf.add(skip, residual) as Tensor4D, state: { relu1: a.state, relu2: h.state, inputShape: x.shape } };
  }

  /**
   * One BasicBlock in the generative direction (reference BasicBlock.forward, step 'backward'): the
   * transposed conv2, InsNorm, AdaReLU mask 2, the transposed conv1, InsNorm, plus the transposed
   * shortcut of the block's feedback input where the width changes, AdaReLU mask 1, plus the identity
   * shortcut otherwise. Returns the feedback signals the AdaReLUs see in the next feedforward pass.
   */
  private blockFeedback(b: BlockSpec, g: Tensor4D, state: BlockState): { out: Tensor4D; hidden1: Tensor; hidden2: Tensor } {
    const p = this.params;
    const eps = this.arch.insNormEpsilon;
    if (!state.relu1 || !state.relu2 || !state.inputShape) throw new Error(`feedback through ${b.prefix} before a forward pass`);
    const hidden2 = wrnInsNorm(convTorchTransposed(g, p[`${b.prefix}.conv2.kernel`], 1, g.shape), eps);
    const u = adaptiveReluFeedback(hidden2, state.relu2) as Tensor4D;
    let v = wrnInsNorm(convTorchTransposed(u, p[`${b.prefix}.conv1.kernel`], b.stride, state.inputShape), eps);
    if (b.shortcut) v = tf.add(convTorchTransposed(g, p[`${b.prefix}.shortcut.kernel`], b.stride, state.inputShape), v) as Tensor4D;
    const hidden1 = v;
    let out = adaptiveReluFeedback(v, state.relu1) as Tensor4D;
    if (!b.shortcut) out = tf.add(g, out) as Tensor4D;
    return { out, hidden1, hidden2 };
  }

  /**
   * A feedforward pass. The first pass starts at the image (normalised) and records the activation the
   * feedback reconstructs; a later pass starts from the updated activation at `ind` (conv1 and the first
   * `ind` blocks are not run again, as in the reference) with the feedback signals of the previous pass.
   */
  private feedforward(
    input: Tensor4D,
    first: boolean,
    signals: FeedbackSignals | null,
    previous: PassState,
  ): { logits: Tensor2D; state: PassState; featureInd: Tensor4D; groupOutputs: Tensor4D[] } {
    const a = this.arch;
    const p = this.params;
    const state: PassState = { blocks: [...previous.blocks], top: previous.top };
    const fromImage = first || a.ind === 0;
    let out = fromImage ? convTorch(input, p['conv1.kernel'], 1) : input;
    let featureInd = a.ind === 0 ? input : out;
    const groupOutputs: Tensor4D[] = [];
    const perGroup = this.blocks.length / 3;
    for (let k = fromImage ? 0 : a.ind; k < this.blocks.length; k++) {
      const r = this.blockForward(this.blocks[k], out, signals ? signals.blocks[k] : null);
      state.blocks[k] = r.state;
      out = r.out;
      if (first && a.ind > 0 && k === a.ind - 1) featureInd = out;
      if (this.blocks[k].index === perGroup - 1) groupOutputs.push(out);
    }
    const top = this.preActivation(out, p['final.bias'], signals ? signals.top : null);
    state.top = top.state;
    const [n, h, w, c] = top.out.shape;
    const pooled = tf.reshape(tf.div(spatialSum(top.out), h * w), [n, c]) as Tensor2D; // avg_pool2d over the whole 8x8 map
    const logits = tf.add(dense(pooled, p['fc.kernel']), p['fc.bias']) as Tensor2D;
    return { logits, state, featureInd, groupOutputs };
  }

  /**
   * The generative feedback pass from logits down to the activation at `ind` (reference
   * WideResNet.forward, step 'backward'): transposed fc, nearest-neighbour upsampling of the pooled
   * vector over the final map, InsNorm, the top AdaReLU mask, the blocks in reverse down to block `ind`
   * of the first group, and for ind = 0 the transposed conv1 to the image.
   */
  private feedback(
    logits: Tensor2D,
    state: PassState,
    finalShape: readonly number[],
  ): { reconstruction: Tensor4D; signals: FeedbackSignals; groupReconstructions: Tensor4D[] } {
    const a = this.arch;
    const eps = a.insNormEpsilon;
    if (!state.top) throw new Error('feedback before a forward pass');
    const v = denseTransposed(logits, this.feedbackFcKernel ?? this.params['fc.kernel']);
    const [, h, w, c] = finalShape;
    const up = upsampleNearest(v, h, w);
    const topHidden = wrnInsNorm(up, eps);
    let g = adaptiveReluFeedback(topHidden, state.top) as Tensor4D;
    // Reconstructions of the group outputs, last group first: the input of each group's feedback.
    const groupReconstructions: Tensor4D[] = [g];
    const blocks: FeedbackSignals['blocks'] = this.blocks.map(() => ({ hidden1: null, hidden2: null }));
    for (let k = this.blocks.length - 1; k >= a.ind; k--) {
      const r = this.blockFeedback(this.blocks[k], g, state.blocks[k]);
      blocks[k] = { hidden1: r.hidden1, hidden2: r.hidden2 };
      g = r.out;
      if (this.blocks[k].index === 0 && this.blocks[k].group > 1) groupReconstructions.unshift(g);
    }
    if (a.ind === 0) g = convTorchTransposed(g, this.params['conv1.kernel'], 1, [0, ...this.arch.inputShape]);
    return { reconstruction: g, signals: { blocks, top: topHidden }, groupReconstructions };
  }

  /** [N, h, w, c] of the final feature map (before pooling). */
  private finalShape(batch: number): number[] {
    const [h, w] = this.arch.inputShape;
    const widths = this.blocks[this.blocks.length - 1].outChannels;
    return [batch, h / 4, w / 4, widths];
  }

  /**
   * Full inference on [0,1] pixels [N,32,32,3]: the first pass, then `cycles` rounds of generative
   * feedback to `ind`, the residual update ff <- ff + resParam (recon - ff) and a feedforward pass from
   * there (reference run_cycles / run_average). Also returns the group outputs of the first pass and their
   * reconstructions per cycle (the training losses' terms). Call inside tf.tidy or tf.grad; nothing is
   * disposed here.
   */
  run(x: Tensor4D, cycles = this.arch.cycles): WrnTrainingRun {
    const a = this.arch;
    const input = this.normalize(x);
    const firstPass = this.feedforward(input, true, null, this.emptyState());
    const shape = this.finalShape(x.shape[0]);
    const loop = unrollFeedback(
      { logits: firstPass.logits, state: firstPass.state, featureInd: firstPass.featureInd },
      cycles,
      a.resParam,
      (logits, state) => {
        const fb = this.feedback(logits, state, shape);
        return { reconstruction: fb.reconstruction, blockReconstructions: fb.groupReconstructions, signals: fb.signals };
      },
      (ff, signals, state) => this.feedforward(ff, false, signals, state),
    );
    return { first: firstPass.logits, ...loop, featureInd: firstPass.featureInd, blockFeatures: firstPass.groupOutputs };
  }

  /** Logits of the first feedforward pass only (the reference's forward_adv). */
  firstPassLogits(x: Tensor4D): Tensor2D {
    return this.feedforward(this.normalize(x), true, null, this.emptyState()).logits;
  }
}

