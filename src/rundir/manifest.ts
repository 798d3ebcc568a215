/**
 * run.json (RunManifest, records.ts): the format versions, the plan record, and the checks every reader
 * (report, compare, merge, --resume) applies before trusting a manifest.
 *
 * bench-run/2 (written since issue 14) records the whole run's plan in every run directory, shards
 * included:
 *
 *   cells:  [ids]        the cells this directory computes (whole plan, or the shard's part), plan order
 *   probes: [ids]        likewise for the sanity probes
 *   plan:   { cells: [every planned cell id], probes: [every planned probe id],
 *             units: [{ id, cells: [ids], probes: [ids], cost }] }        the whole run, in plan order
 *   shard:  null | { index, count, units: [unit ids] }                     the shard's units, plan order
 *
 * so `bench merge` checks that the shards' unit sets partition one plan and takes the union in plan
 * order, without re-planning. bench-run/1 directories (no `plan`, no `shard.units`) are still read;
 * merging bench-run/1 shards falls back to re-planning (src/compare/planOrder.ts).
 */
import { inputError } from '../engine/errors.js';
import type { PlanUnitRecord, RunFormat, RunManifest, RunPlan } from './records.js';

/** The format this version writes. */
export const RUN_FORMAT: RunFormat = 'bench-run/2';
/** The formats this version reads. */
export const RUN_FORMATS: readonly RunFormat[] = ['bench-run/1', 'bench-run/2'];

/**
 * What the plan record needs of a planner unit (src/suite/planner.ts PlanUnit): in units of a probe kind
 * (`probe-attack`, `probe-gradients`) the cells are sanity probes, as the planner lists them.
 */
export interface PlannedUnit {
  id: string;
  kind: string;
  cells: readonly { id: string }[];
  gradientProbes: readonly { id: string }[];
  cost: number;
}

/** A planner unit as run.json records it. */
export function unitRecord(unit: PlannedUnit): PlanUnitRecord {
  const probeKind = unit.kind.startsWith('probe');
  return {
    id: unit.id,
    cells: probeKind ? [] : unit.cells.map((c) => c.id),
    probes: [...(probeKind ? unit.cells.map((c) => c.id) : []), ...unit.gradientProbes.map((g) => g.id)],
    cost: unit.cost,
  };
}

/** The plan record of a whole run from the planner's units, in plan order. */
export function planRecord(units: readonly PlannedUnit[]): RunPlan {
  const records = units.map(unitRecord);
  return { cells: records.flatMap((u) => u.cells), probes: records.flatMap((u) => u.probes), units: records };
}

/** The cells and probes of the plan's units `unitIds` (a shard), in plan order. */
export function planPart(plan: RunPlan, unitIds: readonly string[]): { cells: string[]; probes: string[] } {
  const chosen = new Set(unitIds);
  const units = plan.units.filter((u) => chosen.has(u.id));
  return { cells: units.flatMap((u) => u.cells), probes: units.flatMap((u) => u.probes) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIdList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** First index where two lists differ, for messages. */
function firstMismatch(a: readonly string[], b: readonly string[]): string {
  const i = a.findIndex((x, k) => x !== b[k]);
  const at = i < 0 ? Math.min(a.length, b.length) : i;
  return `[${at}] ${JSON.stringify(a[at] ?? '(end)')} vs ${JSON.stringify(b[at] ?? '(end)')}`;
}

/** Checks bench-run/2's `plan` and `shard.units` and that `cells`/`probes` are the shard's part of the plan. */
function checkPlan(file: string, v: Record<string, unknown>): void {
  const plan = v.plan;
  if (!isObject(plan) || !isIdList(plan.cells) || !isIdList(plan.probes) || !Array.isArray(plan.units))
    throw inputError(file, 'plan: missing or malformed', '{"cells": [ids], "probes": [ids], "units": [{"id", "cells", "probes", "cost"}]} (bench-run/2)');
  const ids = new Set<string>();
  const records = new Set<string>();
  for (const [i, u] of (plan.units as unknown[]).entries()) {
    if (!isObject(u) || typeof u.id !== 'string' || !isIdList(u.cells) || !isIdList(u.probes) || typeof u.cost !== 'number' || !Number.isFinite(u.cost))
      throw inputError(file, `plan.units[${i}]: malformed`, '{"id": string, "cells": [ids], "probes": [ids], "cost": number}');
    if (ids.has(u.id)) throw inputError(file, `plan.units[${i}]: unit id ${JSON.stringify(u.id)} appears twice`, 'unique unit ids');
    ids.add(u.id);
    for (const id of [...u.cells, ...u.probes]) {
      if (records.has(id)) throw inputError(file, `plan.units[${i}]: record ${JSON.stringify(id)} is planned twice`, 'each cell and probe in one unit');
      records.add(id);
    }
  }
  const units = plan.units as PlanUnitRecord[];
  for (const kind of ['cells', 'probes'] as const) {
    const joined = units.flatMap((u) => u[kind]);
    if (!sameList(plan[kind] as string[], joined))
      throw inputError(file, `plan.${kind}: not the units' ${kind} in unit order (${firstMismatch(plan[kind] as string[], joined)})`, `plan.${kind} = plan.units[*].${kind}, concatenated`);
  }
  let part = units.map((u) => u.id);
  if (v.shard !== null) {
    const shard = v.shard as Record<string, unknown>;
    if (!isIdList(shard.units)) throw inputError(file, 'shard.units: missing or not a list of unit ids', 'the ids of the plan units this shard runs (bench-run/2)');
    const unknown = shard.units.find((id) => !ids.has(id));
    if (unknown !== undefined) throw inputError(file, `shard.units: ${JSON.stringify(unknown)} is not a unit of the plan`, 'ids from plan.units');
    const inOrder = part.filter((id) => (shard.units as string[]).includes(id));
    if (!sameList(shard.units, inOrder)) throw inputError(file, 'shard.units: repeated or not in plan order', 'distinct unit ids in plan order');
    part = shard.units;
  }
  const want = planPart(plan as unknown as RunPlan, part);
  for (const kind of ['cells', 'probes'] as const)
    if (!isIdList(v[kind]) || !sameList(v[kind] as string[], want[kind]))
      throw inputError(
        file,
        `${kind}: not the ${v.shard === null ? "plan's" : "shard's units'"} ${kind} (${isIdList(v[kind]) ? firstMismatch(v[kind] as string[], want[kind]) : 'missing'})`,
        `the ${kind} of ${v.shard === null ? 'plan.units' : 'shard.units'}, in plan order`,
      );
}

/**
 * Checks a parsed run.json (`file` names it in messages) and returns it as a RunManifest: a known format,
 * the lists and objects readers rely on, and for bench-run/2 a consistent plan (checkPlan). Throws an
 * InputError (one line naming the file and field) otherwise.
 */
export function checkManifest(file: string, v: unknown): RunManifest {
  if (!isObject(v)) throw inputError(file, 'run manifest is not a JSON object');
  if (!RUN_FORMATS.includes(v.format as RunFormat))
    throw inputError(file, `format: ${JSON.stringify(v.format)} is not a run manifest`, RUN_FORMATS.map((f) => JSON.stringify(f)).join(', '));
  for (const field of ['checkpoints', 'cells', 'sampleIndices'] as const)
    if (!Array.isArray(v[field])) throw inputError(file, `${field}: missing or not an array`);
  if (!isObject(v.config)) throw inputError(file, 'config: missing or not an object');
  if (v.shard !== null && v.shard !== undefined && !isObject(v.shard)) throw inputError(file, 'shard: not an object', 'null, or {"index": i, "count": n, ...}');
  if (v.format === 'bench-run/2') {
    if (v.shard === undefined) throw inputError(file, 'shard: missing', 'null, or {"index": i, "count": n, "units": [unit ids]}');
    checkPlan(file, v);
  }
  return v as unknown as RunManifest;
}
