/** Threat-model ranges of eps: L-inf in [0, 1], L2 up to the diagonal of the image box (issue 13, item 7). */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { checkEps } from '../../attacks/common.js';
import { maxEpsilon, normSymbol } from '../../attacks/threatModels.js';
import { listAttacks } from '../../attacks/registry.js';

describe('threat models', () => {
  it('the L2 bound is the largest L2 distance between two images in [0,1]: all-black to all-white', () => {
    const shape = { height: 28, width: 28, channels: 1 };
    const black = new Float64Array(28 * 28);
    const white = new Float64Array(28 * 28).fill(1);
    const distance = Math.sqrt(black.reduce((s, b, i) => s + (white[i] - b) ** 2, 0));
    expect(maxEpsilon('l2', shape)).toBe(distance);
    expect(maxEpsilon('linf', shape)).toBe(1);
    expect(maxEpsilon('l2', { height: 32, width: 32, channels: 3 })).toBeCloseTo(Math.sqrt(3072), 12);
  });

  it('every registered attack declares a threat model with a norm symbol', () => {
    for (const a of listAttacks()) expect(['L∞', 'L2']).toContain(normSymbol(a.threatModel));
    expect(listAttacks().find((a) => a.name === 'pgd-l2')!.threatModel).toBe('l2');
  });

  it('checkEps: an attack refuses radii outside its own threat model on x\'s shape', () => {
    const x = { shape: [4, 28, 28, 1] };
    expect(() => checkEps(1.5, 'l2', x)).not.toThrow();
    expect(() => checkEps(28, 'l2', x)).not.toThrow();
    expect(() => checkEps(28.01, 'l2', x)).toThrow(InputError);
    expect(() => checkEps(1.5, 'linf', x)).toThrow('invalid epsilon 1.5 for the L-inf threat model (allowed: finite numbers in [0, 1]');
  });
});
