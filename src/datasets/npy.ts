/**
 * A reader for NumPy's .npy format (numpy/lib/format.py, "NPY format" version 1.0-3.0,
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *
 *   6 bytes   magic "\x93NUMPY"
 *   2 bytes   major, minor version (1.0, 2.0 or 3.0)
 *   2 bytes   header length, little-endian uint16 (version 1) or 4 bytes uint32 (versions 2 and 3)
 *   header    a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *             padded with spaces and ended by '\n' (ASCII; UTF-8 in version 3)
 *   data      prod(shape) items of the dtype, C order unless fortran_order
 *
 * The dict literal is parsed by a small tokenizer (strings, True/False, integers, tuples), never
 * evaluated. Only simple dtypes are accepted (no structured or object arrays).
 */
import { InputError } from '../engine/errors.js';

export interface NpyArray {
  /** The dtype string as written, e.g. `<f4`, `|u1`, `<i8`, `<U10`. */
  descr: string;
  /** Kind letter: b bool, i signed, u unsigned, f float, U unicode (UCS-4), S bytes. */
  kind: string;
  /** Bytes per item. */
  itemSize: number;
  /** Byte order: '<' little, '>' big, '|' not applicable. ('=' native is reported as '<'.) */
  byteOrder: '<' | '>' | '|';
  shape: number[];
  fortranOrder: boolean;
  /** The raw item bytes (a view into the input), length prod(shape) * itemSize. */
  data: Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93 N U M P Y

type PyValue = string | number | boolean | PyValue[];

/** Parses a Python literal of the restricted grammar the NPY header uses. */
function parseLiteral(text: string, fail: (why: string) => InputError): Record<string, PyValue> {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw fail('unterminated string in header');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return items;
        }
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) throw fail(`expected ',' or '${close}' at header offset ${i}`);
      }
    }
    const word = /^(True|False|-?\d+)/.exec(text.slice(i));
    if (!word) throw fail(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at header offset ${i}`);
    i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    return Number(word[0]);
  };
  ws();
  if (text[i] !== '{') throw fail('header is not a dict literal');
  i++;
  const out: Record<string, PyValue> = {};
  for (;;) {
    ws();
    if (text[i] === '}') {
      i++;
      break;
    }
    const key = value();
    if (typeof key !== 'string') throw fail('header dict key is not a string');
    ws();
    if (text[i] !== ':') throw fail(`expected ':' after key '${key}'`);
    i++;
    out[key] = value();
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw fail(`expected ',' or '}' at header offset ${i}`);
  }
  ws();
  if (i !== text.length) throw fail('trailing characters after the header dict');
  return out;
}

/**
 * Parses an .npy file held in memory. `where` names it in errors (e.g. `data.npz: x.npy`). Every
 * malformation (magic, version, header, dtype, a payload shorter or longer than the shape says) is an
 * InputError naming `where`.
 */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const fail = (why: string) => new InputError(`${where}: ${why}`);
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw fail(`bad magic number ${head || '(empty)'}, expected 93 4e 55 4d 50 59 ("\\x93NUMPY", an .npy file)`);
  }
  const major = bytes[6];
  if (major < 1 || major > 3) throw fail(`unsupported .npy version ${major}.${bytes[7]} (allowed: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw fail('truncated header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (start + headerLength > bytes.length) throw fail(`truncated header: ${headerLength} header bytes declared, ${bytes.length - start} present`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  if (!text.endsWith('\n')) throw fail('header does not end with a newline (not an .npy file, or truncated)');
  const dict = parseLiteral(text, (why) => fail(`bad header: ${why}`));

  const { descr, fortran_order: fortranOrder, shape } = dict;
  if (typeof descr !== 'string') throw fail(`dtype ${JSON.stringify(descr)} is not supported (structured dtypes are not; allowed: simple dtypes like |u1, <f4, <i8)`);
  if (typeof fortranOrder !== 'boolean') throw fail(`header field fortran_order is ${JSON.stringify(fortranOrder)}, expected True or False`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0))
    throw fail(`header field shape is ${JSON.stringify(shape)}, expected a tuple of non-negative integers`);
  const m = /^([<>|=])([biufcUSV])(\d+)$/.exec(descr);
  if (!m) throw fail(`dtype '${descr}' is not supported (allowed: simple dtypes like |u1, <f4, <i8)`);
  const kind = m[2];
  const width = Number(m[3]);
  const itemSize = kind === 'U' ? 4 * width : width;
  const byteOrder = (m[1] === '=' ? '<' : m[1]) as '<' | '>' | '|';
  const dims = shape as number[];
  const expected = dims.reduce((a, b) => a * b, 1) * itemSize;
  const dataStart = start + headerLength;
  const actual = bytes.length - dataStart;
  if (actual < expected) throw fail(`truncated data: ${actual} bytes, shape (${dims.join(', ')}) of ${descr} needs ${expected}`);
  if (actual > expected) throw fail(`over-long data: ${actual} bytes, shape (${dims.join(', ')}) of ${descr} needs ${expected}`);
  return { descr, kind, itemSize, byteOrder, shape: dims, fortranOrder, data: bytes.subarray(dataStart) };
}

/** Reads item `i` of a numeric array as a double (little-endian or single-byte dtypes only). */
function reader(a: NpyArray): (i: number) => number {
  const view = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const key = `${a.kind}${a.itemSize}`;
  switch (key) {
    case 'u1':
    case 'b1':
      return (i) => a.data[i];
    case 'i1':
      return (i) => view.getInt8(i);
    case 'u2':
      return (i) => view.getUint16(2 * i, true);
    case 'i2':
      return (i) => view.getInt16(2 * i, true);
    case 'u4':
      return (i) => view.getUint32(4 * i, true);
    case 'i4':
      return (i) => view.getInt32(4 * i, true);
    case 'u8':
      return (i) => Number(view.getBigUint64(8 * i, true));
    case 'i8':
      return (i) => Number(view.getBigInt64(8 * i, true));
    case 'f4':
      return (i) => view.getFloat32(4 * i, true);
    case 'f8':
      return (i) => view.getFloat64(8 * i, true);
    default:
      throw new Error(`internal: no reader for ${a.descr}`);
  }
}

/** Item `i`'s value for numeric dtypes b1, i1-i8, u1-u8, f4, f8 (callers check the dtype first). */
export function npyReader(a: NpyArray, where: string): (i: number) => number {
  if (a.byteOrder === '>' && a.itemSize > 1) throw new InputError(`${where}: big-endian dtype '${a.descr}' is not supported (save with a little-endian dtype, e.g. astype('<f4'))`);
  return reader(a);
}

/** The strings of a 1-d unicode (`<U`) or bytes (`|S`) array, trailing NULs removed. */
export function npyStrings(a: NpyArray, where: string): string[] {
  if ((a.kind !== 'U' && a.kind !== 'S') || a.shape.length !== 1)
    throw new InputError(`${where}: class names must be a 1-d string array (dtype <U or |S), got ${a.descr} of shape (${a.shape.join(', ')})`);
  const out: string[] = [];
  for (let i = 0; i < a.shape[0]; i++) {
    const item = a.data.subarray(i * a.itemSize, (i + 1) * a.itemSize);
    let s: string;
    if (a.kind === 'S') s = new TextDecoder('utf-8').decode(item);
    else {
      const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
      const codes: number[] = [];
      for (let k = 0; k < item.length; k += 4) codes.push(view.getUint32(k, a.byteOrder !== '>'));
      s = String.fromCodePoint(...codes.filter((c) => c <= 0x10ffff));
    }
    out.push(s.replace(/\0+$/, ''));
  }
  return out;
}
