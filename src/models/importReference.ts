import { inputError } from '../engine/errors.js';
import type { ArchitectureSpec } from './architecture.js';
import { readSafetensors } from './safetensors.js';
import { numElements } from './torch/binary.js';
import { readTorchFile } from './torch/load.js';
import type { WeightArrays } from './weights.js';

/**
 * Maps a state_dict of the reference CNN-F (yjhuangcd/CNNF, cnnf/model_mnist.py) to our weights:
 *   conv{k}.conv.weight  [O, I, kh, kw] (OIHW)  -> conv{k}.kernel [kh, kw, I, O] (HWIO)
 *   ins{k}_bias.bias     [1, C, 1, 1]            -> conv{k}.bias   [C]
 *   fc{j}.linear.weight  [out, in] (alias fc{j}.weight) -> fc{j}.kernel [in, out]
 *   fc{j}_bias.bias      [1, out]                -> fc{j}.bias     [out]
 * fc1's input index is permuted from PyTorch's C,H,W flattening to our H,W,C one. The tied copies
 * conv{k}.conv_t.weight (same tensor) and fc{j}.linear_t.weight (its transpose) are checked and dropped.
 */

/** A host tensor as both readers return it; `dtype` (when given) must be floating point. */
export interface HostTensor {
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
  dtype?: string;
}

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16', 'F32', 'F64', 'F16', 'BF16']);

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

export function importReferenceStateDict(
  input: ReadonlyMap<string, HostTensor>,
  architecture: ArchitectureSpec,
  where = 'state_dict',
): WeightArrays {
  // nn.DataParallel prefixes every key with "module.".
  const tensors = [...input.keys()].every((k) => k.startsWith('module.'))
    ? new Map([...input].map(([k, v]) => [k.slice('module.'.length), v]))
    : new Map(input);
  const used = new Set<string>();
  const archNote = `${architecture.convs.length} conv and ${architecture.dense.length + 1} fc layers`;

  const get = (key: string, shapes: number[][]): Float32Array => {
    const t = tensors.get(key);
    if (!t) throw inputError(where, `missing tensor "${key}" (the architecture has ${archNote}; does it match the checkpoint?)`);
    if (!shapes.some((s) => s.length === t.shape.length && s.every((n, i) => n === t.shape[i])))
      throw inputError(where, `tensor "${key}" has shape ${fmt(t.shape)}, expected ${fmt(shapes[0])} (architecture with ${archNote})`);
    if ((t.dtype !== undefined && !FLOAT_DTYPES.has(t.dtype)) || !(t.data instanceof Float32Array))
      throw inputError(where, `tensor "${key}" has dtype ${t.dtype ?? t.data.constructor.name}, expected floating point`);
    used.add(key);
    return t.data;
  };
  /** Checks an optional tied copy: element i of the copy must equal original[map(i)]. */
  const checkTied = (key: string, of: string, shape: number[], original: Float32Array, map: (i: number) => number) => {
    if (!tensors.has(key)) return;
    const copy = get(key, [shape]);
    for (let i = 0; i < copy.length; i++) {
      const expected = original[map(i)];
      if (copy[i] !== expected && !(Number.isNaN(copy[i]) && Number.isNaN(expected)))
        throw inputError(where, `tensor "${key}" should be a tied copy of "${of}" but differs at flat index ${i}`);
    }
  };

  const weights: WeightArrays = {};
  const k = architecture.kernelSize;
  let [height, width, channels] = architecture.inputShape;
  architecture.convs.forEach((conv, c) => {
    const n = c + 1;
    const O = conv.filters;
    const I = channels;
    const key = `conv${n}.conv.weight`;
    const oihw = get(key, [[O, I, k, k]]);
    const hwio = new Float32Array(oihw.length);
    for (let o = 0; o < O; o++)
      for (let i = 0; i < I; i++)
        for (let h = 0; h < k; h++)
          for (let w = 0; w < k; w++) hwio[((h * k + w) * I + i) * O + o] = oihw[((o * I + i) * k + h) * k + w];
    checkTied(`conv${n}.conv_t.weight`, key, [O, I, k, k], oihw, (i) => i);
    weights[`conv${n}.kernel`] = { shape: [k, k, I, O], data: hwio };
    weights[`conv${n}.bias`] = { shape: [O], data: get(`ins${n}_bias.bias`, [[1, O, 1, 1], [O]]).slice() };
    channels = O;
    if (conv.pool) {
      height = Math.floor(height / 2);
      width = Math.floor(width / 2);
    }
  });

  let inputs = height * width * channels;
  [...architecture.dense, architecture.numClasses].forEach((outputs, f) => {
    const n = f + 1;
    const primary = tensors.has(`fc${n}.linear.weight`) ? `fc${n}.linear.weight` : `fc${n}.weight`;
    const w = get(primary, [[outputs, inputs]]);
    if (primary !== `fc${n}.weight`) checkTied(`fc${n}.weight`, primary, [outputs, inputs], w, (i) => i);
    // linear_t.weight[i, o] = weight[o, i].
    checkTied(`fc${n}.linear_t.weight`, primary, [inputs, outputs], w, (i) => (i % outputs) * inputs + Math.floor(i / outputs));
    // Our row r = input index in our flattening; PyTorch's column for it: for fc1 the C,H,W order.
    const torchColumn =
      n === 1
        ? (r: number) => {
            const c = r % channels;
            const hw = (r - c) / channels;
            return c * height * width + hw;
          }
        : (r: number) => r;
    const kernel = new Float32Array(inputs * outputs);
    for (let r = 0; r < inputs; r++) {
      const col = torchColumn(r);
      for (let o = 0; o < outputs; o++) kernel[r * outputs + o] = w[o * inputs + col];
    }
    weights[`fc${n}.kernel`] = { shape: [inputs, outputs], data: kernel };
    weights[`fc${n}.bias`] = { shape: [outputs], data: get(`fc${n}_bias.bias`, [[1, outputs], [outputs]]).slice() };
    inputs = outputs;
  });

  const unused = [...tensors.keys()].filter((key) => !used.has(key));
  if (unused.length > 0)
    throw inputError(
      where,
      `unexpected tensors ${unused.slice(0, 5).map((u) => `"${u}"`).join(', ')}${unused.length > 5 ? ` and ${unused.length - 5} more` : ''} ` +
        `(the architecture has ${archNote}; does it match the checkpoint?)`,
    );
  for (const [name, t] of Object.entries(weights))
    if (numElements(t.shape) !== t.data.length) throw new Error(`internal: ${name} size mismatch`);
  return weights;
}

export type ImportFormat = 'zip' | 'legacy' | 'safetensors';

/** Reads a reference checkpoint (.pt in zip or legacy format, or .safetensors with the same keys) and maps it. */
export async function importReferenceFile(
  path: string,
  architecture: ArchitectureSpec,
): Promise<{ weights: WeightArrays; format: ImportFormat }> {
  if (path.toLowerCase().endsWith('.safetensors')) return { weights: await importReferenceSafetensors(path, architecture), format: 'safetensors' };
  const stateDict = await readTorchFile(path);
  return { weights: importReferenceStateDict(stateDict.tensors, architecture, path), format: stateDict.format };
}

/** The fixtures' weights.safetensors: the reference keys without tied copies. */
export async function importReferenceSafetensors(path: string, architecture: ArchitectureSpec): Promise<WeightArrays> {
  const { tensors } = await readSafetensors(path);
  return importReferenceStateDict(tensors, architecture, path);
}
