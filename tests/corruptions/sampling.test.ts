import { beforeAll, describe, expect, test } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { clippedZoom, clippedZoomSizes } from '../../corruptions/sampling.js';
import { numpyArange } from '../../src/engine/pyNumeric.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('clippedZoom sizes (CIFAR-10-C clipped_zoom with scipy.ndimage.zoom)', () => {
  test('crop int(ceil(28 / z)) and zoomed size round(crop * z) for every zoom_blur factor, as numpy computes them', () => {
    // /usr/bin/python3 scripts/reference/params.py (numpy 1.24.2), key zoom_sizes: for z in
    // np.arange(1, 1.26, 0.01): [int(np.ceil(28 / z)), int(round(ch * z))].
    const numpy: [number, number][] = [
      [28, 28], [28, 28], [28, 29], [28, 29], [27, 28], [27, 28], [27, 29], [27, 29], [26, 28], [26, 28], [26, 29], [26, 29], [25, 28],
      [25, 28], [25, 29], [25, 29], [25, 29], [24, 28], [24, 28], [24, 29], [24, 29], [24, 29], [23, 28], [23, 28], [23, 29], [23, 29],
    ];
    const factors = numpyArange(1, 1.26, 0.01);
    expect(factors.map((z) => [clippedZoomSizes(28, z).crop, clippedZoomSizes(28, z).zoomed])).toEqual(numpy);
    // The case of issue 13: 25 * 1.1400000000000001 = 28.500000000000004 rounds up, 25 * 1.14 down.
    expect(clippedZoomSizes(28, 1.14)).toEqual({ crop: 25, zoomed: 28 });
    expect(clippedZoomSizes(28, factors[14])).toEqual({ crop: 25, zoomed: 29 });
  });

  test('an exact tie rounds to even as scipy does: zoom 1.5 crops 19 px and enlarges them to 28, not 29', () => {
    // /usr/bin/python3 -c "import numpy as np, scipy.ndimage as nd; print(nd.zoom(np.zeros((19, 19, 1), np.float32), (1.5, 1.5, 1), order=1).shape)"
    // -> (28, 28, 1) (scipy 1.10.1); snow's zooms 1.75, 2.25, 1.25 give (28, 28, 1), (29, 29, 1), (29, 29, 1).
    expect(clippedZoomSizes(28, 1.5)).toEqual({ crop: 19, zoomed: 28 });
    expect([1.75, 2.25, 1.25].map((z) => clippedZoomSizes(28, z).zoomed)).toEqual([28, 29, 29]);
    // So the crop's last pixel lands on the last output pixel (align-corners resize 19 -> 28, no trim).
    const ramp = Float32Array.from({ length: 28 * 28 }, (_, i) => i / (28 * 28));
    const x = tf.tensor4d(ramp, [1, 28, 28, 1]);
    const y = clippedZoom(x, 1.5);
    const out = y.dataSync();
    const top = Math.floor((28 - 19) / 2);
    expect(out[27 * 28 + 27]).toBeCloseTo(ramp[(top + 18) * 28 + (top + 18)], 6);
    expect(out[0]).toBeCloseTo(ramp[top * 28 + top], 6);
    tf.dispose([x, y]);
  });
});
