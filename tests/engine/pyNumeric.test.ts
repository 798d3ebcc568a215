import { describe, expect, it } from 'vitest';
import { hypotCorrectlyRounded, numpyArange, pyInt, roundHalfEven } from '../../src/engine/pyNumeric.js';

describe('numpyArange', () => {
  it('reproduces numpy.arange element by element, last bits included', () => {
    // /usr/bin/python3 -c "import numpy as np; print([repr(float(v)) for v in np.arange(1, 1.26, 0.01)])"
    // (numpy 1.24.2 and 2.4.6 print the same list)
    const numpy = [
      '1.0', '1.01', '1.02', '1.03', '1.04', '1.05', '1.06', '1.07', '1.08', '1.09', '1.1', '1.11', '1.12',
      '1.1300000000000001', '1.1400000000000001', '1.1500000000000001', '1.1600000000000001', '1.1700000000000002',
      '1.1800000000000002', '1.1900000000000002', '1.2000000000000002', '1.2100000000000002', '1.2200000000000002',
      '1.2300000000000002', '1.2400000000000002', '1.2500000000000002',
    ].map(Number);
    expect(numpyArange(1, 1.26, 0.01)).toEqual(numpy);
    // start + i * step would give 1.13 and 1.14 (numpy steps by (1 + 0.01) - 1 = 0.010000000000000009).
    expect(1 + 13 * 0.01).toBe(1.13);
    expect(numpyArange(1, 1.26, 0.01)[13]).not.toBe(1.13);
  });

  it('has numpy\'s length ceil((stop - start) / step): arange(1, 1.06, 0.01) includes 1.06', () => {
    // python3 -c "import numpy as np; print(len(np.arange(1, 1.06, 0.01)), len(np.arange(0, 1, 0.1)), len(np.arange(5, 1)), len(np.arange(3, -1, -1)))"
    // -> 7 10 0 4
    expect(numpyArange(1, 1.06, 0.01)).toHaveLength(7);
    expect(numpyArange(0, 1, 0.1)).toHaveLength(10);
    expect(numpyArange(5, 1)).toEqual([]);
    expect(numpyArange(3, -1, -1)).toEqual([3, 2, 1, 0]);
    expect(numpyArange(-8, 9)).toEqual(Array.from({ length: 17 }, (_, i) => i - 8));
  });

  it('refuses a zero or non-finite step', () => {
    expect(() => numpyArange(0, 1, 0)).toThrow(RangeError);
    expect(() => numpyArange(0, 1, Number.NaN)).toThrow(RangeError);
  });
});

describe('roundHalfEven and pyInt', () => {
  it('round ties to the even integer as Python 3 does; int truncates toward zero', () => {
    // python3 -c "print([round(v) for v in [0.5, 1.5, 2.5, -0.5, -1.5, 28.5, 28.500000000000004, 28.499999999999996, 2.4999999999999996]])"
    // -> [0, 2, 2, 0, -2, 28, 29, 28, 2]
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 28.5, 28.500000000000004, 28.499999999999996, 2.4999999999999996].map((v) => roundHalfEven(v) + 0)).toEqual([
      0, 2, 2, 0, -2, 28, 29, 28, 2,
    ]);
    // python3 -c "print([int(v) for v in [0.22 * 50, 0.03 * 50, -1.5, 0.22 * 100]])" -> [11, 1, -1, 22]
    expect([0.22 * 50, 0.03 * 50, -1.5, 0.22 * 100].map(pyInt)).toEqual([11, 1, -1, 22]);
  });
});

describe('hypotCorrectlyRounded', () => {
  it('is sqrt(x^2 + y^2) rounded once, where Math.hypot and glibc can be an ulp off', () => {
    // Exact values: sqrt of the exact rational x^2 + y^2 to 60 digits (Python decimal/fractions, as in
    // scripts/reference/params.py exact_hypot), then rounded to float64.
    const a = (Math.PI * 60) / 180;
    expect(hypotCorrectlyRounded(17 * Math.sin(a), 17 * Math.cos(a))).toBe(17);
    expect(hypotCorrectlyRounded(20.988786752705963, -20.67707606522677)).toBe(29.463038607002826); // glibc 2.36: ...283
    expect(hypotCorrectlyRounded(0.01880126324413655, -0.020572902678793505)).toBe(0.027869908937892658); // glibc: ...655
    expect(hypotCorrectlyRounded(-0.007798115544879899, -0.023633601784142973)).toBe(0.024886898949904215);
    expect(hypotCorrectlyRounded(3, 4)).toBe(5);
    expect(hypotCorrectlyRounded(0, -2)).toBe(2);
    expect(hypotCorrectlyRounded(3e300, 4e300)).toBe(5e300);
    expect(hypotCorrectlyRounded(3e-300, 4e-300)).toBe(5e-300);
    expect(hypotCorrectlyRounded(Infinity, Number.NaN)).toBe(Infinity);
  });
});
