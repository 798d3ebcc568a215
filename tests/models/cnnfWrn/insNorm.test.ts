// spatialSum's pairwise order (setPairwiseSpatialSums, the diagnostic of scripts/parity/wrn-trace.ts):
// on wasm it must add exactly the halves a pairwise tree adds, in float32, and be switched back off.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { SampleStream } from '../../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { setPairwiseSpatialSums, spatialSum } from '../../../src/models/cnnfWrn/insNorm.js';

/** Float32 pairwise tree over one channel of an NHWC map: row halves added until one row, then column halves. */
function pairwiseReference(map: Float32Array, h: number, w: number, c: number, channel: number): number {
  let rows: number[][] = Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => map[(y * w + x) * c + channel]));
  while (rows.length > 1) {
    const half = rows.length / 2;
    rows = rows.slice(0, half).map((r, i) => r.map((v, x) => Math.fround(v + rows[half + i][x])));
  }
  let cols = rows[0];
  while (cols.length > 1) {
    const half = cols.length / 2;
    cols = cols.slice(0, half).map((v, i) => Math.fround(v + cols[half + i]));
  }
  return cols[0];
}

describe('spatialSum with pairwise order', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(() => {
    setPairwiseSpatialSums(false);
    setDisabledFastPaths(null);
  });

  it('adds the halves of a pairwise tree in float32, per image and channel, and the switch restores the two-pass sums', () => {
    const [n, h, w, c] = [2, 16, 8, 3];
    const s = new SampleStream(5, 'pairwise', 0);
    const data = Float32Array.from({ length: n * h * w * c }, () => s.normal() * 10);
    const x = tf.tensor4d(data, [n, h, w, c]);
    setDisabledFastPaths(['spatial-sum-pool']);
    const twoPass = spatialSum(x).dataSync() as Float32Array;
    expect(setPairwiseSpatialSums(true)).toBe(false);
    const pairwise = spatialSum(x);
    expect(pairwise.shape).toEqual([n, 1, 1, c]);
    const got = pairwise.dataSync() as Float32Array;
    for (let i = 0; i < n; i++)
      for (let k = 0; k < c; k++) {
        const map = data.subarray(i * h * w * c, (i + 1) * h * w * c);
        expect(got[i * c + k]).toBe(pairwiseReference(map, h, w, c, k));
        let exact = 0;
        for (let p = 0; p < h * w; p++) exact += map[p * c + k];
        expect(Math.abs(got[i * c + k] - exact)).toBeLessThan(1e-4 * Math.max(1, Math.abs(exact)));
      }
    // Some channel's float32 sum differs between the orders (otherwise the test would not see the switch).
    expect(Array.from(got).some((v, i) => v !== twoPass[i])).toBe(true);
    expect(setPairwiseSpatialSums(false)).toBe(true);
    expect(Array.from(spatialSum(x).dataSync())).toEqual(Array.from(twoPass));
    tf.dispose([x, pairwise]);
  });
});
