import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { getAttack, listAttacks } from '../../attacks/registry.js';
import { apgdCheckpoints } from '../../attacks/apgd.js';
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
    expect(names).toEqual(['fgsm', 'pgd', 'pgd-l2', 'apgd-ce', 'square', 'spsa']);
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
    expect(inputErrorOf(() => getAttack('apgd')).message).toMatch(/allowed: fgsm, pgd, pgd-l2, apgd-ce, square, spsa/);
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
  it('APGD checkpoints follow p_0=0, p_1=0.22, p_{j+1}=p_j+max(p_j-p_{j-1}-0.03, 0.06) (Croce & Hein 2020)', () => {
    // p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (then 1.05 > 1), worked out by hand.
    expect(apgdCheckpoints(100)).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    expect(apgdCheckpoints(1000)).toEqual([220, 410, 570, 700, 800, 870, 930, 990]);
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
