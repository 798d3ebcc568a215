/**
 * Plasma fractal (diamond-square) height map for the fog corruption, following the CIFAR-10-C
 * `plasma_fractal` helper (itself a modification of FLHerne/mapgen diamondsquare.py): a toroidal
 * mapSize x mapSize grid, corner value 0, each new point the mean of its 4 neighbours plus
 * wibble * U(-wibble, wibble) with wibble starting at 100 and divided by `decay` per octave (so the noise
 * amplitude falls by decay^2 per octave), then rescaled to [0, 1].
 */
import type { SampleStream } from '../src/engine/rng.js';

export function plasmaFractal(s: SampleStream, mapSize: number, decay: number): Float64Array {
  if (mapSize < 2 || (mapSize & (mapSize - 1)) !== 0) throw new Error(`plasmaFractal: mapSize ${mapSize} is not a power of two`);
  const m = mapSize;
  const map = new Float64Array(m * m);
  const at = (i: number, j: number) => (((i % m) + m) % m) * m + (((j % m) + m) % m);
  let wibble = 100;
  const wibbledMean = (sum: number) => sum / 4 + wibble * (wibble * (2 * s.next() - 1));
  for (let step = m; step >= 2; step /= 2) {
    const half = step / 2;
    for (let i = 0; i < m; i += step)
      for (let j = 0; j < m; j += step)
        map[at(i + half, j + half)] = wibbledMean(map[at(i, j)] + map[at(i + step, j)] + map[at(i, j + step)] + map[at(i + step, j + step)]);
    for (let i = 0; i < m; i += step)
      for (let j = 0; j < m; j += step) {
        const corner = map[at(i, j)];
        const centre = map[at(i + half, j + half)];
        map[at(i, j + half)] = wibbledMean(corner + map[at(i, j + step)] + centre + map[at(i - half, j + half)]);
        map[at(i + half, j)] = wibbledMean(corner + map[at(i + step, j)] + centre + map[at(i + half, j - half)]);
      }
    wibble /= decay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi - lo || 1;
  return map.map((v) => (v - lo) / span);
}

/** Smallest power of two >= n (the plasma map is generated at that size and cropped). */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
