/**
 * `bench run --preset NAME` (src/suite/runner.ts PRESETS): AutoAttack's standard version (fra31/auto-attack
 * autoattack.py, version='standard': apgd-ce 100 steps 1 restart, apgd-t 9 target classes 100 steps, fab-t
 * 9 target classes, square 5000 queries p_init 0.8 with resc_schedule=False) as a cascade, L-inf and L2.
 * The configs must validate: every attack they name must be registered.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { readJsonFile, validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { prepareRun, presetConfigFile, PRESETS } from '../../src/suite/runner.js';
import { listAttacks } from '../../attacks/registry.js';
import { requestFromArgs } from '../../src/cli/run.js';

const STANDARD = [
  { stage: 'apgd-ce', params: { steps: 100, restarts: 1 } },
  { stage: 'apgd-t', params: { steps: 100, restarts: 1, targets: 9 } },
  { stage: 'fab-t', params: { targets: 9 } },
  { stage: 'square', params: { queries: 5000, pInit: 0.8, rescaleSchedule: false } },
];

describe('presets', () => {
  for (const [name, norm] of [['autoattack', 'linf'], ['autoattack-l2', 'l2']] as const) {
    it(`${name}: AutoAttack's standard ${norm} cascade, gradient stages through the exact path, every attack registered`, () => {
      const raw = readJsonFile(presetConfigFile(name)) as { attacks: { name: string; params: Record<string, unknown>; paths?: string[]; cascade: string }[] };
      const suffix = norm === 'l2' ? '-l2' : '';
      expect(raw.attacks.map((a) => a.name)).toEqual(STANDARD.map((s) => `${s.stage}${suffix}`));
      raw.attacks.forEach((a, i) => {
        expect(a.params).toMatchObject(STANDARD[i].params);
        expect(a.cascade).toBe(name);
        if (i < 3) expect(a.paths).toEqual(['exact']);
      });
      const registered = listAttacks().map((a) => a.name);
      const missing = raw.attacks.map((a) => a.name).filter((n) => !registered.includes(n));
      expect(missing, `attacks the preset names but the registry lacks`).toEqual([]);
      const config = validateConfig(raw, name) as AdversarialConfig;
      expect(new Set(listAttacks().filter((a) => config.attacks.some((e) => e.name === a.name)).map((a) => a.threatModel))).toEqual(new Set([norm]));
    });
  }

  it('an unknown preset, or a preset with --config, is one line naming --preset', async () => {
    await expect(prepareRun({ preset: 'autoatack' })).rejects.toThrow(/--preset: unknown preset "autoatack" \(did you mean "autoattack"\?\)/);
    await expect(prepareRun({ preset: 'autoattack', configFile: 'configs/ci.json' })).rejects.toThrow(InputError);
    await expect(prepareRun({ preset: 'autoattack', resume: '/nonexistent' })).rejects.toThrow(/--preset: --resume continues a run with its own settings/);
    expect(Object.keys(PRESETS)).toEqual(['autoattack', 'autoattack-l2']);
    expect(requestFromArgs({ preset: 'autoattack', quiet: true, workers: 1, reporter: 'terminal' }).preset).toBe('autoattack');
  });
});
