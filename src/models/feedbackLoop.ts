import { tf, type Tensor2D, type Tensor4D } from '../engine/tf.js';

/** What one feedback step returns: the reconstruction at layer ind [N,H,W,C], the per-block (or per-group)
 * reconstructions of that cycle, and the signals (AdaReLU masks, AdaPool choices) the next feedforward pass uses. */
export interface FeedbackStep<G> {
  reconstruction: Tensor4D;
  blockReconstructions: Tensor4D[];
  signals: G;
}

/** The loop's outputs, in FeedbackRun's terms (network.ts). */
export interface UnrolledFeedback {
  last: Tensor2D;
  average: Tensor2D;
  perPass: Tensor2D[];
  reconstructions: Tensor4D[];
  blockReconstructions: Tensor4D[][];
}

/**
 * The CNN-F loop after the first pass (Huang et al., NeurIPS 2020; reference code yjhuangcd/CNNF,
 * run_cycles): `cycles` times, a generative feedback pass from the current logits and state, the residual
 * update of the layer-ind activation ff <- ff + resParam * (reconstruction - ff), and a feedforward pass from
 * there with the feedback's signals. Shared by the Fashion-MNIST CNN-F (cnnf.ts) and the Wide-ResNet one
 * (cnnfWrn/network.ts), which supply their own feedback and feedforward passes.
 *
 * first: the first pass's logits [N,K], its state S (what the feedback pass reads) and the layer-ind
 * activation featureInd [N,H,W,C]. feedforward(ff, signals, state, cycle) runs cycle `cycle` (0-based).
 * Returns every pass's logits (first included), the last, their mean, and each cycle's reconstructions.
 * Call inside tf.tidy or tf.grad; nothing is disposed here.
 */
export function unrollFeedback<S, G>(
  first: { logits: Tensor2D; state: S; featureInd: Tensor4D },
  cycles: number,
  resParam: number,
  feedback: (logits: Tensor2D, state: S) => FeedbackStep<G>,
  feedforward: (ff: Tensor4D, signals: G, state: S, cycle: number) => { logits: Tensor2D; state: S },
): UnrolledFeedback {
  const perPass: Tensor2D[] = [first.logits];
  const reconstructions: Tensor4D[] = [];
  const blockReconstructions: Tensor4D[][] = [];
  let state = first.state;
  let logits = first.logits;
  let ffPrevious = first.featureInd;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const fb = feedback(logits, state);
    reconstructions.push(fb.reconstruction);
    blockReconstructions.push(fb.blockReconstructions);
    const ffCurrent = tf.add(ffPrevious, tf.mul(resParam, tf.sub(fb.reconstruction, ffPrevious))) as Tensor4D;
    const pass = feedforward(ffCurrent, fb.signals, state, cycle);
    state = pass.state;
    logits = pass.logits;
    perPass.push(logits);
    ffPrevious = ffCurrent;
  }
  const average = perPass.length === 1 ? perPass[0] : (tf.div(tf.addN(perPass), perPass.length) as Tensor2D);
  return { last: logits, average, perPass, reconstructions, blockReconstructions };
}
