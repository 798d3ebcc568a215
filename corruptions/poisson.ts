/**
 * Poisson variates from a keyed uniform stream, for shot noise (numpy.random.poisson in the reference).
 * Small means use the multiplication method (Knuth, TAOCP vol. 2, 3.4.1); means >= 10 use Hoermann's
 * transformed rejection with squeeze, PTRS (W. Hoermann 1993, "The transformed rejection method for
 * generating Poisson random variables", Insurance: Mathematics and Economics 12:39-45), the method numpy
 * also uses. Both are exact samplers; PTRS costs O(1) per draw, which matters at lambda = 500.
 */
import type { SampleStream } from '../src/engine/rng.js';

const LOG_FACTORIAL_SMALL = (() => {
  const t = new Float64Array(16);
  for (let k = 1; k < 16; k++) t[k] = t[k - 1] + Math.log(k);
  return t;
})();

/** log(k!) exactly for k < 16, by the Stirling series (error < 1e-12 there) above. */
export function logFactorial(k: number): number {
  if (k < 16) return LOG_FACTORIAL_SMALL[k];
  const inv = 1 / k;
  const inv2 = inv * inv;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

function poissonMultiplication(s: SampleStream, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = s.next();
  while (p > limit) {
    k++;
    p *= s.next();
  }
  return k;
}

function poissonPtrs(s: SampleStream, lambda: number): number {
  const sq = Math.sqrt(lambda);
  const logLambda = Math.log(lambda);
  const b = 0.931 + 2.53 * sq;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = s.next() - 0.5;
    const v = s.next();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * logLambda - logFactorial(k)) return k;
  }
}

/** One Poisson(lambda) draw; lambda >= 0. */
export function samplePoisson(s: SampleStream, lambda: number): number {
  if (!(lambda > 0)) return 0;
  return lambda < 10 ? poissonMultiplication(s, lambda) : poissonPtrs(s, lambda);
}
