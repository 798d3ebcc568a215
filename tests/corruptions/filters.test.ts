import { describe, expect, it } from 'vitest';
import { gaussianKernel1d } from '../../corruptions/filters.js';

describe('gaussianKernel1d', () => {
  it('has scipy.ndimage.gaussian_filter1d\'s radius int(truncate * sigma + 0.5) and its weights, float32 bit for bit', () => {
    // /usr/bin/python3 -c "import numpy as np; from scipy.ndimage._filters import _gaussian_kernel1d as k; \
    //   [print(sd, [repr(float(np.float32(v))) for v in k(sd, 0, int(tr * sd + 0.5))]) for sd, tr in [(0.4, 4.0), (0.7, 4.0), (1.0, 4.0), (28 * 0.06, 3.0)]]"
    // (scipy 1.10.1). Every sigma of the gaussian_blur, glass_blur and elastic (28 x multiple, truncate 3) tables
    // was compared the same way; all agree.
    const scipy: [number, number, number[]][] = [
      [0.4, 4, [3.4256063372595236e-6, 0.04038761556148529, 0.9192179441452026, 0.04038761556148529, 3.4256063372595236e-6]],
      [0.7, 4, [5.852462345501408e-5, 0.009618930518627167, 0.20539964735507965, 0.5698457956314087, 0.20539964735507965, 0.009618930518627167, 5.852462345501408e-5]],
      [1, 4, [0.0001338306174147874, 0.004431861452758312, 0.053991127759218216, 0.2419714480638504, 0.3989434838294983, 0.2419714480638504, 0.053991127759218216, 0.004431861452758312, 0.0001338306174147874]],
      [28 * 0.06, 3, [0.002835057210177183, 0.013963543809950352, 0.048256438225507736, 0.11701478064060211, 0.19909116625785828, 0.23767805099487305, 0.19909116625785828, 0.11701478064060211, 0.048256438225507736, 0.013963543809950352, 0.002835057210177183]],
    ];
    for (const [sigma, truncate, weights] of scipy) expect(Array.from(gaussianKernel1d(sigma, truncate)), `sigma ${sigma}`).toEqual(weights);
  });
});
