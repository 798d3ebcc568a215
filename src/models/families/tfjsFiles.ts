import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { inputError, InputError, showValue } from '../../engine/errors.js';
import { tf } from '../../engine/tf.js';
import { assertFiniteWeights, nonFiniteWeight } from '../weights.js';

/**
 * TF.js model files on disk (no network, no tfjs-node): a model.json (the format written by
 * `LayersModel.save` and by tfjs-converter) and the binary weight shards its `weightsManifest` names.
 *
 * model.json fields read here (tfjs-core src/io/types.ts `ModelJSON`):
 *   format            'layers-model' | 'graph-model' (older files may omit it: the topology tells)
 *   modelTopology     layers: a Keras model config ({class_name, config} or {model_config: ...});
 *                     graph: a GraphDef in JSON ({node: [...], library, versions})
 *   weightsManifest   [{paths: [shard file names, relative to model.json], weights: [{name, shape, dtype,
 *                     quantization?}]}]; each group's shards concatenated hold its weights in order,
 *                     little-endian, sizes = elements x bytes per value (float32/int32 4, bool 1;
 *                     quantized: uint8 1, uint16 2, float16 2).
 */

export type TfjsFormat = 'layers-model' | 'graph-model';
export const TFJS_FORMATS: readonly TfjsFormat[] = ['layers-model', 'graph-model'];

export interface ModelJsonFile {
  /** Absolute path of model.json. */
  file: string;
  json: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `path` itself when it is a file, `path/model.json` when it is a directory. */
export async function modelJsonPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    const s = await stat(abs);
    return s.isDirectory() ? join(abs, 'model.json') : abs;
  } catch {
    throw inputError(path, 'does not exist (a model is a model.json file or a directory holding one)');
  }
}

/** Reads and parses a model.json (one InputError line naming the file when missing or not a JSON object). */
export async function readModelJson(path: string): Promise<ModelJsonFile> {
  const file = await modelJsonPath(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(file, code === 'ENOENT' ? 'does not exist' : `cannot read (${code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw inputError(file, `not a model description (a JSON ${Array.isArray(json) ? 'array' : typeof json}, not an object)`);
  return { file, json };
}

/**
 * Which TF.js format a parsed model.json is in, from its own `format` field, else (older files without
 * one) from the topology's structure: a Keras config (`model_config` or `class_name`) is a layers-model,
 * a GraphDef (`node` list) a graph-model. Null when neither.
 */
export function tfjsFormatOf(json: Record<string, unknown>): TfjsFormat | null {
  const topology = json.modelTopology;
  if (json.format !== undefined) return TFJS_FORMATS.includes(json.format as TfjsFormat) ? (json.format as TfjsFormat) : null;
  if (!isObject(topology)) return null;
  if (isObject(topology.model_config) || typeof topology.class_name === 'string') return 'layers-model';
  if (Array.isArray(topology.node)) return 'graph-model';
  return null;
}

/** Bytes per stored value of a weight spec, or null when not statically known (strings). */
function bytesPerValue(spec: Record<string, unknown>): number | null {
  const q = spec.quantization;
  if (isObject(q)) return ({ uint8: 1, uint16: 2, float16: 2 } as Record<string, number>)[q.dtype as string] ?? NaN;
  if (spec.dtype === 'string') return null;
  return ({ float32: 4, int32: 4, bool: 1, complex64: 8 } as Record<string, number>)[spec.dtype as string] ?? NaN;
}

export interface TfjsArtifacts {
  artifacts: tf.io.ModelArtifacts;
  /** sha256 (hex) of all weight bytes, shards concatenated in manifest order. */
  weightsSha256: string;
  weightBytes: number;
  /** Shape of every weight by name, as the manifest declares it. */
  weightShapes: Map<string, number[]>;
  /** Every weight spec with its place in the manifest, in manifest order. */
  entries: ManifestEntry[];
}

/** The shape a weight must have by the model's topology, and who needs it (`layer "conv1"`, `Const node "k"`). */
export interface TopologyShape {
  shape: number[];
  owner: string;
}

/** Where a weight spec sits in model.json: its group, its index in the group, name and declared shape. */
export interface ManifestEntry {
  group: number;
  index: number;
  name: string;
  shape: number[];
}

const showShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * The first manifest weight whose declared shape differs from the shape the topology gives it (weights the
 * topology does not know are skipped), as one InputError line naming model.json, the manifest entry, the
 * weight, both shapes and who needs the other one; null when all agree.
 */
export function manifestShapeMismatch(file: string, entries: readonly ManifestEntry[], expected: ReadonlyMap<string, TopologyShape>): InputError | null {
  for (const e of entries) {
    const want = expected.get(e.name);
    if (!want || (want.shape.length === e.shape.length && want.shape.every((n, i) => n === e.shape[i]))) continue;
    return inputError(
      `${file}: weightsManifest[${e.group}].weights[${e.index}]`,
      `weight ${JSON.stringify(e.name)} has shape ${showShape(e.shape)} in the manifest, ${want.owner} needs ${showShape(want.shape)}`,
    );
  }
  return null;
}

/**
 * The shape of every Const node of a GraphDef (tfjs-converter writes one per weight, named as the
 * manifest entry) whose `value.tensor.tensorShape` is fully known; a scalar has no `dim`.
 */
export function graphConstShapes(topology: Record<string, unknown>): Map<string, TopologyShape> {
  const shapes = new Map<string, TopologyShape>();
  const nodes = Array.isArray(topology.node) ? topology.node : [];
  for (const node of nodes as unknown[]) {
    if (!isObject(node) || node.op !== 'Const' || typeof node.name !== 'string' || !isObject(node.attr)) continue;
    const value = node.attr.value;
    const tensor = isObject(value) ? value.tensor : undefined;
    const shape = isObject(tensor) ? tensor.tensorShape : undefined;
    if (!isObject(shape) || shape.unknownRank === true) continue;
    const dims = shape.dim === undefined ? [] : shape.dim;
    if (!Array.isArray(dims)) continue;
    const sizes = dims.map((d) => (isObject(d) ? Number(d.size ?? 0) : NaN));
    if (sizes.every((n) => Number.isInteger(n) && n >= 0)) shapes.set(node.name, { shape: sizes, owner: `the graph's Const node ${JSON.stringify(node.name)}` });
  }
  return shapes;
}

/** What readTfjsArtifacts checks besides the files themselves. */
export interface ReadTfjsOptions {
  /**
   * The weight shapes the topology implies, by manifest name; called at most once, only when a group's
   * shards hold another number of bytes than its specs need (for a layers-model it builds the topology,
   * which is not worth doing on every load). Null when the topology cannot tell.
   */
  topologyShapes?: () => Promise<ReadonlyMap<string, TopologyShape> | null>;
  /** Which non-finite weight values to refuse: 'all' (NaN and ±Infinity) or 'nan' (NaN only). Default 'all'. */
  refuseNonFinite?: 'all' | 'nan';
}

/**
 * Checks the float weights of a TF.js model (float32, and float16-quantized) for NaN (and ±Infinity when
 * `which` is 'all'), the way bench checkpoints are checked (weights.ts assertFiniteWeights): the first one
 * is one InputError line naming model.json, the manifest weight and the value found with its flat index.
 * uint8/uint16-quantized weights are finite by construction (min + q * scale with finite JSON numbers).
 */
export function checkFiniteWeights(file: string, specs: readonly tf.io.WeightsManifestEntry[], weightData: Uint8Array, which: 'all' | 'nan' = 'all'): void {
  const refused = (v: number) => (which === 'all' ? !Number.isFinite(v) : Number.isNaN(v));
  let offset = 0;
  for (const spec of specs) {
    const per = bytesPerValue(spec as unknown as Record<string, unknown>);
    if (per === null) return; // a string weight's size is in its data: the offsets after it are not known here
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = weightData.subarray(offset, offset + elements * per);
    offset += bytes.byteLength;
    const at = `${file}: weight ${JSON.stringify(spec.name)}`;
    if (spec.quantization === undefined && spec.dtype === 'float32') {
      // Shard data is little-endian, as are the hosts TF.js runs on; an unaligned weight is copied first.
      const floats = bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, elements) : new Float32Array(bytes.slice().buffer);
      if (which === 'all') assertFiniteWeights(floats, at);
      else {
        const i = floats.findIndex((v) => Number.isNaN(v));
        if (i >= 0) throw nonFiniteWeight(at, NaN, i);
      }
    } else if (spec.quantization?.dtype === 'float16') {
      const halves = new Uint16Array(bytes.slice().buffer);
      for (let i = 0; i < halves.length; i++) {
        const h = halves[i];
        // IEEE half: exponent bits all ones is non-finite; a non-zero mantissa makes it NaN, else the sign bit picks ±Infinity.
        if ((h & 0x7c00) !== 0x7c00) continue;
        const value = h & 0x03ff ? NaN : h & 0x8000 ? -Infinity : Infinity;
        if (refused(value)) throw nonFiniteWeight(at, value, i);
      }
    }
  }
}

/**
 * Reads a TF.js model.json of the expected format and every weight shard it names, validating as it goes;
 * each problem is one InputError line naming the file: a missing shard (the shard's path), a manifest
 * weight whose shape differs from the one the topology gives it (graph-model: always checked against the
 * Const nodes; layers-model: when the bytes disagree, through `options.topologyShapes`), a group whose
 * shards hold a different number of bytes than its weight specs need (the group's last shard, expected vs
 * actual bytes), a malformed manifest entry (model.json and the field), a shard path that is a URL, a
 * non-finite float weight (checkFiniteWeights; `options.refuseNonFinite`).
 */
export async function readTfjsArtifacts(model: ModelJsonFile, expected: TfjsFormat, options: ReadTfjsOptions = {}): Promise<TfjsArtifacts> {
  const { file, json } = model;
  const format = tfjsFormatOf(json);
  if (format !== expected)
    throw inputError(file, `is ${format ? `a TF.js ${format}` : `not a TF.js model (format ${showValue(json.format)})`}, expected a ${expected}`);
  const topology = json.modelTopology;
  if (!isObject(topology)) throw inputError(`${file}: modelTopology`, 'missing or not an object');
  if (expected === 'graph-model' && !Array.isArray(topology.node)) throw inputError(`${file}: modelTopology.node`, 'missing (a graph-model topology is a GraphDef with a node list)');
  if (expected === 'layers-model' && !isObject(topology.model_config) && typeof topology.class_name !== 'string')
    throw inputError(`${file}: modelTopology`, 'has neither model_config nor class_name (not a Keras model config)');
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw inputError(`${file}: weightsManifest`, 'not a list of weight groups');

  const dir = dirname(file);
  const chunks: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const weightShapes = new Map<string, number[]>();
  const entries: ManifestEntry[] = [];
  let topologyShapes: ReadonlyMap<string, TopologyShape> | null | undefined;
  const shapesOfTopology = async () => {
    if (topologyShapes === undefined) topologyShapes = (await options.topologyShapes?.()) ?? null;
    return topologyShapes;
  };
  for (let g = 0; g < manifest.length; g++) {
    const group = manifest[g] as unknown;
    const at = `${file}: weightsManifest[${g}]`;
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights))
      throw inputError(at, 'not a weight group', '{"paths": [shard files], "weights": [specs]}');
    let need: number | null = 0;
    for (let w = 0; w < group.weights.length; w++) {
      const spec = group.weights[w] as unknown;
      const wat = `${at}.weights[${w}]`;
      if (!isObject(spec) || typeof spec.name !== 'string' || !Array.isArray(spec.shape) || !spec.shape.every((n) => Number.isInteger(n) && (n as number) >= 0))
        throw inputError(wat, `invalid weight spec ${showValue(spec)}`, '{"name": string, "shape": [non-negative integers], "dtype": ...}');
      const per = bytesPerValue(spec);
      if (per !== null && !Number.isFinite(per))
        throw inputError(`${wat}: ${spec.name}`, `unknown dtype ${showValue(isObject(spec.quantization) ? spec.quantization.dtype : spec.dtype)}`, 'float32, int32, bool, string; quantized uint8, uint16, float16');
      const elements = (spec.shape as number[]).reduce((a, b) => a * b, 1);
      need = need === null || per === null ? null : need + elements * per;
      specs.push(spec as unknown as tf.io.WeightsManifestEntry);
      weightShapes.set(spec.name, spec.shape as number[]);
      entries.push({ group: g, index: w, name: spec.name, shape: spec.shape as number[] });
    }
    let have = 0;
    let last = '';
    for (let p = 0; p < group.paths.length; p++) {
      const rel = group.paths[p] as unknown;
      if (typeof rel !== 'string' || rel === '') throw inputError(`${at}.paths[${p}]`, `invalid shard path ${showValue(rel)}`, 'a file name relative to model.json');
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rel)) throw inputError(`${at}.paths[${p}]`, `${showValue(rel)} is a URL; bench reads weight shards from disk only`, 'a file name relative to model.json');
      const shard = isAbsolute(rel) ? rel : join(dir, rel);
      let bytes: Buffer;
      try {
        bytes = await readFile(shard);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw inputError(
          shard,
          code === 'ENOENT'
            ? `weight shard missing (named by ${basename(file)} weightsManifest[${g}].paths[${p}])`
            : `cannot read weight shard (${code ?? (err as Error).message})`,
        );
      }
      chunks.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      have += bytes.byteLength;
      last = shard;
    }
    if (group.paths.length === 0 && group.weights.length > 0) throw inputError(`${at}.paths`, 'names no shard for its weights');
    if (need !== null && have !== need) {
      // Blame a manifest shape the topology contradicts before the shard: a wrong shape changes the bytes needed.
      const shapes = await shapesOfTopology();
      const mismatch = shapes && manifestShapeMismatch(file, entries, shapes);
      if (mismatch) throw mismatch;
      const cause = shapes ? (have < need ? 'truncated shard' : 'extra data in the shard') : have < need ? 'truncated shard or wrong weight shapes' : 'extra data or wrong weight shapes';
      throw inputError(
        last || `${at}.paths`,
        `weight shards of ${basename(file)} weightsManifest[${g}] hold ${have} bytes, its ${group.weights.length} weight specs need ${need} bytes (${cause})`,
      );
    }
  }
  const total = chunks.reduce((a, c) => a + c.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    weightData.set(c, offset);
    offset += c.byteLength;
  }
  checkFiniteWeights(file, specs, weightData, options.refuseNonFinite ?? 'all');
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: topology,
    format: expected,
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
    convertedBy: typeof json.convertedBy === 'string' ? json.convertedBy : null,
    weightSpecs: specs,
    weightData: weightData.buffer,
  };
  if (isObject(json.signature)) artifacts.signature = json.signature;
  if (isObject(json.userDefinedMetadata)) artifacts.userDefinedMetadata = json.userDefinedMetadata as Record<string, object>;
  if (isObject(json.modelInitializer)) artifacts.modelInitializer = json.modelInitializer;
  if (isObject(json.initializerSignature)) artifacts.initializerSignature = json.initializerSignature;
  return { artifacts, weightsSha256: createHash('sha256').update(weightData).digest('hex'), weightBytes: total, weightShapes, entries };
}

/** A tfjs IOHandler that hands over artifacts already read from disk (load only). */
export function artifactsHandler(artifacts: tf.io.ModelArtifacts): tf.io.IOHandler {
  return { load: async () => artifacts };
}

/**
 * Runs a tfjs load or first execution and turns its error into one InputError line naming `file`:
 * an op the converter does not know (`op "X" has no TF.js implementation`), a kernel the backend lacks,
 * an op without a gradient,
 * a control-flow op that needs asynchronous execution, or TF.js's own message. InputErrors pass through.
 */
export function explainTfjsError(err: unknown, file: string, what: string): InputError {
  if (err instanceof InputError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const unknownOp = /Unknown op '([^']+)'/.exec(message) ?? /Custom op (\S+) is not registered/.exec(message);
  if (unknownOp) return inputError(file, `op ${JSON.stringify(unknownOp[1])} has no TF.js implementation`, 'the ops of tfjs-converter 4.x');
  const kernel = /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(message);
  if (kernel) return inputError(file, `op kernel ${JSON.stringify(kernel[1])} is not implemented on the ${kernel[2]} backend`);
  const noGradient = /gradient function not found for (\S+?)\.?$/m.exec(message);
  if (noGradient) return inputError(file, `op ${JSON.stringify(noGradient[1])} has no gradient in TF.js, so gradient attacks cannot run on this model`);
  const dynamic = /the dynamic op '([^']+)'/.exec(message);
  if (dynamic) return inputError(file, `uses control-flow op ${JSON.stringify(dynamic[1])}, which needs asynchronous execution (bench runs models synchronously, as gradients require)`);
  return inputError(file, `${what}: ${message}`);
}
