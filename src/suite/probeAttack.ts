/**
 * Which attack the gradient-masking probes (large-eps, more-steps; src/suite/sanity.ts) run. They test the
 * evaluation's strongest white-box attack, so the choice is made by what each config entry declares
 * (attacks/types.ts), never by its name or its position in the config:
 * - eligible: a white-box gradient attack (`usesGradient`, not a transfer entry), on the L-inf threat
 *   model (the large-eps probe's eps 0.5 is an L-inf radius), iterative (`iterationParam`: the more-steps
 *   probe raises it), a fixed-epsilon attack (the probes run one radius each and continue a sweep of
 *   per-eps survivors; a minimisation attack such as fmn answers radii from one run instead), and untargeted
 *   in its success criterion (`isTargeted(params)` false: it succeeds on any misclassification; a targeted
 *   attack's success is reaching one chosen class, a weaker goal than leaving the true one, so it neither
 *   sets the worst case nor tests it). APGD-T qualifies: its loss is targeted (each of its top-k target
 *   classes in turn) but, as in AutoAttack, a sample counts as broken once it is misclassified;
 * - among the eligible, the largest gradient budget per image (`cost(params).gradients`, steps x restarts):
 *   the sweep most likely to set the worst case; equal budgets keep the config's order, the only use of
 *   position, between entries that declare the same strength;
 * - none eligible: PGD (Madry et al. 2018) with its defaults, the attack of Carlini et al.'s (2019)
 *   checklist, on every gradient path the config attacks.
 */
import { getAttack } from '../../attacks/registry.js';
import type { AttackEntry } from './config.js';

export interface ProbeAttackChoice {
  /** The entry the probes copy (params, paths) and whose main sweep the more-steps probe continues. */
  entry: AttackEntry;
  /** True when `entry` is one of the config's entries (its main sweep exists); false for the PGD default. */
  fromConfig: boolean;
  /** One sentence: why this entry, for run.json's notes. */
  reason: string;
}

/** Entries the probes may run (see the module comment), in config order. */
export function probeCandidates(entries: readonly AttackEntry[]): AttackEntry[] {
  return entries.filter((e) => {
    if (e.transferFrom) return false;
    const a = getAttack(e.name);
    return a.usesGradient && a.kind === 'fixed-epsilon' && a.threatModel === 'linf' && a.iterationParam !== undefined && !a.isTargeted(e.params);
  });
}

/** Gradient budget per image of an entry (its attack's declared cost). */
export function gradientBudget(entry: AttackEntry): number {
  return getAttack(entry.name).cost(entry.params).gradients;
}

/** The probes' attack for a config's attack entries (the rule of the module comment). */
export function chooseProbeAttack(entries: readonly AttackEntry[]): ProbeAttackChoice {
  const candidates = probeCandidates(entries);
  let best: AttackEntry | undefined;
  for (const c of candidates) if (!best || gradientBudget(c) > gradientBudget(best)) best = c;
  if (best) {
    const others = candidates.length - 1;
    return {
      entry: best,
      fromConfig: true,
      reason:
        // "Untargeted" is the success criterion (isTargeted false): APGD-T steers towards target classes yet succeeds on any misclassification.
        `sanity probes run ${best.label} (${best.name}, white-box L-inf, succeeds on any misclassification, ${gradientBudget(best)} gradients per image)` +
        (others > 0 ? `, the largest gradient budget of ${candidates.length} eligible entries` : ', the only eligible entry'),
    };
  }
  const pgd = getAttack('pgd');
  // A label no config entry has: the more-steps probe must not read another entry's stored cells.
  let label = 'pgd-default';
  while (entries.some((e) => e.label === label)) label += '_';
  // Every path some white-box entry asks for; an entry without paths (all the model's) means all of them.
  const whiteBox = entries.filter((a) => !a.transferFrom);
  const paths = whiteBox.some((a) => a.paths === undefined) ? [] : [...new Set(whiteBox.flatMap((a) => a.paths ?? []))];
  return {
    entry: { name: 'pgd', label, params: pgd.parseParams(undefined, 'pgd') as Record<string, unknown>, ...(paths.length > 0 ? { paths } : {}) },
    fromConfig: false,
    reason: 'sanity probes run PGD with its defaults: no iterative, fixed-epsilon, white-box L-inf attack in the config that succeeds on any misclassification',
  };
}
