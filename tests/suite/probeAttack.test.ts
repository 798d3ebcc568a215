import { describe, expect, it } from 'vitest';
import { readJsonFile, validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { presetConfigFile } from '../../src/suite/runner.js';
import { planAdversarial, type ModelInfo } from '../../src/suite/planner.js';
import { chooseProbeAttack, probeCandidates } from '../../src/suite/probeAttack.js';
import { getAttack, listAttacks } from '../../attacks/registry.js';

const cnn: ModelInfo = { name: 'cnn', dir: 'c/cnn', cycles: 0, output: 'last' };

const attacksOf = (attacks: unknown[]) =>
  (validateConfig({ suite: 'adversarial', checkpoints: ['c/cnn'], attacks, epsilons: [0, 0.02, 0.05] }, 'test') as AdversarialConfig).attacks;

describe('the sanity probes choose their attack by what it is', () => {
  it('a targeted PGD listed first is passed over for the untargeted one', () => {
    const choice = chooseProbeAttack(
      attacksOf([
        { name: 'pgd', label: 'pgd-targeted', params: { steps: 50, targeted: true }, paths: ['first'] },
        { name: 'pgd', label: 'pgd-untargeted', params: { steps: 10 }, paths: ['first'] },
      ]),
    );
    expect(choice.entry.label).toBe('pgd-untargeted');
    expect(choice.fromConfig).toBe(true);
  });

  it('the plan note says what makes APGD-T eligible (its success is any misclassification), not that it is untargeted', () => {
    const choice = chooseProbeAttack(attacksOf([{ name: 'apgd-t', params: { steps: 10 }, paths: ['e2e'] }]));
    expect(choice.entry.name).toBe('apgd-t');
    expect(choice.reason).toBe('sanity probes run apgd-t (apgd-t, white-box L-inf, succeeds on any misclassification, 90 gradients per image), the only eligible entry');
    expect(choice.reason).not.toContain('untargeted');
  });

  it('not by name: an untargeted APGD is chosen when the only PGD is targeted', () => {
    const choice = chooseProbeAttack(
      attacksOf([
        { name: 'pgd', params: { targeted: true }, paths: ['first'] },
        { name: 'apgd-ce', params: { steps: 10 }, paths: ['e2e'] },
      ]),
    );
    expect(choice.entry).toMatchObject({ name: 'apgd-ce', label: 'apgd-ce' });
  });

  it('the largest gradient budget (steps x restarts) wins, whatever the order; equal budgets keep the config order', () => {
    const entries = attacksOf([
      { name: 'pgd', label: 'pgd10', params: { steps: 10 }, paths: ['first'] },
      { name: 'apgd-ce', label: 'apgd10x3', params: { steps: 10, restarts: 3 }, paths: ['e2e'] },
      { name: 'pgd', label: 'pgd20', params: { steps: 20 }, paths: ['first'] },
    ]);
    expect(chooseProbeAttack(entries).entry.label).toBe('apgd10x3');
    expect(chooseProbeAttack([...entries].reverse()).entry.label).toBe('apgd10x3');
    const tie = attacksOf([
      { name: 'pgd', label: 'a', params: { steps: 20 }, paths: ['first'] },
      { name: 'apgd-ce', label: 'b', params: { steps: 20 }, paths: ['first'] },
    ]);
    expect(chooseProbeAttack(tie).entry.label).toBe('a');
  });

  it('a minimisation attack (fmn) is never a candidate, even with the largest budget: the probes run one radius of a survivor sweep', () => {
    const entries = attacksOf([
      { name: 'fmn', params: { steps: 500 }, paths: ['first'] },
      { name: 'pgd', params: { steps: 10 }, paths: ['first'] },
    ]);
    expect(probeCandidates(entries).map((e) => e.name)).toEqual(['pgd']);
    const alone = chooseProbeAttack(attacksOf([{ name: 'fmn', paths: ['first'] }]));
    expect(alone.fromConfig).toBe(false);
    expect(alone.entry.name).toBe('pgd');
  });

  it('one-step, score-based, L2, transfer and targeted entries are never candidates', () => {
    const entries = attacksOf([
      { name: 'fgsm', paths: ['first'] },
      { name: 'square', params: { queries: 10 } },
      { name: 'spsa', params: { steps: 2, samples: 2 } },
      { name: 'pgd-l2', paths: ['first'] },
      { name: 'pgd', label: 'transfer', paths: ['first'], transferFrom: 'c/other' },
      { name: 'apgd-ce', params: { targeted: true }, paths: ['e2e'] },
    ]);
    expect(probeCandidates(entries)).toEqual([]);
    // None eligible: PGD's (untargeted) defaults, under a label no config entry uses.
    const choice = chooseProbeAttack(entries);
    expect(choice.fromConfig).toBe(false);
    expect(choice.entry.name).toBe('pgd');
    expect(choice.entry.params.targeted).toBe(false);
    expect(entries.map((e) => e.label)).not.toContain(choice.entry.label);
  });

  it('the fallback PGD never shares a label with a config entry (its more-steps probe would read that entry\'s cells)', () => {
    const entries = attacksOf([{ name: 'pgd', label: 'pgd-default', params: { targeted: true }, paths: ['first'] }]);
    expect(chooseProbeAttack(entries).entry.label).not.toBe('pgd-default');
  });

  it('every registered attack declares targeting, iterations and cost consistently with its kind', () => {
    for (const a of listAttacks()) {
      const p = a.parseParams(undefined, a.name);
      expect([a.name, a.isTargeted(p)]).toEqual([a.name, false]);
      if ('targeted' in p) expect([a.name, a.isTargeted({ ...p, targeted: true })]).toEqual([a.name, true]);
      if (a.iterationParam) expect([a.name, typeof p[a.iterationParam]]).toEqual([a.name, 'number']);
      // Repetitions are integer parameters of an iterative attack, and 1 is a valid value (one run).
      for (const k of a.repeatParams ?? []) {
        expect([a.name, k, a.iterationParam !== undefined, Number.isInteger(p[k])]).toEqual([a.name, k, true, true]);
        expect(a.parseParams({ [k]: 1 }, a.name)[k]).toBe(1);
      }
      const cost = a.cost(p);
      expect(cost.gradients > 0).toBe(a.usesGradient);
      expect(cost.forwards).toBeGreaterThan(0);
    }
  });

  it('the more-steps probe is ONE run with 4x the steps: AutoAttack\'s APGD-T at 400 steps on its first target, not 9 x 400', () => {
    const preset = readJsonFile(presetConfigFile('autoattack'));
    const config = validateConfig({ ...(preset as object), checkpoints: ['c/cnn'] }, 'autoattack') as AdversarialConfig;
    const plan = planAdversarial({ config, targets: [cnn], sources: new Map(), samples: 1000 });
    const probes = plan.units.filter((u) => u.kind === 'probe-attack').flatMap((u) => u.cells);
    const more = probes.find((c) => c.probe!.kind === 'more-steps')!;
    expect(more.id).toBe('cnn|probe|apgd-t-steps400-targets1|e2e|0.03');
    expect(more.attack!.entry).toMatchObject({ name: 'apgd-t', params: { steps: 400, targets: 1, restarts: 1 } });
    // It continues APGD-T's own sweep (all 9 targets, 100 steps each) and costs 400 gradients per image, not 3600.
    expect(more.continues!.entry).toMatchObject({ name: 'apgd-t', params: { steps: 100, targets: 9 } });
    expect(getAttack('apgd-t').cost(more.attack!.entry.params as never).gradients).toBe(400);
    // The large-eps probe runs the entry itself.
    expect(probes.find((c) => c.probe!.kind === 'large-eps')!.attack!.entry.params).toMatchObject({ steps: 100, targets: 9 });
    // Restarts are repetitions too: PGD-20 with 3 restarts is probed by one 80-step run; PGD-20 with one
    // restart keeps its old probe id.
    const pgd = (restarts: number) =>
      planAdversarial({
        config: validateConfig({ suite: 'adversarial', checkpoints: ['c/cnn'], attacks: [{ name: 'pgd', params: { restarts, randomStart: true }, paths: ['first'] }], epsilons: [0, 0.03] }, 'test') as AdversarialConfig,
        targets: [cnn],
        sources: new Map(),
        samples: 10,
      }).units.flatMap((u) => u.cells).find((c) => c.probe?.kind === 'more-steps')!;
    expect([pgd(3).id, pgd(3).attack!.entry.params.restarts, pgd(3).attack!.entry.params.steps]).toEqual(['cnn|probe|pgd-steps80-restarts1|first|0.03', 1, 80]);
    expect(pgd(1).id).toBe('cnn|probe|pgd-steps80|first|0.03');
  });

  it('the planned probes run the chosen entry, continue its main sweep and say which entry they copy', () => {
    const config = validateConfig(
      {
        suite: 'adversarial',
        checkpoints: ['c/cnn'],
        attacks: [
          { name: 'pgd', label: 'pgd-targeted', params: { steps: 5, targeted: true }, paths: ['first'] },
          { name: 'pgd', label: 'pgd-untargeted', params: { steps: 7 }, paths: ['first'] },
        ],
        epsilons: [0, 0.02, 0.05],
      },
      'test',
    ) as AdversarialConfig;
    const plan = planAdversarial({ config, targets: [cnn], sources: new Map(), samples: 10 });
    const probes = plan.units.filter((u) => u.kind === 'probe-attack').flatMap((u) => u.cells);
    expect(probes.map((c) => c.id)).toEqual(['cnn|probe|large-eps|first|0.5', 'cnn|probe|pgd-untargeted-steps28|first|0.02']);
    for (const c of probes) {
      expect(c.attack!.entry.params.targeted).toBe(false);
      expect(c.probe!.of).toBe('pgd-untargeted');
    }
    expect(probes[1].continues!.entry.label).toBe('pgd-untargeted');
    expect(probes[1].attack!.entry.params.steps).toBe(28);
    expect(plan.notes.some((n) => n.includes('sanity probes run pgd-untargeted'))).toBe(true);
  });
});
