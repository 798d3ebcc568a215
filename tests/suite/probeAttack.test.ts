import { describe, expect, it } from 'vitest';
import { validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { planAdversarial, type ModelInfo } from '../../src/suite/planner.js';
import { chooseProbeAttack, probeCandidates } from '../../src/suite/probeAttack.js';
import { listAttacks } from '../../attacks/registry.js';

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
      const cost = a.cost(p);
      expect(cost.gradients > 0).toBe(a.usesGradient);
      expect(cost.forwards).toBeGreaterThan(0);
    }
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
