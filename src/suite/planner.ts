/**
 * The sweep planner: turns a validated config and the loaded checkpoints' shapes into cells, grouped in
 * units that execute together (an attack's epsilon sweep must run in ascending order, since a sample
 * broken at a smaller eps counts as broken at the larger ones), ordered deterministically, with a rough
 * cost estimate per unit for balanced sharding.
 */
import { inputError } from '../engine/errors.js';
import { EXACT_PATH } from '../models/classifier.js';

import { getAttack } from '../../attacks/registry.js';
import { getCorruption } from '../../corruptions/registry.js';
import { chooseProbeAttack } from './probeAttack.js';
import { attackParamsLocation, epsilonsFor, type AdversarialConfig, type AttackEntry, type CorruptionConfig } from './config.js';
import type { CellKind } from '../rundir/records.js';

/** What the planner needs to know of a model. */
export interface ModelInfo {
  name: string;
  dir: string;
  /** CNN-F feedback cycles (0 for feedforward models): the cost model and which paths differ. */
  cycles: number;
  /** The prediction output used. */
  output: string;
  /** Classes the model scores (absent: not checked); attacks refuse models they cannot attack (Attack.checkModel). */
  numClasses?: number;
  /**
   * Gradient paths the model declares (absent: CNN-F's first, e2e, bpda, as every run before models
   * declared them). An attack entry without `paths` attacks through all of them.
   */
  gradientPaths?: readonly string[];
  /** The model's exact gradient path, what `exact` in a config means (absent: CNN-F's e2e). */
  exactPath?: string;
  /**
   * Cost of one forward pass relative to the Fashion-MNIST CNN's (35.66 MFLOP per image), from the
   * family's FLOP count; absent = 1 (CNN-F checkpoints keep the measured cycle-based model below).
   */
  costScale?: number;
}

/** CNN-F's gradient paths: what models recorded before issue 14 (no `gradientPaths`) offer. */
const CNNF_PATHS: readonly string[] = ['first', 'e2e', 'bpda'];

export const gradientPathsOf = (model: ModelInfo): readonly string[] => model.gradientPaths ?? CNNF_PATHS;

/**
 * The gradient paths `entry` attacks `model` through: the entry's own list, each of which the model must
 * declare (else one InputError line naming the model and what it offers), or every path the model declares.
 */
export function pathsFor(entry: AttackEntry, model: ModelInfo): string[] {
  const offered = gradientPathsOf(model);
  if (entry.paths === undefined) return [...offered];
  const asked = [...new Set(entry.paths.map((p) => (p === EXACT_PATH ? (model.exactPath ?? 'e2e') : p)))];
  const missing = asked.find((p) => !offered.includes(p));
  if (missing !== undefined)
    throw inputError(
      `attacks: ${entry.label}: paths`,
      `model ${JSON.stringify(model.name)} has no gradient path ${JSON.stringify(missing)}`,
      `${offered.join(', ')} (leave "paths" out to attack through every path the model offers)`,
    );
  return asked;
}

export interface AttackSpec {
  entry: AttackEntry;
  path: string;
  eps: number;
  threatModel: 'linf' | 'l2';
  usesGradient: boolean;
  /** The model the attack computes on: the target, or a transfer attack's source. */
  source: ModelInfo;
  transfer: boolean;
}

export interface PlannedCell {
  id: string;
  kind: CellKind;
  checkpoint: string;
  /** Images evaluated: the first `samples` of the run's sampleIndices. */
  samples: number;
  attack?: AttackSpec;
  corruption?: { name: string; family: string; severity: number };
  /** The cell's numbers are those of `copyOf` (a feedforward model answers every gradient path alike). */
  copyOf?: string;
  /**
   * A probe that starts from the samples surviving `entry`'s cumulative sweep over `epsilons` (same path,
   * cells attackId(checkpoint, entry.label, path, eps): read from cells/ when stored, else recomputed on the
   * probe's images with the same keys, which gives the same bits). When `entry` is a stage of a cascade,
   * `cascade` holds that cascade's stage cells up to and including entry's stage, at every eps of the
   * cascade up to the probe's: the probe then starts from the samples the cascade left correct after that
   * stage at the probe's eps (the stage cell at that eps, read when stored, else the stages recomputed on
   * the probe's images with the same keys: src/suite/cascade.ts cascadePrefixCorrect), not from a sweep
   * of the entry on its own, which no cell of the run holds.
   */
  continues?: { entry: AttackEntry; epsilons: number[]; cascade?: PlannedCell[] };
  /** Sanity-probe cells: which probe, and the label of the attack entry it runs (recorded in the cell). */
  probe?: { kind: 'large-eps' | 'more-steps'; of: string };
  /**
   * Cells of a cascade (src/suite/cascade.ts): its label, the stage (1-based; 0 = the cascade's worst-case
   * cell), the stage labels, and the gradient path of the chain (`none` without gradient stages). A stage
   * cell's `attack` is the stage's own spec (a score-based stage has path none there).
   */
  cascade?: { label: string; stage: number; stages: string[]; chain: string };
}

export interface GradientProbeSpec {
  id: string;
  checkpoint: string;
  path: string;
  samples: number;
}

export type UnitKind = 'clean' | 'sweep' | 'cascade' | 'corruption' | 'probe-attack' | 'probe-gradients';

/** Cells that execute together, in order. */
export interface PlanUnit {
  id: string;
  kind: UnitKind;
  cells: PlannedCell[];
  gradientProbes: GradientProbeSpec[];
  /** Rough relative cost (forward passes of a CNN over one image), for shard balancing and ETAs. */
  cost: number;
  /** A part of a cascade unit that worker processes claim (cascadeParts.ts): its samples [lo, hi). */
  samples?: [number, number];
}

export interface Plan {
  units: PlanUnit[];
  /** Result cells (cells/), in execution order. */
  cells: string[];
  /** Sanity probes (probes/), in execution order. */
  probes: string[];
  /** Human-readable notes recorded in run.json (e.g. which cells are copies and why). */
  notes: string[];
}

export const cleanId = (checkpoint: string) => `${checkpoint}|clean`;
export const attackId = (checkpoint: string, label: string, path: string, eps: number) => `${checkpoint}|${label}|${path}|${eps}`;
export const corruptionId = (checkpoint: string, name: string, severity: number) => `${checkpoint}|corruption|${name}|${severity}`;
/** The unit of one checkpoint's cascade `label` on gradient path `chain` (its parts' files are named after it, cascadeParts.ts). */
export const cascadeUnitId = (checkpoint: string, label: string, chain: string) => `cascade|${checkpoint}|${label}|${chain}`;

/** eps used by the large-eps probe: far beyond any meaningful perturbation of a [0,1] image. */
export const LARGE_EPS = 0.5;

// --- cost model: relative to one feedforward pass of the CNN on one image ----------------------------
// Measured on wasm (fixtures, 2 cores): CNN-F with 1 cycle: forward(last) ~2x the CNN's, first-path
// gradient ~3 forwards, e2e ~4x the first-path gradient, bpda ~2.2x.

function forwardCost(model: ModelInfo): number {
  return (model.costScale ?? 1) * (model.output === 'first' ? 1 : 1 + 1.2 * model.cycles);
}

function gradientCost(model: ModelInfo, path: string): number {
  const scale = model.costScale ?? 1;
  if (path === 'first' || model.cycles === 0) return 3 * scale;
  if (path === 'e2e') return 3 * scale * (1 + 3 * model.cycles);
  return forwardCost(model) + 2 * scale;
}

/** Cost per attacked image, from the attack's declared model evaluations (Attack.cost) on these models. */
function attackCostPerImage(entry: AttackEntry, path: string, source: ModelInfo, target: ModelInfo): number {
  const { gradients, forwards } = getAttack(entry.name).cost(entry.params);
  const transferEval = entry.transferFrom ? forwardCost(target) : 0;
  return gradients * gradientCost(source, path) + forwards * forwardCost(source) + transferEval;
}

function sweepCost(cells: PlannedCell[], target: ModelInfo): number {
  // A minimisation attack runs once on every sample, whatever the number of radii (src/suite/minimisation.ts).
  const once = cells.find((c) => !c.copyOf && c.attack && c.attack.eps > 0 && getAttack(c.attack.entry.name).kind === 'minimisation');
  if (once) return once.samples * attackCostPerImage(once.attack!.entry, once.attack!.path, once.attack!.source, target);
  let cost = 0;
  let rank = 0;
  for (const c of cells) {
    if (c.copyOf || !c.attack || c.attack.eps === 0) continue;
    // Fewer images survive to each larger eps; a rough geometric decay.
    cost += (c.samples * attackCostPerImage(c.attack.entry, c.attack.path, c.attack.source, target)) / (1 + rank);
    rank++;
  }
  return cost;
}

/** Gradient paths that differ on a model: all the requested ones with feedback, the first one without. */
export function distinctPaths(paths: readonly string[], model: ModelInfo): string[] {
  return model.cycles > 0 ? [...paths] : paths.slice(0, 1);
}

/**
 * eps of the more-steps probe: the second largest nonzero eps (the largest usually breaks nearly every
 * sample, leaving nothing to converge on; smaller ones leave many survivors, each costing 4x the steps).
 */
export function defaultProbeEps(nonzero: readonly number[]): number | undefined {
  const sorted = [...nonzero].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.max(0, sorted.length - 2)];
}

export interface AdversarialPlanInput {
  config: AdversarialConfig;
  /** Evaluated checkpoints, in config order. */
  targets: ModelInfo[];
  /** A transfer entry's source model, by the entry's transferFrom string. */
  sources: ReadonlyMap<string, ModelInfo>;
  /** Number of evaluated images. */
  samples: number;
}

export function planAdversarial({ config, targets, sources, samples }: AdversarialPlanInput): Plan {
  const units: PlanUnit[] = [];
  const notes: string[] = [];
  for (const t of targets)
    units.push({
      id: `clean|${t.name}`,
      kind: 'clean',
      cells: [{ id: cleanId(t.name), kind: 'clean', checkpoint: t.name, samples }],
      gradientProbes: [],
      cost: samples * forwardCost(t),
    });

  for (const entry of config.attacks) {
    if (entry.cascade) continue;
    const attack = getAttack(entry.name);
    const source0 = entry.transferFrom ? sources.get(entry.transferFrom) : undefined;
    if (entry.transferFrom && !source0) throw new Error(`internal: transfer source ${entry.transferFrom} not resolved`);
    for (const target of targets) {
      const source = source0 ?? target;
      if (entry.transferFrom && source.name === target.name) {
        notes.push(`${entry.label}: no transfer cells for ${target.name}, the source model itself`);
        continue;
      }
      checkAttackModel(entry, source);
      const n = Math.min(entry.limit ?? samples, samples);
      const cellFor = (path: string, eps: number, copyOf?: string): PlannedCell => ({
        id: attackId(target.name, entry.label, path, eps),
        kind: 'attack',
        checkpoint: target.name,
        samples: n,
        attack: { entry, path, eps, threatModel: attack.threatModel, usesGradient: attack.usesGradient, source, transfer: Boolean(entry.transferFrom) },
        ...(copyOf ? { copyOf } : {}),
      });
      const epsilons = epsilonsFor(config, entry);
      if (!attack.usesGradient) {
        const cells = epsilons.map((eps) => cellFor('none', eps));
        units.push({ id: `sweep|${target.name}|${entry.label}|none`, kind: 'sweep', cells, gradientProbes: [], cost: sweepCost(cells, target) });
        continue;
      }
      const requested = pathsFor(entry, source);
      const computed = distinctPaths(requested, source);
      const copied = requested.filter((p) => !computed.includes(p));
      for (const path of computed) {
        const cells = epsilons.map((eps) => cellFor(path, eps));
        // A feedforward gradient model answers every path alike: the other paths' cells copy these numbers.
        if (path === computed[0])
          for (const other of copied) for (const eps of epsilons) cells.push(cellFor(other, eps, attackId(target.name, entry.label, path, eps)));
        units.push({ id: `sweep|${target.name}|${entry.label}|${path}`, kind: 'sweep', cells, gradientProbes: [], cost: sweepCost(cells, target) });
      }
      if (attack.kind === 'minimisation')
        notes.push(`${target.name} ${entry.label}: a minimisation attack; one run per computed gradient path answers its ${epsilons.length} eps cells (field minimisation)`);
      if (copied.length > 0)
        notes.push(
          `${target.name} ${entry.label}: ${source.name} has no feedback, so paths ${copied.join(', ')} equal path ${computed[0]}; ` +
            `their cells are copies (field copyOf) of the ${computed[0]} cells`,
        );
    }
  }

  const cascades = planCascades(config, targets, samples, notes);
  units.push(...cascades);

  if (config.sanity) {
    const choice = chooseProbeAttack(config.attacks);
    notes.push(choice.reason);
    units.push(...planProbes(config, choice.entry, targets, samples, cascades));
  }
  return finishPlan(units, notes);
}

/**
 * The probe units of every target: `pgdEntry` (chooseProbeAttack's entry: an untargeted, iterative,
 * white-box L-inf attack) at eps LARGE_EPS, one run of it (its repeatParams set to 1) with 4x its
 * iterations continuing its main sweep, and the gradient probe.
 */
function planProbes(config: AdversarialConfig, pgdEntry: AttackEntry, targets: ModelInfo[], samples: number, cascades: readonly PlanUnit[]): PlanUnit[] {
  const units: PlanUnit[] = [];
  const n = Math.min(config.sanityLimit, samples);
  const attack = getAttack(pgdEntry.name);
  const iterationParam = attack.iterationParam!;
  const steps = pgdEntry.params[iterationParam] as number;
  // More steps in ONE run: the entry's repetitions (restarts, APGD-T's target classes; attacks/types.ts
  // repeatParams) set to 1. Convergence is a property of a run's iteration count; repeating 4x longer runs
  // (9 targets x 400 steps for AutoAttack's APGD-T) would multiply the probe's cost by the repetitions
  // without testing anything more about iterations.
  const oneRun = (attack.repeatParams ?? []).filter((k) => typeof pgdEntry.params[k] === 'number' && (pgdEntry.params[k] as number) > 1);
  // The label keeps the probe ids of earlier runs for an entry labelled pgd (pgd-steps80 for PGD-20), and
  // names each repetition set to 1 (apgd-t-steps400-targets1).
  const moreSteps: AttackEntry = {
    ...pgdEntry,
    label: `${pgdEntry.label}-${iterationParam}${4 * steps}${oneRun.map((k) => `-${k}1`).join('')}`,
    params: attack.parseParams(
      { ...stripUndefined(pgdEntry.params), ...Object.fromEntries(oneRun.map((k) => [k, 1])), [iterationParam]: 4 * steps },
      'probe',
    ) as Record<string, unknown>,
  };
  const largeEps: AttackEntry = { ...pgdEntry, label: 'large-eps' };
  // The probe entry is L-inf (chooseProbeAttack): its radii are its own epsilons, or the suite's L-inf-sized ones.
  const nonzero = epsilonsFor(config, pgdEntry).filter((e) => e > 0 && e <= 1);
  const probeEps = config.sanityEps ?? defaultProbeEps(nonzero);
  const whiteBox = config.attacks.filter((a) => !a.transferFrom);

  for (const target of targets) {
    const probe = (entry: AttackEntry, path: string, eps: number, continues?: PlannedCell['continues']): PlanUnit => {
      const cell: PlannedCell = {
        id: `${target.name}|probe|${entry.label}|${path}|${eps}`,
        kind: 'attack',
        checkpoint: target.name,
        samples: n,
        attack: { entry, path, eps, threatModel: attack.threatModel, usesGradient: true, source: target, transfer: false },
        probe: { kind: continues ? 'more-steps' : 'large-eps', of: pgdEntry.label },
        ...(continues ? { continues } : {}),
      };
      // Continuing probes attack only the survivors of the main sweep, roughly a third of the images.
      const share = eps === LARGE_EPS ? 0.2 : continues ? 0.3 : 1;
      return { id: `probe|${cell.id}`, kind: 'probe-attack', cells: [cell], gradientProbes: [], cost: n * attackCostPerImage(entry, path, target, target) * share };
    };
    const offered = gradientPathsOf(target);
    const resolve = (p: string) => (p === EXACT_PATH ? (target.exactPath ?? 'e2e') : p);
    const paths = distinctPaths(pgdEntry.paths ? [...new Set(pgdEntry.paths.map(resolve))].filter((p) => offered.includes(p)) : offered, target);
    for (const path of paths) units.push(probe(largeEps, path, LARGE_EPS));
    if (probeEps !== undefined) {
      // The main PGD sweep up to probeEps (cumulative, as the main cells); its survivors get 4x the steps.
      // A cascade stage continues its cascade instead (PlannedCell.continues), when the cascade has probeEps.
      const sweep = [...new Set([...nonzero.filter((e) => e < probeEps), probeEps])].sort((a, b) => a - b);
      for (const path of paths) {
        const prefix = cascadePrefix(cascades, target.name, pgdEntry, path, probeEps);
        units.push(probe(moreSteps, path, probeEps, { entry: pgdEntry, epsilons: sweep, ...(prefix ? { cascade: prefix } : {}) }));
      }
    }
    const whiteBoxPaths = whiteBox.some((a) => a.paths === undefined) ? offered : [...new Set(whiteBox.flatMap((a) => (a.paths ?? []).map(resolve)))].filter((p) => offered.includes(p));
    const gradPaths = distinctPaths(whiteBoxPaths.length > 0 ? whiteBoxPaths : paths, target);
    if (gradPaths.length > 0)
      units.push({
        id: `probe|${target.name}|gradients`,
        kind: 'probe-gradients',
        cells: [],
        gradientProbes: gradPaths.map((path) => ({ id: `${target.name}|probe|gradients|${path}`, checkpoint: target.name, path, samples: n })),
        cost: n * gradPaths.reduce((s, p) => s + gradientCost(target, p), 0),
      });
  }
  return units;
}

/**
 * The stage cells of `entry`'s cascade on `checkpoint` through gradient path `path`, stages 1 to entry's, at
 * the cascade's epsilons up to `eps` (what the cascade computes to reach the stage's cell at eps); undefined
 * when entry is no cascade stage or the cascade has no cell at eps (a sanityEps outside its epsilons).
 */
function cascadePrefix(cascades: readonly PlanUnit[], checkpoint: string, entry: AttackEntry, path: string, eps: number): PlannedCell[] | undefined {
  if (!entry.cascade) return undefined;
  const unit = cascades.find((u) => u.cells.some((c) => c.checkpoint === checkpoint && c.cascade?.label === entry.cascade && c.cascade?.chain === path));
  const stage = unit?.cells.find((c) => c.cascade!.stage > 0 && c.attack!.entry.label === entry.label)?.cascade!.stage;
  if (!unit || stage === undefined || !unit.cells.some((c) => c.cascade!.stage === stage && c.attack!.eps === eps)) return undefined;
  return unit.cells.filter((c) => c.cascade!.stage > 0 && c.cascade!.stage <= stage && c.attack!.eps <= eps);
}

/** Cascade stages grouped by cascade label, in config order. */
export function cascadesOf(entries: readonly AttackEntry[]): { label: string; stages: AttackEntry[] }[] {
  const out: { label: string; stages: AttackEntry[] }[] = [];
  for (const e of entries) {
    if (!e.cascade) continue;
    const c = out.find((x) => x.label === e.cascade);
    if (c) c.stages.push(e);
    else out.push({ label: e.cascade, stages: [e] });
  }
  return out;
}

/**
 * One unit per (cascade, target, chain): a chain is one gradient path its gradient stages attack through
 * (distinct paths only: a feedforward model's paths are one chain), or `none` when every stage is
 * score-based. The unit's cells: each stage's cells in stage order, eps ascending, then the worst-case cells
 * (ids attackId(target, label, chain, eps); a stage's attackId(target, label/stage, chain, eps)).
 */
/**
 * Refuses, before any cell runs, a model the entry's attack cannot attack with its params (Attack.checkModel:
 * e.g. the DLR loss on a 2-class model, more APGD-T targets than classes), naming the config field; not
 * halfway through the run. Models of unknown class count are not checked here (the attack checks at run).
 */
function checkAttackModel(entry: AttackEntry, model: ModelInfo): void {
  if (model.numClasses === undefined) return;
  const where = attackParamsLocation(entry) ?? `attacks: ${entry.label} params`;
  getAttack(entry.name).checkModel?.(entry.params, { name: model.name, numClasses: model.numClasses }, where);
}

function planCascades(config: AdversarialConfig, targets: ModelInfo[], samples: number, notes: string[]): PlanUnit[] {
  const units: PlanUnit[] = [];
  for (const { label, stages } of cascadesOf(config.attacks)) {
    const epsilons = epsilonsFor(config, stages[0]);
    const names = stages.map((s) => s.label);
    const gradientStage = stages.find((s) => getAttack(s.name).usesGradient);
    for (const target of targets) {
      for (const entry of stages) checkAttackModel(entry, target);
      const requested = gradientStage ? pathsFor(gradientStage, target) : ['none'];
      const chains = gradientStage ? distinctPaths(requested, target) : ['none'];
      if (chains.length < requested.length)
        notes.push(`${target.name} ${label}: ${target.name} has no feedback, so paths ${requested.join(', ')} are one cascade, run through ${chains[0]}`);
      for (const chain of chains) {
        const cells: PlannedCell[] = [];
        let cost = 0;
        stages.forEach((entry, k) => {
          const attack = getAttack(entry.name);
          const path = attack.usesGradient ? chain : 'none';
          for (const eps of epsilons)
            cells.push({
              id: attackId(target.name, `${label}/${entry.label}`, chain, eps),
              kind: 'attack',
              checkpoint: target.name,
              samples,
              attack: { entry, path, eps, threatModel: attack.threatModel, usesGradient: attack.usesGradient, source: target, transfer: false },
              cascade: { label, stage: k + 1, stages: names, chain },
            });
          // Later stages see only the survivors of the earlier ones: a rough geometric decay, as sweeps.
          cost += sweepCost(cells.slice(-epsilons.length), target) / (1 + k);
        });
        const last = stages[stages.length - 1];
        const lastAttack = getAttack(last.name);
        for (const eps of epsilons)
          cells.push({
            id: attackId(target.name, label, chain, eps),
            kind: 'attack',
            checkpoint: target.name,
            samples,
            attack: { entry: last, path: lastAttack.usesGradient ? chain : 'none', eps, threatModel: lastAttack.threatModel, usesGradient: lastAttack.usesGradient, source: target, transfer: false },
            cascade: { label, stage: 0, stages: names, chain },
          });
        units.push({ id: cascadeUnitId(target.name, label, chain), kind: 'cascade', cells, gradientProbes: [], cost });
      }
    }
  }
  return units;
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export interface CorruptionPlanInput {
  config: CorruptionConfig;
  targets: ModelInfo[];
  samples: number;
  /** Family of a corruption (default: the registry's). */
  familyOf?: (name: string) => string;
}

/** Clean cells, then one unit per (corruption, severity) evaluating every checkpoint on the same corrupted images. */
export function planCorruption({ config, targets, samples, familyOf = (n) => getCorruption(n).family }: CorruptionPlanInput): Plan {
  const units: PlanUnit[] = [];
  const evalCost = targets.reduce((s, t) => s + forwardCost(t), 0);
  units.push({
    id: 'clean',
    kind: 'clean',
    cells: targets.map((t) => ({ id: cleanId(t.name), kind: 'clean' as const, checkpoint: t.name, samples })),
    gradientProbes: [],
    cost: samples * evalCost,
  });
  for (const name of config.corruptions) {
    const family = familyOf(name);
    for (const severity of config.severities)
      units.push({
        id: `corruption|${name}|${severity}`,
        kind: 'corruption',
        cells: targets.map((t) => ({
          id: corruptionId(t.name, name, severity),
          kind: 'corruption' as const,
          checkpoint: t.name,
          samples,
          corruption: { name, family, severity },
        })),
        gradientProbes: [],
        // Applying a corruption costs about one forward pass (some, like glass blur, more).
        cost: samples * (evalCost + 1),
      });
  }
  return finishPlan(units, []);
}

function finishPlan(units: PlanUnit[], notes: string[]): Plan {
  const cells: string[] = [];
  const probes: string[] = [];
  for (const u of units) {
    const into = u.kind.startsWith('probe') ? probes : cells;
    for (const c of u.cells) into.push(c.id);
    for (const g of u.gradientProbes) probes.push(g.id);
  }
  const all = [...cells, ...probes];
  const dup = all.find((id, i) => all.indexOf(id) !== i);
  if (dup) throw inputError('config', `two cells would share the id ${JSON.stringify(dup)} (checkpoints with the same name?)`, 'distinct checkpoint names and attack labels');
  return { units, cells, probes, notes };
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** Parses "i/n" (1 <= i <= n). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count)
    throw inputError('--shard', `invalid shard ${JSON.stringify(text)}`, 'i/n with 1 <= i <= n, e.g. 1/4');
  return { index, count };
}

/**
 * The units of shard `index` of `count`: longest-processing-time-first assignment of units (by estimated
 * cost, ties by plan order) to the least-loaded shard (ties to the lowest shard). Deterministic, so every
 * shard computes the same assignment; the shards partition the plan. Order within a shard is plan order.
 */
export function shardUnits(units: readonly PlanUnit[], shard: Shard): PlanUnit[] {
  if (shard.count === 1) return [...units];
  const order = units.map((u, i) => ({ u, i })).sort((a, b) => b.u.cost - a.u.cost || a.i - b.i);
  const load = new Array<number>(shard.count).fill(0);
  const owner = new Array<number>(units.length);
  for (const { u, i } of order) {
    let best = 0;
    for (let s = 1; s < shard.count; s++) if (load[s] < load[best]) best = s;
    owner[i] = best;
    load[best] += u.cost;
  }
  return units.filter((_, i) => owner[i] === shard.index - 1);
}

/** The plan restricted to some units (a shard), with cells/probes lists to match. */
export function restrictPlan(plan: Plan, units: PlanUnit[]): Plan {
  return { ...finishPlan(units, plan.notes) };
}
