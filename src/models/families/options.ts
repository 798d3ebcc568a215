import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { inputError, showValue } from '../../engine/errors.js';
import { tf, type Tensor4D } from '../../engine/tf.js';

/** How a model's final scores are read: as logits, as probabilities, or detected from the model (`auto`). */
export type HeadOption = 'logits' | 'probabilities' | 'auto';
export const HEAD_OPTIONS: readonly HeadOption[] = ['logits', 'probabilities', 'auto'];

/**
 * Per-model options (config `checkpoints[]` entries; CLI equivalents are the lead's). All optional.
 * - `name`: how runs and reports name the model (default: derived from the path).
 * - `inputRange`: [lo, hi], the pixel range the model was trained on; bench's [0,1] pixels p are mapped
 *   to lo + p (hi - lo) inside the model, so epsilons stay in [0,1] units. Usual values [0,1] (default),
 *   [0,255], [-1,1].
 * - `mean`, `std`: per-channel normalisation in the model's input units, applied AFTER the range
 *   mapping: v = (lo + p (hi - lo) - mean[c]) / std[c]. One value per input channel (or one for all).
 * - `output`: `logits`, `probabilities` or `auto` (default): auto reads a final softmax (layer activation
 *   or Softmax op) as probabilities, anything else as logits.
 * - `classNames`: a list, or a text file with one name per line (relative paths against `baseDir`).
 */
export interface ModelOptions {
  name?: string;
  inputRange?: readonly [number, number];
  mean?: readonly number[];
  std?: readonly number[];
  output?: HeadOption;
  classNames?: readonly string[] | string;
}

export const MODEL_OPTION_KEYS = ['path', 'name', 'inputRange', 'mean', 'std', 'output', 'classNames'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Validates a config object's model options (a `checkpoints[]` entry; its `path` key is allowed and
 * ignored here). `where` prefixes every message (e.g. `my.json: checkpoints[1]`). Checks that need the
 * loaded model (mean length = channels, class count) happen in `resolveModelOptions`.
 */
export function parseModelOptions(raw: unknown, where: string): ModelOptions {
  if (!isObject(raw)) throw inputError(where, `invalid value ${showValue(raw)}`, 'an object');
  for (const key of Object.keys(raw))
    if (!(MODEL_OPTION_KEYS as readonly string[]).includes(key))
      throw inputError(`${where}.${key}`, 'unknown field', MODEL_OPTION_KEYS.join(', '));
  const out: ModelOptions = {};
  if (raw.name !== undefined) {
    if (typeof raw.name !== 'string' || raw.name.trim() === '') throw inputError(`${where}.name`, `invalid value ${showValue(raw.name)}`, 'a non-empty string');
    out.name = raw.name;
  }
  if (raw.inputRange !== undefined) {
    const r = raw.inputRange;
    if (!Array.isArray(r) || r.length !== 2 || !finite(r[0]) || !finite(r[1]) || !(r[0] < r[1]))
      throw inputError(`${where}.inputRange`, `invalid value ${showValue(r)}`, '[lo, hi] with lo < hi, e.g. [0,1], [0,255], [-1,1]');
    out.inputRange = [r[0], r[1]];
  }
  for (const key of ['mean', 'std'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0 || !v.every(finite))
      throw inputError(`${where}.${key}`, `invalid value ${showValue(v)}`, 'a non-empty list of finite numbers, one per channel');
    if (key === 'std' && v.some((s) => s <= 0)) throw inputError(`${where}.std`, `invalid value ${showValue(v)}`, 'positive numbers');
    out[key] = [...v];
  }
  if (raw.output !== undefined) {
    if (!HEAD_OPTIONS.includes(raw.output as HeadOption))
      throw inputError(`${where}.output`, `invalid value ${showValue(raw.output)}`, HEAD_OPTIONS.join(', '));
    out.output = raw.output as HeadOption;
  }
  if (raw.classNames !== undefined) {
    const c = raw.classNames;
    if (typeof c === 'string') {
      if (c === '') throw inputError(`${where}.classNames`, 'empty file path', 'a list of names or a file with one name per line');
      out.classNames = c;
    } else if (Array.isArray(c) && c.length > 0 && c.every((n) => typeof n === 'string' && n !== '')) out.classNames = [...c];
    else throw inputError(`${where}.classNames`, `invalid value ${showValue(c)}`, 'a list of non-empty names or a file with one name per line');
  }
  return out;
}

/** The affine map from [0,1] pixels to a model's input: v = ((lo + p (hi - lo)) - mean[c]) / std[c]. */
export interface InputMapping {
  inputRange: [number, number];
  /** Per channel, length C (expanded from a single value). */
  mean: number[];
  std: number[];
}

/** Options resolved against a loaded model's shape and classes. */
export interface ResolvedModelOptions {
  name: string;
  mapping: InputMapping;
  output: HeadOption;
  classNames?: string[];
}

/**
 * Resolves options against the model's input channels and class count: `mean`/`std` of length 1 are
 * broadcast to every channel, other lengths must equal the channel count; class names must number
 * `numClasses`. `where` names the option source in messages; `baseDir` anchors a relative classNames file.
 */
export function resolveModelOptions(
  options: ModelOptions,
  model: { defaultName: string; channels: number; numClasses: number },
  where: string,
  baseDir = process.cwd(),
): ResolvedModelOptions {
  const perChannel = (key: 'mean' | 'std', fallback: number): number[] => {
    const v = options[key];
    if (v === undefined) return new Array(model.channels).fill(fallback);
    if (v.length === 1) return new Array(model.channels).fill(v[0]);
    if (v.length !== model.channels)
      throw inputError(`${where}: ${key}`, `has ${v.length} values, the model's input has ${model.channels} channels`, `1 or ${model.channels} values`);
    if (key === 'std' && v.some((s) => !(s > 0))) throw inputError(`${where}: std`, `invalid value ${showValue(v)}`, 'positive numbers');
    return [...v];
  };
  const range = options.inputRange ?? [0, 1];
  if (!(range[0] < range[1])) throw inputError(`${where}: inputRange`, `invalid value ${showValue(range)}`, '[lo, hi] with lo < hi');
  let classNames: string[] | undefined;
  if (options.classNames !== undefined) {
    classNames = typeof options.classNames === 'string' ? readClassNames(options.classNames, baseDir) : [...options.classNames];
    if (classNames.length !== model.numClasses)
      throw inputError(
        typeof options.classNames === 'string' ? options.classNames : `${where}: classNames`,
        `lists ${classNames.length} class names, the model has ${model.numClasses} classes`,
        `${model.numClasses} names`,
      );
  }
  return {
    name: options.name ?? model.defaultName,
    mapping: { inputRange: [range[0], range[1]], mean: perChannel('mean', 0), std: perChannel('std', 1) },
    output: options.output ?? 'auto',
    classNames,
  };
}

/** Class names from a text file, one per line; trailing blank lines and \r are dropped, inner blanks refused. */
export function readClassNames(file: string, baseDir = process.cwd()): string[] {
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw inputError(path, `cannot read the class-names file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) throw inputError(`${path}: line ${blank + 1}`, 'empty class name', 'one non-empty name per line');
  if (lines.length === 0) throw inputError(path, 'no class names', 'one name per line');
  return lines.map((l) => l.trim());
}

/** True when the mapping is the identity ([0,1], mean 0, std 1): the model sees bench's pixels unchanged. */
export function isIdentityMapping(m: InputMapping): boolean {
  return m.inputRange[0] === 0 && m.inputRange[1] === 1 && m.mean.every((v) => v === 0) && m.std.every((v) => v === 1);
}

/**
 * Maps NHWC [0,1] pixels [N,H,W,C] to the model's input, differentiably, in the documented order:
 * range first (lo + p (hi - lo)), then ((v - mean[c]) / std[c]). Steps that are the identity are skipped,
 * so the default mapping passes the tensor through unchanged.
 */
export function mapInput(x: Tensor4D, m: InputMapping): Tensor4D {
  let v: tf.Tensor = x;
  const [lo, hi] = m.inputRange;
  if (hi - lo !== 1) v = tf.mul(v, tf.scalar(hi - lo));
  if (lo !== 0) v = tf.add(v, tf.scalar(lo));
  if (m.mean.some((c) => c !== 0)) v = tf.sub(v, tf.tensor1d(m.mean));
  if (m.std.some((c) => c !== 1)) v = tf.div(v, tf.tensor1d(m.std));
  return v as Tensor4D;
}
