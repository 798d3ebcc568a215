import { describe, expect, it } from 'vitest';
import { InputError, oneLine, showValue } from '../../src/engine/errors.js';
import { closestMatch, didYouMean, editDistance } from '../../src/engine/suggest.js';

describe('editDistance', () => {
  it('is Levenshtein distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', '')).toBe(3);
    expect(editDistance('fog', 'fog')).toBe(0);
    expect(editDistance('pgg', 'pgd')).toBe(1);
    expect(editDistance('sqaure', 'square')).toBe(2);
  });
});

describe('closestMatch / didYouMean', () => {
  const attacks = ['fgsm', 'pgd', 'pgd-l2', 'apgd-ce', 'square', 'spsa'];
  it.each([
    ['pgg', attacks, 'pgd'],
    ['PGD', attacks, 'pgd'],
    ['pgd_l2', attacks, 'pgd-l2'],
    ['sqaure', attacks, 'square'],
    ['apgd', attacks, 'apgd-ce'],
    ['lst', ['first', 'last', 'average'], 'last'],
    ['e2d', ['first', 'e2e', 'bpda'], 'e2e'],
    ['Motion Blur', ['gaussian_noise', 'motion_blur'], 'motion_blur'],
    ['jpeg', ['pixelate', 'jpeg_compression'], 'jpeg_compression'],
    ['epsilon', ['epsilons', 'attacks'], 'epsilons'],
  ])('%j -> %j', (word, options, expected) => {
    expect(closestMatch(word, options)).toBe(expected);
    expect(didYouMean(word, options)).toBe(` (did you mean ${JSON.stringify(expected)}?)`);
  });

  it('suggests nothing when no option is close, for non-strings and for huge inputs', () => {
    expect(closestMatch('final', ['first', 'last', 'average'])).toBeUndefined();
    expect(closestMatch('xyz', attacks)).toBeUndefined();
    expect(closestMatch('', attacks)).toBeUndefined();
    expect(closestMatch('p'.repeat(100_000), attacks)).toBeUndefined();
    expect(didYouMean('full', ['first', 'e2e', 'bpda'])).toBe('');
    expect(didYouMean(3, attacks)).toBe('');
    expect(didYouMean('pgd', attacks)).toBe(''); // already valid
  });

  it('formats the suggestion as asked (flags)', () => {
    expect(didYouMean('outptu', ['output', 'limit'], (s) => `--${s}`)).toBe(' (did you mean --output?)');
  });
});

describe('one-line messages', () => {
  it('InputError escapes control and line-separator characters quoted from hostile input', () => {
    const e = new InputError('x.safetensors: tensor "a\nb\r\u001b[2J\u0000\u2028" is bad');
    expect(e.message).toBe('x.safetensors: tensor "a\\nb\\r\\u001b[2J\\u0000\\u2028" is bad');
    expect(oneLine('tab\there')).toBe('tab\\there');
  });

  it('showValue quotes JSON values and cuts long ones', () => {
    expect(showValue('pgg')).toBe('"pgg"');
    expect(showValue(1.5)).toBe('1.5');
    expect(showValue([1, 'a'])).toBe('[1,"a"]');
    expect(showValue(undefined)).toBe('undefined');
    expect(showValue(10n)).toBe('10');
    const long = showValue('x'.repeat(1000));
    expect(long.length).toBe(60);
    expect(long.endsWith('…')).toBe(true);
  });
});
