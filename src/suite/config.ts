/**
 * Suite configs: JSON files validated by our own code. We do not use a generic JSON Schema validator
 * (such as ajv) at run time because what must be checked is registry-driven (attack names and their
 * params are validated by each attack's own parseParams; corruption names by the corruption registry,
 * with "did you mean" suggestions) and every error must be the project's one-line
 * `<file>: <field>: <problem> (allowed: ...)`. The hand-written configs/<suite>.schema.json files give
 * editors completion and documentation; a test checks they accept the same keys as this validator.
 */
import { readFileSync } from 'node:fs';
import { inputError, InputError, showValue } from '../engine/errors.js';
import { MODEL_OPTION_KEYS, parseModelOptions, HEAD_OPTIONS, type ModelOptions } from '../models/families/index.js';
import { parseDatasetSpec } from '../datasets/index.js';
import { EXACT_PATH, KNOWN_OUTPUTS, KNOWN_PATHS } from '../models/classifier.js';
import { getAttack } from '../../attacks/registry.js';
import { epsilonRange, maxEpsilon, normAscii, type InputShape } from '../../attacks/threatModels.js';
import type { ThreatModel } from '../../attacks/types.js';
import { didYouMean } from '../engine/suggest.js';
import { DEFAULT_CORRUPTION_NAMES, getCorruption } from '../../corruptions/registry.js';
import { MAX_SEVERITY } from '../../corruptions/types.js';
import type { SuiteName } from '../rundir/records.js';

export const SUITE_NAMES: readonly SuiteName[] = ['adversarial', 'corruption'];

export interface CheckpointEntry {
  /**
   * The model: a bench checkpoint directory, or a TF.js layers-model / graph-model `model.json` (or the
   * directory holding it). Relative paths: the working directory, else the package root. Config files may
   * spell the key `path` or `dir`.
   */
  dir: string;
  /**
   * The prediction output for this model, overriding the suite's `output`: one of the outputs the model
   * declares (CNN-F: first, last, average). For TF.js models, `output` instead says how the model's head
   * is read (logits, probabilities, auto) and is kept in `options.output`.
   */
  output?: string;
  /** Per-model options for the model family (name, inputRange, mean, std, head reading, classNames). */
  options?: ModelOptions;
  /**
   * The command that creates the model at `dir` (e.g. the `bench import` of a released checkpoint). When
   * `dir` does not exist the run stops with one line naming it, instead of a bare "does not exist".
   */
  createWith?: string;
}

/** CNN-F's prediction outputs: the `output` values that choose a prediction output rather than a head reading. */
export const CNNF_OUTPUTS: readonly string[] = ['first', 'last', 'average'];

export interface AttackEntry {
  /** Registry name (`bench list --attacks`). */
  name: string;
  /** Name in cell ids and tables; needed when one attack appears twice with different params. */
  label: string;
  /** Parsed params, every default filled in. */
  params: Record<string, unknown>;
  /**
   * Gradient paths to attack through (gradient attacks only), as the model names them, or `exact` for each
   * model's exact gradient path (CNN-F e2e, TF.js direct); absent = every path the attacked model declares
   * (CNN-F: first, e2e, bpda; TF.js models: direct).
   */
  paths?: string[];
  /** Attack only the first `limit` evaluated images (expensive attacks); absent = all. */
  limit?: number;
  /** Craft on this checkpoint (a config checkpoint's name or dir, or another dir) and evaluate on each target. */
  transferFrom?: string;
  /**
   * This attack's radii (ascending, distinct, in its threat model's range), replacing the suite's
   * `epsilons`: an L2 attack needs radii in another range than an L-inf one.
   */
  epsilons?: number[];
  /**
   * The cascade (ensemble) this entry is a stage of (src/suite/cascade.ts): entries with the same `cascade`
   * label run, in config order, each only on the samples every earlier stage left correct (AutoAttack's
   * way, Croce & Hein 2020). Absent = the entry runs on its own.
   */
  cascade?: string;
}

export interface SanityOptions {
  enabled: boolean;
  /** Images for the probes (large eps, 4x steps, gradients). */
  limit: number;
}

/** What both suites' configs hold besides their own sweep. */
export interface SuiteConfigCommon {
  description?: string;
  checkpoints: CheckpointEntry[];
  /** Prediction output for every model that does not name its own; absent = each model's default (CNN-F: last). */
  output?: string;
  /** The evaluated images: a dataset spec string or config object (src/datasets); absent = fashion-mnist. */
  dataset?: string | Record<string, unknown>;
  /** Where labels come from: the dataset (default) or each model's clean predictions (prediction stability). */
  labels: LabelSource;
  limit: number;
  offset: number;
  batchSize: number;
  seed: number;
}

export interface AdversarialConfig extends SuiteConfigCommon {
  suite: 'adversarial';
  attacks: AttackEntry[];
  /**
   * Radii of the attacks without their own `epsilons`: ascending, distinct, each within the threat model
   * of every attack that uses it ([0, 1] for L-inf, [0, sqrt(H W C)] for L2; attacks/threatModels.ts).
   */
  epsilons: number[];
  sanity: boolean;
  sanityLimit: number;
  /** eps of the more-steps probe (default: the second largest nonzero eps). */
  sanityEps?: number;
}

export interface CorruptionConfig extends SuiteConfigCommon {
  suite: 'corruption';
  /** Corruption names, resolved from 'all' to the full registry list. */
  corruptions: string[];
  /** Ascending, distinct integers 1..5. */
  severities: number[];
  /** Checkpoint name (or dir) whose errors normalise mCE; absent = the first checkpoint. */
  baseline?: string;
}

export type SuiteConfig = AdversarialConfig | CorruptionConfig;

/** `dataset`: the dataset's labels; `model`: each model's clean predictions on the unperturbed images. */
export type LabelSource = 'dataset' | 'model';
export const LABEL_SOURCES: readonly LabelSource[] = ['dataset', 'model'];

export const DEFAULTS = { labels: 'dataset' as LabelSource, limit: 1000, offset: 0, batchSize: 100, seed: 0, sanity: true, sanityLimit: 100 };

const ADVERSARIAL_KEYS = [
  '$schema',
  'suite',
  'description',
  'checkpoints',
  'attacks',
  'epsilons',
  'output',
  'dataset',
  'labels',
  'limit',
  'offset',
  'batchSize',
  'seed',
  'sanity',
  'sanityLimit',
  'sanityEps',
] as const;
const CORRUPTION_KEYS = [
  '$schema',
  'suite',
  'description',
  'checkpoints',
  'corruptions',
  'severities',
  'output',
  'dataset',
  'labels',
  'limit',
  'offset',
  'batchSize',
  'seed',
  'baseline',
] as const;
const CHECKPOINT_KEYS = ['dir', 'createWith', ...MODEL_OPTION_KEYS] as const;
const ATTACK_KEYS = ['name', 'label', 'params', 'paths', 'limit', 'transferFrom', 'epsilons', 'cascade'] as const;

/** Keys the validator accepts, for the schema-agreement test. */
export const CONFIG_KEYS = {
  adversarial: ADVERSARIAL_KEYS,
  corruption: CORRUPTION_KEYS,
  checkpoint: CHECKPOINT_KEYS,
  attack: ATTACK_KEYS,
};

/**
 * Where a field came from, for error messages: a config file's field, or the CLI flag that overrode it.
 * `origins` maps a top-level field name to its flag (e.g. epsilons -> "--epsilons").
 */
class Where {
  /** Image shape of the config's dataset when the format fixes it (the L2 bound at config time), else null. */
  shape: InputShape | null = DATASET_SHAPES['fashion-mnist'];
  constructor(
    readonly file: string,
    readonly origins: Readonly<Record<string, string>> = {},
  ) {}
  field(path: string): string {
    const top = path.split(/[.[]/)[0];
    // Own keys only: a config key named "constructor" or "__proto__" is not a flag.
    const flag = Object.hasOwn(this.origins, top) ? this.origins[top] : undefined;
    if (flag) {
      // A flag's list items are named by the flag alone (the message quotes the bad item).
      const rest = path.slice(top.length);
      return rest === '' || /^\[\d+\]$/.test(rest) ? flag : `${flag}: ${path}`;
    }
    return `${this.file}: ${path}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => showValue(v);

function refuseUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], w: Where, path: string): void {
  for (const key of Object.keys(obj))
    if (!allowed.includes(key)) {
      const shown = key.length > 60 ? `${key.slice(0, 59)}…` : key;
      const at = path ? `${path}.${shown}` : shown;
      const keys = allowed.filter((k) => k !== '$schema');
      throw inputError(w.field(at), `unknown key${didYouMean(key, keys)}`, keys.join(', '));
    }
}

function positiveInt(v: unknown, w: Where, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw inputError(w.field(path), `invalid value ${show(v)}`, 'a positive integer');
  return v;
}

function nonNegativeInt(v: unknown, w: Where, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw inputError(w.field(path), `invalid value ${show(v)}`, 'an integer >= 0');
  return v;
}

function seedOf(v: unknown, w: Where): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw inputError(w.field('seed'), `invalid value ${show(v)}`, 'an integer in 0..4294967295');
  return v;
}

/**
 * A prediction output name. Which names exist depends on the model (CNN-F: first, last, average; TF.js
 * models: logits), so only the form is checked here; the runner checks each model offers it.
 */
function outputOf(v: unknown, w: Where, path: string): string {
  if (typeof v !== 'string' || !KNOWN_OUTPUTS.includes(v))
    throw inputError(w.field(path), `invalid value ${show(v)}${didYouMean(v, KNOWN_OUTPUTS)}`, `${CNNF_OUTPUTS.join(', ')} (CNN-F), logits (TF.js models)`);
  return v;
}

function labelsOf(v: unknown, w: Where): LabelSource {
  if (typeof v !== 'string' || !LABEL_SOURCES.includes(v as LabelSource))
    throw inputError(w.field('labels'), `invalid value ${show(v)}${didYouMean(v, LABEL_SOURCES)}`, LABEL_SOURCES.join(', '));
  return v as LabelSource;
}

function datasetOf(v: unknown, w: Where): string | Record<string, unknown> {
  // Syntax and fields only (no file is read): the runner loads it.
  parseDatasetSpec(v, { where: w.field('dataset') });
  return typeof v === 'string' ? v : { ...(v as Record<string, unknown>) };
}

function nonEmptyList(v: unknown, w: Where, path: string, what: string): unknown[] {
  if (!Array.isArray(v) || v.length === 0) throw inputError(w.field(path), `must be a non-empty list of ${what}`, `a JSON list of ${what}`);
  return v;
}

function nonEmptyString(v: unknown, w: Where, path: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw inputError(w.field(path), `invalid value ${show(v)}`, 'a non-empty string');
  return v;
}

function checkpointsOf(v: unknown, w: Where): CheckpointEntry[] {
  const list = nonEmptyList(v, w, 'checkpoints', 'checkpoints ({"path": ...})');
  const allowed = 'a model path string or {"path": string, "name"?, "output"?, "inputRange"?, "mean"?, "std"?, "classNames"?, "createWith"?}';
  const out = list.map((c, i) => {
    const at = `checkpoints[${i}]`;
    // A bare string is the model's path.
    if (typeof c === 'string') return { dir: nonEmptyString(c, w, at) };
    if (!isObject(c)) throw inputError(w.field(at), `invalid value ${show(c)}`, allowed);
    refuseUnknownKeys(c, CHECKPOINT_KEYS, w, at);
    if (c.dir !== undefined && c.path !== undefined) throw inputError(w.field(at), 'gives both "dir" and "path"', 'one of them');
    const dir = nonEmptyString(c.dir ?? c.path, w, `${at}.${c.dir !== undefined ? 'dir' : 'path'}`);
    const entry: CheckpointEntry = { dir };
    const rest: Record<string, unknown> = { ...c };
    delete rest.dir;
    delete rest.path;
    if (rest.createWith !== undefined) {
      entry.createWith = nonEmptyString(rest.createWith, w, `${at}.createWith`);
      delete rest.createWith;
    }
    // `output` names a prediction output (CNN-F) or how a TF.js head is read (logits, probabilities, auto).
    if (rest.output !== undefined && !(HEAD_OPTIONS as readonly unknown[]).includes(rest.output)) {
      entry.output = outputOf(rest.output, w, `${at}.output`);
      delete rest.output;
    }
    if (Object.keys(rest).length > 0) entry.options = parseModelOptions(rest, w.field(at));
    return entry;
  });
  const seen = new Set<string>();
  out.forEach((c, i) => {
    const key = c.dir.replace(/\/+$/, '');
    if (seen.has(key)) throw inputError(w.field(`checkpoints[${i}]`), `${show(c.dir)} is listed twice`, 'distinct models');
    seen.add(key);
  });
  return out;
}

/**
 * Image shapes of the dataset formats whose files fix them: the L2 bound sqrt(H W C) a config is checked
 * against before anything is loaded. The planner checks every radius again against each attacked model's
 * input shape (the space attacks work in, after any adaptation of the images).
 */
const DATASET_SHAPES: Readonly<Record<string, InputShape>> = {
  'fashion-mnist': { height: 28, width: 28, channels: 1 },
  mnist: { height: 28, width: 28, channels: 1 },
  kmnist: { height: 28, width: 28, channels: 1 },
  cifar10: { height: 32, width: 32, channels: 3 },
  cifar100: { height: 32, width: 32, channels: 3 },
};

function datasetShape(dataset: unknown): InputShape | null {
  const format = typeof dataset === 'string' ? dataset.split(':')[0] : isObject(dataset) ? dataset.format : dataset === undefined ? 'fashion-mnist' : undefined;
  return typeof format === 'string' && Object.hasOwn(DATASET_SHAPES, format) ? DATASET_SHAPES[format] : null;
}

/** The radii an attack entry is evaluated at: its own list, else the suite's. */
export function epsilonsFor(config: Pick<AdversarialConfig, 'epsilons'>, entry: Pick<AttackEntry, 'epsilons'>): number[] {
  return entry.epsilons ?? config.epsilons;
}

/**
 * Validates an epsilon list at `path` against the threat models of the attacks that use it (`users`: the
 * attack's name, its config field and threat model); unused lists against the widest range there is.
 */
function epsilonsOf(v: unknown, w: Where, path: string, users: readonly { name: string; at: string; threatModel: ThreatModel }[]): number[] {
  const shape = w.shape;
  // Without a known image shape the L2 bound waits for the models (planner.ts checkEpsilonsFit).
  const range = (t: ThreatModel) =>
    shape ? { max: maxEpsilon(t, shape), allowed: epsilonRange(t, shape) } : t === 'linf' ? { max: 1, allowed: epsilonRange('linf', { height: 1, width: 1, channels: 1 }) } : { max: Infinity, allowed: 'finite numbers >= 0 (L2 radius in [0,1] pixel units, at most the diagonal of the model input)' };
  const ranges: { max: number; what: string; allowed: string }[] = users.map((u) => ({
    ...range(u.threatModel),
    what: ` for the ${normAscii(u.threatModel)} attack ${u.name} (${u.at})`,
  }));
  if (ranges.length === 0) ranges.push({ ...range('l2'), what: '' });
  const tightest = ranges.reduce((a, b) => (b.max < a.max ? b : a));
  const list = nonEmptyList(v, w, path, tightest.allowed);
  list.forEach((e, i) => {
    if (typeof e !== 'number' || !Number.isFinite(e) || e < 0)
      throw inputError(w.field(`${path}[${i}]`), `invalid epsilon ${show(e)}`, tightest.allowed);
    const over = ranges.find((r) => e > r.max);
    if (over) throw inputError(w.field(`${path}[${i}]`), `invalid epsilon ${show(e)}${over.what}`, over.allowed);
  });
  const eps = list as number[];
  const dup = eps.find((e, i) => eps.indexOf(e) !== i);
  if (dup !== undefined) throw inputError(w.field(path), `epsilon ${dup} is listed twice`, `distinct ${tightest.allowed}`);
  return [...eps].sort((a, b) => a - b);
}

function severitiesOf(v: unknown, w: Where): number[] {
  const list = nonEmptyList(v, w, 'severities', `integers 1..${MAX_SEVERITY}`);
  list.forEach((s, i) => {
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > MAX_SEVERITY)
      throw inputError(w.field(`severities[${i}]`), `invalid severity ${show(s)}`, `integers 1..${MAX_SEVERITY}`);
  });
  const sev = list as number[];
  const dup = sev.find((s, i) => sev.indexOf(s) !== i);
  if (dup !== undefined) throw inputError(w.field('severities'), `severity ${dup} is listed twice`, `distinct integers 1..${MAX_SEVERITY}`);
  return [...sev].sort((a, b) => a - b);
}

/**
 * Where each parsed attack entry's params came from (`file: attacks[i].params`, or the flag that built it),
 * for errors raised after parsing (Attack.checkModel at planning). Kept outside the entry so that run.json
 * and resume comparisons see the entry as before; an entry copied elsewhere has no location.
 */
const paramsLocations = new WeakMap<AttackEntry, string>();

/** The location of `entry`'s params in the config it was parsed from (see paramsLocations), if known. */
export function attackParamsLocation(entry: AttackEntry): string | undefined {
  return paramsLocations.get(entry);
}

function attacksOf(v: unknown, w: Where): AttackEntry[] {
  const list = nonEmptyList(v, w, 'attacks', 'attacks ({"name": ...})');
  const entries = list.map((a, i): AttackEntry => {
    const at = `attacks[${i}]`;
    const raw: Record<string, unknown> = typeof a === 'string' ? { name: a } : isObject(a) ? a : {};
    if (typeof a !== 'string' && !isObject(a))
      throw inputError(w.field(at), `invalid value ${show(a)}`, 'an attack name or {"name", "params"?, "paths"?, "limit"?, "transferFrom"?, "label"?}');
    refuseUnknownKeys(raw, ATTACK_KEYS, w, at);
    const name = nonEmptyString(raw.name, w, `${at}.name`);
    const attack = getAttack(name, w.field(`${at}.name`));
    const params = attack.parseParams(raw.params, w.field(`${at}.params`)) as Record<string, unknown>;
    let paths: string[] | undefined;
    // A score-based attack takes no paths (an empty list, as run.json records it, is accepted).
    if (raw.paths !== undefined && !(Array.isArray(raw.paths) && raw.paths.length === 0 && !attack.usesGradient)) {
      if (!attack.usesGradient)
        throw inputError(w.field(`${at}.paths`), `${name} is score-based and takes no gradient paths`, 'leave "paths" out');
      const allowed = `first, e2e, bpda (CNN-F), direct (TF.js models), ${EXACT_PATH} (each model's exact gradient: e2e, direct)`;
      const given = nonEmptyList(raw.paths, w, `${at}.paths`, allowed);
      const names = [...KNOWN_PATHS, EXACT_PATH];
      given.forEach((p, j) => {
        if (typeof p !== 'string' || !names.includes(p))
          throw inputError(w.field(`${at}.paths[${j}]`), `invalid path ${show(p)}${didYouMean(p, names)}`, allowed);
      });
      if (new Set(given).size !== given.length) throw inputError(w.field(`${at}.paths`), 'a path is listed twice', allowed);
      paths = given as string[];
    }
    if (!attack.usesGradient) paths = [];
    const entry: AttackEntry = { name, label: name, params, ...(paths !== undefined ? { paths } : {}) };
    if (raw.epsilons !== undefined)
      entry.epsilons = epsilonsOf(raw.epsilons, w, `${at}.epsilons`, [{ name, at, threatModel: attack.threatModel }]);
    if (raw.limit !== undefined) entry.limit = positiveInt(raw.limit, w, `${at}.limit`);
    if (raw.transferFrom !== undefined) {
      entry.transferFrom = nonEmptyString(raw.transferFrom, w, `${at}.transferFrom`);
      entry.label = `${name}@${entry.transferFrom.replace(/\/+$/, '').split('/').pop()}`;
    }
    if (raw.label !== undefined) {
      const label = nonEmptyString(raw.label, w, `${at}.label`);
      if (!/^[A-Za-z0-9._@+-]+$/.test(label))
        throw inputError(w.field(`${at}.label`), `invalid label ${show(label)}`, 'letters, digits and . _ @ + -');
      entry.label = label;
    }
    if (raw.cascade !== undefined) {
      const cascade = nonEmptyString(raw.cascade, w, `${at}.cascade`);
      if (!/^[A-Za-z0-9._@+-]+$/.test(cascade))
        throw inputError(w.field(`${at}.cascade`), `invalid cascade label ${show(cascade)}`, 'letters, digits and . _ @ + -');
      entry.cascade = cascade;
    }
    paramsLocations.set(entry, w.field(`${at}.params`));
    return entry;
  });
  checkCascades(entries, list, w);
  const labels = entries.map((e) => e.label);
  // The later of two entries with one label is the one named in the error.
  const dup = labels.findIndex((l, i) => labels.indexOf(l) !== i);
  if (dup >= 0)
    throw inputError(
      w.field(`attacks[${dup}]`),
      `two attacks are labelled ${show(labels[dup])}; cell ids would collide`,
      'a distinct "label" for each entry (e.g. "pgd40")',
    );
  return entries;
}

/**
 * The rules of a cascade (src/suite/cascade.ts): its stages share the samples, the radii and the gradient
 * paths, so a stage may not have its own `limit` or `transferFrom`; the stages' epsilon lists (their own or
 * the suite's) and threat models must agree, and so must the gradient stages' `paths`; the cascade's label
 * is not an entry's label (its worst-case cells are named by it).
 */
function checkCascades(entries: readonly AttackEntry[], raw: readonly unknown[], w: Where): void {
  const labels = [...new Set(entries.flatMap((e) => (e.cascade ? [e.cascade] : [])))];
  for (const label of labels) {
    const stages = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.cascade === label);
    const first = stages[0];
    const clash = entries.findIndex((e) => e.label === label);
    if (clash >= 0)
      throw inputError(w.field(`attacks[${first.i}].cascade`), `the cascade ${show(label)} has the label of attacks[${clash}]; cell ids would collide`, 'a cascade label no attack entry uses');
    const threatModel = getAttack(first.e.name).threatModel;
    let gradientPaths: string[] | undefined | null = null;
    for (const { e, i } of stages) {
      const at = `attacks[${i}]`;
      const given = isObject(raw[i]) ? (raw[i] as Record<string, unknown>) : {};
      for (const key of ['limit', 'transferFrom'] as const)
        if (given[key] !== undefined)
          throw inputError(w.field(`${at}.${key}`), `a stage of the cascade ${show(label)} runs on every evaluated image of every target`, `leave "${key}" out of cascade stages`);
      const attack = getAttack(e.name);
      if (attack.threatModel !== threatModel)
        throw inputError(w.field(`${at}.name`), `${e.name} is ${normAscii(attack.threatModel)} but the cascade ${show(label)} starts with an ${normAscii(threatModel)} attack`, `${normAscii(threatModel)} attacks in one cascade`);
      if (JSON.stringify(e.epsilons ?? null) !== JSON.stringify(first.e.epsilons ?? null))
        throw inputError(w.field(`${at}.epsilons`), `the stages of the cascade ${show(label)} must share their radii`, 'the same "epsilons" in every stage (or none)');
      if (!attack.usesGradient) continue;
      const paths = e.paths === undefined ? undefined : [...e.paths].sort();
      if (gradientPaths !== null && JSON.stringify(paths ?? null) !== JSON.stringify(gradientPaths ?? null))
        throw inputError(w.field(`${at}.paths`), `the gradient stages of the cascade ${show(label)} must attack the same paths`, 'the same "paths" in every gradient stage (or none)');
      gradientPaths = paths;
    }
  }
}

function corruptionsOf(v: unknown, w: Where, all: readonly string[]): string[] {
  if (v === 'all') return [...all];
  const list = nonEmptyList(v, w, 'corruptions', 'corruption names, or "all"');
  const names = list.map((c, i) => {
    if (typeof c !== 'string') throw inputError(w.field(`corruptions[${i}]`), `invalid value ${show(c)}`, 'corruption names');
    return getCorruption(c, w.field(`corruptions[${i}]`)).name;
  });
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw inputError(w.field('corruptions'), `${dup} is listed twice`, 'distinct corruption names');
  return names;
}

function commonFields(raw: Record<string, unknown>, w: Where) {
  return {
    description: raw.description === undefined ? undefined : nonEmptyString(raw.description, w, 'description'),
    checkpoints: checkpointsOf(raw.checkpoints, w),
    ...(raw.output === undefined ? {} : { output: outputOf(raw.output, w, 'output') }),
    ...(raw.dataset === undefined ? {} : { dataset: datasetOf(raw.dataset, w) }),
    labels: raw.labels === undefined ? DEFAULTS.labels : labelsOf(raw.labels, w),
    limit: raw.limit === undefined ? DEFAULTS.limit : positiveInt(raw.limit, w, 'limit'),
    offset: raw.offset === undefined ? DEFAULTS.offset : nonNegativeInt(raw.offset, w, 'offset'),
    batchSize: raw.batchSize === undefined ? DEFAULTS.batchSize : positiveInt(raw.batchSize, w, 'batchSize'),
    seed: raw.seed === undefined ? DEFAULTS.seed : seedOf(raw.seed, w),
  };
}

function requireField(raw: Record<string, unknown>, key: string, w: Where, allowed: string): void {
  if (raw[key] === undefined) throw inputError(w.field(key), 'is required', allowed);
}

/**
 * Validates a parsed config object and fills in defaults. `file` names the config in errors;
 * `origins` names the CLI flag of every field a flag overrode. `allCorruptions` is what "all" means.
 */
export function validateConfig(
  raw: unknown,
  file: string,
  origins: Readonly<Record<string, string>> = {},
  allCorruptions?: readonly string[],
): SuiteConfig {
  const w = new Where(file, origins);
  if (!isObject(raw)) throw inputError(file, 'a suite config must be a JSON object', '{"suite": "adversarial" | "corruption", ...}');
  w.shape = datasetShape(raw.dataset);
  if (raw.suite !== 'adversarial' && raw.suite !== 'corruption')
    throw inputError(
      w.field('suite'),
      raw.suite === undefined ? 'is required' : `unknown suite ${show(raw.suite)}${didYouMean(raw.suite, SUITE_NAMES)}`,
      SUITE_NAMES.join(', '),
    );
  if (raw.suite === 'adversarial') {
    refuseUnknownKeys(raw, ADVERSARIAL_KEYS, w, '');
    requireField(raw, 'checkpoints', w, 'a list of checkpoint directories');
    requireField(raw, 'attacks', w, 'a list of attacks');
    const common = commonFields(raw, w);
    const attacks = attacksOf(raw.attacks, w);
    // The suite's list serves the attacks without their own; it must fit each one's threat model.
    const users = attacks.flatMap((a, i) => (a.epsilons ? [] : [{ name: a.name, at: `attacks[${i}]`, threatModel: getAttack(a.name).threatModel }]));
    if (users.length > 0)
      requireField(raw, 'epsilons', w, 'a list of radii (or "epsilons" in every attack entry)');
    const config: AdversarialConfig = {
      suite: 'adversarial',
      ...common,
      attacks,
      // No suite list when every entry has its own: [] (what run.json records then, read back on --resume).
      epsilons: raw.epsilons === undefined || (users.length === 0 && Array.isArray(raw.epsilons) && raw.epsilons.length === 0) ? [] : epsilonsOf(raw.epsilons, w, 'epsilons', users),
      sanity: raw.sanity === undefined ? DEFAULTS.sanity : booleanOf(raw.sanity, w, 'sanity'),
      sanityLimit: raw.sanityLimit === undefined ? DEFAULTS.sanityLimit : positiveInt(raw.sanityLimit, w, 'sanityLimit'),
    };
    if (raw.sanityEps !== undefined) {
      const e = raw.sanityEps;
      if (typeof e !== 'number' || !Number.isFinite(e) || e <= 0 || e > 1)
        throw inputError(w.field('sanityEps'), `invalid epsilon ${show(e)}`, 'a number in (0, 1] (L-inf radius of the PGD sanity probes, [0,1] pixel units)');
      config.sanityEps = e;
    }
    if (config.description === undefined) delete config.description;
    return config;
  }
  refuseUnknownKeys(raw, CORRUPTION_KEYS, w, '');
  requireField(raw, 'checkpoints', w, 'a list of checkpoint directories');
  const common = commonFields(raw, w);
  const all = allCorruptions ?? DEFAULT_CORRUPTION_NAMES;
  const config: CorruptionConfig = {
    suite: 'corruption',
    ...common,
    corruptions: corruptionsOf(raw.corruptions ?? 'all', w, all),
    severities: raw.severities === undefined ? [1, 2, 3, 4, 5] : severitiesOf(raw.severities, w),
  };
  if (raw.baseline !== undefined) config.baseline = nonEmptyString(raw.baseline, w, 'baseline');
  if (config.description === undefined) delete config.description;
  return config;
}

function booleanOf(v: unknown, w: Where, path: string): boolean {
  if (typeof v !== 'boolean') throw inputError(w.field(path), `invalid value ${show(v)}`, 'true, false');
  return v;
}

/** Reads and parses a JSON file; a missing file or bad JSON is one InputError line. */
export function readJsonFile(path: string, what = 'config'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read the ${what} (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(path, `not valid JSON (${(err as Error).message})`);
  }
}

/** Flags that override config fields; strings are as typed on the command line. */
export interface ConfigOverrides {
  limit?: number;
  offset?: number;
  batchSize?: number;
  seed?: number;
  epsilons?: string;
  attacks?: string;
  corruptions?: string;
  severities?: string;
  checkpoints?: string;
  output?: string;
  sanity?: boolean;
  /** Dataset spec, e.g. fashion-mnist, cifar10:DIR, folder:DIR, npz:FILE. */
  dataset?: string;
  /** dataset | model. */
  labels?: string;
}

const FLAG_OF: Record<keyof ConfigOverrides, string> = {
  limit: '--limit',
  offset: '--offset',
  batchSize: '--batch-size',
  seed: '--seed',
  epsilons: '--epsilons',
  attacks: '--attacks',
  corruptions: '--corruptions',
  severities: '--severities',
  checkpoints: '--checkpoints',
  output: '--output',
  sanity: '--sanity',
  dataset: '--dataset',
  labels: '--labels',
};

const ADVERSARIAL_ONLY: (keyof ConfigOverrides)[] = ['epsilons', 'attacks', 'sanity'];
const CORRUPTION_ONLY: (keyof ConfigOverrides)[] = ['corruptions', 'severities'];

function splitList(text: string, flag: string): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw inputError(flag, `empty list ${show(text)}`, 'a comma-separated list');
  return items;
}

function numberList(text: string, flag: string): number[] {
  return splitList(text, flag).map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n)) throw inputError(flag, `${show(s)} is not a number`, 'comma-separated numbers, e.g. 0,0.01,0.03');
    return n;
  });
}

/**
 * Applies CLI overrides to a raw (unvalidated) config object, returning the new object and the
 * origins map for validateConfig so errors name the flag. `--attacks a,b` keeps the config's entries
 * whose label or name is listed (with their params) and adds registry defaults for names not in it.
 * `typed` names a flag as the user typed it when that was an alias (`--models` for checkpoints).
 */
export function applyOverrides(
  raw: unknown,
  o: ConfigOverrides,
  typed: Partial<Record<keyof ConfigOverrides, string>> = {},
): { raw: unknown; origins: Record<string, string> } {
  if (!isObject(raw)) return { raw, origins: {} };
  const out: Record<string, unknown> = { ...raw };
  const origins: Record<string, string> = {};
  const suite = raw.suite;
  for (const key of Object.keys(o) as (keyof ConfigOverrides)[]) {
    const value = o[key];
    if (value === undefined) continue;
    const flag = typed[key] ?? FLAG_OF[key];
    if (suite === 'corruption' && ADVERSARIAL_ONLY.includes(key))
      throw inputError(flag, 'applies to the adversarial suite only', CORRUPTION_ONLY.map((k) => FLAG_OF[k]).join(', ') + ' for corruption runs');
    if (suite === 'adversarial' && CORRUPTION_ONLY.includes(key))
      throw inputError(flag, 'applies to the corruption suite only', ADVERSARIAL_ONLY.map((k) => FLAG_OF[k]).join(', ') + ' for adversarial runs');
    origins[key] = flag;
    switch (key) {
      case 'epsilons':
        out.epsilons = numberList(value as string, flag);
        break;
      case 'severities':
        out.severities = numberList(value as string, flag);
        break;
      case 'checkpoints': {
        const dirs = splitList(value as string, flag);
        out.checkpoints = dirs.map((dir) => ({ dir }));
        // The config's mCE baseline only survives if it is among the new checkpoints (names are usually folder names).
        const base = typeof raw.baseline === 'string' ? raw.baseline.replace(/\/+$/, '') : undefined;
        if (base !== undefined && !dirs.some((d) => d.replace(/\/+$/, '') === base || d.replace(/\/+$/, '').split('/').pop() === base.split('/').pop()))
          delete out.baseline;
        break;
      }
      case 'corruptions': {
        const text = (value as string).trim();
        out.corruptions = text === 'all' ? 'all' : splitList(text, flag);
        break;
      }
      case 'attacks': {
        const existing = Array.isArray(raw.attacks) ? raw.attacks : [];
        const labelOf = (a: unknown) => (typeof a === 'string' ? a : isObject(a) ? (a.label ?? a.name) : undefined);
        const nameOf = (a: unknown) => (typeof a === 'string' ? a : isObject(a) ? a.name : undefined);
        out.attacks = splitList(value as string, flag).flatMap((want) => {
          const byLabel = existing.filter((a) => labelOf(a) === want);
          if (byLabel.length > 0) return byLabel;
          const byName = existing.filter((a) => nameOf(a) === want);
          return byName.length > 0 ? byName : [{ name: want }];
        });
        break;
      }
      default:
        out[key] = value;
    }
  }
  // --epsilons sets the radii of every attack: entries' own lists give way (each attack still checks them against its threat model).
  if (o.epsilons !== undefined && Array.isArray(out.attacks))
    out.attacks = out.attacks.map((a: unknown) => {
      if (!isObject(a) || a.epsilons === undefined) return a;
      const copy = { ...a };
      delete copy.epsilons;
      return copy;
    });
  return { raw: out, origins };
}
