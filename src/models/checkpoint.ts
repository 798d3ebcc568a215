import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, inputError, showValue } from '../engine/errors.js';
import { validateArchitecture, weightSpecs, type ModelArchitecture, type Normalization } from './architecture.js';
import { encodeSafetensors, parseSafetensors } from './safetensors.js';
import { assertFiniteWeights, type WeightArrays } from './weights.js';
import { createDirectory } from '../rundir/createDir.js';

/**
 * A checkpoint is a directory: model.json (this manifest) + weights.safetensors (float32 tensors named
 * and shaped by weightSpecs(architecture), layouts in architecture.ts). The manifest records the
 * weights file's sha256, so a truncated or corrupted file is caught before any number is computed.
 */

export const CHECKPOINT_FORMAT = 'bench-checkpoint/1';
export const MANIFEST_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.safetensors';

/** Fashion-MNIST labels 0..9, defined once with the dataset. */
export { FASHION_MNIST_CLASSES as FASHION_MNIST_CLASS_NAMES } from '../data/fashionMnist.js';

/** Where the weights came from; free-form beyond these usual fields. */
export interface CheckpointProvenance {
  source?: string;
  command?: string;
  seed?: number;
  epochs?: number;
  wallTimeSeconds?: number;
  date?: string;
  [key: string]: unknown;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  name: string;
  architecture: ModelArchitecture;
  normalization: Normalization;
  classNames: string[];
  weights: { file: typeof WEIGHTS_FILE; sha256: string };
  provenance: CheckpointProvenance;
  /** Free-form, e.g. { cleanAccuracy: { first, last, average }, testImages }. */
  metrics: Record<string, unknown>;
}

/** What saveCheckpoint takes: the manifest minus what it computes itself. */
export type CheckpointManifestInput = Omit<CheckpointManifest, 'format' | 'weights' | 'metrics'> & {
  format?: typeof CHECKPOINT_FORMAT;
  metrics?: Record<string, unknown>;
};

export interface LoadedCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  weights: WeightArrays;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks names, shapes and finiteness of weights against the architecture; `where` names the file. */
export function validateWeights(weights: WeightArrays, architecture: ModelArchitecture, where: string): void {
  const specs = weightSpecs(architecture);
  for (const spec of specs) {
    const at = `${where}: tensor "${spec.name}"`;
    const w = Object.hasOwn(weights, spec.name) ? weights[spec.name] : undefined;
    if (!w) throw inputError(where, `missing tensor "${spec.name}" (shape [${spec.shape.join(', ')}])`);
    if (!(w.data instanceof Float32Array)) throw inputError(at, 'must be float32 (F32)');
    if (w.shape.length !== spec.shape.length || w.shape.some((n, i) => n !== spec.shape[i]))
      throw inputError(at, `has shape [${w.shape.join(', ')}], the architecture needs [${spec.shape.join(', ')}]`);
    if (w.data.length !== spec.shape.reduce((a, b) => a * b, 1))
      throw inputError(at, `holds ${w.data.length} values, shape [${spec.shape.join(', ')}] needs ${spec.shape.reduce((a, b) => a * b, 1)}`);
    assertFiniteWeights(w.data, at);
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = Object.keys(weights).filter((n) => !known.has(n));
  if (extra.length > 0)
    throw inputError(
      where,
      `unexpected tensors ${extra.slice(0, 5).map((e) => showValue(e)).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}`,
      specs.map((s) => s.name).join(', '),
    );
}

/** Validates a parsed model.json (everything but the weights file itself). */
export function validateManifest(raw: unknown, where: string): CheckpointManifest {
  if (!isObject(raw)) throw inputError(where, 'must be a JSON object');
  if (raw.format !== CHECKPOINT_FORMAT)
    throw inputError(`${where}: format`, `unknown format ${showValue(raw.format)}`, JSON.stringify(CHECKPOINT_FORMAT));
  if (typeof raw.name !== 'string' || raw.name.trim() === '') throw inputError(`${where}: name`, 'must be a non-empty string');
  const architecture = validateArchitecture(raw.architecture, where);
  const channels = architecture.inputShape[2];
  const norm = raw.normalization;
  const numbers = (v: unknown) => Array.isArray(v) && v.length === channels && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!isObject(norm) || !numbers(norm.mean) || !numbers(norm.std) || !(norm.std as number[]).every((s) => s > 0))
    throw inputError(`${where}: normalization`, `must be {"mean": [${channels} numbers], "std": [${channels} positive numbers]}`);
  const classNames = raw.classNames;
  if (!Array.isArray(classNames) || classNames.length !== architecture.numClasses || !classNames.every((c) => typeof c === 'string'))
    throw inputError(`${where}: classNames`, `must be a list of ${architecture.numClasses} strings (architecture.numClasses)`);
  const weights = raw.weights;
  if (!isObject(weights) || weights.file !== WEIGHTS_FILE || typeof weights.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(weights.sha256))
    throw inputError(`${where}: weights`, `must be {"file": "${WEIGHTS_FILE}", "sha256": 64 lowercase hex digits}`);
  if (!isObject(raw.provenance)) throw inputError(`${where}: provenance`, 'must be an object');
  if (raw.metrics !== undefined && !isObject(raw.metrics)) throw inputError(`${where}: metrics`, 'must be an object');
  return { ...(raw as unknown as CheckpointManifest), metrics: (raw.metrics as Record<string, unknown>) ?? {} };
}

async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Writes `dir`/weights.safetensors then `dir`/model.json, each to a temp name renamed into place, so a
 * reader never sees a half-written file and model.json (which holds the hash) only appears last.
 * Refuses weights that do not fit the architecture or are not finite. Returns the written manifest.
 */
export async function saveCheckpoint(dir: string, input: CheckpointManifestInput, weights: WeightArrays): Promise<CheckpointManifest> {
  const where = join(dir, MANIFEST_FILE);
  validateWeights(weights, input.architecture, join(dir, WEIGHTS_FILE));
  const ordered = weightSpecs(input.architecture).map((s): [string, (typeof weights)[string]] => [s.name, weights[s.name]]);
  const bytes = encodeSafetensors(ordered, { format: CHECKPOINT_FORMAT });
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    name: input.name,
    architecture: input.architecture,
    normalization: input.normalization,
    classNames: [...input.classNames],
    weights: { file: WEIGHTS_FILE, sha256: sha256(bytes) },
    provenance: input.provenance,
    metrics: input.metrics ?? {},
  };
  validateManifest(JSON.parse(JSON.stringify(manifest)), where);
  await createDirectory(dir, 'the checkpoint directory');
  await writeAtomically(join(dir, WEIGHTS_FILE), bytes);
  await writeAtomically(where, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

async function readOrExplain(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${path}: ${what} is missing`);
    throw new InputError(`${path}: cannot read ${what} (${code ?? (err as Error).message})`);
  }
}

/** Loads and fully validates a checkpoint directory; every problem is one InputError line naming the file. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory())
      throw new InputError(`${dir}: not a directory (a checkpoint is a directory holding ${MANIFEST_FILE} and ${WEIGHTS_FILE})`);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${dir}: checkpoint directory does not exist`);
  }
  const manifestPath = join(dir, MANIFEST_FILE);
  const text = (await readOrExplain(manifestPath, 'the checkpoint manifest')).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw inputError(manifestPath, `not valid JSON (${(err as Error).message})`);
  }
  const manifest = validateManifest(raw, manifestPath);

  const weightsPath = join(dir, manifest.weights.file);
  const buffer = await readOrExplain(weightsPath, 'the weights file');
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const { tensors } = parseSafetensors(bytes, weightsPath);
  const actual = sha256(bytes);
  if (actual !== manifest.weights.sha256)
    throw inputError(
      weightsPath,
      `sha256 mismatch: ${MANIFEST_FILE} says ${manifest.weights.sha256}, the file hashes to ${actual} (truncated, corrupted or replaced file)`,
    );
  // No prototype: a tensor named "__proto__" or "constructor" is an ordinary (unexpected) name here.
  const weights: WeightArrays = Object.create(null) as WeightArrays;
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32') throw inputError(`${weightsPath}: tensor "${name}"`, `has dtype ${t.dtype}`, 'F32');
    weights[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  validateWeights(weights, manifest.architecture, weightsPath);
  return { dir, manifest, weights };
}
