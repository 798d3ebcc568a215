/**
 * Example panels of a run, written to <run-dir>/images/ as PNG + JSON sidecar pairs that the HTML report
 * embeds (src/report/index.ts reads images/*.png and their sidecars images/<name>.json).
 *
 * - Adversarial suite: one panel per (checkpoint, attack entry), from the sweep on one gradient path (e2e,
 *   else bpda, else first, among the paths whose cells are computed rather than copied; score-based attacks
 *   have the one sweep). Rows are the run's first ADVERSARIAL_ROWS images; columns are the clean image, the
 *   adversarial example of each eps > 0 cell, and the perturbation at the largest eps, magnified.
 *   The examples are captured while the cells run (runAttackUnit hands each attacked batch to `keep`),
 *   so they are exactly the images the cells classified, at no extra attack cost: regenerating them after
 *   the run costs as much as the sweep itself, since a few images per call leave the backend's per-call
 *   overhead to dominate (measured: a 6-image PGD panel took as long as its 30-image cells). As in the
 *   cells, a row is attacked at an eps only while it is still classified correctly; a row misclassified
 *   clean shows its clean image, and a row broken at a smaller eps keeps that example (it lies inside the
 *   larger ball too). When cells were computed earlier (--resume) the missing examples are recomputed as
 *   the cell computed them: the same batch of surviving rows with the cell's keyed rng, so the bytes equal
 *   an uninterrupted run's. The process that runs a sweep unit writes its panel: shards and helper
 *   processes write the panels of their own units. Transfer entries get no panel.
 * - Cascades (suite/cascade.ts): one panel per (checkpoint, cascade), on the chain of the same preferred
 *   path, with the sweep panel's layout; each eps column holds the cascade's worst-case example of each row,
 *   the one its worst-case cell counts (brokenBy): the example of the first stage that broke it, the last
 *   stage's when none did (cascadePanel, drawCascadePanel). Captured while the stages run; recomputed from
 *   the stored stage cells (same batches, same keys) when missing on --resume.
 * - Corruption suite: one panel per image for the run's first CORRUPTION_IMAGES images: rows are the
 *   corruptions, columns the clean image and each severity of the run, made by `bench preview`'s
 *   corruptionTiles with the cells' rng keys (exactly the images the cells evaluated). Cheap; written at
 *   the end of the run by an unsharded run or shard 1.
 *
 * Everything is deterministic (no timestamps or timings in the sidecars), so `bench merge`, which copies
 * images/ from the shards, gives the bytes of an unsharded run. File names are built from sanitised
 * checkpoint names and attack labels: never a path. A panel whose PNG and sidecar both exist is not redone.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor4D } from '../engine/tf.js';
import { batches } from '../data/batching.js';
import { NO_PREDICTION, predictClasses } from '../models/decision.js';
import { encodePng, imageGrid } from '../report/png.js';
import { corruptionTiles } from '../cli/preview.js';
import { getCorruption } from '../../corruptions/registry.js';
import { attackRows, type KeepExamples } from './adversarial.js';
import { brokenBy, isMinimising, keepThresholded, minimiseStageRows } from './cascade.js';
import { getAttack } from '../../attacks/registry.js';
import { isMinimisationCell } from './minimisation.js';
import { cleanCorrect, dataFor, model, type RunContext } from './context.js';
import { adaptBatch } from '../datasets/index.js';
import type { CorruptionLookup } from './corruption.js';
import { distinctPaths, pathsFor, type AttackSpec, type Plan, type PlannedCell, type PlanUnit } from './planner.js';
import { writeFileAtomic } from '../rundir/atomic.js';
import { IMAGES_DIR } from '../rundir/files.js';
import { decodeBits } from '../rundir/records.js';
import { normSymbol } from '../../attacks/threatModels.js';

export { IMAGES_DIR };
export const ADVERSARIAL_ROWS = 6;
/** Images with a corruption panel each. */
export const CORRUPTION_IMAGES = 2;
/** Nearest-neighbour magnification of every tile. */
export const TILE_SCALE = 4;
/** Width of the coloured frame around adversarial-panel tiles, in image pixels (before scaling). */
export const TILE_BORDER = 1;
/** White pixels between tiles and around the grid (after scaling). */
export const TILE_GAP = 4;

/** Frame colours (Okabe-Ito, distinguishable with colour-blindness): classified correctly / misclassified / no prediction. */
const CORRECT_RGB = [0, 0.447, 0.698] as const;
const WRONG_RGB = [0.902, 0.624, 0] as const;
const NEUTRAL_RGB = [0.8, 0.8, 0.8] as const;

/** Layout of a panel's PNG, so a reader can crop tile (r, c). */
export interface PanelGrid {
  rows: number;
  cols: number;
  /** Image size of one tile, without frame and before scaling. */
  tileHeight: number;
  tileWidth: number;
  /** Channels of the PNG (3 when tiles are framed in colour). */
  channels: 1 | 3;
  scale: number;
  gap: number;
  /** Frame width around each tile in image pixels (before scaling); 0 for none. */
  border: number;
}

/** A tile's label in the report: e.g. the predicted class; `marked` flags a misclassification. */
export interface TileLabel {
  text: string;
  marked?: boolean;
}

/**
 * images/<name>.json beside images/<name>.png: what the report shows under the image (all plain text;
 * the report escapes it).
 */
export interface ImageSidecar {
  format: 'bench-image/1';
  group: 'adversarial' | 'corruption';
  title: string;
  caption: string;
  grid: PanelGrid;
  /** One header per grid column and per grid row. */
  columns: string[];
  rows: string[];
  /** Per tile, row-major, when there is something to say about each. */
  tiles?: TileLabel[][];
  /** Machine-readable details (cell ids, sample indices, labels, predictions, eps). */
  details: Record<string, unknown>;
}

/**
 * A file name stem from parts (checkpoint names, attack labels, ...): every character outside
 * [A-Za-z0-9._-] becomes "_", and a name that had to change gets a hash of the original so two different
 * names cannot collide. Never contains a path separator; never starts with a dot.
 */
export function safeImageName(parts: readonly string[]): string {
  const raw = parts.join('-');
  let stem = parts
    .map((p) => p.replace(/[^A-Za-z0-9._-]+/g, '_'))
    .join('-')
    .replace(/^[.-]+/, '_')
    .slice(0, 120);
  if (stem !== raw) stem += `-${createHash('sha256').update(raw).digest('hex').slice(0, 8)}`;
  return stem;
}

const fmt = (eps: number) => String(Number(eps.toPrecision(6)));

/** A tile (tileHeight x tileWidth x channels) as RGB with a `border`-pixel frame of colour `rgb`. */
function framed(tile: ArrayLike<number>, h: number, w: number, channels: number, rgb: readonly number[], border: number): Float32Array {
  const H = h + 2 * border;
  const W = w + 2 * border;
  const out = new Float32Array(H * W * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const inside = y >= border && y < border + h && x >= border && x < border + w;
      for (let c = 0; c < 3; c++) out[o + c] = inside ? tile[((y - border) * w + (x - border)) * channels + (channels === 1 ? 0 : c)] : rgb[c];
    }
  return out;
}

/** Predicted class of every row (src/models/decision.ts; NO_PREDICTION for a NaN row or a tie at the top). */
function argmaxRows(ctx: RunContext, checkpoint: string, x: Tensor4D): number[] {
  const m = model(ctx, checkpoint);
  // Dataset-shaped tiles (corruption panels) reach each model as the cells gave them: adapted to its input.
  const xm = adaptBatch(x, m.classifier.inputShape);
  const logits = m.classifier.logits(xm, m.ref.output);
  const out = Array.from(predictClasses(logits.dataSync(), logits.shape[1]));
  logits.dispose();
  if (xm !== x) xm.dispose();
  return out;
}

/** A class's display name; a row without a prediction shows as such. */
function classNameOf(names: readonly string[], k: number): string {
  return k === NO_PREDICTION ? 'no prediction' : (names[k] ?? `class ${k}`);
}

interface Panel {
  name: string;
  render: () => Promise<{ png: Buffer; sidecar: ImageSidecar }>;
}

const PATH_PREFERENCE: readonly string[] = ['e2e', 'bpda', 'first'];

/** The path of `spec`'s attack entry whose sweep gets the panel; undefined for transfer attacks. */
export function panelPath(spec: AttackSpec): string | undefined {
  if (spec.transfer) return undefined;
  if (spec.path === 'none') return 'none';
  const computed = distinctPaths(pathsFor(spec.entry, spec.source), spec.source);
  // CNN-F: the exact path through the loop first; a single-path model: its path.
  return PATH_PREFERENCE.find((p) => computed.includes(p)) ?? computed[0];
}

/** images/<name>.png and .json of a sweep's panel. */
export function adversarialPanelName(cell: PlannedCell): string {
  return safeImageName(['adversarial', cell.checkpoint, cell.attack!.entry.label, cell.attack!.path]);
}

const hasPanel = (dir: string, name: string) => existsSync(join(dir, `${name}.png`)) && existsSync(join(dir, `${name}.json`));

/**
 * Draws panel `name` into dir (its sidecar JSON, then the PNG) unless both exist already. A failure is a
 * warning, not an error: the cells are written, an example panel must not lose the run (--resume retries it).
 */
async function writePanel(dir: string, name: string, draw: () => Promise<{ png: Buffer; sidecar: ImageSidecar }>): Promise<void> {
  try {
    if (hasPanel(dir, name)) return;
    const { png, sidecar } = await draw();
    await writeFileAtomic(join(dir, `${name}.json`), `${JSON.stringify(sidecar, null, 2)}\n`);
    await writeFileAtomic(join(dir, `${name}.png`), png);
  } catch (err) {
    process.stderr.write(`warning: example panel ${name} not written (${(err as Error).message.split('\n')[0]})\n`);
  }
}

/** Captures a sweep unit's examples while it runs (`keep`), then draws and writes its panel (`finish`). */
export interface PanelRecorder {
  name: string;
  /** For runAttackUnit: the capture callback of one of the unit's computed cells. */
  keep(cell: PlannedCell): KeepExamples | undefined;
  /** After the unit: recomputes what was not captured (cells computed earlier) and writes the panel. */
  finish(): Promise<void>;
}

/**
 * Collects the adversarial examples of the first `n` samples (rows 0..n-1) of each of `cells` while they
 * run: keepFor(cell) is the KeepExamples hook the runner calls with a batch's rows and examples xAdv
 * [batch, H, W, C] in [0,1]; each kept example is a copy of `size` = H*W*C floats in captured[cell id][row].
 * keepFor returns undefined for a cell not in `cells`.
 */
function exampleCapture(
  cells: readonly PlannedCell[],
  n: number,
  size: number,
): { captured: Map<string, Map<number, Float32Array>>; keepFor: (cell: PlannedCell) => KeepExamples | undefined } {
  const captured = new Map<string, Map<number, Float32Array>>(cells.map((c) => [c.id, new Map()]));
  const keepFor = (cell: PlannedCell): KeepExamples | undefined => {
    const into = captured.get(cell.id);
    if (!into) return undefined;
    return (rows, xAdv) => {
      if (!rows.some((r) => r < n)) return;
      const pixels = xAdv.dataSync();
      rows.forEach((r, k) => {
        if (r < n) into.set(r, pixels.slice(k * size, (k + 1) * size) as Float32Array);
      });
    };
  };
  return { captured, keepFor };
}

/**
 * The recorder of `unit`'s panel, or null when the unit gets none (not a sweep, a copy path, a transfer
 * attack, no eps > 0) or its panel is already written.
 */
export function sweepPanel(ctx: RunContext, unit: PlanUnit): PanelRecorder | null {
  if (unit.kind !== 'sweep') return null;
  const cells = unit.cells.filter((c) => !c.copyOf && c.attack && c.attack.eps > 0).sort((a, b) => a.attack!.eps - b.attack!.eps);
  if (cells.length === 0 || panelPath(cells[0].attack!) !== cells[0].attack!.path) return null;
  const name = adversarialPanelName(cells[0]);
  const dir = join(ctx.store.dir, IMAGES_DIR);
  if (hasPanel(dir, name)) return null;
  const data = dataFor(ctx, cells[0].checkpoint);
  const size = data.height * data.width * data.channels;
  const n = Math.min(ADVERSARIAL_ROWS, cells[0].samples, data.count);
  const { captured, keepFor } = exampleCapture(cells, n, size);
  const finish = () => writePanel(dir, name, () => drawSweepPanel(ctx, cells, n, captured, keepFor));
  return { name, keep: keepFor, finish };
}

/** Largest |value| of a perturbation (0 for an empty one). */
const maxAbs = (d: Float32Array) => d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * The tiles of an adversarial panel (sweep or cascade), one row per image: the clean image, each column's
 * example, and the perturbation of the last column magnified (mid-grey = unchanged; white/black = +/- eps
 * for L-inf, +/- the panel's largest |delta| for L2, whose per-pixel change eps does not bound), framed by
 * the checkpoint's prediction (blue correct, orange misclassified). `clean[r]` and `examples[k][r]` are
 * NHWC pixels of one image in [0,1] (data's height x width x channels); every tile is predicted in one call.
 */
function adversarialGrid(
  ctx: RunContext,
  checkpoint: string,
  data: ReturnType<typeof dataFor>,
  clean: Float32Array[],
  examples: Float32Array[][],
  threatModel: AttackSpec['threatModel'],
  epsMax: number,
): { cleanPred: number[]; preds: number[][]; deltas: Float32Array[]; span: number; grid: PanelGrid; image: ReturnType<typeof imageGrid> } {
  const n = clean.length;
  const { height: h, width: w, channels } = data;
  const size = h * w * channels;
  const all = [clean, ...examples].flat();
  const stacked = new Float32Array(all.length * size);
  all.forEach((t, i) => stacked.set(t, i * size));
  const x = tf.tensor4d(stacked, [all.length, h, w, channels]);
  const flat = argmaxRows(ctx, checkpoint, x);
  x.dispose();
  const cleanPred = flat.slice(0, n);
  const preds = examples.map((_, k) => flat.slice((k + 1) * n, (k + 2) * n));
  const deltas = clean.map((c, r) => examples[examples.length - 1][r].map((v, i) => v - c[i]));
  const span = threatModel === 'linf' ? epsMax : Math.max(0, ...deltas.map(maxAbs)) || epsMax;
  const colour = (pred: number, r: number) => (pred === data.labels[r] ? CORRECT_RGB : WRONG_RGB);
  const tiles: Float32Array[] = [];
  for (let r = 0; r < n; r++) {
    tiles.push(framed(clean[r], h, w, channels, colour(cleanPred[r], r), TILE_BORDER));
    examples.forEach((column, k) => tiles.push(framed(column[r], h, w, channels, colour(preds[k][r], r), TILE_BORDER)));
    tiles.push(framed(deltas[r].map((d) => 0.5 + d / (2 * span)), h, w, channels, NEUTRAL_RGB, TILE_BORDER));
  }
  const grid: PanelGrid = { rows: n, cols: examples.length + 2, tileHeight: h, tileWidth: w, channels: 3, scale: TILE_SCALE, gap: TILE_GAP, border: TILE_BORDER };
  const image = imageGrid(tiles, { rows: n, cols: grid.cols, tileHeight: h + 2 * TILE_BORDER, tileWidth: w + 2 * TILE_BORDER, channels: 3, scale: TILE_SCALE, gap: TILE_GAP });
  return { cleanPred, preds, deltas, span, grid, image };
}

async function drawSweepPanel(
  ctx: RunContext,
  cells: PlannedCell[],
  n: number,
  captured: Map<string, Map<number, Float32Array>>,
  keepFor: (cell: PlannedCell) => KeepExamples | undefined,
): Promise<{ png: Buffer; sidecar: ImageSidecar }> {
  const data = dataFor(ctx, cells[0].checkpoint);
  const first = cells[0];
  const spec = first.attack!;
  const checkpoint = first.checkpoint;
  const target = model(ctx, checkpoint);
  const size = data.height * data.width * data.channels;
  const rows = Array.from({ length: n }, (_, i) => i);
  const samples = first.samples;
  const clean = rows.map((r) => data.images.slice(r * size, (r + 1) * size));
  // Which rows each cell attacked: those still correct after the previous eps (the cells' own rule).
  let before = (await cleanCorrect(ctx, checkpoint)).correct.slice(0, samples);
  // A minimisation attack ran once on every clean-correct row (src/suite/minimisation.ts): its batches are those.
  const runRows = isMinimisationCell(first) ? before.flatMap((c, i) => (c ? [i] : [])) : null;
  let previous: Float32Array[] = clean;
  const examples: Float32Array[][] = [];
  const attacked: boolean[][] = [];
  for (const cell of cells) {
    const got = captured.get(cell.id)!;
    const missing = rows.filter((r) => before[r] && !got.has(r));
    if (missing.length > 0) {
      // Computed before this process ran the unit (--resume): recompute the batches of survivors that held
      // these rows, as the cell did, so float results (and bytes) are the cell's own.
      const survivors = runRows ?? before.flatMap((c, i) => (c ? [i] : []));
      for (const batch of batches(survivors, ctx.batchSize))
        if (batch.some((r) => missing.includes(r))) await attackRows(ctx, cell, batch, () => undefined, keepFor(cell));
    }
    examples.push(rows.map((r) => (before[r] ? got.get(r)! : previous[r])));
    attacked.push(rows.map((r) => before[r]));
    previous = examples[examples.length - 1];
    const stored = await ctx.store.readCell(cell.id);
    if (!stored) throw new Error(`internal: cell ${cell.id} has no result`);
    before = decodeBits(stored.correctBits, stored.samples);
  }
  const epsMax = cells[cells.length - 1].attack!.eps;
  const { cleanPred, preds, deltas, span, grid, image } = adversarialGrid(ctx, checkpoint, data, clean, examples, spec.threatModel, epsMax);
  const labels = rows.map((r) => data.labels[r]);
  const className = (k: number) => classNameOf(data.classNames, k);
  const sampleIndices = rows.map((r) => data.offset + r);
  const norm = normSymbol(spec.threatModel);
  const how = spec.path === 'none' ? `${spec.entry.label} (score-based)` : `${spec.entry.label}, ${spec.path} gradient path`;
  const sidecar: ImageSidecar = {
    format: 'bench-image/1',
    group: 'adversarial',
    title: `${checkpoint}: ${how}`,
    caption:
      `Rows: test images ${sampleIndices.join(', ')} (the run's first ${n}). Columns: the clean image; the adversarial example of ` +
      `each ε cell (${norm} radius, [0,1] pixel units), the very image the cell classified; as in the ` +
      `cells, an image is attacked only while it is still classified correctly, so a misclassified image keeps the previous ` +
      `column's (the clean image, or the example that broke it at a smaller ε, marked “kept” below); the perturbation at ` +
      `ε=${fmt(epsMax)}, magnified (mid-grey = unchanged, white/black = ±${fmt(span)}). Frames and the table: the class ` +
      `${checkpoint} predicts (${target.ref.output} output), blue = correct, orange = misclassified. Magnified ${TILE_SCALE}×.`,
    grid,
    // Each column names the norm of its radius (the panel is one attack, so one threat model).
    columns: ['clean', ...cells.map((c) => `${norm} ε=${fmt(c.attack!.eps)}`), `perturbation (${norm} ε=${fmt(epsMax)})`],
    rows: rows.map((r) => `#${sampleIndices[r]} ${className(labels[r])}`),
    tiles: rows.map((r) => [
      { text: className(cleanPred[r]), ...(cleanPred[r] !== labels[r] ? { marked: true } : {}) },
      ...cells.map((_, k) => ({
        text: `${className(preds[k][r])}${attacked[k][r] ? '' : ' (kept)'}`,
        ...(preds[k][r] !== labels[r] ? { marked: true } : {}),
      })),
      { text: `max |δ| ${Number(maxAbs(deltas[r]).toFixed(4))}` },
    ]),
    details: {
      checkpoint,
      output: target.ref.output,
      attack: spec.entry.label,
      method: spec.entry.name,
      path: spec.path,
      threatModel: spec.threatModel,
      cells: cells.map((c) => c.id),
      epsilons: cells.map((c) => c.attack!.eps),
      sampleIndices,
      labels,
      cleanPredictions: cleanPred,
      predictions: preds,
      attacked,
    },
  };
  return { png: encodePng(image), sidecar };
}

/** images/<name>.png and .json of a cascade's panel (cascade labels never equal an entry label: config.ts). */
export function cascadePanelName(checkpoint: string, label: string, chain: string): string {
  return safeImageName(['adversarial', checkpoint, label, chain]);
}

/**
 * The recorder of a cascade unit's panel (planner.ts planCascades; runner passes `keep` to runCascadeUnit),
 * or null when the unit gets none: not a cascade, a chain other than the preferred gradient path (e2e, else
 * bpda, else first: panelPath of its first gradient stage), no eps > 0, or the panel already written.
 */
export function cascadePanel(ctx: RunContext, unit: PlanUnit): PanelRecorder | null {
  if (unit.kind !== 'cascade') return null;
  const worst = unit.cells.filter((c) => c.cascade!.stage === 0 && c.attack!.eps > 0).sort((a, b) => a.attack!.eps - b.attack!.eps);
  if (worst.length === 0) return null;
  const info = worst[0].cascade!;
  const stageCells = unit.cells.filter((c) => c.cascade!.stage > 0 && c.attack!.eps > 0);
  const gradientStage = stageCells.find((c) => c.attack!.path !== 'none');
  if (gradientStage ? panelPath(gradientStage.attack!) !== info.chain : info.chain !== 'none') return null;
  const name = cascadePanelName(worst[0].checkpoint, info.label, info.chain);
  const dir = join(ctx.store.dir, IMAGES_DIR);
  if (hasPanel(dir, name)) return null;
  const data = dataFor(ctx, worst[0].checkpoint);
  const size = data.height * data.width * data.channels;
  const n = Math.min(ADVERSARIAL_ROWS, worst[0].samples, data.count);
  const { captured, keepFor } = exampleCapture(stageCells, n, size);
  const finish = () => writePanel(dir, name, () => drawCascadePanel(ctx, unit, worst, n, captured, keepFor));
  return { name, keep: keepFor, finish };
}

/**
 * A cascade's panel: per row (the run's first n images) and eps > 0, the cascade's worst-case example, the
 * one its worst-case cell counts (cascade.brokenBy): the example of the first stage that broke the image at
 * that eps; an image broken at a smaller eps keeps that column's example (no stage attacks it again); an
 * image no stage broke shows the last stage's example (every stage attacked it and failed); an image
 * misclassified clean shows its clean image. Examples not captured while the stages ran (--resume) are
 * recomputed as the stage computed them: its batches of attacked rows with its keyed rng.
 */
async function drawCascadePanel(
  ctx: RunContext,
  unit: PlanUnit,
  worst: PlannedCell[],
  n: number,
  captured: Map<string, Map<number, Float32Array>>,
  keepFor: (cell: PlannedCell) => KeepExamples | undefined,
): Promise<{ png: Buffer; sidecar: ImageSidecar }> {
  const checkpoint = worst[0].checkpoint;
  const info = worst[0].cascade!;
  const data = dataFor(ctx, checkpoint);
  const target = model(ctx, checkpoint);
  const size = data.height * data.width * data.channels;
  const samples = worst[0].samples;
  const rows = Array.from({ length: n }, (_, i) => i);
  const epsilons = worst.map((c) => c.attack!.eps);
  const S = info.stages.length;
  const clean = (await cleanCorrect(ctx, checkpoint)).correct.slice(0, samples);
  const stageCell = (s: number, eps: number) => unit.cells.find((c) => c.cascade!.stage === s && c.attack!.eps === eps)!;
  // after[s][k]: the stored correctness after stages 1..s at epsilons[k] (after[0] = clean).
  const after: boolean[][][] = [epsilons.map(() => clean)];
  for (let s = 1; s <= S; s++) {
    const row: boolean[][] = [];
    for (const eps of epsilons) {
      const stored = await ctx.store.readCell(stageCell(s, eps).id);
      if (!stored) throw new Error(`internal: cell ${stageCell(s, eps).id} has no result`);
      row.push(decodeBits(stored.correctBits, stored.samples));
    }
    after.push(row);
  }
  // The rows stage s attacked at epsilons[k] (runCascadeUnit): a minimisation stage every row still correct
  // after the earlier stages; a fixed-eps stage those that it, with the earlier stages, had not broken at the
  // next smaller eps either (at the run's first eps > 0, the previous eps is 0 or none: the clean bits).
  const attackedRows = (s: number, k: number): boolean[] => {
    const minimising = isMinimising(getAttack(stageCell(s, epsilons[k]).attack!.entry.name));
    const previous = k > 0 ? after[s][k - 1] : clean;
    return after[s - 1][k].map((ok, i) => ok && (minimising || previous[i]));
  };
  const brokenAt = epsilons.map((_, k) => brokenBy(clean, after.slice(1).map((r) => r[k])));
  // The (stage, eps) examples the panel shows, and which of them were not captured.
  const source = (k: number, r: number): number | null => {
    const by = brokenAt[k][r];
    if (by === 0) return null;
    const s = by === -1 ? S : by;
    return attackedRows(s, k)[r] ? s : null;
  };
  for (let s = 1; s <= S; s++) {
    const missing = epsilons.map((eps, k) => rows.filter((r) => source(k, r) === s && !captured.get(stageCell(s, eps).id)!.has(r)));
    if (missing.every((m) => m.length === 0)) continue;
    const attack = getAttack(stageCell(s, epsilons[0]).attack!.entry.name);
    if (isMinimising(attack)) {
      // One run on every row some eps > 0 still had correct (batches as runCascadeUnit made them), keyed by
      // the stage's first eps > 0 cell.
      const cells = unit.cells.filter((c) => c.cascade!.stage === s);
      const all = epsilons.map((eps) => after[s - 1][epsilons.indexOf(eps)]);
      const union = clean.flatMap((_, i) => (all.some((bits) => bits[i]) ? [i] : []));
      const wanted = new Set(missing.flat());
      for (const batch of batches(union, ctx.batchSize))
        if (batch.some((r) => wanted.has(r))) await minimiseStageRows(ctx, stageCell(s, epsilons[0]), attack, batch, () => undefined, (b, x, found) => keepThresholded(cells, b, x, found, keepFor));
      continue;
    }
    for (const [k, eps] of epsilons.entries()) {
      if (missing[k].length === 0) continue;
      const cell = stageCell(s, eps);
      const attacked = attackedRows(s, k).flatMap((ok, i) => (ok ? [i] : []));
      for (const batch of batches(attacked, ctx.batchSize)) if (batch.some((r) => missing[k].includes(r))) await attackRows(ctx, cell, batch, () => undefined, keepFor(cell));
    }
  }
  const cleanTiles = rows.map((r) => data.images.slice(r * size, (r + 1) * size));
  const examples: Float32Array[][] = [];
  const notes: string[][] = [];
  epsilons.forEach((eps, k) => {
    examples.push(
      rows.map((r) => {
        const s = source(k, r);
        if (s !== null) return captured.get(stageCell(s, eps).id)!.get(r)!;
        return k > 0 ? examples[k - 1][r] : cleanTiles[r];
      }),
    );
    notes.push(
      rows.map((r) => {
        const s = source(k, r);
        if (s === null) return 'kept';
        return brokenAt[k][r] === -1 ? 'robust' : `by ${info.stages[s - 1]}`;
      }),
    );
  });
  const threatModel = worst[0].attack!.threatModel;
  const epsMax = epsilons[epsilons.length - 1];
  const { cleanPred, preds, deltas, span, grid, image } = adversarialGrid(ctx, checkpoint, data, cleanTiles, examples, threatModel, epsMax);
  const labels = rows.map((r) => data.labels[r]);
  const className = (k: number) => classNameOf(data.classNames, k);
  const sampleIndices = rows.map((r) => data.offset + r);
  const norm = normSymbol(threatModel);
  const sidecar: ImageSidecar = {
    format: 'bench-image/1',
    group: 'adversarial',
    title: `${checkpoint}: cascade ${info.label} (${info.stages.join(' → ')}), ${info.chain === 'none' ? 'score-based' : `${info.chain} gradient path`}`,
    caption:
      `Rows: test images ${sampleIndices.join(', ')} (the run's first ${n}). Columns: the clean image; per ε (${norm} radius, [0,1] ` +
      `pixel units) the cascade's worst-case example, the one its worst-case cell counts: the example of the first stage that broke ` +
      `the image (named under the tile, “by STAGE”), the very image that stage classified; an image broken at a smaller ε keeps that ` +
      `example (“kept”: it lies inside the larger ball, and no stage attacks it again), as does an image misclassified clean (its clean ` +
      `image); an image no stage broke shows the last stage's example (“robust”: every stage attacked it and failed); the perturbation at ` +
      `ε=${fmt(epsMax)}, magnified (mid-grey = unchanged, white/black = ±${fmt(span)}). Frames and the table: the class ${checkpoint} ` +
      `predicts (${target.ref.output} output), blue = correct, orange = misclassified. Magnified ${TILE_SCALE}×.`,
    grid,
    columns: ['clean', ...epsilons.map((e) => `${norm} ε=${fmt(e)}`), `perturbation (${norm} ε=${fmt(epsMax)})`],
    rows: rows.map((r) => `#${sampleIndices[r]} ${className(labels[r])}`),
    tiles: rows.map((r) => [
      { text: className(cleanPred[r]), ...(cleanPred[r] !== labels[r] ? { marked: true } : {}) },
      ...epsilons.map((_, k) => ({ text: `${className(preds[k][r])} (${notes[k][r]})`, ...(preds[k][r] !== labels[r] ? { marked: true } : {}) })),
      { text: `max |δ| ${Number(maxAbs(deltas[r]).toFixed(4))}` },
    ]),
    details: {
      checkpoint,
      output: target.ref.output,
      cascade: info.label,
      stages: info.stages,
      chain: info.chain,
      threatModel,
      cells: worst.map((c) => c.id),
      epsilons,
      sampleIndices,
      labels,
      cleanPredictions: cleanPred,
      predictions: preds,
      /** Per eps, per row: the worst-case cell's brokenBy (0 clean, k stage k, -1 robust). */
      brokenBy: brokenAt.map((b) => b.slice(0, n)),
      /** Per eps, per row: the stage whose example the tile is (1-based), or null for a kept image. */
      exampleStage: epsilons.map((_, k) => rows.map((r) => source(k, r))),
    },
  };
  return { png: encodePng(image), sidecar };
}

function corruptionPanels(ctx: RunContext, plan: Plan, lookup: CorruptionLookup): Panel[] {
  const names: string[] = [];
  const severities: number[] = [];
  const checkpoints: string[] = [];
  for (const unit of plan.units)
    for (const c of unit.cells) {
      if (!c.corruption) continue;
      if (!checkpoints.includes(c.checkpoint)) checkpoints.push(c.checkpoint);
      if (!names.includes(c.corruption.name)) names.push(c.corruption.name);
      if (!severities.includes(c.corruption.severity)) severities.push(c.corruption.severity);
    }
  if (names.length === 0) return [];
  severities.sort((a, b) => a - b);
  const { data } = ctx;
  const count = Math.min(CORRUPTION_IMAGES, data.count);
  const size = data.height * data.width * data.channels;
  // Computed once, for every panel: all corruptions on the first `count` images.
  let memo: Float32Array[][][] | null = null;
  const allTiles = () =>
    (memo ??= names.map((name) =>
      corruptionTiles(
        lookup(name),
        { images: data.images.subarray(0, count * size), count, height: data.height, width: data.width, channels: data.channels, firstIndex: data.offset },
        ctx.seed,
        [0, ...severities],
      ),
    ));
  return Array.from({ length: count }, (_, i) => {
    const index = data.offset + i;
    return {
      name: `corruption-image${index}`,
      render: async () => {
        const byCorruption = allTiles();
        const grid: PanelGrid = {
          rows: names.length,
          cols: severities.length + 1,
          tileHeight: data.height,
          tileWidth: data.width,
          channels: data.channels as 1 | 3,
          scale: TILE_SCALE,
          gap: TILE_GAP,
          border: 0,
        };
        const image = imageGrid(
          byCorruption.flatMap((t) => t[i]),
          { rows: grid.rows, cols: grid.cols, tileHeight: grid.tileHeight, tileWidth: grid.tileWidth, channels: grid.channels, scale: TILE_SCALE, gap: TILE_GAP },
        );
        const className = (k: number) => classNameOf(data.classNames, k);
        const label = className(data.labels[i]);
        // What each checkpoint predicts on every tile (one call per checkpoint).
        const tiles = byCorruption.flatMap((t) => t[i]);
        const stacked = new Float32Array(tiles.length * size);
        tiles.forEach((t, k) => stacked.set(t, k * size));
        const x = tf.tensor4d(stacked, [tiles.length, data.height, data.width, data.channels]);
        const predictions = checkpoints.map((c) => argmaxRows(ctx, c, x));
        x.dispose();
        const cols = severities.length + 1;
        const predictionsAt = (r: number, c: number) => predictions.map((p) => p[r * cols + c]);
        const sidecar: ImageSidecar = {
          format: 'bench-image/1',
          group: 'corruption',
          title: `Test image #${index} (${label}) under each corruption`,
          caption:
            `Rows: the run's corruptions; columns: the clean image, then severities ${severities.join(', ')}. Each tile is the image the ` +
            `corresponding cell evaluated (same corruption code, random stream keyed by seed ${ctx.seed}, corruption, severity and ` +
            `image index; \`bench preview --corruption NAME --image ${index} --seed ${ctx.seed}\` draws the same). The table: the class ` +
            `${checkpoints.length > 1 ? `the checkpoints predict (one class when they agree, else ${checkpoints.join(' / ')})` : `${checkpoints[0]} predicts`}, ` +
            `highlighted when ${checkpoints.length > 1 ? 'one is' : 'it is'} wrong. Magnified ${TILE_SCALE}×.`,
          grid,
          columns: ['clean', ...severities.map((s) => `severity ${s}`)],
          rows: names.map((n) => `${n} (${lookup(n).family})`),
          tiles: names.map((_, r) =>
            Array.from({ length: cols }, (_, c) => {
              const p = predictionsAt(r, c);
              const text = p.every((k) => k === p[0]) ? className(p[0]) : p.map(className).join(' / ');
              return { text, ...(p.some((k) => k !== data.labels[i]) ? { marked: true } : {}) };
            }),
          ),
          details: {
            sampleIndex: index,
            label: data.labels[i],
            seed: ctx.seed,
            corruptions: names,
            severities,
            checkpoints,
            /** predictions[checkpoint][row * columns + column] */
            predictions,
          },
        };
        return { png: encodePng(image), sidecar };
      },
    };
  });
}

export interface ImagesOutcome {
  /** Names (without extension) of the panels written now. */
  written: string[];
  /** Panels already present (--resume). */
  kept: string[];
}

/**
 * Writes the corruption panels of `plan` into <runDir>/images/ (PNG and JSON sidecar per panel, each
 * atomically), skipping panels whose two files exist. (Adversarial panels are written by their sweep
 * units: sweepPanel.)
 */
export async function writeRunImages(ctx: RunContext, runDir: string, plan: Plan, lookup: CorruptionLookup = (n) => getCorruption(n)): Promise<ImagesOutcome> {
  const dir = join(runDir, IMAGES_DIR);
  const written: string[] = [];
  const kept: string[] = [];
  for (const panel of corruptionPanels(ctx, plan, lookup)) {
    if (hasPanel(dir, panel.name)) {
      kept.push(panel.name);
      continue;
    }
    const { png, sidecar } = await panel.render();
    await writeFileAtomic(join(dir, `${panel.name}.json`), `${JSON.stringify(sidecar, null, 2)}\n`);
    await writeFileAtomic(join(dir, `${panel.name}.png`), png);
    written.push(panel.name);
  }
  return { written, kept };
}
