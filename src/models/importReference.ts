import type { ModelArchitecture } from './architecture.js';
import { importWrnStateDict } from './cnnfWrn/importState.js';
import { readSafetensors } from './safetensors.js';
import { numElements } from './torch/binary.js';
import { readTorchFile } from './torch/load.js';
import type { WeightArrays } from './weights.js';
import { oihwToHwio, StateDictReader, type HostTensor } from './stateDictReader.js';

export type { HostTensor } from './stateDictReader.js';

/**
 * Maps a state_dict of the reference CNN-F (yjhuangcd/CNNF, cnnf/model_mnist.py) to our weights:
 *   conv{k}.conv.weight  [O, I, kh, kw] (OIHW)  -> conv{k}.kernel [kh, kw, I, O] (HWIO)
 *   ins{k}_bias.bias     [1, C, 1, 1]            -> conv{k}.bias   [C]
 *   fc{j}.linear.weight  [out, in] (alias fc{j}.weight) -> fc{j}.kernel [in, out]
 *   fc{j}_bias.bias      [1, out]                -> fc{j}.bias     [out]
 * fc1's input index is permuted from PyTorch's C,H,W flattening to our H,W,C one. The tied copies
 * conv{k}.conv_t.weight (same tensor) and fc{j}.linear_t.weight (its transpose) are checked and dropped.
 * The Wide-ResNet CNN-F (cnnf/model_cifar.py, family "cnnf-wrn") is mapped by ./cnnfWrn/importState.ts.
 */
export function importReferenceStateDict(
  input: ReadonlyMap<string, HostTensor>,
  architecture: ModelArchitecture,
  where = 'state_dict',
): WeightArrays {
  if (architecture.family === 'cnnf-wrn') return importWrnStateDict(input, architecture, where);
  const reader = new StateDictReader(input, where, `${architecture.convs.length} conv and ${architecture.dense.length + 1} fc layers`);
  const get = reader.get.bind(reader);
  const checkTied = reader.checkTied.bind(reader);

  const weights: WeightArrays = {};
  const k = architecture.kernelSize;
  let [height, width, channels] = architecture.inputShape;
  architecture.convs.forEach((conv, c) => {
    const n = c + 1;
    const O = conv.filters;
    const I = channels;
    const key = `conv${n}.conv.weight`;
    const oihw = get(key, [[O, I, k, k]]);
    const hwio = oihwToHwio(oihw, O, I, k, k);
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
    const primary = reader.has(`fc${n}.linear.weight`) ? `fc${n}.linear.weight` : `fc${n}.weight`;
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

  reader.finish();
  for (const [name, t] of Object.entries(weights))
    if (numElements(t.shape) !== t.data.length) throw new Error(`internal: ${name} size mismatch`);
  return weights;
}

export type ImportFormat = 'zip' | 'legacy' | 'safetensors';

/** Reads a reference checkpoint (.pt in zip or legacy format, or .safetensors with the same keys) and maps it. */
export async function importReferenceFile(
  path: string,
  architecture: ModelArchitecture,
): Promise<{ weights: WeightArrays; format: ImportFormat }> {
  if (path.toLowerCase().endsWith('.safetensors')) return { weights: await importReferenceSafetensors(path, architecture), format: 'safetensors' };
  const stateDict = await readTorchFile(path);
  return { weights: importReferenceStateDict(stateDict.tensors, architecture, path), format: stateDict.format };
}

/** The fixtures' weights.safetensors: the reference keys without tied copies. */
export async function importReferenceSafetensors(path: string, architecture: ModelArchitecture): Promise<WeightArrays> {
  const { tensors } = await readSafetensors(path);
  return importReferenceStateDict(tensors, architecture, path);
}
