import { readFile } from 'node:fs/promises';
import { InputError, inputError, showValue } from '../../engine/errors.js';
import { BYTES_PER_ELEMENT, decodeToFloat32, numElements, type NumericKind } from './binary.js';
import { isTensorRef, torchPickleHooks, type StorageRef, type TensorRef } from './allowList.js';
import { PyDict, unpickle } from './pickle.js';
import { looksLikeZip, ZipArchive } from './zip.js';

/**
 * Reads `torch.save(state_dict)` files without Python and without executing the pickle:
 * - zip format (torch >= 1.6): `<prefix>/data.pkl` + one `<prefix>/data/<key>` entry per storage;
 * - legacy format (torch <= 1.5): pickles for the magic number, protocol version, sys_info, the
 *   object and the storage keys, then each storage as an 8-byte little-endian element count + raw data.
 * (Layouts as written by torch/serialization.py.)
 */

/** 0x1950a86a20f9469cfc6c, torch's MAGIC_NUMBER for the legacy format. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** Refuse to materialise views larger than this many elements (1 GiB of float32). */
const MAX_TENSOR_ELEMENTS = 2 ** 28;

export interface TorchTensor {
  dtype: NumericKind;
  shape: number[];
  /** As stored in the file (elements); `data` itself is always contiguous row-major. */
  strides: number[];
  storageOffset: number;
  /** The storage this tensor views (tied copies share one). */
  storageKey: string;
  data: Float32Array;
}

export interface TorchStateDict {
  format: 'zip' | 'legacy';
  /** In file order. */
  tensors: Map<string, TorchTensor>;
  /** Entries that are not tensors (kept out of `tensors`). */
  ignored: string[];
}

/** Copies a strided view into a contiguous row-major Float32Array. */
function materialise(name: string, ref: TensorRef, storage: Float32Array, where: string): Float32Array {
  const { shape, strides } = ref;
  const at = `${where}: tensor "${name}"`;
  const count = numElements(shape);
  if (count > MAX_TENSOR_ELEMENTS) throw inputError(at, `has ${count} elements, more than the ${MAX_TENSOR_ELEMENTS} supported`);
  const out = new Float32Array(count);
  if (count === 0) return out;
  const base = ref.storage.offset + ref.storageOffset;
  const last = ref.storageOffset + shape.reduce((sum, n, i) => sum + (n - 1) * strides[i], 0);
  if (last >= ref.storage.count)
    throw inputError(at, `reads element ${last} of a storage of ${ref.storage.count} elements (corrupted file?)`);
  let contiguous = true;
  for (let i = shape.length - 1, expected = 1; i >= 0; expected *= shape[i], i--) {
    if (shape[i] !== 1 && strides[i] !== expected) contiguous = false;
  }
  if (contiguous) {
    out.set(storage.subarray(base, base + count));
    return out;
  }
  // Odometer over the multi-index; the innermost dimension is a strided copy.
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const inner = shape[rank - 1];
  const innerStride = strides[rank - 1];
  let source = base;
  for (let o = 0; o < count; o += inner) {
    for (let j = 0, s = source; j < inner; j++, s += innerStride) out[o + j] = storage[s];
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      source += strides[d];
      if (index[d] < shape[d]) break;
      source -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Finds the tensors of a state_dict, also inside the usual {'state_dict': ...} checkpoint wrappers. */
function collect(value: unknown, where: string, depth = 0): { entries: [string, TensorRef][]; ignored: string[] } {
  if (!(value instanceof PyDict))
    throw inputError(where, 'the file holds no state_dict (expected a dict of tensors, as torch.save(model.state_dict()) writes)');
  const entries: [string, TensorRef][] = [];
  const ignored: string[] = [];
  for (const [k, v] of value.map) {
    if (typeof k === 'string' && isTensorRef(v)) entries.push([k, v]);
    else ignored.push(String(k));
  }
  // A wrapper may hold a wrapper, but no deeper (a pickle can make a dict contain itself).
  if (entries.length === 0) {
    for (const wrapper of depth < 4 ? ['state_dict', 'model_state_dict', 'model', 'net'] : []) {
      const inner = value.map.get(wrapper);
      if (inner instanceof PyDict) return collect(inner, where, depth + 1);
    }
    throw inputError(where, 'the file holds no tensors');
  }
  return { entries, ignored };
}

function buildStateDict(
  format: 'zip' | 'legacy',
  root: unknown,
  loadStorage: (ref: StorageRef) => Float32Array,
  where: string,
): TorchStateDict {
  const { entries, ignored } = collect(root, where);
  const tensors = new Map<string, TorchTensor>();
  for (const [name, ref] of entries) {
    const storage = loadStorage(ref.storage);
    tensors.set(name, {
      dtype: ref.storage.dtype,
      shape: ref.shape,
      strides: ref.strides,
      storageOffset: ref.storageOffset,
      storageKey: ref.storage.key,
      data: materialise(name, ref, storage, where),
    });
  }
  return { format, tensors, ignored };
}

function parseZip(bytes: Uint8Array, where: string): TorchStateDict {
  const archive = new ZipArchive(bytes, where);
  const pickleName = [...archive.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pickleName) throw inputError(where, 'not a PyTorch zip checkpoint: no <name>/data.pkl entry');
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  if (archive.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(archive.read(`${prefix}byteorder`)).trim();
    if (order !== 'little') throw inputError(where, `byteorder ${showValue(order)} is not supported`, '"little"');
  }
  const { value } = unpickle(archive.read(pickleName), 0, torchPickleHooks(where, 'zip'), where);
  const cache = new Map<string, Float32Array>();
  return buildStateDict(
    'zip',
    value,
    (ref) => {
      let data = cache.get(ref.key);
      if (!data) {
        const raw = archive.read(`${prefix}data/${ref.key}`);
        const needed = ref.rootCount * BYTES_PER_ELEMENT[ref.dtype];
        if (raw.length < needed)
          throw inputError(where, `storage ${ref.key} holds ${raw.length} bytes, needs ${needed} (truncated file?)`);
        data = decodeToFloat32(raw, 0, ref.rootCount, ref.dtype);
        cache.set(ref.key, data);
      }
      return data;
    },
    where,
  );
}

function parseLegacy(bytes: Uint8Array, where: string): TorchStateDict {
  const notTorch = () => inputError(where, 'not a PyTorch checkpoint (bad magic number)');
  // A legacy file starts with a protocol-2 pickle of a 10-byte long: PROTO 2, LONG1 10.
  if (bytes.length < 15 || bytes[0] !== 0x80 || bytes[2] !== 0x8a) throw notTorch();
  const hooks = torchPickleHooks(where, 'legacy');
  const magic = unpickle(bytes, 0, hooks, where);
  if (magic.value !== LEGACY_MAGIC) throw notTorch();
  const protocol = unpickle(bytes, magic.end, hooks, where);
  if (protocol.value !== LEGACY_PROTOCOL_VERSION)
    throw inputError(where, `unsupported legacy protocol version ${showValue(protocol.value)}`, String(LEGACY_PROTOCOL_VERSION));
  const sysInfo = unpickle(bytes, protocol.end, hooks, where);
  if (sysInfo.value instanceof PyDict && sysInfo.value.map.get('little_endian') === false)
    throw inputError(where, 'big-endian checkpoints are not supported');

  // Collect every storage reference while unpickling so the raw section can be sized per key.
  const refs = new Map<string, StorageRef>();
  const recording = {
    ...hooks,
    persistentLoad(pid: unknown) {
      const ref = hooks.persistentLoad(pid) as StorageRef;
      refs.set(ref.key, ref);
      return ref;
    },
  };
  const object = unpickle(bytes, sysInfo.end, recording, where);
  const keyList = unpickle(bytes, object.end, hooks, where);
  if (!Array.isArray(keyList.value) || !keyList.value.every((k) => typeof k === 'string'))
    throw inputError(where, 'corrupted legacy checkpoint: the storage key list is not a list of strings');

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const located = new Map<string, { start: number; ref: StorageRef }>();
  let pos = keyList.end;
  for (const key of keyList.value as string[]) {
    const ref = refs.get(key);
    if (!ref) throw inputError(where, `corrupted legacy checkpoint: storage ${key} is listed but never used`);
    if (pos + 8 > bytes.length) throw inputError(where, `truncated file: storage ${key} is missing`);
    const count = view.getBigUint64(pos, true);
    if (count !== BigInt(ref.rootCount))
      throw inputError(where, `corrupted legacy checkpoint: storage ${key} has ${count} elements, the pickle says ${ref.rootCount}`);
    const end = pos + 8 + ref.rootCount * BYTES_PER_ELEMENT[ref.dtype];
    if (end > bytes.length) throw inputError(where, `truncated file: storage ${key} runs past the end of the file`);
    located.set(key, { start: pos + 8, ref });
    pos = end;
  }
  if (pos !== bytes.length) throw inputError(where, `corrupted legacy checkpoint: ${bytes.length - pos} unexpected bytes after the last storage`);

  const cache = new Map<string, Float32Array>();
  return buildStateDict(
    'legacy',
    object.value,
    (ref) => {
      let data = cache.get(ref.key);
      if (!data) {
        const at = located.get(ref.key);
        if (!at) throw inputError(where, `corrupted legacy checkpoint: storage ${ref.key} is not in the storage list`);
        data = decodeToFloat32(bytes, at.start, at.ref.rootCount, at.ref.dtype);
        cache.set(ref.key, data);
      }
      return data;
    },
    where,
  );
}

/** Parses the bytes of a `torch.save` file; `where` (the file name) prefixes every error. */
export function parseTorchFile(bytes: Uint8Array, where: string): TorchStateDict {
  try {
    if (looksLikeZip(bytes)) return parseZip(bytes, where);
    if (bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar')
      throw inputError(where, 'tar-format checkpoints (torch <= 0.3) are not supported; re-save with a newer torch');
    return parseLegacy(bytes, where);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw inputError(where, `corrupted checkpoint (${(err as Error).message})`);
  }
}

/** Reads a `torch.save` file of a state_dict (zip or legacy format). */
export async function readTorchFile(path: string): Promise<TorchStateDict> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read checkpoint (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseTorchFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
