/**
 * `bench run`'s executor: config -> plan -> (shard) -> run directory -> cells -> sanity checks. It returns
 * the outcome and renders nothing: the CLI runs the reporters (src/report/reporters/) on it.
 * Input problems are found before any model is loaded where possible and are InputErrors (exit code 2).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { vectorExtensions } from '../engine/cpuSignature.js';
import { cpus, hostname, totalmem } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { inputError, InputError, StorageError } from '../engine/errors.js';
import { getCorruption } from '../../corruptions/registry.js';
import type { BackendInfo } from '../engine/backend.js';
import { packageRoot } from '../data/fashionMnist.js';
import { adaptDataset, DEFAULT_DATASET, loadDataset, type ImageDataset } from '../datasets/index.js';
import { shortSliceNotice } from '../datasets/common.js';
import { batches, toBatch } from '../data/batching.js';
import { tf } from '../engine/tf.js';
import { dirname } from 'node:path';
import { didYouMean } from '../engine/suggest.js';
import { applyOverrides, readJsonFile, SUITE_NAMES, validateConfig, type ConfigOverrides, type SuiteConfig } from './config.js';
import { loadSuiteModel, type SuiteModel } from './loadClassifier.js';
import { parseShard, planAdversarial, planCorruption, restrictPlan, shardUnits, type ModelInfo, type Plan, type PlanUnit, type Shard } from './planner.js';
import { CLAIMS_DIR, claimOrder, claimUnit, resetClaims, startHelper } from './workers.js';
import { checkFileNames, RUN_FILE } from '../rundir/files.js';
import { checkCreatable, createDirectory } from '../rundir/createDir.js';
import { checkRunLock, RunLock } from '../rundir/lock.js';
import { planRecord, RUN_FORMAT } from '../rundir/manifest.js';
import type { CheckpointRef, ProbeRecord, SanityCheck, SuiteCellResult, SuiteName, SuiteRunManifest } from '../rundir/records.js';
import { RunStore } from '../rundir/store.js';
import { dataFor, runCleanCell, type RunContext } from './context.js';
import { runAttackUnit, runGradientProbe } from './adversarial.js';
import { runCascadeUnit, type StageExecutor } from './cascade.js';
import { answeringExecutor, captureExamples, cascadeParts, type CascadePartFile, readPart, recordingExecutor, removeParts, replayExamples, withCascadeParts, writePart } from './cascadeParts.js';
import { runCorruptionUnit, type CorruptionLookup } from './corruption.js';
import { computeSanityChecks } from './sanity.js';
import { ADVERSARIAL_ROWS, cascadePanel, IMAGES_DIR, sweepPanel, writeRunImages } from './images.js';
import type { RunData } from '../rundir/read.js';

export interface RunRequest {
  /** Which suite; with no --config its default config configs/<suite>.json is used. */
  suite?: string;
  configFile?: string;
  /** A named config shipped in configs/ (PRESETS, e.g. autoattack), instead of a config file. */
  preset?: string;
  overrides?: ConfigOverrides;
  /** Override flags given under an alias, as typed (e.g. checkpoints: '--models'), so errors name them. */
  typedFlags?: Partial<Record<keyof ConfigOverrides, string>>;
  /** Run directory (default reports/<suite>-<timestamp>). */
  out?: string;
  /** Finish the run in this directory: only missing cells are computed. */
  resume?: string;
  /** "i/n". */
  shard?: string;
  /** Processes computing cells in parallel (default 1); see workers.ts. */
  workers?: number;
  /** A helper process of a parallel run (workers.ts): works under its lead's lock of the run directory. */
  helper?: boolean;
}

export interface PreparedRun {
  config: SuiteConfig;
  configFile: string | null;
  shard: Shard | null;
  runDir: string;
  /** Set for --resume. */
  resumed: { store: RunStore; manifest: SuiteRunManifest } | null;
  workers: number;
  /** Config fields set by flags (field -> flag): their paths resolve against the working directory. */
  origins?: Readonly<Record<string, string>>;
}

export interface ExecuteOptions {
  backend: BackendInfo;
  quiet?: boolean;
  /** Progress bars (default process.stderr). */
  progressStream?: NodeJS.WriteStream;
  /** Corruption lookup (tests may plug in their own). */
  corruptionLookup?: CorruptionLookup;
  /** This process is a helper of a parallel run: compute claimed units, print nothing. */
  helper?: boolean;
  /** Tests: transform the loaded images (e.g. relabel them) before evaluation. */
  transformData?: (data: ImageDataset) => ImageDataset | Promise<ImageDataset>;
  /** Called with every cell and probe this process writes or reads back, in execution order (tests, scripts). */
  onCell?: (cell: SuiteCellResult) => void;
}

export interface RunOutcome {
  runDir: string;
  manifest: SuiteRunManifest;
  cells: SuiteCellResult[];
  probes: ProbeRecord[];
  sanity: SanityCheck[];
}

/** The outcome as the run's records, what reporters render (the cells this process ran or read back). */
export function outcomeRun(outcome: RunOutcome): RunData {
  return { dir: outcome.runDir, manifest: outcome.manifest, cells: outcome.cells, sanity: outcome.sanity };
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function defaultRunDir(suite: string): string {
  const base = join('reports', `${suite}-${timestamp()}`);
  let dir = base;
  for (let k = 2; existsSync(dir); k++) dir = `${base}-${k}`;
  return dir;
}

const RESUME_CONFLICTS: Record<string, string> = { configFile: '--config', preset: '--preset', out: '--out', shard: '--shard', suite: '--suite' };
/** What `bench run --resume DIR` may still be given: how the run is carried out and reported, never what it computes. */
const RESUME_ALLOWED = '--resume DIR with only --quiet, --backend, --workers, --reporter and --summary';

/**
 * Named configs (`bench run --preset NAME` reads configs/NAME.json): AutoAttack's standard version as a
 * cascade (Croce & Hein 2020), L-inf and L2.
 */
export const PRESETS: Readonly<Record<string, string>> = {
  autoattack: "AutoAttack's standard version, L-inf: APGD-CE, APGD-T, FAB-T, Square as a cascade",
  'autoattack-l2': "AutoAttack's standard version, L2: APGD-CE, APGD-T, FAB-T, Square as a cascade",
};

/** The config file of a preset; an unknown name is one InputError line. */
export function presetConfigFile(name: string): string {
  if (!Object.hasOwn(PRESETS, name)) throw inputError('--preset', `unknown preset ${JSON.stringify(name)}${didYouMean(name, Object.keys(PRESETS))}`, Object.keys(PRESETS).join(', '));
  return join(packageRoot(), 'configs', `${name}.json`);
}

/** Reads, overrides and validates the config (no model or data is loaded). */
export async function prepareRun(req: RunRequest): Promise<PreparedRun> {
  const workers = req.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw inputError('--workers', `invalid value ${workers}`, 'an integer 1..64');
  if (req.resume !== undefined) {
    for (const [key, flag] of Object.entries(RESUME_CONFLICTS))
      if ((req as Record<string, unknown>)[key] !== undefined)
        throw inputError(flag, '--resume continues a run with its own settings (run.json)', RESUME_ALLOWED);
    const given = Object.entries(req.overrides ?? {}).filter(([, v]) => v !== undefined);
    if (given.length > 0)
      throw inputError(req.typedFlags?.[given[0][0] as keyof ConfigOverrides] ?? `--${given[0][0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, '--resume continues a run with its own config (run.json)', RESUME_ALLOWED);
    const { store, manifest } = await RunStore.open(req.resume);
    // Refuse early (before the backend starts) when another run is working here; the lead takes the lock in executeRun.
    if (!req.helper) await checkRunLock(req.resume);
    const config = validateConfig(manifest.config, `${join(req.resume, 'run.json')}: config`);
    return { config, configFile: manifest.configFile, shard: manifest.shard, runDir: req.resume, resumed: { store, manifest }, workers, origins: manifest.origins };
  }
  if (req.suite !== undefined && !SUITE_NAMES.includes(req.suite as SuiteName))
    throw inputError('--suite', `unknown suite ${JSON.stringify(req.suite)}`, SUITE_NAMES.join(', '));
  if (req.preset !== undefined && req.configFile !== undefined)
    throw inputError('--preset', 'a preset is a config; it cannot be combined with --config', '--preset NAME or --config FILE');
  if (req.suite === undefined && req.configFile === undefined && req.preset === undefined)
    throw inputError('bench run', 'name a suite, a preset or a config file', '--suite adversarial|corruption, --preset autoattack, or --config FILE');
  const configFile = req.configFile ?? (req.preset !== undefined ? presetConfigFile(req.preset) : join(packageRoot(), 'configs', `${req.suite}.json`));
  const raw = readJsonFile(configFile);
  const { raw: overridden, origins } = applyOverrides(raw, req.overrides ?? {}, req.typedFlags);
  const config = validateConfig(overridden, configFile, origins);
  if (req.suite !== undefined && config.suite !== req.suite)
    throw inputError(`${configFile}: suite`, `the config is for the ${config.suite} suite but --suite says ${req.suite}`, config.suite);
  const shard = req.shard !== undefined ? parseShard(req.shard) : null;
  const runDir = req.out ?? defaultRunDir(shard ? `${config.suite}-shard${shard.index}of${shard.count}` : config.suite);
  if (existsSync(join(runDir, 'run.json')))
    throw inputError('--out', `${runDir} already holds a run`, `a new directory, or --resume ${runDir} to finish it`);
  if (existsSync(runDir) && !statSync(runDir).isDirectory()) throw inputError('--out', `${runDir} is not a directory`, 'a new or existing directory');
  await checkCreatable(runDir);
  await checkRunLock(runDir);
  return { config, configFile: req.configFile ?? configFile, shard, runDir, resumed: null, workers, origins };
}

/**
 * The config as run.json stores it: a deep copy in the form validateConfig reads, because helper processes
 * and --resume validate it again. Per-model options (held in `checkpoints[i].options` once validated) are
 * written back as the entry's own keys, as a config file gives them; lossless, since an entry's `output`
 * is either its own (a CNN-F output) or its options' (a TF.js head reading), never both.
 */
function recordedConfig(config: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  if (Array.isArray(copy.checkpoints))
    copy.checkpoints = copy.checkpoints.map((c: unknown) => {
      if (typeof c !== 'object' || c === null || !('options' in c)) return c;
      const { options, ...entry } = c as Record<string, unknown>;
      return { ...entry, ...(options as Record<string, unknown>) };
    });
  return copy;
}

/** A relative checkpoint dir is looked up in the working directory, then in the package root (the shipped checkpoints). */
export function resolveCheckpointDir(dir: string): string {
  if (isAbsolute(dir) || existsSync(dir)) return dir;
  const inPackage = join(packageRoot(), dir);
  return existsSync(inPackage) ? inPackage : dir;
}

function benchVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** FLOPs of one forward pass of the Fashion-MNIST CNN, the planner's cost unit (docs/performance.md). */
const CNN_FORWARD_FLOPS = 35.66e6;

const infoOf = (m: SuiteModel): ModelInfo => ({
  name: m.ref.name,
  dir: m.ref.dir,
  cycles: m.cost.feedbackCycles,
  output: m.ref.output,
  numClasses: m.classifier.numClasses,
  gradientPaths: m.classifier.gradientPaths,
  exactPath: m.classifier.exactPath,
  // Fashion-MNIST CNN-F checkpoints keep the measured cycle-based cost model; other models (the CIFAR
  // Wide-ResNet CNN-F, architecture family cnnf-wrn, included) are scaled by their first-pass FLOPs.
  ...(m.ref.family !== 'cnnf' && m.cost.forwardFlopsPerImage ? { costScale: m.cost.forwardFlopsPerImage / CNN_FORWARD_FLOPS } : {}),
});
const normDir = (d: string) => resolve(d).replace(/\/+$/, '');

/** Names a checkpoints[] entry in messages: the config file's field, or the --checkpoints flag. */
/** Where a model entry came from: `--models: 2` (the flag as typed, 1-based item) or `<config>: checkpoints[1]`. */
function entryWhere(configFile: string | null, flag: string | undefined, i: number): string {
  return flag ? `${flag}: ${i + 1}` : `${configFile ?? 'config'}: checkpoints[${i}]`;
}

async function loadModels(
  config: SuiteConfig,
  configFile: string | null,
  origins: Readonly<Record<string, string>>,
): Promise<{ targets: SuiteModel[]; sources: Map<string, SuiteModel> }> {
  const targets: SuiteModel[] = [];
  const checkpointsFlag = Object.hasOwn(origins, 'checkpoints') ? origins.checkpoints : undefined;
  const baseDir = configFile && !checkpointsFlag ? dirname(configFile) : undefined;
  const loaded: SuiteModel[] = [];
  try {
    for (const [i, entry] of config.checkpoints.entries()) {
      const path = resolveCheckpointDir(entry.dir);
      if (entry.createWith !== undefined && !existsSync(path))
        throw inputError(entryWhere(configFile, checkpointsFlag, i), `${entry.dir} does not exist; create it with: ${entry.createWith}`);
      const m = await loadSuiteModel({
        path,
        output: entry.output ?? config.output,
        // An output the model lacks is the fault of --output when that flag chose it.
        ...(entry.output === undefined && config.output !== undefined && Object.hasOwn(origins, 'output') ? { outputWhere: origins.output } : {}),
        options: entry.options,
        where: entryWhere(configFile, checkpointsFlag, i),
        ...(baseDir ? { baseDir } : {}),
      });
      loaded.push(m);
      m.ref.dir = entry.dir;
      const twin = targets.find((t) => t.ref.name === m.ref.name);
      if (twin)
        throw inputError(
          entryWhere(configFile, checkpointsFlag, i),
          `${entry.dir} and ${twin.ref.dir} are both named ${JSON.stringify(m.ref.name)}; cell ids would collide`,
          'models with distinct names (give one a "name")',
        );
      targets.push(m);
    }
    const sources = new Map<string, SuiteModel>();
    if (config.suite === 'adversarial')
      for (const entry of config.attacks) {
        const from = entry.transferFrom;
        if (!from || sources.has(from)) continue;
        const known =
          targets.find((t) => t.ref.name === from) ??
          targets.find((t) => normDir(resolveCheckpointDir(t.ref.dir)) === normDir(resolveCheckpointDir(from))) ??
          [...sources.values()].find((s) => s.ref.name === from);
        if (known) {
          sources.set(from, known);
          continue;
        }
        const dir = resolveCheckpointDir(from);
        if (!existsSync(dir))
          throw inputError(
            `attacks: transferFrom`,
            `${JSON.stringify(from)} is neither a checkpoint of this config nor a model path`,
            targets.map((t) => t.ref.name).join(', ') + ', or a model path',
          );
        const m = await loadSuiteModel({ path: dir, where: `attacks: transferFrom ${from}`, ...(config.output ? { output: config.output } : {}) });
        loaded.push(m);
        m.ref.dir = from;
        sources.set(from, m);
        for (const t of targets)
          if (t.classifier.inputShape.join('x') !== m.classifier.inputShape.join('x'))
            throw inputError(
              'attacks: transferFrom',
              `${m.ref.name} takes ${m.classifier.inputShape.join('x')} images but the target ${t.ref.name} takes ${t.classifier.inputShape.join('x')}`,
              'a transfer source with the targets\' input shape',
            );
      }
    return { targets, sources };
  } catch (err) {
    for (const m of loaded) m.dispose();
    throw err;
  }
}

/**
 * The images and labels each model is evaluated on: the dataset adapted to its input shape (one printed
 * notice per adaptation), with the dataset's labels (whose class count must match the model's) or, with
 * `labels: model`, the model's own clean predictions.
 */
function dataPerModel(
  data: ImageDataset,
  models: readonly SuiteModel[],
  labels: 'dataset' | 'model',
  batchSize: number,
  say: (line: string) => void,
): Map<string, ImageDataset> {
  const out = new Map<string, ImageDataset>();
  const byShape = new Map<string, ImageDataset>();
  for (const m of models) {
    if (out.has(m.ref.name)) continue;
    const key = m.classifier.inputShape.join('x');
    let adapted = byShape.get(key);
    if (!adapted) {
      const r = adaptDataset(data, m.classifier.inputShape, `dataset ${data.record?.source ?? data.source}`);
      if (r.notice) say(`notice: ${r.notice}`);
      adapted = r.data;
      byShape.set(key, adapted);
    }
    if (labels === 'dataset') {
      const classes = data.record?.numClasses ?? data.classNames.length;
      if (classes !== m.classifier.numClasses)
        throw inputError(
          `model ${JSON.stringify(m.ref.name)}`,
          `has ${m.classifier.numClasses} classes but the dataset ${data.record?.source ?? data.source} has ${classes}`,
          `a dataset with ${m.classifier.numClasses} classes, or --labels model (labels: the model's clean predictions)`,
        );
      out.set(m.ref.name, adapted);
      continue;
    }
    const predicted = new Int32Array(adapted.count);
    for (const rows of batches(Array.from({ length: adapted.count }, (_, i) => i), batchSize)) {
      const { x, y } = toBatch(adapted, rows);
      const logits = m.classifier.logits(x, m.ref.output);
      const pred = tf.argMax(logits, 1);
      predicted.set(pred.dataSync() as Int32Array, rows[0]);
      tf.dispose([x, y, logits, pred]);
    }
    const classNames = m.classifier.classNames ?? Array.from({ length: m.classifier.numClasses }, (_, k) => data.classNames[k] ?? `class ${k}`);
    out.set(m.ref.name, { ...adapted, labels: predicted, classNames });
  }
  return out;
}

function machine(): SuiteRunManifest['machine'] {
  const list = cpus();
  return {
    platform: process.platform,
    arch: process.arch,
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    vectorExtensions: vectorExtensions(),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    hostname: hostname(),
  };
}

function sameList(a: readonly unknown[], b: readonly unknown[] | undefined): boolean {
  return Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Refuses to resume when the checkpoints, images or plan differ from what run.json recorded. */
function checkResumable(stored: SuiteRunManifest, fresh: SuiteRunManifest, dir: string): void {
  const where = join(dir, 'run.json');
  for (const ref of fresh.checkpoints) {
    const old = stored.checkpoints.find((c) => c.name === ref.name);
    if (!old) throw new InputError(`${where}: checkpoint ${ref.name} is not part of this run; cannot resume`);
    if (old.weightsSha256 !== ref.weightsSha256)
      throw new InputError(`${where}: checkpoint ${ref.name} has changed (weights sha256 ${ref.weightsSha256.slice(0, 12)}, run.json says ${old.weightsSha256.slice(0, 12)}); start a new run`);
  }
  if (!sameList(fresh.sampleIndices, stored.sampleIndices))
    throw new InputError(`${where}: the evaluated images differ from the ones recorded; start a new run`);
  if (!sameList(fresh.cells, stored.cells) || !sameList(fresh.probes ?? [], stored.probes ?? []))
    throw new InputError(`${where}: this version of bench plans different cells for the run's config; start a new run`);
}

/** Whether every cell of `unit` is stored for all its samples. */
async function allStored(ctx: RunContext, unit: PlanUnit): Promise<boolean> {
  for (const cell of unit.cells) {
    const r = await ctx.store.readCell(cell.id);
    if (!r || r.samples !== cell.samples) return false;
  }
  return true;
}

/** The part `samples` of a cascade unit: read when stored, else computed and stored (nothing when the unit's cells are all stored). */
async function runCascadePart(ctx: RunContext, unit: PlanUnit, samples: [number, number]): Promise<CascadePartFile> {
  const stored = await readPart(ctx.store.dir, unit.id, samples);
  if (stored) return stored;
  const rec = recordingExecutor(unit.id, samples);
  if (unit.samples && (await allStored(ctx, unit))) return rec.file;
  // The panel's rows among this part's samples keep their examples for the main process (replayExamples).
  const capture = samples[0] < ADVERSARIAL_ROWS && cascadePanel(ctx, unit) ? captureExamples(rec.file, ADVERSARIAL_ROWS) : undefined;
  await runCascadeUnit(ctx, unit, async () => null, async () => undefined, false, capture, rec.exec);
  await writePart(ctx.store.dir, rec.file);
  return rec.file;
}

/**
 * Runs `units` (skipping those `claim` refuses, in a parallel run); returns the main cells and the probes
 * of the units run, cells in plan order.
 */
async function executeUnits(
  ctx: RunContext,
  plan: Plan,
  units: readonly PlanUnit[],
  lookup?: CorruptionLookup,
  claim?: (unit: PlanUnit) => Promise<boolean>,
  parallel = false,
): Promise<{ cells: SuiteCellResult[]; probes: ProbeRecord[] }> {
  const cells: SuiteCellResult[] = [];
  const probes: ProbeRecord[] = [];
  const store = ctx.store;
  for (const unit of units) {
    if (claim && !(await claim(unit))) continue;
    switch (unit.kind) {
      case 'clean':
        for (const cell of unit.cells) cells.push(await runCleanCell(ctx, cell.id, cell.checkpoint));
        break;
      case 'sweep': {
        // The unit's example panel (images.ts): its examples are captured while its cells run.
        const panel = sweepPanel(ctx, unit);
        await runAttackUnit(ctx, unit, (id) => store.readCell(id), async (c) => store.writeCell(c), panel ? (c) => panel.keep(c) : undefined);
        for (const cell of unit.cells) cells.push((await store.readCell(cell.id))!);
        await panel?.finish();
        break;
      }
      case 'cascade': {
        if (unit.samples) {
          // A worker's part of a split cascade (cascadeParts.ts): recorded, not written as cells.
          await runCascadePart(ctx, unit, unit.samples);
          break;
        }
        // A split cascade in a parallel run: every part computed (by the workers, or here what one left),
        // then the unit's cells from the parts.
        let exec: StageExecutor | undefined;
        const files: CascadePartFile[] = [];
        const parts = parallel ? cascadeParts(unit) : [];
        if (parts.length > 0 && !(await allStored(ctx, unit))) {
          for (const range of parts) files.push(await runCascadePart(ctx, unit, range));
          exec = answeringExecutor(files);
        }
        // The cascade's example panel (images.ts), captured while its stages run, as a sweep's (from parts:
        // the examples they captured).
        const panel = cascadePanel(ctx, unit);
        if (panel && files.length > 0) {
          const data = dataFor(ctx, unit.cells[0].checkpoint);
          replayExamples(files, unit, (c) => panel.keep(c), [data.height, data.width, data.channels]);
        }
        await runCascadeUnit(ctx, unit, (id) => store.readCell(id), async (c) => store.writeCell(c), true, panel ? (c) => panel.keep(c) : undefined, exec);
        for (const cell of unit.cells) cells.push((await store.readCell(cell.id))!);
        await panel?.finish();
        break;
      }
      case 'probe-attack':
        for (const rec of await runAttackUnit(
          ctx,
          unit,
          async (id) => {
            const p = await store.readProbe(id);
            return p && p.format === 'bench-cell/1' ? p : null;
          },
          (c) => store.writeProbe(c),
        ))
          probes.push(rec);
        break;
      case 'probe-gradients':
        for (const spec of unit.gradientProbes) probes.push(await runGradientProbe(ctx, spec));
        break;
      case 'corruption':
        cells.push(...(await runCorruptionUnit(ctx, unit, lookup)));
        break;
    }
  }
  const order = new Map(plan.cells.map((id, i) => [id, i]));
  cells.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { cells, probes };
}

/**
 * Loads models and data, plans, writes the run directory, runs every missing cell and returns the outcome
 * (nothing is rendered here: the CLI runs the reporters on it).
 * The lead process holds the run directory's lock (src/rundir/lock.ts) throughout and releases it on return and on
 * error. A write failure (disk full, ...) is a StorageError naming the file; the cells already written
 * stay intact and the message says how to resume.
 */
export async function executeRun(prep: PreparedRun, opts: ExecuteOptions): Promise<RunOutcome> {
  if (opts.helper) return executeLocked(prep, opts);
  const created = !existsSync(prep.runDir);
  const warn = (line: string) => void process.stderr.write(`${line}\n`);
  let lock: RunLock;
  await createDirectory(prep.runDir);
  try {
    lock = await RunLock.acquire(prep.runDir, warn);
  } catch (err) {
    if (created) await rmdir(prep.runDir).catch(() => undefined);
    throw err;
  }
  try {
    return await executeLocked(prep, opts);
  } catch (err) {
    if (err instanceof StorageError && existsSync(join(prep.runDir, RUN_FILE)))
      throw new StorageError(`${err.message}; the run stopped, and the cells written so far are intact: \`bench run --resume ${prep.runDir}\` finishes it`);
    throw err;
  } finally {
    await lock.release();
    // A fresh run that failed before writing anything leaves no empty directory behind.
    if (created) await rmdir(prep.runDir).catch(() => undefined);
  }
}

/**
 * Refuses, before any model loads, a corruption the dataset's images cannot take (saturate on grey
 * images): one InputError naming the field, the corruption, the dataset's channel count and what it needs.
 */
function checkCorruptionChannels(names: readonly string[], data: ImageDataset, where: string): void {
  for (const name of names) {
    const c = getCorruption(name, where);
    if (!c.channels.includes(data.channels))
      throw inputError(
        where,
        `${name} is not defined on the dataset's ${data.channels}-channel images (${data.record?.source ?? data.source})`,
        `corruptions for images with C in {${c.channels.join(', ')}}; leave ${name} out for this dataset`,
      );
  }
}

async function executeLocked(prep: PreparedRun, opts: ExecuteOptions): Promise<RunOutcome> {
  const { config } = prep;
  if (opts.transformData && prep.workers > 1) throw new Error('internal: transformData applies to this process only; use workers = 1');
  const fromFlag = (name: string) => prep.origins?.[name] !== undefined;
  const datasetWhere = fromFlag('dataset') ? '--dataset' : `${prep.configFile ?? 'config'}: dataset`;
  const loaded = await loadDataset(config.dataset ?? DEFAULT_DATASET, {
    limit: config.limit,
    offset: config.offset,
    labels: config.labels,
    where: datasetWhere,
    ...(prep.configFile && !fromFlag('dataset') && config.dataset !== undefined ? { baseDir: dirname(prep.configFile) } : {}),
  }).catch((err: unknown) => {
    // A file error names the file; say also which flag or config field named the dataset.
    if (err instanceof InputError && !err.message.startsWith(datasetWhere)) throw new InputError(`${datasetWhere}: ${err.message}`);
    throw err;
  });
  const short = shortSliceNotice(config.limit, loaded, fromFlag('limit') ? `${prep.origins!.limit} ${config.limit}` : `${prep.configFile ?? 'config'}: limit ${config.limit}`);
  if (short && !opts.helper) process.stderr.write(`notice: ${short}\n`);
  if (config.suite === 'corruption') checkCorruptionChannels(config.corruptions, loaded, fromFlag('corruptions') ? '--corruptions' : `${prep.configFile ?? 'config'}: corruptions`);
  const { targets, sources } = await loadModels(config, prep.configFile, prep.origins ?? {});
  const data = opts.transformData ? await opts.transformData(loaded) : loaded;
  let modelData: Map<string, ImageDataset>;
  try {
    modelData = dataPerModel(data, [...targets, ...sources.values()], config.labels, config.batchSize, (line) => {
      // Notices are printed even with --quiet (which only silences progress): they say how the data was changed.
      if (!opts.helper) process.stderr.write(`${line}\n`);
    });
  } catch (err) {
    for (const m of new Set([...targets, ...sources.values()])) m.dispose();
    throw err;
  }
  if (!opts.helper)
    for (const m of new Set([...targets, ...sources.values()])) for (const n of m.notices) process.stderr.write(`notice: ${n}\n`);
  const sampleIndices = Array.from({ length: data.count }, (_, i) => data.offset + i);
  const models = new Map<string, SuiteModel>();
  for (const m of [...targets, ...sources.values()]) models.set(m.ref.name, m);
  try {
    let plan: Plan;
    let manifestConfig: Record<string, unknown> = config as unknown as Record<string, unknown>;
    if (config.suite === 'adversarial') {
      plan = planAdversarial({
        config,
        targets: targets.map(infoOf),
        sources: new Map([...sources].map(([k, m]) => [k, infoOf(m)])),
        samples: data.count,
      });
    } else {
      const baseline = config.baseline ?? targets[0].ref.name;
      const match = targets.find((t) => t.ref.name === baseline || normDir(resolveCheckpointDir(t.ref.dir)) === normDir(resolveCheckpointDir(baseline)));
      if (!match) throw inputError(`${prep.configFile ?? 'config'}: baseline`, `${JSON.stringify(baseline)} is not a checkpoint of this run`, targets.map((t) => t.ref.name).join(', '));
      manifestConfig = { ...config, baseline: match.ref.name };
      const lookup = opts.corruptionLookup;
      plan = planCorruption({ config, targets: targets.map(infoOf), samples: data.count, ...(lookup ? { familyOf: (n: string) => lookup(n).family } : {}) });
    }
    // Corruption panels (images.ts) are drawn from the whole plan, by shard 1 only (bench merge copies them).
    const wholePlan = plan;
    if (prep.shard) plan = restrictPlan(plan, shardUnits(plan.units, prep.shard));
    // Names from config text (checkpoint names, attack labels) become file names: refuse clashes (never a path).
    checkFileNames([...wholePlan.cells, ...wholePlan.probes], prep.configFile ?? join(prep.runDir, RUN_FILE));

    const checkpoints: CheckpointRef[] = targets.map((t) => ({ ...t.ref }));
    const manifest: SuiteRunManifest = {
      format: RUN_FORMAT,
      suite: config.suite,
      config: recordedConfig(manifestConfig),
      configFile: prep.configFile,
      ...(prep.origins && Object.keys(prep.origins).length > 0 ? { origins: { ...prep.origins } } : {}),
      seed: config.seed,
      sampleIndices,
      dataset: { ...(data.record ?? { name: 'fashion-mnist', split: 'test', source: data.source }), labels: config.labels },
      checkpoints,
      cells: plan.cells,
      // bench-run/2: the shard's plan units; `plan` below is the whole run's (src/rundir/manifest.ts).
      shard: prep.shard ? { index: prep.shard.index, count: prep.shard.count, units: plan.units.map((u) => u.id) } : null,
      backend: { name: opts.backend.name, provider: opts.backend.provider, tfjsVersion: opts.backend.tfjsVersion, workers: prep.workers },
      versions: { bench: benchVersion(), node: process.version },
      machine: machine(),
      createdAt: new Date().toISOString(),
      probes: plan.probes,
      notes: plan.notes,
      plan: planRecord(wholePlan.units),
    };
    let store: RunStore;
    if (prep.resumed) {
      checkResumable(prep.resumed.manifest, manifest, prep.runDir);
      store = prep.resumed.store;
      // Records are about to change: the checksum manifest is rewritten when the run finishes.
      if (!opts.helper) await store.clearChecksums();
    } else store = await RunStore.create(prep.runDir, manifest);
    if (!opts.helper) {
      store.warn = (line) => void process.stderr.write(`${line}\n`);
      // Temp files of a killed process (ours now hold the lock; live helpers' are kept).
      await store.removeStaleTemps();
    }
    const stored = prep.resumed?.manifest ?? manifest;

    if (!opts.quiet)
      process.stderr.write(
        `${prep.resumed ? 'resuming' : 'run'} ${prep.runDir}: ${config.suite}, ${targets.length} checkpoint(s), ${data.count} images, ` +
          `${plan.cells.length} cells + ${plan.probes.length} probes${prep.shard ? `, shard ${prep.shard.index}/${prep.shard.count}` : ''}\n`,
      );
    const ctx: RunContext = {
      data,
      modelData,
      seed: config.seed,
      batchSize: config.batchSize,
      quiet: opts.quiet ?? false,
      backend: opts.backend.name,
      models,
      store,
      progressStream: opts.progressStream,
      onCell: opts.onCell,
    };
    const lookup = opts.corruptionLookup;
    const claim = (unit: PlanUnit) => claimUnit(prep.runDir, unit);
    if (opts.helper) {
      await executeUnits(ctx, plan, claimOrder(withCascadeParts(plan.units)), lookup, claim);
      return { runDir: prep.runDir, manifest: stored, cells: [], probes: [], sanity: [] };
    }
    if (prep.workers > 1) {
      await resetClaims(prep.runDir);
      const helpers = Array.from({ length: prep.workers - 1 }, () => startHelper(prep.runDir, opts.backend.requested));
      await executeUnits(ctx, plan, claimOrder(withCascadeParts(plan.units)), lookup, claim);
      if (!opts.quiet) process.stderr.write(`waiting for ${helpers.length} worker process(es) to finish their cells\n`);
      for (const [k, h] of helpers.entries()) {
        const { code, stderr } = await h.done;
        // The final pass below computes whatever a failed helper left.
        if (code !== 0) process.stderr.write(`warning: worker ${k + 2} exited with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}\n`);
      }
    }
    const { cells, probes } = await executeUnits(ctx, plan, plan.units, lookup, undefined, prep.workers > 1);
    if (prep.workers > 1) await rm(join(prep.runDir, CLAIMS_DIR), { recursive: true, force: true });
    // Every cell is written: a split cascade's parts (also those of an interrupted parallel run resumed
    // with one process, which recomputed the unit whole) are no longer needed.
    await removeParts(prep.runDir);
    if (!prep.shard || prep.shard.index === 1) {
      const started = Date.now();
      try {
        const { written } = await writeRunImages(ctx, prep.runDir, wholePlan, lookup);
        if (!opts.quiet && written.length > 0)
          process.stderr.write(`images: ${written.length} corruption panel(s) in ${join(prep.runDir, IMAGES_DIR)} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      } catch (err) {
        // The cells are written; example images must not lose the run (--resume retries missing panels).
        process.stderr.write(`warning: images not written (${(err as Error).message.split('\n')[0]})\n`);
      }
    }

    let sanity: SanityCheck[] = [];
    if (config.suite === 'adversarial' && config.sanity) {
      sanity = computeSanityChecks({
        checkpoints: targets.map((t) => ({
          name: t.ref.name,
          numClasses: t.classifier.numClasses,
          scores: t.classifier.outputKind,
          ...(t.description.logProbabilities ? { logProbabilities: t.description.logProbabilities } : {}),
        })),
        cells,
        probes,
      });
      await store.writeSanity(sanity);
    }
    // The run's manifest of record checksums, from the files on disk (src/rundir/store.ts).
    const unverified = await store.writeChecksums(plan.cells, plan.probes);
    if (unverified.length > 0) process.stderr.write(`warning: ${unverified.length} record(s) missing or corrupt at the end of the run: ${unverified.slice(0, 3).join(', ')}\n`);

    return { runDir: prep.runDir, manifest: stored, cells, probes, sanity };
  } finally {
    for (const m of new Set(models.values())) m.dispose();
  }
}

