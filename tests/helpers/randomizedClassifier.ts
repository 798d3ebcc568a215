import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { SampleStream } from '../../src/engine/rng.js';
import type { Classifier } from '../../src/models/classifier.js';
import type { LinearClassifier } from './linearClassifier.js';

/**
 * A randomised classifier for EOT and randomness tests: logits = flatten(x * m) W + b with a fresh input
 * mask m on every call, m_i = 2 * Bernoulli(1/2) (inverted dropout: E[m] = 1, so the expected gradient is
 * the linear model's). The masks come from a reproducible stream, `reset()` restarts it, and `masks` holds
 * every mask drawn (host values, one per call), so tests can compute what n calls average to.
 */
export interface RandomizedClassifier extends Classifier {
  readonly masks: Float32Array[];
  reset(): void;
}

export function randomizedClassifier(base: LinearClassifier, seed = 7): RandomizedClassifier {
  const [h, w, c] = base.inputShape;
  const inputs = h * w * c;
  const W = tf.tensor2d(base.weights, [inputs, base.numClasses]);
  const b = tf.tensor1d(base.bias);
  tf.keep(W);
  tf.keep(b);
  let stream = new SampleStream(seed, 'dropout', 0);
  const masks: Float32Array[] = [];
  const draw = (n: number) => {
    const m = Float32Array.from({ length: n * inputs }, () => (stream.next() < 0.5 ? 0 : 2));
    masks.push(m);
    return m;
  };
  const forward = (x: Tensor4D) => {
    const m = tf.tensor2d(draw(x.shape[0]), [x.shape[0], inputs]);
    return tf.add(tf.matMul(tf.mul(tf.reshape(x, [x.shape[0], inputs]), m), W), b) as Tensor2D;
  };
  return {
    name: 'randomized-linear',
    inputShape: base.inputShape,
    numClasses: base.numClasses,
    hasFeedback: false,
    masks,
    reset() {
      stream = new SampleStream(seed, 'dropout', 0);
      masks.length = 0;
    },
    logits: (x: Tensor4D) => tf.tidy(() => forward(x)),
    logitsFor: (x: Tensor4D) => forward(x),
    lossAndGrad: (): { loss: Tensor1D; grad: Tensor4D } => {
      throw new Error('attacks differentiate logitsFor');
    },
  };
}
