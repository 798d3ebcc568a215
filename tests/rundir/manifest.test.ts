/**
 * run.json formats (src/rundir/manifest.ts): the plan record made from the planner's units, and the
 * checks readers apply to bench-run/2 manifests, while bench-run/1 manifests keep being read.
 */
import { describe, expect, it } from 'vitest';
import { checkManifest, planPart, planRecord } from '../../src/rundir/manifest.js';
import type { RunManifest } from '../../src/rundir/records.js';
import { validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { planAdversarial, restrictPlan, shardUnits, type ModelInfo } from '../../src/suite/planner.js';
import { checkpointRef, manifest } from '../compare/fixtures.js';

const refs = [checkpointRef('cnn-a', 0), checkpointRef('cnnf-b', 1)];
const config = validateConfig(
  { suite: 'adversarial', checkpoints: refs.map((r) => ({ dir: r.dir })), attacks: ['fgsm', 'pgd'], epsilons: [0, 0.1], limit: 20, sanityLimit: 10 },
  'cfg.json',
) as AdversarialConfig;
const targets: ModelInfo[] = refs.map((r) => ({ name: r.name, dir: r.dir, cycles: r.cycles, output: r.output }));
const plan = planAdversarial({ config, targets, sources: new Map(), samples: 20 });

/** A bench-run/2 manifest as the runner writes it: the whole plan, and shard `index` of `count` (or none). */
function v2(shard: { index: number; count: number } | null): RunManifest & { probes: string[] } {
  const units = shard ? shardUnits(plan.units, shard) : plan.units;
  const part = restrictPlan(plan, units);
  return {
    ...manifest(refs, 20, part.cells),
    format: 'bench-run/2',
    shard: shard ? { ...shard, units: units.map((u) => u.id) } : null,
    probes: part.probes,
    plan: planRecord(plan.units),
  };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('the plan record', () => {
  it("lists every cell and probe of the planner's plan in its order, each in its unit; probe units' cells are probes", () => {
    const rec = planRecord(plan.units);
    expect(rec.cells).toEqual(plan.cells);
    expect(rec.probes).toEqual(plan.probes);
    expect(rec.units.map((u) => u.id)).toEqual(plan.units.map((u) => u.id));
    expect(rec.units.map((u) => u.cost)).toEqual(plan.units.map((u) => u.cost));
    const probeUnit = plan.units.find((u) => u.kind === 'probe-attack')!;
    expect(rec.units.find((u) => u.id === probeUnit.id)).toMatchObject({ cells: [], probes: probeUnit.cells.map((c) => c.id) });
    // A shard's part of the recorded plan is what the runner's restrictPlan gives it.
    const units = shardUnits(plan.units, { index: 2, count: 3 });
    const part = restrictPlan(plan, units);
    expect(planPart(rec, units.map((u) => u.id))).toEqual({ cells: part.cells, probes: part.probes });
  });
});

describe('checkManifest', () => {
  it('accepts bench-run/1 (no plan) and consistent bench-run/2 manifests, whole or sharded', () => {
    expect(() => checkManifest('run.json', manifest(refs, 20, plan.cells))).not.toThrow();
    expect(() => checkManifest('run.json', v2(null))).not.toThrow();
    for (const index of [1, 2, 3]) expect(() => checkManifest('run.json', v2({ index, count: 3 }))).not.toThrow();
  });

  it('refuses an unknown format and inconsistent bench-run/2 plans in one line naming the field', () => {
    const at = (m: unknown) => {
      try {
        checkManifest('d/run.json', m);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(at({ ...v2(null), format: 'bench-run/3' })).toBe('d/run.json: format: "bench-run/3" is not a run manifest (allowed: "bench-run/1", "bench-run/2")');
    expect(at({ ...v2(null), plan: undefined })).toMatch(/^d\/run\.json: plan: missing or malformed/);

    const swapped = clone(v2(null));
    swapped.plan!.cells = [...swapped.plan!.cells].reverse();
    expect(at(swapped)).toMatch(/^d\/run\.json: plan\.cells: not the units' cells in unit order \(\[0\] /);

    const twice = clone(v2(null));
    twice.plan!.units[1].cells.push(twice.plan!.units[0].cells[0]);
    expect(at(twice)).toMatch(/^d\/run\.json: plan\.units\[1\]: record ".*" is planned twice/);

    const sharded = clone(v2({ index: 1, count: 3 }));
    sharded.shard!.units = [...sharded.shard!.units!, 'no-such-unit'];
    expect(at(sharded)).toBe('d/run.json: shard.units: "no-such-unit" is not a unit of the plan (allowed: ids from plan.units)');

    const missingUnits = clone(v2({ index: 1, count: 3 }));
    delete missingUnits.shard!.units;
    expect(at(missingUnits)).toMatch(/^d\/run\.json: shard\.units: missing/);

    const extraCell = clone(v2({ index: 1, count: 3 }));
    extraCell.cells = [...extraCell.cells, v2({ index: 2, count: 3 }).cells[0]];
    expect(at(extraCell)).toMatch(/^d\/run\.json: cells: not the shard's units' cells/);

    const wholeButShort = clone(v2(null));
    wholeButShort.probes = wholeButShort.probes.slice(1);
    expect(at(wholeButShort)).toMatch(/^d\/run\.json: probes: not the plan's probes/);
    for (const m of [swapped, twice, sharded, extraCell]) expect(at(m)).not.toContain('\n');
  });
});
