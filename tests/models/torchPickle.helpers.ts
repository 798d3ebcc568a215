import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';

/**
 * Byte-level builders for hand-made pickles and zip archives, written from the format specs
 * (CPython Lib/pickletools.py opcode table; PKWARE APPNOTE) so tests do not lean on the code under test.
 */

const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const ascii = (s: string) => [...Buffer.from(s, 'utf8')];

/** Pickle opcodes by name. */
export const P = {
  proto: (v: number) => [0x80, v],
  global: (module: string, name: string) => [0x63, ...ascii(`${module}\n${name}\n`)],
  str: (s: string) => {
    const b = ascii(s);
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number) => (n < 256 ? [0x4b, n] : n < 65536 ? [0x4d, ...u16(n)] : [0x4a, ...u32(n)]),
  mark: [0x28],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  emptyTuple: [0x29],
  reduce: [0x52],
  binpersid: [0x51],
  newfalse: [0x89],
  newtrue: [0x88],
  none: [0x4e],
  setitems: [0x75],
  emptyList: [0x5d],
  appends: [0x65],
  emptyDict: [0x7d],
  stop: [0x2e],
};

const orderedDict = () => [...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce];

export interface StorageSpec {
  type: 'FloatStorage' | 'DoubleStorage' | 'LongStorage' | 'IntStorage';
  key: string;
  count: number;
  /** Legacy format only: (view key, element offset, element count). */
  view?: [string, number, number];
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`, optionally wrapped in `_rebuild_parameter`. */
export function tensorPickle(
  format: 'zip' | 'legacy',
  s: StorageSpec,
  offset: number,
  size: number[],
  stride: number[],
  parameter = false,
): number[] {
  const pid = [
    ...P.mark,
    ...P.str('storage'),
    ...P.global('torch', s.type),
    ...P.str(s.key),
    ...P.str('cpu'),
    ...P.int(s.count),
    ...(format === 'legacy'
      ? s.view
        ? [...P.mark, ...P.str(s.view[0]), ...P.int(s.view[1]), ...P.int(s.view[2]), ...P.tuple]
        : P.none
      : []),
    ...P.tuple,
  ];
  const tensor = [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...P.mark,
    ...pid,
    ...P.binpersid,
    ...P.int(offset),
    ...P.mark,
    ...size.flatMap(P.int),
    ...P.tuple,
    ...P.mark,
    ...stride.flatMap(P.int),
    ...P.tuple,
    ...P.newfalse,
    ...orderedDict(),
    ...P.tuple,
    ...P.reduce,
  ];
  if (!parameter) return tensor;
  return [...P.global('torch._utils', '_rebuild_parameter'), ...P.mark, ...tensor, ...P.newtrue, ...orderedDict(), ...P.tuple, ...P.reduce];
}

/** A protocol-2 pickle of OrderedDict(name -> value bytes). */
export function stateDictPickle(entries: [string, number[]][]): Uint8Array {
  return Uint8Array.from([
    ...P.proto(2),
    ...orderedDict(),
    ...P.mark,
    ...entries.flatMap(([name, value]) => [...P.str(name), ...value]),
    ...P.setitems,
    ...P.stop,
  ]);
}

/** A real exploit in Python: `pickle.loads` of this runs `os.system(command)`. */
export function osSystemPickle(command: string, module = 'os', name = 'system'): Uint8Array {
  return Uint8Array.from([...P.proto(2), ...P.global(module, name), ...P.str(command), ...P.tuple1, ...P.reduce, ...P.stop]);
}

/** Protocol 4: STACK_GLOBAL builtins.eval applied to a string. */
export function stackGlobalEvalPickle(expression: string): Uint8Array {
  const short = (s: string) => [0x8c, s.length, ...ascii(s)];
  return Uint8Array.from([0x80, 4, ...short('builtins'), ...short('eval'), 0x93, ...short(expression), ...P.tuple1, ...P.reduce, ...P.stop]);
}

/** A zip archive (stored or deflated entries) with a correct central directory. */
export function makeZip(files: [string, Uint8Array][], method: 0 | 8 = 8): Uint8Array {
  const locals: number[] = [];
  const central: number[] = [];
  for (const [name, data] of files) {
    const body = method === 8 ? deflateRawSync(data) : data;
    const crc = zlibCrc32(data);
    const nameBytes = ascii(name);
    const offset = locals.length;
    const common = [...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0), ...u32(crc), ...u32(body.length), ...u32(data.length), ...u16(nameBytes.length), ...u16(0)];
    locals.push(...u32(0x04034b50), ...common, ...nameBytes, ...body);
    central.push(...u32(0x02014b50), ...u16(20), ...common, ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...nameBytes);
  }
  const eocd = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(files.length), ...u16(files.length), ...u32(central.length), ...u32(locals.length), ...u16(0)];
  return Uint8Array.from([...locals, ...central, ...eocd]);
}

/** Little-endian bytes of float32 / float64 / int64 values. */
export const le = {
  f32: (v: number[]) => new Uint8Array(Float32Array.from(v).buffer),
  f64: (v: number[]) => new Uint8Array(Float64Array.from(v).buffer),
  i64: (v: number[]) => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer),
  u64: (n: number) => new Uint8Array(BigUint64Array.from([BigInt(n)]).buffer),
};

/** The legacy (torch <= 1.5) preamble: magic number, protocol version 1001, sys_info pickles. */
export function legacyPreamble(): Uint8Array {
  // 0x1950a86a20f9469cfc6c as a 10-byte little-endian LONG1.
  const magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return Uint8Array.from([
    ...P.proto(2), 0x8a, 10, ...magic, ...P.stop,
    ...P.proto(2), ...P.int(1001), ...P.stop,
    ...P.proto(2), ...P.emptyDict, ...P.mark, ...P.str('little_endian'), ...P.newtrue, ...P.setitems, ...P.stop,
  ]);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** Pickle of a list of strings (the legacy storage-key list). */
export function keyListPickle(keys: string[]): Uint8Array {
  return Uint8Array.from([...P.proto(2), ...P.emptyList, ...P.mark, ...keys.flatMap(P.str), ...P.appends, ...P.stop]);
}
