import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { applyOverrides, CONFIG_KEYS, readJsonFile, validateConfig, type AdversarialConfig, type CorruptionConfig } from '../../src/suite/config.js';

const adversarial = (extra: Record<string, unknown> = {}) => ({
  suite: 'adversarial',
  checkpoints: [{ dir: 'checkpoints/cnn-fmnist' }],
  attacks: [{ name: 'pgd' }],
  epsilons: [0, 0.03],
  ...extra,
});
const corruption = (extra: Record<string, unknown> = {}) => ({ suite: 'corruption', checkpoints: ['checkpoints/cnn-fmnist'], ...extra });

/** The InputError message validateConfig throws (fails the test if it does not throw one). */
function errorOf(raw: unknown, origins: Record<string, string> = {}): string {
  try {
    validateConfig(raw, 'my.json', origins);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected an InputError');
}

describe('epsilons are validated per threat model (issue 13, item 7)', () => {
  // The diagonal of the 28x28x1 image box, the largest L2 distance between two images in [0,1].
  const L2_MAX = Math.sqrt(28 * 28 * 1);

  it('an L2 attack accepts the usual radii for 28x28 images (1.5 to 3); an L-inf attack refuses 3 in one line naming the field and range', () => {
    const l2 = validateConfig(adversarial({ attacks: [{ name: 'pgd-l2' }], epsilons: [0, 1.5, 3] }), 'my.json') as AdversarialConfig;
    expect(l2.epsilons).toEqual([0, 1.5, 3]);
    expect(errorOf(adversarial({ attacks: [{ name: 'pgd' }], epsilons: [0, 3] }))).toBe(
      'my.json: epsilons[1]: invalid epsilon 3 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))',
    );
    // L2 up to the diagonal of the input box, not beyond.
    expect((validateConfig(adversarial({ attacks: ['pgd-l2'], epsilons: [L2_MAX] }), 'x') as AdversarialConfig).epsilons).toEqual([28]);
    expect(errorOf(adversarial({ attacks: ['pgd-l2'], epsilons: [0, 28.5] }))).toBe(
      'my.json: epsilons[1]: invalid epsilon 28.5 for the L2 attack pgd-l2 (attacks[0]) ' +
        '(allowed: finite numbers in [0, 28] (L2 radius in [0,1] pixel units, the diagonal sqrt(28x28x1) of the image box))',
    );
  });

  it('a shared list must fit every attack that uses it; per-attack epsilons give each threat model its own radii', () => {
    // 1.5 is an L2 radius: the L-inf attack sharing the list refuses it.
    expect(errorOf(adversarial({ attacks: ['pgd-l2', 'fgsm'], epsilons: [0, 1.5] }))).toContain('my.json: epsilons[1]: invalid epsilon 1.5 for the L-inf attack fgsm (attacks[1])');
    const mixed = validateConfig(
      adversarial({ attacks: [{ name: 'pgd' }, { name: 'pgd-l2', epsilons: [3, 0, 1.5] }], epsilons: [0, 0.03] }),
      'my.json',
    ) as AdversarialConfig;
    expect(mixed.attacks[1].epsilons).toEqual([0, 1.5, 3]);
    expect(mixed.attacks[0].epsilons).toBeUndefined();
    expect(mixed.epsilons).toEqual([0, 0.03]);
    // Per-attack lists are checked against their own attack's threat model, with the field named.
    expect(errorOf(adversarial({ attacks: [{ name: 'pgd', epsilons: [0, 3] }] }))).toBe(
      'my.json: attacks[0].epsilons[1]: invalid epsilon 3 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))',
    );
    // The suite's list is optional when every attack has its own, required otherwise.
    const own = validateConfig({ suite: 'adversarial', checkpoints: ['c'], attacks: [{ name: 'pgd-l2', epsilons: [0, 2] }] }, 'x') as AdversarialConfig;
    expect(own.attacks[0].epsilons).toEqual([0, 2]);
    expect(errorOf({ suite: 'adversarial', checkpoints: ['c'], attacks: [{ name: 'pgd-l2', epsilons: [0, 2] }, 'pgd'] })).toContain('my.json: epsilons: is required');
  });

  it('--epsilons sets the radii of every attack, each checked against its own threat model', () => {
    const cfg = adversarial({ attacks: [{ name: 'pgd-l2', epsilons: [0, 3] }] });
    const { raw, origins } = applyOverrides(cfg, { epsilons: '0,1.5' });
    const c = validateConfig(raw, 'my.json', origins) as AdversarialConfig;
    expect([c.epsilons, c.attacks[0].epsilons]).toEqual([[0, 1.5], undefined]);
    const both = applyOverrides(adversarial({ attacks: ['pgd', 'pgd-l2'] }), { epsilons: '0,1.5' });
    expect(errorOf(both.raw, both.origins)).toBe(
      '--epsilons: invalid epsilon 1.5 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))',
    );
  });
});

describe('suite config validation: one line naming file, field and allowed values', () => {
  it.each([
    ['unknown top-level key, closest suggested', adversarial({ epsilon: [0.1] }), 'my.json: epsilon: unknown key (did you mean "epsilons"?)'],
    ['unknown attack, closest suggested', adversarial({ attacks: [{ name: 'pgdd' }] }), 'my.json: attacks[0].name: unknown attack "pgdd" (did you mean "pgd"?) (allowed: fgsm, pgd, pgd-l2, apgd-ce, apgd-ce-l2, apgd-dlr, apgd-dlr-l2, apgd-t, apgd-t-l2, fab-t, fab-t-l2, square, square-l2, spsa, fmn, fmn-l2)'],
    ['unknown attack param', adversarial({ attacks: [{ name: 'pgd', params: { stepz: 3 } }] }), 'my.json: attacks[0].params.stepz: unknown parameter'],
    ['eps above 1', adversarial({ epsilons: [0, 2] }), 'my.json: epsilons[1]: invalid epsilon 2 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))'],
    ['eps negative', adversarial({ epsilons: [-0.1] }), 'my.json: epsilons[0]: invalid epsilon -0.1'],
    ['eps not a number', adversarial({ epsilons: ['0.1'] }), 'my.json: epsilons[0]: invalid epsilon "0.1"'],
    ['duplicate eps', adversarial({ epsilons: [0.1, 0.1] }), 'my.json: epsilons: epsilon 0.1 is listed twice'],
    ['empty eps list', adversarial({ epsilons: [] }), 'my.json: epsilons: must be a non-empty list'],
    ['empty attack list', adversarial({ attacks: [] }), 'my.json: attacks: must be a non-empty list'],
    ['empty checkpoint list', adversarial({ checkpoints: [] }), 'my.json: checkpoints: must be a non-empty list'],
    ['batch size zero', adversarial({ batchSize: 0 }), 'my.json: batchSize: invalid value 0 (allowed: a positive integer)'],
    ['batch size fractional', adversarial({ batchSize: 1.5 }), 'my.json: batchSize: invalid value 1.5 (allowed: a positive integer)'],
    ['bad output', adversarial({ output: 'final' }), 'my.json: output: invalid value "final" (allowed: first, last, average (CNN-F), logits (TF.js models))'],
    ['bad path', adversarial({ attacks: [{ name: 'pgd', paths: ['e2e', 'full'] }] }), 'my.json: attacks[0].paths[1]: invalid path "full" (allowed: first, e2e, bpda (CNN-F), direct (TF.js models), exact (each model\'s exact gradient: e2e, direct))'],
    ['paths on a score-based attack', adversarial({ attacks: [{ name: 'square', paths: ['e2e'] }] }), 'my.json: attacks[0].paths: square is score-based'],
    ['unknown checkpoint key', adversarial({ checkpoints: [{ dir: 'x', outptu: 'last' }] }), 'my.json: checkpoints[0].outptu: unknown key (did you mean "output"?)'],
    ['missing suite', { checkpoints: ['x'] }, 'my.json: suite: is required (allowed: adversarial, corruption)'],
    ['missing epsilons', { suite: 'adversarial', checkpoints: ['x'], attacks: ['pgd'] }, 'my.json: epsilons: is required'],
    ['colliding labels', adversarial({ attacks: ['pgd', { name: 'pgd', params: { steps: 40 } }] }), 'my.json: attacks[1]: two attacks are labelled "pgd"'],
    ['severity 0', corruption({ severities: [0, 1] }), 'my.json: severities[0]: invalid severity 0 (allowed: integers 1..5)'],
    ['severity 6', corruption({ severities: [6] }), 'my.json: severities[0]: invalid severity 6 (allowed: integers 1..5)'],
    ['severity fractional', corruption({ severities: [2.5] }), 'my.json: severities[0]: invalid severity 2.5'],
    ['unknown corruption, closest suggested', corruption({ corruptions: ['gausian_noise'] }), 'my.json: corruptions[0]: unknown corruption "gausian_noise" (did you mean "gaussian_noise"?)'],
    ['adversarial key in a corruption config', corruption({ epsilons: [0.1] }), 'my.json: epsilons: unknown key'],
    ['misspelt suite, closest suggested', { suite: 'adversrial', checkpoints: ['x'] }, 'my.json: suite: unknown suite "adversrial" (did you mean "adversarial"?) (allowed: adversarial, corruption)'],
    ['misspelt output, closest suggested', adversarial({ output: 'lst' }), 'my.json: output: invalid value "lst" (did you mean "last"?) (allowed: first, last, average (CNN-F), logits (TF.js models))'],
    ['misspelt path, closest suggested', adversarial({ attacks: [{ name: 'pgd', paths: ['e2d'] }] }), 'my.json: attacks[0].paths[0]: invalid path "e2d" (did you mean "e2e"?) (allowed: first, e2e, bpda (CNN-F), direct (TF.js models), exact (each model\'s exact gradient: e2e, direct))'],
    ['misspelt attack param value, closest suggested', adversarial({ attacks: [{ name: 'pgd', params: { loss: 'marginn' } }] }), 'my.json: attacks[0].params.loss: invalid value "marginn" (did you mean "margin"?) (allowed: ce, margin)'],
    ['misspelt attack param name, closest suggested', adversarial({ attacks: [{ name: 'pgd', params: { stepsize: 0.01 } }] }), 'my.json: attacks[0].params.stepsize: unknown parameter (did you mean "stepSize"?)'],
    ['unknown attack far from every name: no suggestion', adversarial({ attacks: ['xyzzy'] }), 'my.json: attacks[0].name: unknown attack "xyzzy" (allowed: fgsm, pgd,'],
    ['a megabyte-long value is cut in the message', adversarial({ output: 'x'.repeat(1 << 20) }), `my.json: output: invalid value "${'x'.repeat(58)}… (allowed: first, last, average (CNN-F), logits (TF.js models))`],
    ['a key with a newline stays on one line', adversarial({ 'a\nb': 1 }), 'my.json: a\\nb: unknown key'],
  ])('%s', (_what, raw, expected) => {
    expect(errorOf(raw)).toContain(expected);
  });

  it('errors of a field a flag overrode name the flag', () => {
    const { raw, origins } = applyOverrides(adversarial(), { epsilons: '0,0.05,1.5' });
    expect(errorOf(raw, origins)).toBe('--epsilons: invalid epsilon 1.5 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))');
    const bad = applyOverrides(adversarial(), { batchSize: 0 });
    expect(errorOf(bad.raw, bad.origins)).toBe('--batch-size: invalid value 0 (allowed: a positive integer)');
    expect(() => applyOverrides(adversarial(), { epsilons: '0,abc' })).toThrow('--epsilons: "abc" is not a number');
    expect(() => applyOverrides(adversarial(), { epsilons: 'Infinity' })).toThrow('--epsilons: "Infinity" is not a number');
    expect(() => applyOverrides(corruption(), { epsilons: '0.1' })).toThrow('--epsilons: applies to the adversarial suite only');
  });

  it('fills defaults, sorts epsilons and severities, resolves "all" and attack params', () => {
    const a = validateConfig(adversarial({ epsilons: [0.1, 0, 0.03] }), 'x') as AdversarialConfig;
    expect(a.epsilons).toEqual([0, 0.03, 0.1]);
    // No output or paths: each model's own default output and every gradient path it declares (runner, planner).
    expect([a.output, a.labels, a.limit, a.offset, a.batchSize, a.seed, a.sanity]).toEqual([undefined, 'dataset', 1000, 0, 100, 0, true]);
    expect(a.attacks[0]).toMatchObject({ name: 'pgd', label: 'pgd' });
    expect(a.attacks[0].paths).toBeUndefined();
    expect(a.attacks[0].params.steps).toBe(20); // PGD's registry default
    const c = validateConfig(corruption({ severities: [5, 1] }), 'x') as CorruptionConfig;
    expect(c.severities).toEqual([1, 5]);
    expect(c.corruptions).toContain('gaussian_noise');
    expect(c.corruptions.length).toBeGreaterThanOrEqual(15);
  });

  it('--attacks keeps the config entries it names (with their params) and adds defaults for other names', () => {
    const base = adversarial({ attacks: [{ name: 'pgd', params: { steps: 5 } }, 'fgsm', { name: 'square', limit: 10 }] });
    const { raw } = applyOverrides(base, { attacks: 'pgd,apgd-ce' });
    const a = validateConfig(raw, 'x') as AdversarialConfig;
    expect(a.attacks.map((e) => e.label)).toEqual(['pgd', 'apgd-ce']);
    expect(a.attacks[0].params.steps).toBe(5);
  });

  it('--checkpoints keeps the corruption baseline only when it is among the new checkpoints', () => {
    const raw = corruption({ baseline: 'cnn-fmnist' });
    const kept = applyOverrides(raw, { checkpoints: 'a/cnnf-fmnist,checkpoints/cnn-fmnist' }).raw as Record<string, unknown>;
    expect(kept.baseline).toBe('cnn-fmnist');
    const dropped = applyOverrides(raw, { checkpoints: '/tmp/x,/tmp/y' }).raw as Record<string, unknown>;
    expect(dropped.baseline).toBeUndefined();
  });

  it('a checkpoint entry may name the command that creates it (createWith, a non-empty string)', () => {
    const a = validateConfig(adversarial({ checkpoints: [{ dir: 'm/x', createWith: 'bench import X.pt --out m/x' }] }), 'x');
    expect(a.checkpoints[0]).toEqual({ dir: 'm/x', createWith: 'bench import X.pt --out m/x' });
    expect(() => validateConfig(adversarial({ checkpoints: [{ dir: 'm/x', createWith: 3 }] }), 'x')).toThrow(/checkpoints\[0\]\.createWith/);
  });

  it('a validated config re-validates to itself (what --resume reads back from run.json)', () => {
    const a = validateConfig(readJsonFile('configs/paper-fmnist.json'), 'x');
    const again = validateConfig(JSON.parse(JSON.stringify(a)), 'run.json');
    expect(again).toEqual(JSON.parse(JSON.stringify(a)));
  });

  it('also when every attack entry has its own epsilons (no suite list: run.json records epsilons [])', () => {
    const a = validateConfig(
      { suite: 'adversarial', checkpoints: ['c'], attacks: [{ name: 'pgd', epsilons: [0, 0.03] }, { name: 'pgd-l2', epsilons: [0, 1.5] }] },
      'x',
    ) as AdversarialConfig;
    expect(a.epsilons).toEqual([]);
    const again = validateConfig(JSON.parse(JSON.stringify(a)), 'run.json');
    expect(again).toEqual(JSON.parse(JSON.stringify(a)));
    // An entry without its own list still needs a non-empty suite list.
    expect(() => validateConfig({ suite: 'adversarial', checkpoints: ['c'], attacks: ['pgd'], epsilons: [] }, 'x')).toThrow(/x: epsilons: must be a non-empty list/);
  });
});

describe('shipped configs and their schemas', () => {
  const schema = (name: string) => JSON.parse(readFileSync(`configs/${name}.schema.json`, 'utf8'));

  it.each(['adversarial', 'paper-fmnist', 'paper-cifar10', 'corruption', 'ci'])('configs/%s.json validates and names its schema', (name) => {
    const raw = readJsonFile(`configs/${name}.json`) as Record<string, unknown>;
    const config = validateConfig(raw, name);
    expect(raw.$schema).toBe(`./${config.suite}.schema.json`);
  });

  it('each schema accepts exactly the keys the validator accepts', () => {
    const adv = schema('adversarial');
    expect(Object.keys(adv.properties).sort()).toEqual([...CONFIG_KEYS.adversarial].sort());
    expect(Object.keys(adv.properties.attacks.items.oneOf[1].properties).sort()).toEqual([...CONFIG_KEYS.attack].sort());
    expect(Object.keys(adv.properties.checkpoints.items.oneOf[1].properties).sort()).toEqual([...CONFIG_KEYS.checkpoint].sort());
    expect(Object.keys(schema('corruption').properties).sort()).toEqual([...CONFIG_KEYS.corruption].sort());
  });

  it('the schemas list every registered attack and corruption', async () => {
    const { listAttacks } = await import('../../attacks/registry.js');
    const { CORRUPTION_NAMES } = await import('../../corruptions/registry.js');
    expect(schema('adversarial').properties.attacks.items.oneOf[1].properties.name.enum.sort()).toEqual(listAttacks().map((a) => a.name).sort());
    expect(schema('corruption').properties.corruptions.oneOf[1].items.enum.sort()).toEqual([...CORRUPTION_NAMES].sort());
  });
});
