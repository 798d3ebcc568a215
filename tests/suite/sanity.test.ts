import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { executeRun, prepareRun } from '../../src/suite/runner.js';
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
  it('scores-are-logits: passes logits and log-softmax heads, warns when only clipped probabilities are reachable, skips old records', () => {
    const check = (c: { scores?: 'logits' | 'log-probabilities'; logProbabilities?: 'log-softmax' | 'clipped-log' }) =>
      byName(computeSanityChecks({ checkpoints: [{ name: 'm', numClasses: 10, ...c }], cells: [], probes: [] }))['scores-are-logits'];
    expect(check({ scores: 'logits' }).status).toBe('pass');
    expect(check({ scores: 'log-probabilities', logProbabilities: 'log-softmax' })).toMatchObject({ status: 'pass', detail: expect.stringContaining('log-softmax') });
    const clipped = check({ scores: 'log-probabilities', logProbabilities: 'clipped-log' });
    expect(clipped.status).toBe('warn');
    expect(clipped.detail).toContain('vanishes');
    expect(check({}).status).toBe('skip');
  });

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

  it('logits-finite: counts NaN or infinite logits on the clean images and the adversarial examples', () => {
    const clean = (nonFiniteLogits?: number) =>
      cell('clean', 'none', 0, 80, 100, { id: 'm|clean', kind: 'clean', attack: undefined, path: undefined, eps: undefined, nonFiniteLogits });
    const attacked = (eps: number, nonFiniteLogits?: number) => cell('square', 'none', eps, 30, 100, { attacked: 80, nonFiniteLogits });
    const run = (cells: SuiteCellResult[]) => byName(computeSanityChecks({ checkpoints: [{ name: 'm', numClasses: 10 }], cells, probes: [] }))['logits-finite'];

    const healthy = run([clean(0), attacked(0.03, 0)]);
    expect(healthy.status).toBe('pass');
    expect(healthy.numbers).toEqual({ cleanImages: 100, cleanNonFinite: 0, attackedExamples: 80, attackedNonFinite: 0 });

    const overflow = run([clean(100), attacked(0.01, 0), attacked(0.03, 7)]);
    expect(overflow.status).toBe('warn');
    expect(overflow.numbers).toEqual({ cleanImages: 100, cleanNonFinite: 100, attackedExamples: 160, attackedNonFinite: 7 });
    expect(overflow.detail).toContain('100 of 100 clean images and 7 of 160 adversarial examples');
    expect(overflow.detail).toContain('m|square|none|0.03 7');
    expect(formatSanity([overflow])).toContain('WARN m logits-finite: NaN or infinite logits');

    // Records written before the count existed: nothing to check.
    expect(run([clean(undefined), attacked(0.03, undefined)]).status).toBe('skip');
  });

  it('a sweep at 100% at every eps does not "rise with eps" (the Wilson bound of n/n is exactly 1)', () => {
    expect(wilsonInterval(10, 10)[1]).toBe(1);
    expect(wilsonInterval(0, 10)[0]).toBe(0);
    const checks = byName(
      computeSanityChecks({ checkpoints: [{ name: 'm', numClasses: 10 }], cells: [cell('pgd', 'first', 0, 10, 10), cell('pgd', 'first', 0.05, 10, 10)], probes: [] }),
    );
    expect(checks['monotone-in-eps'].status).toBe('pass');
  });
});

describe('sanity probes on a run with a targeted PGD listed before an untargeted one', () => {
  const root = mkdtempSync(join(tmpdir(), 'bench-sanity-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('probe the untargeted sweep on the committed CNN, record it, and raise no masking warning', async () => {
    const backend = await initBackend('wasm');
    const cnn = fileURLToPath(new URL('../../checkpoints/cnn-fmnist', import.meta.url));
    const configFile = join(root, 'targeted-first.json');
    // The targeted entry is deliberately weak (one step of 0.001, no random start): run at eps 0.5 it
    // leaves the undefended CNN at its clean accuracy, which the large-eps check reads as masking.
    writeFileSync(
      configFile,
      JSON.stringify({
        suite: 'adversarial',
        checkpoints: [{ dir: cnn }],
        attacks: [
          { name: 'pgd', label: 'pgd-targeted', params: { steps: 1, stepSize: 0.001, randomStart: false, targeted: true }, paths: ['first'] },
          { name: 'pgd', label: 'pgd-untargeted', params: { steps: 5 }, paths: ['first'] },
        ],
        epsilons: [0, 0.05, 0.1],
        limit: 10,
        sanityLimit: 10,
        seed: 0,
      }),
    );
    const prep = await prepareRun({ configFile, out: join(root, 'run') });
    const out = await executeRun(prep, { backend, quiet: true });
    const warnings = out.sanity.filter((c) => c.status === 'warn');
    expect(warnings.map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    const attackProbes = out.probes.filter((p): p is SuiteCellResult => p.format === 'bench-cell/1');
    expect(attackProbes.length).toBe(2);
    for (const p of attackProbes) {
      expect(p.probe?.of).toBe('pgd-untargeted');
      expect(p.attackParams?.targeted).toBe(false);
    }
    expect(attackProbes.find((p) => p.probe?.kind === 'more-steps')!.reference!.id).toBe('cnn-fmnist|pgd-untargeted|first|0.05');
    const byCheck = byName(out.sanity);
    expect(byCheck['large-eps-chance'].detail).toContain('entry pgd-untargeted');
    expect(byCheck['more-steps'].detail).toContain('entry pgd-untargeted');
  }, 120_000);
});
