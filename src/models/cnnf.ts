import { tf, type Tensor, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import { unrollFeedback } from './feedbackLoop.js';
import type { ArchitectureSpec, Normalization } from './architecture.js';
import {
  adaptivePool,
  adaptivePoolFeedback,
  adaptiveRelu,
  adaptiveReluFeedback,
  conv,
  insNorm,
  normalizeInput,
  transposedConv,
  type PoolState,
  type ReluState,
} from './feedbackLayers.js';
import { dense, denseTransposed } from './fastOps.js';

/** The tensors of a network by weight name (see architecture.ts); tf.Variables while training. */
export type Params = Record<string, Tensor>;

/** Everything one pass leaves behind for the next generative feedback pass. */
interface PassState {
  convRelu: (ReluState | null)[];
  convPool: (PoolState | null)[];
  denseRelu: (ReluState | null)[];
}

/** Feedback signals of one generative pass, read by the next feedforward pass. */
interface FeedbackSignals {
  convHidden: (Tensor | null)[];
  poolHidden: (Tensor | null)[];
  denseHidden: (Tensor | null)[];
}

export interface CnnfRun {
  /** Logits of the first feedforward pass. */
  first: Tensor2D;
  /** Logits after all feedback cycles (equals first when cycles = 0). */
  last: Tensor2D;
  /** Mean of the logits of the first pass and of every cycle. */
  average: Tensor2D;
  /** Logits of every pass: [first, cycle 1, ..., cycle C]. */
  perPass: Tensor2D[];
  /** Activation at layer `ind` in the first pass (input of conv block ind+1, normalised image when ind = 0). */
  featureInd: Tensor4D;
  /** Generative reconstructions at layer ind, one per cycle. */
  reconstructions: Tensor4D[];
  /** Per cycle, the reconstructions at the input of every pooled block below the last (for training losses). */
  blockReconstructions: Tensor4D[][];
  /** First-pass outputs of every pooled conv block (before pooling), in order (for training losses). */
  blockFeatures: Tensor4D[];
}

/**
 * CNN-F (Huang et al., NeurIPS 2020) as the reference implementation defines it: conv blocks
 * conv -> InsNorm -> bias -> AdaReLU [-> AdaPool], dense layers with AdaReLU, a dense classifier, and
 * generative feedback from the logits down to layer `ind` through the tied transposed weights.
 * A plain CNN is the same network with cycles = 0.
 */
export class CnnfNetwork {
  constructor(
    readonly arch: ArchitectureSpec,
    readonly normalization: Normalization,
    readonly params: Params,
  ) {}

  get cycles(): number {
    return this.arch.cycles;
  }

  /** [0,1] pixels to the network's input space. */
  normalize(x: Tensor4D): Tensor4D {
    return normalizeInput(x, this.normalization);
  }

  private emptyState(): PassState {
    const nc = this.arch.convs.length;
    const nd = this.arch.dense.length;
    return { convRelu: new Array(nc).fill(null), convPool: new Array(nc).fill(null), denseRelu: new Array(nd).fill(null) };
  }

  /**
   * A feedforward pass starting at conv block `startBlock` (0-based) from activation `input`.
   * `signals` is null for the first pass; otherwise the AdaReLUs and AdaPools use the feedback signals
   * of the previous generative pass. Returns logits and the state the next generative pass needs.
   */
  private feedforward(
    input: Tensor4D,
    startBlock: number,
    signals: FeedbackSignals | null,
    previous: PassState,
    keepState: boolean,
  ): { logits: Tensor2D; state: PassState; blockFeatures: Tensor4D[]; featureAt: Map<number, Tensor4D> } {
    const a = this.arch;
    const p = this.params;
    const state: PassState = {
      convRelu: [...previous.convRelu],
      convPool: [...previous.convPool],
      denseRelu: [...previous.denseRelu],
    };
    const blockFeatures: Tensor4D[] = [];
    const featureAt = new Map<number, Tensor4D>();
    let out = input;
    for (let k = startBlock; k < a.convs.length; k++) {
      featureAt.set(k, out);
      const z = tf.add(insNorm(conv(out, p[`conv${k + 1}.kernel`]), a.insNormEpsilon), p[`conv${k + 1}.bias`]) as Tensor4D;
      const relu = adaptiveRelu(z, signals ? signals.convHidden[k] : null, a.resParam);
      state.convRelu[k] = relu.state;
      out = relu.out as Tensor4D;
      if (a.convs[k].pool) {
        blockFeatures.push(out);
        const pool = adaptivePool(out, signals ? signals.poolHidden[k] : null, keepState);
        state.convPool[k] = pool.state;
        out = pool.out;
      }
    }
    let flat: Tensor = tf.reshape(out, [out.shape[0], -1]);
    for (let j = 0; j < a.dense.length; j++) {
      const z = tf.add(dense(flat as Tensor2D, p[`fc${j + 1}.kernel`]), p[`fc${j + 1}.bias`]);
      const relu = adaptiveRelu(z, signals ? signals.denseHidden[j] : null, a.resParam);
      state.denseRelu[j] = relu.state;
      flat = relu.out;
    }
    const last = a.dense.length + 1;
    const logits = tf.add(dense(flat as Tensor2D, p[`fc${last}.kernel`]), p[`fc${last}.bias`]) as Tensor2D;
    return { logits, state, blockFeatures, featureAt };
  }

  /**
   * The generative feedback pass: from logits back down to layer `ind`, through the transposed dense
   * and convolution weights, the AdaReLU masks and AdaPool positions of the previous pass, with InsNorm
   * (no bias) at the top of every conv block, as the reference's backward step does.
   */
  private feedback(
    logits: Tensor2D,
    state: PassState,
    spatialBeforeDense: number[],
  ): { reconstruction: Tensor4D; signals: FeedbackSignals; blockRecons: Tensor4D[] } {
    const a = this.arch;
    const p = this.params;
    const nc = a.convs.length;
    const signals: FeedbackSignals = {
      convHidden: new Array(nc).fill(null),
      poolHidden: new Array(nc).fill(null),
      denseHidden: new Array(a.dense.length).fill(null),
    };
    const last = a.dense.length + 1;
    let out: Tensor = denseTransposed(logits, p[`fc${last}.kernel`]);
    for (let j = a.dense.length - 1; j >= 0; j--) {
      signals.denseHidden[j] = out;
      out = adaptiveReluFeedback(out, state.denseRelu[j] as ReluState);
      out = denseTransposed(out as Tensor2D, p[`fc${j + 1}.kernel`]);
    }
    let spatial = tf.reshape(out, [out.shape[0], ...spatialBeforeDense] as [number, number, number, number]) as Tensor4D;
    const blockRecons: Tensor4D[] = [];
    for (let k = nc - 1; k >= a.ind; k--) {
      spatial = insNorm(spatial, a.insNormEpsilon);
      if (a.convs[k].pool) {
        signals.poolHidden[k] = spatial;
        spatial = adaptivePoolFeedback(spatial, state.convPool[k] as PoolState);
        blockRecons.unshift(spatial);
      }
      signals.convHidden[k] = spatial;
      spatial = adaptiveReluFeedback(spatial, state.convRelu[k] as ReluState) as Tensor4D;
      spatial = transposedConv(spatial, p[`conv${k + 1}.kernel`]);
    }
    return { reconstruction: spatial, signals, blockRecons };
  }

  /** The shape [h, w, c] of the activation entering the first dense layer. */
  private spatialBeforeDense(): number[] {
    let [h, w] = this.arch.inputShape;
    for (const c of this.arch.convs) {
      if (c.pool) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
    }
    return [h, w, this.arch.convs[this.arch.convs.length - 1].filters];
  }

  /**
   * Full inference on [0,1] pixels: the first pass, then `cycles` rounds of generative feedback to
   * layer ind, residual update of the layer-ind activation (ff <- ff + resParam (recon - ff)) and a
   * feedforward pass from there. Call inside tf.tidy or tf.grad; nothing is disposed here.
   */
  run(x: Tensor4D, cycles = this.arch.cycles): CnnfRun {
    const a = this.arch;
    const input = this.normalize(x);
    const firstPass = this.feedforward(input, 0, null, this.emptyState(), cycles > 0);
    const featureInd = a.ind === 0 ? input : (firstPass.featureAt.get(a.ind) as Tensor4D);
    const shape = this.spatialBeforeDense();
    const loop = unrollFeedback(
      { logits: firstPass.logits, state: firstPass.state, featureInd },
      cycles,
      a.resParam,
      (logits, state) => {
        const fb = this.feedback(logits, state, shape);
        return { reconstruction: fb.reconstruction, blockReconstructions: fb.blockRecons, signals: fb.signals };
      },
      (ff, signals, state, cycle) => this.feedforward(ff, a.ind, signals, state, cycle + 1 < cycles),
    );
    return { first: firstPass.logits, ...loop, featureInd, blockFeatures: firstPass.blockFeatures };
  }

  /** Logits of the first feedforward pass only (the reference's forward_adv). */
  firstPassLogits(x: Tensor4D): Tensor2D {
    return this.feedforward(this.normalize(x), 0, null, this.emptyState(), false).logits;
  }
}
