import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { validateConfig, type AdversarialConfig, type CorruptionConfig } from '../../src/suite/config.js';
import { parseShard, planAdversarial, planCorruption, shardUnits, type ModelInfo } from '../../src/suite/planner.js';

const cnn: ModelInfo = { name: 'cnn', dir: 'c/cnn', cycles: 0, output: 'last' };
const cnnf: ModelInfo = { name: 'cnnf', dir: 'c/cnnf', cycles: 1, output: 'last' };

function adversarial(extra: Record<string, unknown> = {}): AdversarialConfig {
  return validateConfig(
    {
      suite: 'adversarial',
      checkpoints: ['c/cnn', 'c/cnnf'],
      attacks: [{ name: 'pgd', paths: ['first', 'e2e'] }, { name: 'square', limit: 5 }],
      epsilons: [0.03, 0, 0.01],
      sanity: false,
      ...extra,
    },
    'test',
  ) as AdversarialConfig;
}

describe('planAdversarial', () => {
  it('a minimisation attack (fmn) is one unit per computed path, priced as one run whatever the number of radii', () => {
    const planFor = (epsilons: number[]) =>
      planAdversarial({ config: adversarial({ attacks: [{ name: 'fmn', params: { steps: 10 } }], epsilons }), targets: [cnn, cnnf], sources: new Map(), samples: 20 });
    const few = planFor([0, 0.01]);
    const many = planFor([0, 0.01, 0.02, 0.05, 0.1]);
    const sweeps = (p: typeof few) => p.units.filter((u) => u.kind === 'sweep');
    // The CNN: one computed path (the others are copies in the same unit); CNN-F: one unit per path.
    expect(sweeps(many).map((u) => u.id)).toEqual(['sweep|cnn|fmn|first', 'sweep|cnnf|fmn|first', 'sweep|cnnf|fmn|e2e', 'sweep|cnnf|fmn|bpda']);
    expect(sweeps(many)[0].cells).toHaveLength(15);
    expect(sweeps(many).map((u) => u.cost)).toEqual(sweeps(few).map((u) => u.cost));
    // 10 gradients (3 forward passes each on the CNN) and 10 forward passes per image, 20 images.
    expect(sweeps(many)[0].cost).toBe(20 * (10 * 3 + 10 * 1));
    expect(many.notes.some((n) => n.includes('cnn fmn: a minimisation attack; one run per computed gradient path answers its 5 eps cells'))).toBe(true);
  });

  it('an attack with its own epsilons sweeps those radii (an L2 attack beside L-inf ones); the L-inf probes keep L-inf radii', () => {
    const config = adversarial({
      attacks: [{ name: 'pgd', paths: ['first'] }, { name: 'pgd-l2', paths: ['first'], epsilons: [0, 1.5, 3] }],
      epsilons: [0, 0.03, 0.1],
      sanity: true,
    });
    const plan = planAdversarial({ config, targets: [cnn], sources: new Map(), samples: 20 });
    expect(plan.cells.filter((id) => id.includes('|pgd-l2|'))).toEqual(['cnn|pgd-l2|first|0', 'cnn|pgd-l2|first|1.5', 'cnn|pgd-l2|first|3']);
    expect(plan.cells.filter((id) => id.includes('|pgd|'))).toEqual(['cnn|pgd|first|0', 'cnn|pgd|first|0.03', 'cnn|pgd|first|0.1']);
    const l2 = plan.units.flatMap((u) => u.cells).find((c) => c.id === 'cnn|pgd-l2|first|3')!;
    expect(l2.attack!.threatModel).toBe('l2');
    // The more-steps probe (L-inf PGD) continues PGD's own sweep, never an L2 radius.
    expect(plan.probes.filter((id) => id.includes('pgd-steps'))).toEqual(['cnn|probe|pgd-steps80|first|0.03']);
  });


  it('plans clean cells, then each attack sweep in ascending eps, with stable ids', () => {
    const plan = planAdversarial({ config: adversarial(), targets: [cnn, cnnf], sources: new Map(), samples: 20 });
    expect(plan.cells).toEqual([
      'cnn|clean',
      'cnnf|clean',
      'cnn|pgd|first|0',
      'cnn|pgd|first|0.01',
      'cnn|pgd|first|0.03',
      'cnn|pgd|e2e|0',
      'cnn|pgd|e2e|0.01',
      'cnn|pgd|e2e|0.03',
      'cnnf|pgd|first|0',
      'cnnf|pgd|first|0.01',
      'cnnf|pgd|first|0.03',
      'cnnf|pgd|e2e|0',
      'cnnf|pgd|e2e|0.01',
      'cnnf|pgd|e2e|0.03',
      'cnn|square|none|0',
      'cnn|square|none|0.01',
      'cnn|square|none|0.03',
      'cnnf|square|none|0',
      'cnnf|square|none|0.01',
      'cnnf|square|none|0.03',
    ]);
    expect(plan.probes).toEqual([]);
  });

  it('a feedforward model computes its first path once; the other paths are marked copies of it', () => {
    const plan = planAdversarial({ config: adversarial(), targets: [cnn, cnnf], sources: new Map(), samples: 20 });
    const cells = plan.units.flatMap((u) => u.cells);
    expect(cells.find((c) => c.id === 'cnn|pgd|e2e|0.01')?.copyOf).toBe('cnn|pgd|first|0.01');
    expect(cells.find((c) => c.id === 'cnnf|pgd|e2e|0.01')?.copyOf).toBeUndefined();
    // The copies live in the unit of the cells they copy, so a shard always holds both.
    const unit = plan.units.find((u) => u.cells.some((c) => c.id === 'cnn|pgd|e2e|0.03'))!;
    expect(unit.cells.map((c) => c.id)).toContain('cnn|pgd|first|0.03');
    expect(plan.notes.join(' ')).toContain('copies');
    // Subset attacks carry their sample count.
    expect(cells.find((c) => c.id === 'cnnf|square|none|0.03')?.samples).toBe(5);
  });

  it('transfer cells skip the source model itself and are labelled with their source', () => {
    const config = adversarial({ attacks: [{ name: 'fgsm', paths: ['first'], transferFrom: 'cnn' }] });
    const plan = planAdversarial({ config, targets: [cnn, cnnf], sources: new Map([['cnn', cnn]]), samples: 20 });
    expect(plan.cells.filter((id) => id.includes('fgsm'))).toEqual(['cnnf|fgsm@cnn|first|0', 'cnnf|fgsm@cnn|first|0.01', 'cnnf|fgsm@cnn|first|0.03']);
  });

  it('sanity probes: large eps, 4x PGD steps continuing the main sweep per distinct path, and a gradient probe, on sanityLimit images', () => {
    const config = adversarial({ sanity: true, sanityLimit: 7, epsilons: [0, 0.01, 0.02, 0.03] });
    const plan = planAdversarial({ config, targets: [cnn, cnnf], sources: new Map(), samples: 20 });
    expect(plan.probes).toEqual([
      'cnn|probe|large-eps|first|0.5',
      'cnn|probe|pgd-steps80|first|0.02',
      'cnn|probe|gradients|first',
      'cnnf|probe|large-eps|first|0.5',
      'cnnf|probe|large-eps|e2e|0.5',
      'cnnf|probe|pgd-steps80|first|0.02',
      'cnnf|probe|pgd-steps80|e2e|0.02',
      'cnnf|probe|gradients|first',
      'cnnf|probe|gradients|e2e',
    ]);
    const probe = plan.units.flatMap((u) => u.cells).find((c) => c.id === 'cnnf|probe|pgd-steps80|e2e|0.02')!;
    expect(probe.attack!.entry.params.steps).toBe(80);
    expect(probe.samples).toBe(7);
    // It continues the main PGD sweep's cells up to its eps (the second largest by default).
    expect(probe.continues!.entry.label).toBe('pgd');
    expect(probe.continues!.epsilons).toEqual([0.01, 0.02]);
    const chosen = planAdversarial({ config: adversarial({ sanity: true, sanityEps: 0.03 }), targets: [cnn], sources: new Map(), samples: 20 });
    expect(chosen.probes).toContain('cnn|probe|pgd-steps80|first|0.03');
  });

  it('refuses an attack the model cannot take before any cell runs, naming the config field: the DLR losses on too few classes', () => {
    const config = adversarial({ attacks: ['apgd-ce', { name: 'apgd-t', params: { targets: 3 } }] });
    // 4 classes: 3 targets fit; 3 classes: no targeted DLR, one line naming the attack, model and class count.
    expect(planAdversarial({ config, targets: [{ ...cnn, numClasses: 4 }], sources: new Map(), samples: 5 }).cells).toContain('cnn|apgd-t|first|0.03');
    expect(() => planAdversarial({ config, targets: [{ ...cnn, numClasses: 3 }], sources: new Map(), samples: 5 })).toThrow(
      'test: attacks[1].params: the targeted DLR loss of apgd-t needs a model of at least 4 classes; model "cnn" has 3 (allowed: apgd-ce, or apgd-dlr (untargeted DLR needs 3 classes))',
    );
    const dlr = adversarial({ attacks: [{ name: 'apgd-dlr', label: 'dlr' }] });
    expect(() => planAdversarial({ config: dlr, targets: [{ ...cnn, numClasses: 2 }], sources: new Map(), samples: 5 })).toThrow(/^test: attacks\[0\]\.params: the DLR loss of apgd-dlr needs a model of at least 3 classes; model "cnn" has 2/);
    const tooMany = adversarial({ attacks: [{ name: 'apgd-t', params: { targets: 10 } }] });
    expect(() => planAdversarial({ config: tooMany, targets: [{ ...cnn, numClasses: 10 }], sources: new Map(), samples: 5 })).toThrow(
      'test: attacks[0].params.targets: 10 target classes, but model "cnn" has only 9 classes besides the true one (allowed: integers 1..9)',
    );
  });

  it('checks the stages of a cascade too (the AutoAttack preset), before any of its cells runs', () => {
    const stages = (targets: number) => [
      { name: 'apgd-ce', cascade: 'aa' },
      { name: 'apgd-t', params: { targets }, cascade: 'aa' },
      { name: 'square', params: { queries: 10 }, cascade: 'aa' },
    ];
    const ok = planAdversarial({ config: adversarial({ attacks: stages(9) }), targets: [{ ...cnn, numClasses: 10 }], sources: new Map(), samples: 5 });
    expect(ok.cells).toContain('cnn|aa|first|0.03');
    expect(() => planAdversarial({ config: adversarial({ attacks: stages(2) }), targets: [{ ...cnn, numClasses: 3 }], sources: new Map(), samples: 5 })).toThrow(
      /^test: attacks\[1\]\.params: the targeted DLR loss of apgd-t needs a model of at least 4 classes; model "cnn" has 3/,
    );
    expect(() => planAdversarial({ config: adversarial({ attacks: stages(10) }), targets: [{ ...cnn, numClasses: 10 }], sources: new Map(), samples: 5 })).toThrow(
      'test: attacks[1].params.targets: 10 target classes, but model "cnn" has only 9 classes besides the true one (allowed: integers 1..9)',
    );
  });

  it('refuses two checkpoints with one name (their cell ids would collide)', () => {
    expect(() => planAdversarial({ config: adversarial(), targets: [cnn, { ...cnnf, name: 'cnn' }], sources: new Map(), samples: 5 })).toThrow(InputError);
  });
});

describe('planCorruption', () => {
  it('one unit per (corruption, severity) holding every checkpoint, after the clean cells', () => {
    const config = validateConfig(
      { suite: 'corruption', checkpoints: ['c/cnn', 'c/cnnf'], corruptions: ['fog', 'brightness'], severities: [3, 1] },
      'test',
    ) as CorruptionConfig;
    const plan = planCorruption({ config, targets: [cnn, cnnf], samples: 10 });
    expect(plan.cells).toEqual([
      'cnn|clean',
      'cnnf|clean',
      'cnn|corruption|fog|1',
      'cnnf|corruption|fog|1',
      'cnn|corruption|fog|3',
      'cnnf|corruption|fog|3',
      'cnn|corruption|brightness|1',
      'cnnf|corruption|brightness|1',
      'cnn|corruption|brightness|3',
      'cnnf|corruption|brightness|3',
    ]);
    expect(plan.units.find((u) => u.id === 'corruption|fog|3')!.cells[0].corruption).toEqual({ name: 'fog', family: 'weather', severity: 3 });
  });
});

describe('sharding', () => {
  const plan = planAdversarial({
    config: adversarial({
      sanity: true,
      attacks: ['fgsm', { name: 'pgd', params: { steps: 40 } }, { name: 'apgd-ce', paths: ['e2e'] }, { name: 'square', limit: 10 }],
    }),
    targets: [cnn, cnnf],
    sources: new Map(),
    samples: 50,
  });

  it('parses i/n and refuses anything else', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/3', '4/3', '1/0', '1-3', 'a/b', '1/3/4'])
      expect(() => parseShard(bad)).toThrow(/^--shard: invalid shard/);
  });

  it.each([1, 2, 3, 5])('the %i shards partition the plan, deterministically and balanced by estimated cost', (n) => {
    const shards = Array.from({ length: n }, (_, i) => shardUnits(plan.units, { index: i + 1, count: n }));
    const ids = shards.flatMap((s) => s.map((u) => u.id));
    expect([...ids].sort()).toEqual(plan.units.map((u) => u.id).sort());
    expect(new Set(ids).size).toBe(ids.length);
    expect(shardUnits(plan.units, { index: 1, count: n }).map((u) => u.id)).toEqual(shards[0].map((u) => u.id));
    // LPT bound: no shard exceeds the mean load by more than the largest unit.
    const total = plan.units.reduce((s, u) => s + u.cost, 0);
    const largest = Math.max(...plan.units.map((u) => u.cost));
    for (const s of shards) expect(s.reduce((a, u) => a + u.cost, 0)).toBeLessThanOrEqual(total / n + largest + 1e-9);
    // Within a shard, units keep plan order.
    for (const s of shards) {
      const pos = s.map((u) => plan.units.indexOf(u));
      expect(pos).toEqual([...pos].sort((a, b) => a - b));
    }
  });
});
