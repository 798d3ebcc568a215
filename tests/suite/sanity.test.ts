import { describe, expect, it } from 'vitest';
import { encodeBits, type GradientProbeResult, type SuiteCellResult, wilsonInterval } from '../../src/rundir/records.js';
import { computeSanityChecks, formatSanity } from '../../src/suite/sanity.js';

/** An attack cell whose first `correct` of `n` samples are correct. */
function cell(attack: string, path: string, eps: number, correct: number, n = 100, extra: Partial<SuiteCellResult> = {}): SuiteCellResult {
  const bits = Array.from({ length: n }, (_, i) => i < correct);
  return {
    format: 'bench-cell/1',
    id: `m|${attack}|${path}|${eps}`,
    kind: 'attack',
    checkpoint: 'm',
    output: 'last',
    attack,
    path: path as SuiteCellResult['path'],
    eps,
    samples: n,
    correct,
    accuracy: correct / n,
    ci95: wilsonInterval(correct, n),
    correctBits: encodeBits(bits),
    timings: { seconds: 1, imagesPerSecond: 1 },
    backend: 'cpu',
    completedAt: '',
    ...extra,
  };
}

const gradientProbe = (path: string, zero: number, nonFinite: number): GradientProbeResult => ({
  format: 'bench-gradient-probe/1',
  id: `m|probe|gradients|${path}`,
  checkpoint: 'm',
  path,
  output: 'last',
  samples: 100,
  zero,
  nonFinite,
  completedAt: '',
});

const byName = (checks: ReturnType<typeof computeSanityChecks>) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('sanity checks', () => {
  it('pass on a healthy run', () => {
    const checks = byName(
      computeSanityChecks({
        checkpoints: [{ name: 'm', numClasses: 10 }],
        cells: [cell('pgd', 'e2e', 0.01, 60), cell('pgd', 'e2e', 0.03, 30), cell('square', 'none', 0.03, 35)],
        probes: [
          cell('large-eps', 'e2e', 0.5, 3),
          cell('pgd-steps80', 'e2e', 0.03, 28, 100, { reference: { id: 'm|pgd|e2e|0.03', samples: 100, correct: 30 } }),
          gradientProbe('e2e', 0, 0),
        ],
      }),
    );
    for (const name of ['monotone-in-eps', 'large-eps-chance', 'more-steps', 'black-box-not-better', 'gradients-finite'])
      expect([name, checks[name].status]).toEqual([name, 'pass']);
    expect(checks['transfer-not-better'].status).toBe('skip');
  });

  it('warn on the symptoms of gradient masking, with the numbers', () => {
    // 30/100 has the Wilson interval 21.9%-39.6%: 45% is above it, 15% below it.
    const [lo, hi] = wilsonInterval(30, 100);
    expect(lo).toBeCloseTo(0.2189, 3);
    expect(hi).toBeCloseTo(0.3958, 3);
    const checks = byName(
      computeSanityChecks({
        checkpoints: [{ name: 'm', numClasses: 10 }],
        cells: [
          cell('pgd', 'e2e', 0.01, 30),
          cell('pgd', 'e2e', 0.03, 45), // rises with eps beyond the CI
          cell('square', 'none', 0.01, 15), // score-based beats white-box
          cell('pgd@cnn', 'first', 0.01, 10, 100, { transferFrom: 'cnn' }),
        ],
        probes: [
          cell('large-eps', 'e2e', 0.5, 40), // far above chance
          // More steps break 15 more of the 30 samples PGD-20 left: not converged.
          cell('pgd-steps80', 'e2e', 0.03, 15, 100, { reference: { id: 'm|pgd|e2e|0.03', samples: 100, correct: 30 } }),
          gradientProbe('e2e', 7, 1),
        ],
      }),
    );
    for (const name of ['monotone-in-eps', 'large-eps-chance', 'more-steps', 'black-box-not-better', 'transfer-not-better', 'gradients-finite'])
      expect([name, checks[name].status]).toEqual([name, 'warn']);
    expect(checks['gradients-finite'].numbers['e2e.zeroFraction']).toBeCloseTo(0.07, 12);
    expect(checks['black-box-not-better'].numbers.samplesOnlyBrokenHere).toBe(15);
    expect(checks['more-steps'].detail).toContain('had not converged');
    expect(formatSanity(Object.values(checks)).split('\n')[0]).toBe('Sanity checks: 6 WARNINGS (see below)');
  });

  it('subset cells (Square on the first n images) are compared with the white-box cells on the same images', () => {
    // White-box: images 0..59 correct of 100; on the first 20 that is 20/20. Square on 20 images: 18/20.
    const checks = byName(
      computeSanityChecks({
        checkpoints: [{ name: 'm', numClasses: 10 }],
        cells: [cell('pgd', 'e2e', 0.03, 60), cell('square', 'none', 0.03, 18, 20)],
        probes: [],
      }),
    );
    // 18/20 = 90% is inside the CI of 20/20 (83.9%-100%): no warning.
    expect(checks['black-box-not-better'].status).toBe('pass');
    expect(checks['black-box-not-better'].numbers['square.0.03.bestWhiteBox']).toBe(1);
  });
});
