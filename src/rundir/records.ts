import type { DatasetRecord } from '../datasets/index.js';

/*
 * Every result is a JSON record (RobustBench's way): a run directory (files.ts) holds run.json and one
 * file per cell under cells/. Tables, charts, reports and comparisons are all rendered from these
 * records, so runs can be resumed, sharded, merged and compared.
 *
 *   <run-dir>/run.json              RunManifest (bench-run/2; bench-run/1 directories are still read)
 *   <run-dir>/cells/<cellFile>.json CellResult (written atomically: temp file, fsync, rename)
 *
 * Each record file also carries `sha256`, the checksum of the record, and a finished run has
 * checksums.json listing them (checksums.ts); readers verify and strip it, so the types here omit it.
 */

export type SuiteName = 'adversarial' | 'corruption';

export interface CheckpointRef {
  /** Name used in tables (model.json name, or the `name` option). */
  name: string;
  /** The model path as given in the config (checkpoint directory or model.json; relative or absolute). */
  dir: string;
  /** sha256 of the weights: two runs compare only when checkpoints are identified. */
  weightsSha256: string;
  /** CNN-F checkpoints: the architecture family (cnnf-fmnist, ...); other models: the model family (tfjs-layers, tfjs-graph). */
  family: string;
  /** CNN-F only (absent for other families; runs before issue 14 always have them). */
  cycles?: number;
  ind?: number;
  /** The output used for predictions in this run. */
  output: string;
  /** What the model declares (absent in runs made before models declared them: CNN-F defaults apply). */
  inputShape?: number[];
  numClasses?: number;
  outputs?: string[];
  gradientPaths?: string[];
  /** `logits`, or `log-probabilities` for a model with a softmax head (a known cause of vanishing gradients). */
  scores?: 'logits' | 'log-probabilities';
  /** How log-probabilities are computed: log-softmax of the pre-softmax tensor, or the clipped log of the probabilities. */
  logProbabilities?: 'log-softmax' | 'clipped-log';
}

/** run.json's `dataset`: before issue 14 only name, split and source; now the whole DatasetRecord. */
export type RunDataset = { name: string; split: string; source: string } & Partial<DatasetRecord> & {
  /** Where the labels came from: the dataset, or each model's clean predictions. */
  labels?: 'dataset' | 'model';
};

/**
 * run.json formats. bench-run/1: `cells`/`probes` list only what the directory computes (a shard's part),
 * so merging shards had to re-plan. bench-run/2 adds `plan` (the whole run's plan, identical in every
 * shard) and `shard.units` (the shard's part of it), so merging is a union (manifest.ts).
 */
export type RunFormat = 'bench-run/1' | 'bench-run/2';

/** One unit of the plan: cells executed together (a clean pass, an epsilon sweep, a corruption severity, a probe). */
export interface PlanUnitRecord {
  /** Unique within the plan, e.g. "clean", "cnn|pgd|first", "corruption|fog|3". */
  id: string;
  /** The unit's main cells (files under cells/), in plan order. */
  cells: string[];
  /** The unit's sanity probes (files under probes/), in plan order. */
  probes: string[];
  /** The planner's cost estimate (relative units) by which shards are balanced. */
  cost: number;
}

/** bench-run/2: the whole run's plan. `cells` and `probes` are the units' lists concatenated in unit order. */
export interface RunPlan {
  cells: string[];
  probes: string[];
  units: PlanUnitRecord[];
}

/** A shard's place in its sharding; bench-run/2 also lists its plan units (ids, in plan order). */
export interface ShardRecord {
  /** 1-based. */
  index: number;
  count: number;
  units?: string[];
}

export interface RunManifest {
  format: RunFormat;
  suite: SuiteName;
  /** The validated, fully-defaulted config the run used (after CLI overrides). */
  config: Record<string, unknown>;
  configFile: string | null;
  /**
   * Config fields set by CLI flags (field -> flag, e.g. dataset -> "--dataset"), when any: their relative
   * paths resolve against the working directory, not the config file's, also in helper processes and on
   * --resume. Absent in runs written before it was recorded.
   */
  origins?: Record<string, string>;
  seed: number;
  /** Global test-set indices of the evaluated images, in order; bitsets index into this list. */
  sampleIndices: number[];
  dataset: RunDataset;
  checkpoints: CheckpointRef[];
  /** The cells this directory computes, in execution order: the whole plan, or a shard's part of it. */
  cells: string[];
  /** Set on a shard's run directory. */
  shard: ShardRecord | null;
  /** bench-run/2: the whole run's plan (the same in every shard of a sharding). */
  plan?: RunPlan;
  backend: { name: string; provider: string; tfjsVersion: string; workers: number };
  versions: { bench: string; node: string };
  /** vectorExtensions: which of avx, avx2, fma, avx512f the CPU has (src/engine/cpuSignature.ts; absent in older runs, null off Linux). */
  machine: { platform: string; arch: string; cpus: number; cpuModel: string; vectorExtensions?: string[] | null; memoryGiB: number; hostname: string };
  createdAt: string;
}

export type CellKind = 'clean' | 'attack' | 'corruption';

export interface CellResult {
  format: 'bench-cell/1';
  /** Stable id, e.g. "cnnf-fmnist|pgd|e2e|0.05" or "cnn-fmnist|corruption|gaussian_noise|3" or "cnn-fmnist|clean". */
  id: string;
  kind: CellKind;
  checkpoint: string;
  output: string;
  /** Attack cells. `path` is 'none' for score-based attacks; a transfer attack names its source checkpoint. */
  attack?: string;
  attackParams?: Record<string, unknown>;
  path?: string;
  transferFrom?: string;
  eps?: number;
  threatModel?: 'linf' | 'l2';
  /** Corruption cells. */
  corruption?: string;
  family?: string;
  severity?: number;
  samples: number;
  correct: number;
  accuracy: number;
  /** 95% Wilson score interval of the accuracy. */
  ci95: [number, number];
  /** Per-sample correctness over RunManifest.sampleIndices, a bitset (bit i of byte i>>3, LSB first), base64. */
  correctBits: string;
  timings: { seconds: number; imagesPerSecond: number; gradientEvaluations?: number };
  backend: string;
  completedAt: string;
}

/** Per-sample correctness as a base64 bitset. */
export function encodeBits(correct: readonly boolean[]): string {
  const bytes = new Uint8Array(Math.ceil(correct.length / 8));
  correct.forEach((c, i) => {
    if (c) bytes[i >> 3] |= 1 << (i & 7);
  });
  return Buffer.from(bytes).toString('base64');
}

export function decodeBits(bits: string, count: number): boolean[] {
  const bytes = Buffer.from(bits, 'base64');
  return Array.from({ length: count }, (_, i) => ((bytes[i >> 3] ?? 0) >> (i & 7)) % 2 === 1);
}

/** 95% Wilson score interval for k successes out of n. */
export function wilsonInterval(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  // At k = 0 and k = n the bounds are 0 and 1 exactly (centre - half, centre + half cancel analytically);
  // floating point gives 1e-17 and 0.9999999999999999, which made 10/10 look above the interval of 10/10.
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

/**
 * Optional fields this runner adds to the record formats of records.ts (readers that do not know them
 * can ignore them).
 */
export interface SuiteCellResult extends CellResult {
  /** The id of the cell whose numbers these are (a feedforward model answers every gradient path alike). */
  copyOf?: string;
  /** The attack's registry name when `attack` holds a config label that differs from it (e.g. pgd40). */
  method?: string;
  /**
   * Images actually attacked: the others were already misclassified clean or broken at a smaller eps. A
   * cascade's worst-case cell: the images its stages attacked at this eps (its first stage's; 0 in records
   * written before this was recorded).
   */
  attacked?: number;
  /**
   * Evaluated images whose logits held a NaN or an infinity: clean cells on the clean images, corruption
   * cells on the corrupted ones, attack cells on the attacked images' final examples. Such an image has
   * no prediction and counts as misclassified (src/models/decision.ts); the logits-finite sanity check
   * reports it.
   */
  nonFiniteLogits?: number;
  /**
   * Probes that continue a main sweep (the more-steps probe): the main cell `id` and its result on the
   * probe's images, the starting point this probe's attack had to improve on. For a probe of a cascade
   * stage, `id` is that stage's cell ("<cascade>/<stage>"): the samples the cascade left correct after it.
   */
  reference?: { id: string; samples: number; correct: number };
  /**
   * Sanity-probe cells: which probe this is and the label of the config's attack entry it ran (chosen by
   * src/suite/probeAttack.ts), so a reader sees which sweep the gradient-masking checks tested.
   */
  probe?: { kind: 'large-eps' | 'more-steps'; of: string };
  /**
   * Cells of a minimisation attack (attacks/define.ts kind 'minimisation', e.g. fmn): one run answered every
   * eps of the sweep (src/suite/minimisation.ts), keyed `run` (the same in every cell of the sweep; its compute
   * time and gradients are in one of them, the others record about 0 s). `distances` holds, per sample of the
   * cell in sampleIndices order, the norm of the smallest adversarial perturbation found (the cell's threat
   * model, [0,1] pixel units, a float32 value): 0 for a sample misclassified clean, null where none was found.
   * A clean-correct sample counts as broken at eps > 0 iff distance <= eps (1 + 1e-5) + 1e-5
   * (attacks/norms.ts withinBall).
   */
  minimisation?: { run: string; distances: (number | null)[] };
  /** Cells of a cascade (ensemble) of attacks (src/suite/cascade.ts). */
  cascade?: CascadeCellInfo;
}

/**
 * A cascade cell (src/suite/cascade.ts): a stage cell (`stage` set) holds the robust accuracy after stages
 * 1..stage at its eps, and `broken`, the samples this stage broke that the earlier stages left correct; the
 * cascade's worst-case cell (`stage` absent) holds the same bits as its last stage and `brokenBy`.
 */
export interface CascadeCellInfo {
  /** The cascade's label (config: attacks[].cascade). */
  label: string;
  /** Stage labels in order (attack entry labels). */
  stages: string[];
  /** 1-based stage index; absent on the worst-case cell. */
  stage?: number;
  /** Stage cells: samples broken by this stage (correct after stage - 1, wrong after it). */
  broken?: number;
  /**
   * Worst-case cell: per sample, 0 = misclassified clean, k = broken by stage k (the first stage after
   * which it is wrong at this eps), -1 = robust to every stage.
   */
  brokenBy?: number[];
}

export interface SuiteRunManifest extends RunManifest {
  /** Sanity-probe ids (files under probes/) this directory computes, in execution order. */
  probes?: string[];
  /** Plan notes, e.g. which cells are copies and why. */
  notes?: string[];
}

/** Fraction of samples whose input gradient is all zero or not finite, on one path. */
export interface GradientProbeResult {
  format: 'bench-gradient-probe/1';
  id: string;
  checkpoint: string;
  path: string;
  output: string;
  samples: number;
  /** Samples whose gradient is exactly zero everywhere. */
  zero: number;
  /** Samples with a NaN or infinite gradient entry. */
  nonFinite: number;
  /**
   * The model's scores on the probe images (src/suite/outputProbe.ts; absent in probes recorded before it):
   * `repeat`, the same images scored `calls` times (a deterministic model gives identical scores); `range`,
   * the scores' extremes and the largest |row sum - 1| (scores that look like probabilities, not logits).
   */
  outputs?: OutputProbe;
  completedAt: string;
}

/** What src/suite/outputProbe.ts measures of a model's scores (AutoAttack's check_randomized and check_range_output). */
export interface OutputProbe {
  repeat: {
    calls: number;
    /** Largest L2 distance between two calls' L2-normalised score rows (images with finite scores). */
    maxDiff: number;
    /** Correctly classified images in each call. */
    correct: number[];
  };
  /** Over the images whose scores are finite in every call (min = Infinity, max = -Infinity when none is). */
  range: { min: number; max: number; maxRowSumError: number };
  /**
   * Images with a NaN or infinite score in some call, left out of `repeat.maxDiff` and `range` (absent in
   * records written before it was counted; there a non-finite score shows as a null or non-finite measure).
   */
  nonFiniteRows?: number;
}

export type ProbeRecord = SuiteCellResult | GradientProbeResult;

/**
 * Gradient-masking sanity checks (Carlini et al. 2019; the checks AutoAttack and ART ship), computed by
 * the adversarial runner and stored in <run-dir>/sanity.json as SanityCheck[].
 */
export interface SanityCheck {
  checkpoint: string;
  /** e.g. 'monotone-in-eps', 'large-eps-chance', 'more-steps', 'black-box-not-better', 'transfer-not-better', 'gradients-finite', 'logits-finite'. */
  name: string;
  status: 'pass' | 'warn' | 'skip';
  /** One sentence with the numbers, readable in a terminal and in the report. */
  detail: string;
  numbers: Record<string, number>;
}
