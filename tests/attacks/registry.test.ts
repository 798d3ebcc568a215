import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { getAttack, listAttacks } from '../../attacks/registry.js';
import { apgdCheckpoints, apgdOscillates } from '../../attacks/apgd.js';
import { squareFraction, squareSide } from '../../attacks/square.js';
import { stepSizeOf } from '../../attacks/pgd.js';

function inputErrorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('attack registry', () => {
  it('lists every attack with a one-line description and its threat model', () => {
    const names = listAttacks().map((a) => a.name);
    expect(names).toEqual(['fgsm', 'pgd', 'pgd-l2', 'apgd-ce', 'apgd-ce-l2', 'apgd-dlr', 'apgd-dlr-l2', 'apgd-t', 'apgd-t-l2', 'fab-t', 'fab-t-l2', 'square', 'square-l2', 'spsa', 'fmn', 'fmn-l2']);
    for (const a of listAttacks()) {
      expect(a.describe).not.toMatch(/\n/);
      expect(['linf', 'l2']).toContain(a.threatModel);
    }
    expect(getAttack('square').usesGradient).toBe(false);
    expect(getAttack('spsa').usesGradient).toBe(false);
    expect(getAttack('pgd-l2').threatModel).toBe('l2');
  });

  it('suggests the closest name for a typo', () => {
    expect(inputErrorOf(() => getAttack('sqaure')).message).toMatch(/did you mean "square"/);
    expect(inputErrorOf(() => getAttack('pgd_l2')).message).toMatch(/did you mean "pgd-l2"/);
    expect(inputErrorOf(() => getAttack('apgd')).message).toMatch(/allowed: fgsm, pgd, pgd-l2, apgd-ce, apgd-ce-l2, apgd-dlr, apgd-dlr-l2, apgd-t, apgd-t-l2, fab-t, fab-t-l2, square, square-l2, spsa, fmn, fmn-l2/);
  });
});

describe('parameter validation', () => {
  it('returns the defaults for a missing or empty params object, and accepts its own defaults', () => {
    for (const a of listAttacks()) {
      expect(a.parseParams(undefined, 'cfg')).toEqual(a.defaults);
      expect(a.parseParams({}, 'cfg')).toEqual(a.defaults);
      expect(a.parseParams({ ...a.defaults }, 'cfg')).toEqual(a.defaults);
    }
  });

  it('refuses unknown keys, naming the field and the allowed keys', () => {
    const msg = inputErrorOf(() => getAttack('pgd').parseParams({ stepsize: 0.01 }, 'suite.json: attacks[0].params')).message;
    expect(msg).toContain('suite.json: attacks[0].params.stepsize');
    expect(msg).toContain('unknown parameter');
    expect(msg).toContain('stepSize');
  });

  it('refuses wrong types and ranges with the allowed values', () => {
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ steps: 0 }, 'p')).message).toMatch(/p\.steps.*allowed: integers >= 1/);
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ steps: '10' }, 'p')).message).toMatch(/p\.steps/);
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ loss: 'dlr' }, 'p')).message).toMatch(/p\.loss.*allowed: ce, margin/);
    expect(inputErrorOf(() => getAttack('square').parseParams({ pInit: 1.5 }, 'p')).message).toMatch(/p\.pInit/);
    expect(inputErrorOf(() => getAttack('spsa').parseParams({ update: 'sgd' }, 'p')).message).toMatch(/allowed: adam, sign/);
    expect(inputErrorOf(() => getAttack('fgsm').parseParams([1], 'p')).message).toMatch(/params must be an object/);
  });

  it('refuses contradictory settings', () => {
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ norm: 'l2' }, 'p')).message).toMatch(/pgd-l2/);
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ stepSize: 0.01, relStepSize: 0.1 }, 'p')).message).toMatch(/not both/);
    expect(inputErrorOf(() => getAttack('pgd').parseParams({ restarts: 3, randomStart: false }, 'p')).message).toMatch(/restarts/);
    expect(inputErrorOf(() => getAttack('apgd-ce').parseParams({ targetClass: 3 }, 'p')).message).toMatch(/targeted: true/);
  });

  it('PGD step size: absolute, relative, or 2.5 eps / steps (Madry et al.)', () => {
    expect(stepSizeOf({ steps: 20 }, 0.1)).toBeCloseTo(0.0125, 12);
    expect(stepSizeOf({ steps: 20, relStepSize: 0.1 }, 0.2)).toBeCloseTo(0.02, 12);
    expect(stepSizeOf({ steps: 20, stepSize: 0.003 }, 0.2)).toBe(0.003);
  });
});

describe('published schedules', () => {
  it('APGD checkpoints are the ones AutoAttack computes (autopgd_base.py), for any step count', () => {
    // /usr/bin/python3 scripts/reference/params.py, key apgd_checkpoints: the reference's n_iter_2 =
    // max(int(0.22 * n_iter), 1), n_iter_min = max(int(0.06 * n_iter), 1), size_decr = max(int(0.03 * n_iter), 1)
    // and its loop (counter3 == k: check after iteration i + 1, then k = max(k - size_decr, n_iter_min)).
    const reference: Record<number, number[]> = {
      1: [1],
      2: [1, 2],
      5: [1, 2, 3, 4, 5],
      10: [2, 3, 4, 5, 6, 7, 8, 9, 10],
      20: [4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
      25: [5, 9, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
      40: [8, 15, 21, 26, 30, 33, 35, 37, 39],
      50: [11, 21, 30, 38, 45],
      73: [16, 30, 42, 52, 60, 66, 70],
      100: [22, 41, 57, 70, 80, 87, 93, 99],
      150: [33, 62, 87, 108, 125, 138, 147],
      1000: [220, 410, 570, 700, 800, 870, 930, 990],
    };
    for (const [steps, checks] of Object.entries(reference)) expect(apgdCheckpoints(Number(steps)), `steps ${steps}`).toEqual(checks);
  });

  it('Square Attack p and window side follow AutoAttack square.py at any budget (int(it / n_queries * 10000), Python round)', () => {
    // /usr/bin/python3 scripts/reference/params.py, key square_schedule: for (n_queries, p_init), the iterations
    // where p_selection changes (and the ends), as [it, p, side for c=1, side for c=3] on 28 x 28 images.
    const reference: Record<string, [number, number, number, number][]> = {
      '99/0.8': [[0, 0.8, 25, 25], [1, 0.2, 13, 13], [2, 0.1, 9, 9], [4, 0.1, 9, 9], [5, 0.05, 6, 6], [9, 0.05, 6, 6], [10, 0.025, 4, 4], [19, 0.025, 4, 4], [20, 0.0125, 3, 3], [39, 0.0125, 3, 3], [40, 0.00625, 2, 2], [59, 0.00625, 2, 2], [60, 0.003125, 2, 2], [79, 0.003125, 2, 2], [80, 0.0015625, 1, 1], [98, 0.0015625, 1, 1]],
      '999/0.8': [[0, 0.8, 25, 25], [1, 0.8, 25, 25], [2, 0.4, 18, 18], [5, 0.4, 18, 18], [6, 0.2, 13, 13], [20, 0.2, 13, 13], [21, 0.1, 9, 9], [50, 0.1, 9, 9], [51, 0.05, 6, 6], [99, 0.05, 6, 6], [100, 0.025, 4, 4], [199, 0.025, 4, 4], [200, 0.0125, 3, 3], [399, 0.0125, 3, 3], [400, 0.00625, 2, 2], [599, 0.00625, 2, 2], [600, 0.003125, 2, 2], [799, 0.003125, 2, 2], [800, 0.0015625, 1, 1], [998, 0.0015625, 1, 1]],
      '1000/0.05': [[0, 0.05, 6, 6], [1, 0.05, 6, 6], [2, 0.025, 4, 4], [5, 0.025, 4, 4], [6, 0.0125, 3, 3], [20, 0.0125, 3, 3], [21, 0.00625, 2, 2], [50, 0.00625, 2, 2], [51, 0.003125, 2, 2], [100, 0.003125, 2, 2], [101, 0.0015625, 1, 1], [200, 0.0015625, 1, 1], [201, 0.00078125, 1, 1], [400, 0.00078125, 1, 1], [401, 0.000390625, 1, 1], [600, 0.000390625, 1, 1], [601, 0.0001953125, 1, 1], [800, 0.0001953125, 1, 1], [801, 9.765625e-5, 1, 1], [999, 9.765625e-5, 1, 1]],
      '5000/0.8': [[0, 0.8, 25, 25], [5, 0.8, 25, 25], [6, 0.4, 18, 18], [25, 0.4, 18, 18], [26, 0.2, 13, 13], [100, 0.2, 13, 13], [101, 0.1, 9, 9], [250, 0.1, 9, 9], [251, 0.05, 6, 6], [500, 0.05, 6, 6], [501, 0.025, 4, 4], [1000, 0.025, 4, 4], [1001, 0.0125, 3, 3], [2000, 0.0125, 3, 3], [2001, 0.00625, 2, 2], [3000, 0.00625, 2, 2], [3001, 0.003125, 2, 2], [4000, 0.003125, 2, 2], [4001, 0.0015625, 1, 1], [4999, 0.0015625, 1, 1]],
      '333/0.3': [[0, 0.3, 15, 15], [1, 0.15, 11, 11], [2, 0.075, 8, 8], [6, 0.075, 8, 8], [7, 0.0375, 5, 5], [16, 0.0375, 5, 5], [17, 0.01875, 4, 4], [33, 0.01875, 4, 4], [34, 0.009375, 3, 3], [66, 0.009375, 3, 3], [67, 0.0046875, 2, 2], [133, 0.0046875, 2, 2], [134, 0.00234375, 1, 1], [199, 0.00234375, 1, 1], [200, 0.001171875, 1, 1], [266, 0.001171875, 1, 1], [267, 0.0005859375, 1, 1], [332, 0.0005859375, 1, 1]],
    };
    for (const [key, rows] of Object.entries(reference)) {
      const [budget, pInit] = key.split('/').map(Number);
      for (const [it, p, side1, side3] of rows) {
        const ours = squareFraction(it, budget, pInit);
        expect(ours, `${key} iteration ${it}`).toBe(p);
        expect([squareSide(ours, 28, 28, 1), squareSide(ours, 28, 28, 3)], `${key} iteration ${it}`).toEqual([side1, side3]);
      }
    }
    // Key square_side_ties: sqrt(p * n_features / c) exactly k + 0.5; Python's round goes to the even side
    // (2.5 -> 2, 4.5 -> 4, 6.5 -> 6), where Math.round would give 3, 5, 7.
    for (const [p, side] of [[6.25 / 784, 2], [20.25 / 784, 4], [12.25 / 784, 4], [42.25 / 784, 6]])
      for (const c of [1, 3]) expect(squareSide(p, 28, 28, c), `p ${p} c ${c}`).toBe(side);
  });

  it('Square Attack p halves after 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10000 iterations', () => {
    const at = (i: number) => squareFraction(i, 10000, 0.8);
    expect([0, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001, 4000, 4001, 6000, 6001, 8000, 8001, 9999].map(at)).toEqual([
      0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625, 0.00625, 0.003125, 0.003125,
      0.0015625, 0.0015625,
    ]);
    // Rescaled to a 1000-iteration budget: the first halving comes after iteration 1.
    expect(squareFraction(1, 1000, 0.8)).toBe(0.8);
    expect(squareFraction(2, 1000, 0.8)).toBe(0.4);
    // Side of the square on a 28 x 28 image: round(sqrt(0.8 * 784)) = 25.
    expect(squareSide(0.8, 28, 28)).toBe(25);
    expect(squareSide(0.0001, 28, 28)).toBe(1);
  });
});

describe('reference arithmetic at APGD checkpoints', () => {
  it('APGD halves when successes <= float32(span * rho), as check_oscillation compares t <= k * k3 on float32 tensors', () => {
    // /usr/bin/python3 -c "import numpy as np; k=22; k3=15/22; print(repr(k*k3), np.float32(k*k3), 15 <= np.float32(k*k3), 12 <= 16*0.75)"
    // -> 14.999999999999998 15.0 True True
    expect(apgdOscillates(12, 16, 0.75)).toBe(true); // exactly rho of the steps: the reference halves (<=)
    expect(apgdOscillates(13, 16, 0.75)).toBe(false);
    expect(apgdOscillates(15, 22, 15 / 22)).toBe(true); // the float64 product is 14.999999999999998
    expect(apgdOscillates(16, 22, 15 / 22)).toBe(false);
  });
});
