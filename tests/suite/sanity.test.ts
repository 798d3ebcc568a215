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

const outputsProbe = (outputs: GradientProbeResult['outputs']): GradientProbeResult => ({ ...gradientProbe('e2e', 0, 0), ...(outputs ? { outputs } : {}) });

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

  it('more-steps skips when the run left no sample correct on the probe images (nothing to test), and says so', () => {
    const checks = byName(
      computeSanityChecks({
        checkpoints: [{ name: 'm', numClasses: 10 }],
        cells: [cell('pgd', 'e2e', 0.03, 0)],
        probes: [cell('pgd-steps80', 'e2e', 0.03, 0, 100, { reference: { id: 'm|pgd|e2e|0.03', samples: 100, correct: 0 } })],
      }),
    );
    expect(checks['more-steps'].status).toBe('skip');
    expect(checks['more-steps'].detail).toContain('no sample left correct at eps 0.03');
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

describe("AutoAttack's checks (autoattack/checks.py)", () => {
  const checks = (opts: { numClasses?: number; cells?: SuiteCellResult[]; probes?: GradientProbeResult[] }) =>
    byName(computeSanityChecks({ checkpoints: [{ name: 'm', numClasses: opts.numClasses ?? 10 }], cells: opts.cells ?? [], probes: opts.probes ?? [] }));
  const range = { min: -3, max: 4, maxRowSumError: 2 };
  const same = { calls: 5, maxDiff: 0, correct: [90, 90, 90, 90, 90] };

  it('deterministic: warns, saying to use EOT, when identical calls differ (check_randomized); passes when every gradient attack uses eot', () => {
    const pgd = cell('pgd', 'e2e', 0.03, 50, 100, { attackParams: { steps: 20 } });
    expect(checks({ probes: [outputsProbe({ repeat: same, range })], cells: [pgd] }).deterministic.status).toBe('pass');
    // Scores differ by more than 1e-4 (normalised), or the predictions differ.
    for (const repeat of [{ ...same, maxDiff: 2e-4 }, { ...same, correct: [90, 90, 89, 90, 90] }]) {
      const c = checks({ probes: [outputsProbe({ repeat, range })], cells: [pgd] }).deterministic;
      expect(c.status).toBe('warn');
      expect(c.detail).toMatch(/randomised.*use EOT, e\.g\. "params": \{"eot": 20\}.*without it: pgd/);
    }
    expect(checks({ probes: [outputsProbe({ repeat: { ...same, maxDiff: 0.5e-4 }, range })], cells: [pgd] }).deterministic.status).toBe('pass');
    const eot = cell('pgd', 'e2e', 0.03, 50, 100, { attackParams: { steps: 20, eot: 10 } });
    // A cascade's Square stage records its chain's path but takes no gradient: it needs no eot.
    const square = cell('aa/square', 'e2e', 0.03, 40, 100, { method: 'square', attackParams: { queries: 10 }, cascade: { label: 'aa', stages: ['pgd', 'square'], stage: 2 } });
    const withEot = checks({ probes: [outputsProbe({ repeat: { ...same, maxDiff: 0.1 }, range })], cells: [eot, square] }).deterministic;
    expect(withEot.status).toBe('pass');
    expect(withEot.detail).toContain('eot > 1');
    expect(checks({ probes: [outputsProbe(undefined)] }).deterministic.status).toBe('skip');
  });

  it('scores-not-probabilities: warns when scores lie in [0, 1] and rows sum to 1 (check_range_output)', () => {
    const probs = { min: 0.001, max: 0.97, maxRowSumError: 3e-7 };
    expect(checks({ probes: [outputsProbe({ repeat: same, range: probs })] })['scores-not-probabilities'].status).toBe('warn');
    expect(checks({ probes: [outputsProbe({ repeat: same, range: { ...probs, maxRowSumError: 0.2 } })] })['scores-not-probabilities'].status).toBe('pass');
    expect(checks({ probes: [outputsProbe({ repeat: same, range: { ...probs, min: -0.5 } })] })['scores-not-probabilities'].status).toBe('pass');
    expect(checks({ probes: [outputsProbe({ repeat: same, range })] })['scores-not-probabilities'].status).toBe('pass');
  });

  it('square-after-white-box: warns when the cascade\'s Square stage lowers the white-box robust accuracy by more than 0.2 points (check_square_sr)', () => {
    const stage = (attack: string, method: string, stageNo: number, correct: number, n = 1000) =>
      cell(`aa/${attack}`, 'e2e', 0.03, correct, n, { method, cascade: { label: 'aa', stages: ['apgd-ce', 'pgd', 'square'], stage: stageNo } });
    const run = (squareCorrect: number) => [stage('apgd-ce', 'apgd-ce', 1, 300), stage('pgd', 'pgd', 2, 290), stage('square', 'square', 3, squareCorrect)];
    // 290 -> 288 of 1000 is 0.2 points: not more than AutoAttack's alpha; 287 is.
    expect(checks({ cells: run(288) })['square-after-white-box'].status).toBe('pass');
    const warn = checks({ cells: run(287) })['square-after-white-box'];
    expect(warn.status).toBe('warn');
    expect(warn.detail).toContain('aa/square (path e2e, eps 0.03) lowers 29.0% to 28.7%');
    expect(checks({ cells: [cell('square', 'none', 0.03, 10)] })['square-after-white-box'].status).toBe('skip');
    expect(warn.detail).toContain("AutoAttack's check_square_sr warns when the accuracy after the score-based stage is below the lowest before it minus 0.002, a drop of more than 0.2 percentage points");
    // Cascade cells are cumulative: the black-box-not-better check leaves them alone, and says where they are checked
    // (not that the run has no score-based attack).
    const blackBox = checks({ cells: run(100) })['black-box-not-better'];
    expect(blackBox.status).toBe('skip');
    expect(blackBox.detail).toBe(
      "the score-based attacks of this run are cascade stages (aa/square): each attacks only the samples the stages before it left correct, so it is checked against the white-box stages by square-after-white-box (AutoAttack's check_square_sr), not against a white-box sweep here",
    );
    // A sweep run keeps its comparison; a run without score-based attacks says so.
    expect(checks({ cells: [...run(100), cell('square', 'none', 0.03, 20, 1000), cell('pgd', 'e2e', 0.03, 10, 1000)] })['black-box-not-better'].status).toBe('pass');
    expect(checks({ cells: [cell('pgd', 'e2e', 0.03, 20, 1000)] })['black-box-not-better'].detail).toBe('no score-based attack cells in this run');
  });

  it('dlr-classes: DLR needs 3 classes, the targeted DLR 4, k targets k + 1 (check_n_classes)', () => {
    const dlr = cell('apgd-ce', 'e2e', 0.03, 5, 10, { attackParams: { loss: 'dlr' } });
    const apgdT = cell('apgd-t', 'e2e', 0.03, 5, 10, { attackParams: { targets: 9 } });
    const fabT = cell('fab-t', 'e2e', 0.03, 5, 10, { attackParams: { targets: 9 } });
    expect(checks({ numClasses: 2, cells: [dlr] })['dlr-classes']).toMatchObject({ status: 'warn', detail: expect.stringContaining('with 2 classes the DLR loss is not defined') });
    expect(checks({ numClasses: 3, cells: [dlr] })['dlr-classes'].status).toBe('pass');
    expect(checks({ numClasses: 3, cells: [apgdT] })['dlr-classes'].detail).toContain('with 3 classes the targeted DLR loss is not defined');
    expect(checks({ numClasses: 5, cells: [fabT] })['dlr-classes'].detail).toContain('fab-t: 9 target classes but only 4 possible');
    expect(checks({ numClasses: 10, cells: [apgdT, fabT] })['dlr-classes'].status).toBe('pass');
    expect(checks({ numClasses: 10, cells: [cell('pgd', 'e2e', 0.03, 5, 10, { attackParams: { loss: 'ce' } })] })['dlr-classes'].status).toBe('skip');
  });
});
