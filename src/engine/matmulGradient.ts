import { tf, type Tensor } from './tf.js';

/**
 * wasm's BatchMatMul is 5-15x slower when an operand is transposed through its transposeA/transposeB
 * flags than when the operand is transposed explicitly first (measured on [128,1000]x[3136,1000]^T:
 * 790 ms flagged vs 23 + 149 ms explicit). tfjs's own gradient of matMul uses the flags, so the backward
 * pass of every dense layer hit the slow path. This gradient is the same mathematics with explicit
 * transposes. Inputs with different batch dimensions (broadcasting) keep the original gradient.
 */
const swapLastTwo = (t: Tensor): Tensor => {
  const perm = t.shape.map((_, i) => i);
  const r = t.rank;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(t, perm);
};

/** a·b with both operands already in place: the fast path. */
const mm = (a: Tensor, b: Tensor): Tensor => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);

/** a·bᵀ computed with an explicit transpose (for callers, e.g. tied transposed weights). */
export function matMulTransposedB(a: Tensor, b: Tensor): Tensor {
  return mm(a, swapLastTwo(b));
}

let registered = false;

export function registerFastMatMulGradient(): void {
  if (registered) return;
  const original = tf.getGradient('BatchMatMul');
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const dyT = dy as Tensor;
      const sameBatch = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
      if (!sameBatch && original) return original.gradFunc(dy, saved, attrs);
      const T = swapLastTwo;
      if (!transposeA && !transposeB) return { a: () => mm(dyT, T(b)), b: () => mm(T(a), dyT) };
      if (!transposeA && transposeB) return { a: () => mm(dyT, b), b: () => mm(T(dyT), a) };
      if (transposeA && !transposeB) return { a: () => mm(b, T(dyT)), b: () => mm(a, dyT) };
      return { a: () => mm(T(b), T(dyT)), b: () => mm(T(dyT), T(a)) };
    },
  });
  registered = true;
}
