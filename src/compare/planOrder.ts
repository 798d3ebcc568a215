/**
 * The full plan of a sharded bench-run/1 run, rebuilt from a shard's run.json: the fallback for shards
 * written before run.json recorded the whole plan (bench-run/2 shards are merged from their recorded
 * `plan`, src/rundir/manifest.ts; nothing here runs for them). A bench-run/1 shard records only
 * its own shard's cells and probes in run.json, each list in plan order; the interleaving of the shards'
 * lists is not recoverable from the lists alone, so the planner is run again on the recorded config and
 * checkpoints (it is deterministic and needs no model or image: names, cycles and outputs are in
 * run.json). The one thing run.json does not record is the feedback depth of a transfer source outside
 * the run's checkpoints; every choice (feedforward or not) is tried and the plan that yields exactly the
 * shards' cells is taken.
 */
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import type { RunManifest } from '../rundir/records.js';
import { validateConfig } from '../suite/config.js';
import { planAdversarial, planCorruption, type ModelInfo, type Plan } from '../suite/planner.js';

export interface PlanOrder {
  cells: string[];
  probes: string[];
}

const trimDir = (d: string) => d.replace(/\/+$/, '').replace(/^\.\//, '');
const sameSet = (a: readonly string[], b: ReadonlySet<string>) => a.length === b.size && a.every((x) => b.has(x));

/** At most 2^MAX_UNKNOWN_SOURCES plans are tried. */
const MAX_UNKNOWN_SOURCES = 6;

/**
 * The plan's cell and probe order for the run `manifest` describes, chosen among the candidate plans as
 * the one whose cells and probes are exactly `cells` and `probes` (the union over the shards).
 */
export function rebuildPlanOrder(manifest: RunManifest, dir: string, cells: ReadonlySet<string>, probes: ReadonlySet<string>): PlanOrder {
  const where = join(dir, 'run.json');
  const config = validateConfig(manifest.config, `${where}: config`);
  const samples = manifest.sampleIndices.length;
  const targets: ModelInfo[] = manifest.checkpoints.map((c) => ({
    name: c.name,
    dir: c.dir,
    cycles: c.cycles ?? 0,
    output: c.output,
    ...(c.gradientPaths ? { gradientPaths: c.gradientPaths } : {}),
  }));
  const candidates: Plan[] = [];
  if (config.suite === 'corruption') {
    candidates.push(planCorruption({ config, targets, samples }));
  } else {
    const known = new Map<string, ModelInfo>();
    const unknown: string[] = [];
    for (const entry of config.attacks) {
      const from = entry.transferFrom;
      if (!from || known.has(from) || unknown.includes(from)) continue;
      const t = targets.find((x) => x.name === from) ?? targets.find((x) => trimDir(x.dir) === trimDir(from));
      if (t) known.set(from, t);
      else unknown.push(from);
    }
    if (unknown.length > MAX_UNKNOWN_SOURCES)
      throw inputError(where, `${unknown.length} transfer sources outside the run; cannot rebuild the plan order`, `at most ${MAX_UNKNOWN_SOURCES}`);
    for (let mask = 0; mask < 2 ** unknown.length; mask++) {
      const sources = new Map(known);
      unknown.forEach((from, i) =>
        sources.set(from, { name: trimDir(from).split('/').pop() ?? from, dir: from, cycles: (mask >> i) & 1, output: config.output ?? 'last' }),
      );
      candidates.push(planAdversarial({ config, targets, sources, samples }));
    }
  }
  const plan = candidates.find((p) => sameSet(p.cells, cells) && sameSet(p.probes, probes));
  if (!plan)
    throw inputError(
      where,
      `the shards' cells (${cells.size}) and probes (${probes.size}) are not the plan of the recorded config (${candidates[0].cells.length} cells, ${candidates[0].probes.length} probes)`,
      'every shard of one `bench run --shard i/n` sharding, made by this version of bench',
    );
  return { cells: plan.cells, probes: plan.probes };
}
