import { readFile, writeFile } from 'node:fs/promises';
import { InputError, inputError, showValue } from '../engine/errors.js';
import { didYouMean } from '../engine/suggest.js';
import { BYTES_PER_ELEMENT, decodeToFloat32, float32ToBytes, int32ToBytes, numElements, type NumericKind } from './torch/binary.js';

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian u64 header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the raw
 * little-endian tensor bytes; offsets are relative to the start of that data section.
 */

/** Headers beyond this are refused before parsing: a real one is a few kB, a huge one is an attack or corruption. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPES = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
} as const satisfies Record<string, NumericKind>;

export type SafetensorsDtype = keyof typeof DTYPES;
export const SAFETENSORS_DTYPES = Object.keys(DTYPES) as SafetensorsDtype[];

/**
 * A decoded tensor. Floating dtypes (F32, F64, F16, BF16) decode to Float32Array, integers (I32, I64)
 * to Int32Array (I64 values outside the int32 range are refused), U8 and BOOL to Uint8Array.
 */
export interface SafeTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface SafetensorsContents {
  /** In header order. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** What can be written: the dtype follows the array type (Float32Array -> F32, Int32Array -> I32, Uint8Array -> U8). */
export interface WritableTensor {
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
}

const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function decode(bytes: Uint8Array, begin: number, shape: number[], dtype: SafetensorsDtype, where: string): SafeTensor['data'] {
  const kind = DTYPES[dtype];
  const count = numElements(shape);
  if (kind === 'uint8' || kind === 'bool') return bytes.slice(begin, begin + count);
  if (kind === 'int32' || kind === 'int64') {
    const size = BYTES_PER_ELEMENT[kind];
    const view = new DataView(bytes.buffer, bytes.byteOffset + begin, count * size);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      if (kind === 'int32') {
        out[i] = view.getInt32(i * 4, true);
        continue;
      }
      const v = view.getBigInt64(i * 8, true);
      if (v > 2147483647n || v < -2147483648n) throw inputError(where, `I64 value ${v} at index ${i} does not fit in int32`);
      out[i] = Number(v);
    }
    return out;
  }
  return decodeToFloat32(bytes, begin, count, kind);
}

/** Parses a whole safetensors file held in memory; `where` (the file name) prefixes every error. */
export function parseSafetensors(bytes: Uint8Array, where: string): SafetensorsContents {
  if (bytes.length < 8) throw inputError(where, `not a safetensors file: ${bytes.length} bytes, too short for the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES) || headerLength > BigInt(bytes.length - 8))
    throw inputError(
      where,
      `oversized header: declares ${headerLength} bytes, but the file has ${bytes.length - 8} after the length field and the limit is ${MAX_HEADER_BYTES}`,
    );
  const dataStart = 8 + Number(headerLength);
  const dataLength = bytes.length - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    throw inputError(where, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw inputError(where, 'header must be a JSON object of tensors');

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        throw inputError(where, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw inputError(where, `__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const at = `${where}: tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null) throw inputError(at, 'entry must be {dtype, shape, data_offsets}');
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype))
      throw inputError(at, `unknown dtype ${showValue(dtype)}${didYouMean(dtype, SAFETENSORS_DTYPES)}`, SAFETENSORS_DTYPES.join(', '));
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) throw inputError(at, 'shape must be a list of non-negative integers');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0] > offsets[1])
      throw inputError(at, 'data_offsets must be [begin, end] with 0 <= begin <= end');
    const [begin, end] = offsets as [number, number];
    if (end > dataLength)
      throw inputError(at, `data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes): truncated file?`);
    const needed = numElements(shape) * BYTES_PER_ELEMENT[DTYPES[dtype as SafetensorsDtype]];
    if (end - begin !== needed)
      throw inputError(at, `holds ${end - begin} bytes, but shape [${shape.join(', ')}] of ${dtype} needs ${needed}`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }

  const byBegin = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byBegin.length; i++) {
    const prev = byBegin[i - 1];
    const cur = byBegin[i];
    if (cur.begin < prev.end && cur.end > cur.begin)
      throw inputError(`${where}: tensor "${cur.name}"`, `data_offsets overlap those of tensor "${prev.name}"`);
  }
  // As the reference reader requires, the tensors tile the data section: no gap, nothing after the last.
  let covered = 0;
  for (const e of byBegin) {
    if (e.begin > covered)
      throw inputError(`${where}: tensor "${e.name}"`, `data_offsets start at ${e.begin}, leaving bytes ${covered}..${e.begin - 1} of the data section unused`);
    covered = Math.max(covered, e.end);
  }
  if (covered !== dataLength)
    throw inputError(
      where,
      `${dataLength - covered} bytes after the last tensor (data section of ${dataLength} bytes, tensors end at ${covered}): appended or corrupted data`,
    );

  const data = bytes.subarray(dataStart);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(data, e.begin, e.shape, e.dtype, `${where}: tensor "${e.name}"`) });
  }
  return { tensors, metadata };
}

/** Reads and parses a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read safetensors file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

function dtypeOf(data: WritableTensor['data']): SafetensorsDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  return 'U8';
}

/** Serialises tensors (in the given order) and optional string metadata to safetensors bytes. */
export function encodeSafetensors(
  tensors: Iterable<[string, WritableTensor]> | Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, WritableTensor]>)] : Object.entries(tensors);
  // No prototype, so a tensor called "__proto__" is written like any other name.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new Error('a tensor cannot be named __metadata__');
    if (numElements(t.shape) !== t.data.length)
      throw new Error(`tensor ${name}: shape [${t.shape.join(', ')}] does not match ${t.data.length} elements`);
    const dtype = dtypeOf(t.data);
    const raw = t.data instanceof Float32Array ? float32ToBytes(t.data) : t.data instanceof Int32Array ? int32ToBytes(t.data) : t.data;
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + raw.length] };
    chunks.push(raw);
    offset += raw.length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Writes a safetensors file (not atomic on its own: callers that need that write to a temp name and rename). */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<[string, WritableTensor]> | Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
