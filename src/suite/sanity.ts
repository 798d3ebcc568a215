/**
 * Gradient-masking sanity checks of an adversarial run (Carlini et al. 2019, "On Evaluating Adversarial
 * Robustness", Sec. 5 checklist; the same checks AutoAttack's and ART's reports flag):
 * - monotone-in-eps: robust accuracy does not rise with eps beyond the 95% interval;
 * - large-eps-chance: the probe attack at eps 0.5 drives accuracy to chance (an unbounded attack must succeed);
 * - more-steps: 4x the probe attack's iterations, run on the samples its main sweep left correct at one eps, does not
 *   lower robust accuracy beyond the interval (else the attack had not converged and the sweep's numbers
 *   overstate robustness);
 * - black-box-not-better / transfer-not-better: a score-based or transfer attack does not beat the best
 *   white-box attack beyond the interval (else the gradients are masked);
 * - gradients-finite: no all-zero or non-finite input gradients on an attacked path;
 * - logits-finite: no NaN or infinite logits on the clean images or on the attacks' final examples (such
 *   an image has no prediction and counts as misclassified, src/models/decision.ts, so the accuracy
 *   would measure a numerical overflow, not robustness).
 * AutoAttack's own checks (fra31/auto-attack autoattack/checks.py, with its thresholds):
 * - deterministic (check_randomized): 5 identical calls on the probe images give the same scores and
 *   predictions, else the model is randomised and gradient attacks need `eot` (attacks/define.ts EotParams);
 * - scores-not-probabilities (check_range_output): the scores read as logits are not a probability distribution;
 * - square-after-white-box (check_square_sr): in a cascade, a score-based stage does not lower the robust
 *   accuracy the white-box stages left by more than 0.2 points;
 * - dlr-classes (check_n_classes): enough classes for the DLR losses and the targeted attacks' target counts.
 * Its check_zero_gradients is gradients-finite above; check_dynamic (a forward pass that itself takes
 * gradients) has no TF.js equivalent and is not made.
 * The probe attack is the config's strongest white-box iterative L-inf entry that succeeds on any misclassification (probeAttack.ts);
 * each probe cell records it (field `probe`). Everything is computed from the stored records, so a resumed or merged run gets the same checks.
 * "Beyond the interval" means outside the reference value's 95% Wilson interval.
 */
import { decodeBits, type GradientProbeResult, type ProbeRecord, type SanityCheck, type SuiteCellResult, wilsonInterval } from '../rundir/records.js';
import { LARGE_EPS } from './planner.js';
import { listAttacks } from '../../attacks/registry.js';
import { threatModelOf } from '../../attacks/threatModels.js';

export interface SanityInput {
  /**
   * Evaluated checkpoints and their class counts (chance = 1 / classes), and what their scores are
   * (run.json's checkpoint refs; absent in runs recorded before models declared them).
   */
  checkpoints: { name: string; numClasses: number; scores?: 'logits' | 'log-probabilities'; logProbabilities?: 'log-softmax' | 'clipped-log' }[];
  cells: SuiteCellResult[];
  probes: ProbeRecord[];
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const ciText = (ci: readonly [number, number]) => `${pct(ci[0])}-${pct(ci[1])}`;

/** Accuracy of the first n samples of a cell (cells on a subset cover a prefix of the run's samples). */
function prefix(cell: SuiteCellResult, n: number): { bits: boolean[]; accuracy: number; ci95: [number, number] } {
  const bits = decodeBits(cell.correctBits, cell.samples).slice(0, n);
  const k = bits.filter(Boolean).length;
  return { bits, accuracy: bits.length ? k / bits.length : 0, ci95: wilsonInterval(k, bits.length) };
}

function check(checkpoint: string, name: string, status: SanityCheck['status'], detail: string, numbers: Record<string, number> = {}): SanityCheck {
  return { checkpoint, name, status, detail, numbers };
}

const isAttack = (c: SuiteCellResult) => c.kind === 'attack';
// Cascade cells hold the accuracy after several attacks: they are compared by square-after-white-box, not here.
const isWhiteBox = (c: SuiteCellResult) => isAttack(c) && c.path !== undefined && c.path !== 'none' && !c.transferFrom && !c.cascade;
const sweepKey = (c: SuiteCellResult) => `${c.attack}/${c.path}`;

function monotone(name: string, cells: SuiteCellResult[]): SanityCheck {
  const sweeps = new Map<string, SuiteCellResult[]>();
  for (const c of cells.filter((c) => isAttack(c) && !c.copyOf)) sweeps.set(sweepKey(c), [...(sweeps.get(sweepKey(c)) ?? []), c]);
  if (sweeps.size === 0) return check(name, 'monotone-in-eps', 'skip', 'no attack cells');
  const violations: string[] = [];
  let worst = 0;
  for (const [key, list] of sweeps) {
    list.sort((a, b) => (a.eps ?? 0) - (b.eps ?? 0));
    for (let i = 1; i < list.length; i++) {
      const rise = list[i].accuracy - list[i - 1].accuracy;
      worst = Math.max(worst, rise);
      if (list[i].accuracy > list[i - 1].ci95[1])
        violations.push(`${key} ${pct(list[i].accuracy)} at eps ${list[i].eps} > ${pct(list[i - 1].accuracy)} (CI ${ciText(list[i - 1].ci95)}) at eps ${list[i - 1].eps}`);
    }
  }
  if (violations.length > 0)
    return check(name, 'monotone-in-eps', 'warn', `robust accuracy rises with eps: ${violations.join('; ')}`, { sweeps: sweeps.size, violations: violations.length, largestRise: worst });
  return check(
    name,
    'monotone-in-eps',
    'pass',
    `robust accuracy never rises with eps in ${sweeps.size} sweeps (sweeps are cumulative: a sample broken at a smaller eps stays broken, so this mainly guards merged or resumed cells)`,
    { sweeps: sweeps.size, violations: 0, largestRise: worst },
  );
}

/**
 * Probe cells of one kind. Records carry `probe` (which probe, which entry); records written before it
 * existed are recognised by their labels (large-eps, pgd-steps<N>).
 */
function probesOf(kind: 'large-eps' | 'more-steps', probes: SuiteCellResult[]): SuiteCellResult[] {
  return probes.filter((p) =>
    p.probe ? p.probe.kind === kind : kind === 'large-eps' ? p.attack === 'large-eps' : /^pgd-steps\d+$/.test(p.attack ?? '') && p.reference !== undefined,
  );
}

/** "pgd (entry pgd-untargeted)": the attack a probe ran and the config entry it copies. */
function probeAttackText(p: SuiteCellResult): string {
  const method = p.method ?? p.attack ?? '?';
  return p.probe ? `${method} (entry ${p.probe.of})` : method.toUpperCase();
}

/** The iteration count of a probe cell: its attack's declared iteration parameter, else the old label's number. */
function probeIterations(p: SuiteCellResult): number {
  const method = p.method ?? p.attack;
  const param = method ? listAttacks().find((a) => a.name === method)?.iterationParam : undefined;
  const v = param ? p.attackParams?.[param] : undefined;
  if (typeof v === 'number') return v;
  const m = /(\d+)$/.exec(p.attack ?? '');
  return m ? Number(m[1]) : NaN;
}

/**
 * What a more-steps probe started from, by its reference cell (id checkpoint|label|path|eps): a cascade
 * stage's cell (label "cascade/stage", planner.ts PlannedCell.continues.cascade) or the entry's own sweep.
 */
function continuedText(p: SuiteCellResult): string {
  const parts = p.reference!.id.split('|');
  const label = parts[parts.length - 3] ?? '';
  const slash = label.indexOf('/');
  return slash > 0 ? `the samples cascade ${label.slice(0, slash)} left correct after its stage ${label.slice(slash + 1)}` : 'the samples its main sweep left correct';
}

/** ", one run (targets 1)" when the probe set repetitions of its attack (attacks/types.ts repeatParams) to 1. */
function oneRunText(p: SuiteCellResult): string {
  const method = p.method ?? p.attack;
  const repeats = method ? (listAttacks().find((a) => a.name === method)?.repeatParams ?? []) : [];
  const ones = repeats.filter((k) => p.attackParams?.[k] === 1 && p.attack?.includes(`-${k}1`));
  return ones.length > 0 ? `, one run (${ones.map((k) => `${k} 1`).join(', ')})` : '';
}

function largeEps(name: string, numClasses: number, probes: SuiteCellResult[]): SanityCheck {
  const list = probesOf('large-eps', probes);
  if (list.length === 0) return check(name, 'large-eps-chance', 'skip', 'no large-eps probe in this run (sanity off, or in another shard)');
  const chance = 1 / numClasses;
  const bad = list.filter((p) => p.ci95[0] > chance);
  const numbers: Record<string, number> = { eps: LARGE_EPS, chance, samples: list[0].samples };
  for (const p of list) numbers[`${p.path}.accuracy`] = p.accuracy;
  const each = list.map((p) => `${p.path} ${pct(p.accuracy)} (CI ${ciText(p.ci95)})`).join(', ');
  if (bad.length > 0)
    return check(name, 'large-eps-chance', 'warn', `${probeAttackText(list[0])} at eps ${LARGE_EPS} leaves accuracy above chance ${pct(chance)}: ${each} on ${list[0].samples} images; the gradients may be masked`, numbers);
  return check(name, 'large-eps-chance', 'pass', `${probeAttackText(list[0])} at eps ${LARGE_EPS} drives accuracy to chance (${pct(chance)}): ${each} on ${list[0].samples} images`, numbers);
}

function moreSteps(name: string, probes: SuiteCellResult[]): SanityCheck {
  const list = probesOf('more-steps', probes).filter((p) => p.reference);
  if (list.length === 0) return check(name, 'more-steps', 'skip', 'no more-steps probe in this run (sanity off, no eps > 0, or in another shard)');
  const first = list[0];
  const steps = probeIterations(first);
  // Nothing survived the run's own attack on the probe's images: more steps have nothing to break.
  if (list.every((p) => p.reference!.correct === 0))
    return check(name, 'more-steps', 'skip', `no sample left correct at eps ${first.eps ?? 0} on the probe's ${first.samples} images, so ${steps} steps have nothing to test`, { eps: first.eps ?? 0, samples: first.samples, moreSteps: steps });
  const numbers: Record<string, number> = { eps: first.eps ?? 0, samples: first.samples, moreSteps: steps };
  const notes: string[] = [];
  let status: SanityCheck['status'] = 'pass';
  for (const p of list) {
    const ref = p.reference!;
    const refAccuracy = ref.correct / ref.samples;
    const ci = wilsonInterval(ref.correct, ref.samples);
    numbers[`${p.path}.accuracy`] = refAccuracy;
    numbers[`${p.path}.moreStepsAccuracy`] = p.accuracy;
    numbers[`${p.path}.newlyBroken`] = ref.correct - p.correct;
    const text = `${p.path} ${pct(refAccuracy)} -> ${pct(p.accuracy)} (CI ${ciText(ci)})`;
    if (p.accuracy < ci[0]) {
      status = 'warn';
      notes.push(`${text}: more steps break more samples, the attack had not converged`);
    } else notes.push(text);
  }
  return check(
    name,
    'more-steps',
    status,
    `${probeAttackText(first)} with ${steps} steps${oneRunText(first)} on ${continuedText(first)} at eps ${numbers.eps} (${numbers.samples} images): ${notes.join('; ')}`,
    numbers,
  );
}

function notBetter(name: string, checkName: string, what: string, cells: SuiteCellResult[], pick: (c: SuiteCellResult) => boolean): SanityCheck {
  const candidates = cells.filter((c) => isAttack(c) && pick(c) && !c.copyOf && !c.cascade && (c.eps ?? 0) > 0);
  if (candidates.length === 0) return check(name, checkName, 'skip', `no ${what} cells in this run`);
  const whiteBox = cells.filter(isWhiteBox);
  const numbers: Record<string, number> = {};
  const beats: string[] = [];
  let compared = 0;
  let worstGap = -Infinity;
  let extraBroken = 0;
  for (const c of candidates) {
    // Radii of different threat models are different balls: compare within one norm only.
    const rivals = whiteBox.filter((w) => w.eps === c.eps && threatModelOf(w) === threatModelOf(c));
    if (rivals.length === 0) continue;
    compared++;
    const n = Math.min(c.samples, ...rivals.map((w) => w.samples));
    const mine = prefix(c, n);
    const best = rivals.map((w) => ({ w, ...prefix(w, n) })).sort((a, b) => a.accuracy - b.accuracy)[0];
    // Samples this attack breaks that no white-box attack breaks.
    const rivalBits = rivals.map((w) => prefix(w, n).bits);
    const onlyHere = mine.bits.filter((ok, i) => !ok && rivalBits.every((b) => b[i])).length;
    extraBroken += onlyHere;
    const gap = best.accuracy - mine.accuracy;
    if (gap > worstGap) worstGap = gap;
    numbers[`${c.attack}.${c.eps}.accuracy`] = mine.accuracy;
    numbers[`${c.attack}.${c.eps}.bestWhiteBox`] = best.accuracy;
    if (mine.accuracy < best.ci95[0])
      beats.push(`${c.attack} ${pct(mine.accuracy)} vs ${best.w.attack}/${best.w.path} ${pct(best.accuracy)} (CI ${ciText(best.ci95)}) at eps ${c.eps} on ${n} images`);
  }
  if (compared === 0) return check(name, checkName, 'skip', `no white-box cells at the ${what} epsilons to compare with`);
  numbers.samplesOnlyBrokenHere = extraBroken;
  if (beats.length > 0)
    return check(name, checkName, 'warn', `${what} beats the best white-box attack: ${beats.join('; ')}; the gradients may be masked`, numbers);
  const lead = worstGap > 0 ? `beats it by at most ${(100 * worstGap).toFixed(1)} points, inside the CI` : 'never beats it';
  return check(
    name,
    checkName,
    'pass',
    `${what} vs the best white-box attack at each eps: ${lead} (${compared} cells; ${extraBroken} sample-cells broken only by the ${what})`,
    numbers,
  );
}

const usesGradientOf = (c: SuiteCellResult) => listAttacks().find((a) => a.name === (c.method ?? c.attack))?.usesGradient;

/**
 * black-box-not-better on the score-based sweeps. A cascade's score-based stage (e.g. AutoAttack's Square)
 * only attacks the samples the white-box stages before it left correct, so it cannot be compared with a
 * white-box sweep this way; its check is square-after-white-box (AutoAttack's check_square_sr), which the
 * skip names, instead of claiming the run has no score-based attack.
 */
function blackBoxNotBetter(name: string, cells: SuiteCellResult[]): SanityCheck {
  const result = notBetter(name, 'black-box-not-better', 'score-based attack', cells, (c) => c.path === 'none' && !c.transferFrom);
  const sweeps = cells.some((c) => isAttack(c) && c.path === 'none' && !c.transferFrom && !c.copyOf && !c.cascade && (c.eps ?? 0) > 0);
  const stages = [...new Set(cells.filter((c) => isAttack(c) && c.cascade?.stage !== undefined && (c.eps ?? 0) > 0 && usesGradientOf(c) === false).map((c) => c.attack!))];
  if (sweeps || stages.length === 0) return result;
  return check(
    name,
    'black-box-not-better',
    'skip',
    `the score-based attacks of this run are cascade stages (${stages.join(', ')}): each attacks only the samples the stages before it left correct, ` +
      "so it is checked against the white-box stages by square-after-white-box (AutoAttack's check_square_sr), not against a white-box sweep here",
  );
}

function gradients(name: string, probes: GradientProbeResult[]): SanityCheck {
  if (probes.length === 0) return check(name, 'gradients-finite', 'skip', 'no gradient probe in this run (sanity off, or in another shard)');
  const numbers: Record<string, number> = { samples: probes[0].samples };
  const bad: string[] = [];
  for (const p of probes) {
    numbers[`${p.path}.zeroFraction`] = p.zero / p.samples;
    numbers[`${p.path}.nonFiniteFraction`] = p.nonFinite / p.samples;
    if (p.zero > 0 || p.nonFinite > 0) bad.push(`${p.path}: ${p.zero} all-zero and ${p.nonFinite} non-finite of ${p.samples}`);
  }
  const paths = probes.map((p) => p.path).join(', ');
  if (bad.length > 0) return check(name, 'gradients-finite', 'warn', `input gradients vanish or blow up (${bad.join('; ')}); gradient attacks cannot move these samples`, numbers);
  return check(name, 'gradients-finite', 'pass', `input gradients are non-zero and finite on every probed image (${probes[0].samples} images; paths ${paths})`, numbers);
}

/**
 * scores-are-logits: attacks on a model with a softmax head work on log-probabilities. Taken as
 * log-softmax of the tensor before the softmax they equal the logits up to a per-row constant (same
 * losses and gradients): pass, saying so. Taken as log(max(p, 2^-126)) of the probabilities alone (the
 * pre-softmax tensor is not reachable), the gradient vanishes wherever the softmax saturates, a known
 * cause of overestimated robustness (Carlini & Wagner 2017, Croce & Hein 2020): warn.
 */
function scoresAreLogits(c: SanityInput['checkpoints'][number]): SanityCheck {
  const base = { checkpoint: c.name, name: 'scores-are-logits', numbers: {} };
  if (c.scores === undefined) return { ...base, status: 'skip', detail: 'the run does not record what the model outputs (recorded before models declared it)' };
  if (c.scores === 'logits') return { ...base, status: 'pass', detail: 'the model outputs logits' };
  if (c.logProbabilities === 'clipped-log')
    return {
      ...base,
      status: 'warn',
      detail:
        'the model ends in a softmax and only its probabilities are reachable: attacks use log(max(p, 2^-126)), whose gradient vanishes ' +
        'where the softmax saturates, so gradient attacks may overestimate robustness; compare with the score-based attack (square) or ' +
        'give bench the model without its softmax (output: logits)',
    };
  return { ...base, status: 'pass', detail: 'softmax head: attacks use log-softmax of the tensor before the softmax (the logits up to a per-row constant)' };
}

function logitsFinite(name: string, cells: SuiteCellResult[], probes: SuiteCellResult[]): SanityCheck {
  const counted = [...cells, ...probes].filter((c) => c.nonFiniteLogits !== undefined && !c.copyOf && (c.kind === 'clean' || c.kind === 'attack'));
  if (counted.length === 0) return check(name, 'logits-finite', 'skip', 'no cell of this run records a count of non-finite logits');
  const clean = counted.filter((c) => c.kind === 'clean');
  const attacks = counted.filter((c) => c.kind === 'attack');
  const cleanImages = clean.reduce((s, c) => s + c.samples, 0);
  const cleanBad = clean.reduce((s, c) => s + c.nonFiniteLogits!, 0);
  const examples = attacks.reduce((s, c) => s + (c.attacked ?? 0), 0);
  const examplesBad = attacks.reduce((s, c) => s + c.nonFiniteLogits!, 0);
  const numbers = { cleanImages, cleanNonFinite: cleanBad, attackedExamples: examples, attackedNonFinite: examplesBad };
  const where = `${cleanImages} clean images and ${examples} adversarial examples in ${attacks.length} attack cells`;
  if (cleanBad + examplesBad === 0) return check(name, 'logits-finite', 'pass', `logits are finite on all ${where}`, numbers);
  const worst = attacks.filter((c) => c.nonFiniteLogits! > 0).map((c) => `${c.id} ${c.nonFiniteLogits}`);
  return check(
    name,
    'logits-finite',
    'warn',
    `NaN or infinite logits on ${cleanBad} of ${cleanImages} clean images and ${examplesBad} of ${examples} adversarial examples` +
      `${worst.length > 0 ? ` (${worst.slice(0, 3).join(', ')}${worst.length > 3 ? `, ${worst.length - 3} more cells` : ''})` : ''}; ` +
      'such an image has no prediction and counts as misclassified, so these accuracies measure numerical overflow (e.g. logits scaled too large), not robustness',
    numbers,
  );
}

/** AutoAttack's thresholds (fra31/auto-attack autoattack/checks.py). */
export const AUTOATTACK_CHECKS = {
  /** check_randomized: largest L2 distance between L2-normalised score rows of identical calls. */
  randomAlpha: 1e-4,
  /** check_range_output: scores within [-alpha, 1 + alpha] with row sums within alpha of 1 look like probabilities. */
  rangeAlpha: 1e-5,
  /** check_square_sr: Square lowering the robust accuracy left by the white-box attacks by more than this (a fraction). */
  squareAlpha: 0.002,
} as const;

const firstOutputs = (probes: GradientProbeResult[]) => probes.find((p) => p.outputs)?.outputs;

/**
 * What the output probe's non-finite scores allow: `none` when no probe image has finite scores (or, in a
 * record without nonFiniteRows, a measure is not a finite number: NaN and Infinity are written as null), so
 * neither randomness nor range can be measured; else the note for a check computed on the finite images.
 */
function finiteScores(o: NonNullable<GradientProbeResult['outputs']>, samples: number, measures: unknown[]): { none: string | null; note: string } {
  const bad = o.nonFiniteRows;
  const where = 'NaN or infinite logits; see logits-finite';
  if (bad === undefined ? !measures.every((v) => typeof v === 'number' && Number.isFinite(v)) : bad >= samples)
    return { none: `the scores are not finite (${bad === undefined ? 'some' : `all ${samples}`} probe images give ${where})`, note: '' };
  return { none: null, note: bad ? `; ${bad} of ${samples} probe images left out: their scores are not finite (${where})` : '' };
}

/**
 * randomised: the same images scored 5 times give different scores or predictions (AutoAttack's
 * check_randomized, which then asks for its "rand" version with EOT): a gradient attack needs `eot`.
 * Passes (saying so) when the model is randomised but every gradient attack cell averaged over eot > 1.
 */
function randomised(name: string, probes: GradientProbeResult[], cells: SuiteCellResult[]): SanityCheck {
  const o = firstOutputs(probes);
  if (!o) return check(name, 'deterministic', 'skip', 'no output probe in this run (sanity off, in another shard, or recorded before it existed)');
  const { calls, maxDiff, correct } = o.repeat;
  const samples = probes[0].samples;
  const finite = finiteScores(o, samples, [maxDiff]);
  // NaN differs from NaN: non-finite scores are a numerical failure, not randomness.
  if (finite.none) return check(name, 'deterministic', 'skip', `${finite.none}: whether the model is randomised cannot be measured`, { calls, samples, nonFiniteRows: o.nonFiniteRows ?? -1 });
  const numbers = { calls, maxDiff, samples, ...(o.nonFiniteRows ? { nonFiniteRows: o.nonFiniteRows } : {}) };
  const differs = maxDiff > AUTOATTACK_CHECKS.randomAlpha || correct.some((c) => c !== correct[0]);
  if (!differs) return check(name, 'deterministic', 'pass', `${calls} identical calls on ${samples} images give the same scores (largest normalised difference ${maxDiff.toExponential(1)})${finite.note}`, numbers);
  const what = `${calls} identical calls on ${samples} images give different scores (largest L2 distance of normalised scores ${maxDiff.toPrecision(3)}; correct ${correct.join(', ')})${finite.note}: the model is randomised`;
  // Gradient attacks by what the attack declares (a cascade's score-based stage records its chain's path).
  const usesGradient = (c: SuiteCellResult) => listAttacks().find((a) => a.name === (c.method ?? c.attack))?.usesGradient ?? (c.path !== 'none');
  const gradient = cells.filter((c) => c.kind === 'attack' && !c.copyOf && c.attackParams !== undefined && usesGradient(c));
  const withoutEot = gradient.filter((c) => !(typeof c.attackParams?.eot === 'number' && c.attackParams.eot > 1));
  if (gradient.length > 0 && withoutEot.length === 0) return check(name, 'deterministic', 'pass', `${what}; every gradient attack averages its gradients over eot > 1 passes`, numbers);
  const attacks = [...new Set(withoutEot.map((c) => c.attack))];
  return check(
    name,
    'deterministic',
    'warn',
    `${what}, so one gradient is a noisy estimate: use EOT, e.g. "params": {"eot": 20} on the gradient attacks (AutoAttack's rand version averages 20)` +
      (attacks.length > 0 ? `; without it: ${attacks.slice(0, 4).join(', ')}${attacks.length > 4 ? ', ...' : ''}` : ''),
    numbers,
  );
}

/** scores-not-probabilities: AutoAttack's check_range_output; attacks need logits, not probabilities. */
function scoresNotProbabilities(name: string, probes: GradientProbeResult[]): SanityCheck {
  const o = firstOutputs(probes);
  if (!o) return check(name, 'scores-not-probabilities', 'skip', 'no output probe in this run (sanity off, in another shard, or recorded before it existed)');
  const { min, max, maxRowSumError } = o.range;
  const a = AUTOATTACK_CHECKS.rangeAlpha;
  const finite = finiteScores(o, probes[0].samples, [min, max, maxRowSumError]);
  if (finite.none) return check(name, 'scores-not-probabilities', 'skip', `${finite.none}: whether they are logits or probabilities cannot be told`, { nonFiniteRows: o.nonFiniteRows ?? -1 });
  const numbers = { min, max, maxRowSumError, ...(o.nonFiniteRows ? { nonFiniteRows: o.nonFiniteRows } : {}) };
  if (max < 1 + a && min > -a && maxRowSumError < a)
    return check(
      name,
      'scores-not-probabilities',
      'warn',
      `the scores bench reads as logits lie in [0, 1] and each row sums to 1 (within ${a}): they look like probabilities; losses on them ` +
        'saturate and gradient attacks may overestimate robustness: give bench the logits (the tensor before the softmax, or output: probabilities for a TF.js model)',
      numbers,
    );
  return check(name, 'scores-not-probabilities', 'pass', `the scores are not a probability distribution (range ${min.toPrecision(3)}..${max.toPrecision(3)}, largest |row sum - 1| ${maxRowSumError.toPrecision(3)})${finite.note}`, numbers);
}

/**
 * square-after-white-box: in a cascade (src/suite/cascade.ts), a score-based stage that lowers the robust
 * accuracy the white-box stages before it left by more than 0.2 points (AutoAttack's check_square_sr) hints
 * at masked gradients.
 */
function squareAfterWhiteBox(name: string, cells: SuiteCellResult[]): SanityCheck {
  const stages = cells.filter((c) => isAttack(c) && c.cascade?.stage !== undefined && (c.eps ?? 0) > 0);
  const gradientAttack = (c: SuiteCellResult) => listAttacks().find((a) => a.name === (c.method ?? c.attack))?.usesGradient;
  const late = stages.filter((c) => gradientAttack(c) === false && stages.some((w) => sameRun(w, c) && w.cascade!.stage! < c.cascade!.stage! && gradientAttack(w)));
  if (late.length === 0) return check(name, 'square-after-white-box', 'skip', 'no cascade with a score-based stage after white-box stages in this run');
  const numbers: Record<string, number> = {};
  const bad: string[] = [];
  let worst = 0;
  for (const c of late) {
    const before = stages.filter((w) => sameRun(w, c) && w.cascade!.stage! < c.cascade!.stage!).sort((a, b) => a.accuracy - b.accuracy)[0];
    const drop = before.accuracy - c.accuracy;
    worst = Math.max(worst, drop);
    numbers[`${c.attack}.${c.path}.${c.eps}.drop`] = drop;
    // The reference's comparison, as it computes it: acc_square < acc - alpha.
    if (c.accuracy < before.accuracy - AUTOATTACK_CHECKS.squareAlpha)
      bad.push(`${c.attack} (path ${c.path}, eps ${c.eps}) lowers ${pct(before.accuracy)} to ${pct(c.accuracy)} (${c.cascade!.broken ?? before.correct - c.correct} samples)`);
  }
  // AutoAttack's rule, with its alpha: warn when acc_square < acc - alpha, acc the lowest robust accuracy before Square.
  const rule = `AutoAttack's check_square_sr warns when the accuracy after the score-based stage is below the lowest before it minus ${AUTOATTACK_CHECKS.squareAlpha}, a drop of more than ${100 * AUTOATTACK_CHECKS.squareAlpha} percentage points`;
  if (bad.length > 0)
    return check(name, 'square-after-white-box', 'warn', `the score-based stage breaks samples the white-box stages left robust: ${bad.join('; ')} (${rule}); the gradients may be masked (run Square with more queries, or an adaptive attack)`, numbers);
  return check(name, 'square-after-white-box', 'pass', `score-based stages lower the white-box stages' robust accuracy by at most ${(100 * worst).toFixed(1)} points (${rule})`, numbers);
}

const sameRun = (a: SuiteCellResult, b: SuiteCellResult) => a.cascade!.label === b.cascade!.label && a.path === b.path && a.eps === b.eps;

/**
 * dlr-classes: AutoAttack's check_n_classes. The DLR loss needs 3 classes (it divides by z_1 - z_3), the
 * targeted DLR 4 (z_1 - (z_3 + z_4) / 2), and a targeted attack over its top-k classes needs k + 1 classes.
 */
function dlrClasses(name: string, numClasses: number, cells: SuiteCellResult[]): SanityCheck {
  const attackCells = cells.filter((c) => isAttack(c) && c.attackParams && !c.copyOf);
  const problems = new Set<string>();
  let users = 0;
  for (const c of attackCells) {
    const method = c.method ?? c.attack ?? '';
    const p = c.attackParams!;
    const targetedDlr = /^apgd-t(-|$)/.test(method) || (p.loss === 'dlr' && p.targeted === true);
    const dlr = targetedDlr || /^apgd-dlr/.test(method) || p.loss === 'dlr';
    const targets = typeof p.targets === 'number' ? p.targets : undefined;
    if (dlr || targets !== undefined) users++;
    if (dlr && numClasses <= 2) problems.add(`${c.attack}: with ${numClasses} classes the DLR loss is not defined`);
    else if (targetedDlr && numClasses <= 3) problems.add(`${c.attack}: with ${numClasses} classes the targeted DLR loss is not defined`);
    if (targets !== undefined && targets + 1 > numClasses) problems.add(`${c.attack}: ${targets} target classes but only ${numClasses - 1} possible`);
  }
  if (users === 0) return check(name, 'dlr-classes', 'skip', 'no DLR or top-k targeted attack in this run');
  if (problems.size > 0) return check(name, 'dlr-classes', 'warn', `${[...problems].join('; ')} (AutoAttack's check_n_classes)`, { numClasses });
  return check(name, 'dlr-classes', 'pass', `${numClasses} classes: enough for the DLR losses and target counts used`, { numClasses });
}

/** Every sanity check for every checkpoint, from the run's records. */
export function computeSanityChecks(input: SanityInput): SanityCheck[] {
  const out: SanityCheck[] = [];
  for (const checkpoint of input.checkpoints) {
    const { name, numClasses } = checkpoint;
    const cells = input.cells.filter((c) => c.checkpoint === name);
    const attackProbes = input.probes.filter((p): p is SuiteCellResult => p.format === 'bench-cell/1' && p.checkpoint === name);
    const gradientProbes = input.probes.filter((p): p is GradientProbeResult => p.format === 'bench-gradient-probe/1' && p.checkpoint === name);
    out.push(
      monotone(name, cells),
      largeEps(name, numClasses, attackProbes),
      moreSteps(name, attackProbes),
      blackBoxNotBetter(name, cells),
      notBetter(name, 'transfer-not-better', 'transfer attack', cells, (c) => Boolean(c.transferFrom)),
      gradients(name, gradientProbes),
      logitsFinite(name, cells, attackProbes),
      scoresAreLogits(checkpoint),
      randomised(name, gradientProbes, cells),
      scoresNotProbabilities(name, gradientProbes),
      squareAfterWhiteBox(name, cells),
      dlrClasses(name, numClasses, cells),
    );
  }
  return out;
}

/** Sanity checks as terminal lines: WARN first, so they are seen. */
export function formatSanity(checks: SanityCheck[]): string {
  const order = { warn: 0, pass: 1, skip: 2 } as const;
  const sorted = [...checks].sort((a, b) => order[a.status] - order[b.status]);
  const warns = checks.filter((c) => c.status === 'warn').length;
  const head = warns > 0 ? `Sanity checks: ${warns} WARNING${warns > 1 ? 'S' : ''} (see below)` : 'Sanity checks: all passed or skipped';
  return [head, ...sorted.map((c) => `  ${c.status.toUpperCase().padEnd(4)} ${c.checkpoint} ${c.name}: ${c.detail}`)].join('\n');
}
