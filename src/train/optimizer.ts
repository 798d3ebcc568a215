import { tf, type Tensor } from '../engine/tf.js';

/**
 * SGD with momentum and L2 weight decay, with PyTorch's semantics (torch.optim.SGD): the decay is added
 * to the gradient, buf = momentum * buf + g, w -= lr * buf. The momentum buffers are part of the training
 * state so that --resume continues exactly.
 */
export class SgdMomentum {
  readonly buffers = new Map<string, tf.Variable>();

  constructor(
    readonly momentum: number,
    readonly weightDecay: number,
  ) {}

  step(variables: Record<string, tf.Variable>, grads: Record<string, Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [name, v] of Object.entries(variables)) {
        const g0 = grads[name];
        if (!g0) continue;
        const g = this.weightDecay ? tf.add(g0, tf.mul(this.weightDecay, v)) : g0;
        let buf = this.buffers.get(name);
        if (!buf) {
          // PyTorch initialises the buffer with the first gradient.
          buf = tf.variable(g, false, `momentum/${name}`);
          this.buffers.set(name, buf);
        } else {
          buf.assign(tf.add(tf.mul(this.momentum, buf), g));
        }
        v.assign(tf.sub(v, tf.mul(lr, buf)));
      }
    });
  }

  /** Host copies of the buffers, for the training-state checkpoint. */
  async state(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, buf] of this.buffers) out[name] = { shape: buf.shape, data: (await buf.data()) as Float32Array };
    return out;
  }

  restore(state: Record<string, { shape: number[]; data: Float32Array }>): void {
    for (const [name, s] of Object.entries(state)) {
      this.buffers.get(name)?.dispose();
      this.buffers.set(name, tf.variable(tf.tensor(s.data, s.shape), false, `momentum/${name}`));
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_, which
 * multiplies by maxNorm / (norm + 1e-6) when that is below 1). Returns the norm before clipping.
 */
export function clipByGlobalNorm(grads: Record<string, Tensor>, maxNorm: number): { grads: Record<string, Tensor>; norm: Tensor } {
  const names = Object.keys(grads);
  const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
  const coef = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  const clipped: Record<string, Tensor> = {};
  for (const n of names) clipped[n] = tf.mul(grads[n], coef);
  return { grads: clipped, norm };
}

/** Polynomial decay stepped per batch, as the reference's lr_poly: base * (1 - step / total)^power. */
export function polyLearningRate(base: number, step: number, totalSteps: number, power: number): number {
  return base * Math.pow(Math.max(0, 1 - step / totalSteps), power);
}
