import { SampleStream } from '../../src/engine/rng.js';
import { InputError } from '../../src/engine/errors.js';

/**
 * Seeded mutators for the fuzz tests: byte-level damage for binary formats (flips, truncation,
 * insertion, deletion, extreme length fields) and structural damage for JSON (deleted fields, swapped
 * types, hostile values, unknown keys, emptied lists). Every case is a pure function of (seed, key,
 * case index), so a failure names a case that reproduces.
 */

export class Rand {
  private readonly stream: SampleStream;
  constructor(seed: number, key: string, index: number) {
    this.stream = new SampleStream(seed, key, index);
  }
  next(): number {
    return this.stream.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.stream.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.stream.next() < p;
  }
  /** An offset in [0, n), biased towards the start (where headers live) half of the time. */
  offset(n: number): number {
    return this.chance(0.5) ? this.int(Math.min(n, 64)) : this.int(n);
  }
}

export interface ByteMutation {
  bytes: Uint8Array;
  /** Human-readable, for failure messages. */
  what: string;
  /** Same length as the input and only bytes in [first, last] changed (undefined when nothing changed). */
  inPlace: boolean;
  first?: number;
  last?: number;
}

const EXTREMES_32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One random byte-level mutation of `input` (never modifies `input`). */
export function mutateBytes(bytes: Uint8Array, r: Rand): ByteMutation {
  // A plain copy: Buffer's slice() is a view, and a Buffer's .buffer may be a shared pool.
  const input = new Uint8Array(bytes);
  const n = input.length;
  const op = r.int(8);
  switch (op) {
    case 0: {
      // Flip one bit.
      const out = input.slice();
      const at = r.offset(n);
      out[at] ^= 1 << r.int(8);
      return { bytes: out, what: `flip bit at ${at}`, inPlace: true, first: at, last: at };
    }
    case 1: {
      // Overwrite a few bytes with random values.
      const out = input.slice();
      const at = r.offset(n);
      const count = 1 + r.int(Math.min(8, n - at));
      for (let i = 0; i < count; i++) out[at + i] = r.int(256);
      return { bytes: out, what: `randomise ${count} bytes at ${at}`, inPlace: true, first: at, last: at + count - 1 };
    }
    case 2: {
      // Truncate.
      const cut = r.chance(0.3) ? r.int(Math.min(n, 64)) : r.int(n);
      return { bytes: input.slice(0, cut), what: `truncate to ${cut} of ${n} bytes`, inPlace: false };
    }
    case 3: {
      // Insert random bytes.
      const at = r.offset(n + 1);
      const extra = Uint8Array.from({ length: 1 + r.int(16) }, () => r.int(256));
      const out = new Uint8Array(n + extra.length);
      out.set(input.subarray(0, at));
      out.set(extra, at);
      out.set(input.subarray(at), at + extra.length);
      return { bytes: out, what: `insert ${extra.length} bytes at ${at}`, inPlace: false };
    }
    case 4: {
      // Delete a range.
      const at = r.offset(n);
      const count = 1 + r.int(Math.min(32, n - at));
      const out = new Uint8Array(n - count);
      out.set(input.subarray(0, at));
      out.set(input.subarray(at + count), at);
      return { bytes: out, what: `delete ${count} bytes at ${at}`, inPlace: false };
    }
    case 5: {
      // An extreme little- or big-endian 32-bit value (a length, count or offset field).
      const out = input.slice();
      if (n < 4) return { bytes: out.slice(0, 0), what: 'empty', inPlace: false };
      const at = r.offset(n - 3);
      const v = r.pick(EXTREMES_32);
      new DataView(out.buffer).setUint32(at, v, r.chance(0.5));
      return { bytes: out, what: `u32 ${v} at ${at}`, inPlace: true, first: at, last: at + 3 };
    }
    case 6: {
      // An extreme 64-bit little-endian value (safetensors header length, zip64 fields, storage sizes).
      const out = input.slice();
      if (n < 8) return { bytes: out.slice(0, 0), what: 'empty', inPlace: false };
      const at = r.chance(0.4) ? 0 : r.offset(n - 7);
      const v = r.pick([0n, 1n, 2n ** 31n, 2n ** 32n + 7n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, BigInt(n) * 2n]);
      new DataView(out.buffer).setBigUint64(at, v, true);
      return { bytes: out, what: `u64 ${v} at ${at}`, inPlace: true, first: at, last: at + 7 };
    }
    default: {
      // Duplicate a range (repeated records).
      const at = r.offset(n);
      const count = 1 + r.int(Math.min(64, n - at));
      const out = new Uint8Array(n + count);
      out.set(input.subarray(0, at + count));
      out.set(input.subarray(at, at + count), at + count);
      out.set(input.subarray(at + count), at + 2 * count);
      return { bytes: out, what: `duplicate ${count} bytes at ${at}`, inPlace: false };
    }
  }
}

/** Applies 1..max byte mutations; `inPlace` only when every one was in place. */
export function mutateBytesRepeatedly(input: Uint8Array, r: Rand, max = 3): ByteMutation {
  let current: ByteMutation = { bytes: input, what: '', inPlace: true };
  const whats: string[] = [];
  const times = 1 + r.int(max);
  for (let i = 0; i < times && current.bytes.length > 0; i++) {
    const m = mutateBytes(current.bytes, r);
    whats.push(m.what);
    current = {
      bytes: m.bytes,
      what: '',
      inPlace: current.inPlace && m.inPlace,
      first: Math.min(current.first ?? Infinity, m.first ?? Infinity),
      last: Math.max(current.last ?? -Infinity, m.last ?? -Infinity),
    };
  }
  return { ...current, what: whats.join(', ') };
}

export const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

// ---- JSON -------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface JsonMutation {
  value: Json;
  what: string;
  /** True when the mutation makes the value invalid for any sane validator (e.g. an unknown key in a closed object). */
  mustRefuse: boolean;
}

const HOSTILE_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  -0.5,
  1.5,
  2,
  7,
  1e308,
  -1e308,
  2 ** 53 + 2,
  4294967296,
  '',
  ' ',
  '0.1',
  'pgg',
  'lst',
  'e2d',
  'gausian_noise',
  'all',
  '../../etc/passwd',
  'a\nb',
  '\u001b[31mred',
  'x'.repeat(5000),
  '__proto__',
  'constructor',
  [],
  [null],
  [[]],
  {},
  { dir: 1 },
];

/** Every (parent, key) location in a JSON value, parents first. */
function locations(root: Json): { parent: Json[] | { [key: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [key: string]: Json }; key: string | number }[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) v.forEach((child, i) => (out.push({ parent: v, key: i }), walk(child)));
    else if (v !== null && typeof v === 'object')
      for (const k of Object.keys(v)) {
        out.push({ parent: v, key: k });
        walk(v[k]);
      }
  };
  walk(root);
  return out;
}

function containers(root: Json): (Json[] | { [key: string]: Json })[] {
  const out: (Json[] | { [key: string]: Json })[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      out.push(v);
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      out.push(v);
      Object.values(v).forEach(walk);
    }
  };
  walk(root);
  return out;
}

/** Sets an own, enumerable property even for "__proto__" (as JSON.parse does). */
function setOwn(obj: { [key: string]: Json }, key: string, value: Json) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function swapType(v: Json, r: Rand): Json {
  if (typeof v === 'number') return r.pick([String(v), [v], v !== 0, null]);
  if (typeof v === 'string') return r.pick([Number(v) || 1, [v], { name: v }, v.length > 0]);
  if (typeof v === 'boolean') return r.pick([String(v), v ? 1 : 0]);
  if (Array.isArray(v)) return r.pick([Object.fromEntries(v.map((x, i) => [String(i), x])), v.length > 0 ? v[0] : null, JSON.stringify(v)]);
  if (v !== null && typeof v === 'object') return r.pick([Object.values(v), JSON.stringify(v), 1]);
  return r.pick([0, '', []]);
}

function typo(key: string, r: Rand): string {
  if (key.length < 2) return `${key}x`;
  const i = r.int(key.length - 1);
  return r.chance(0.5) ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2) : key.slice(0, i) + key.slice(i + 1);
}

/**
 * One structural mutation of a deep copy of `input`. `closedObjects` says whether every object in the
 * document refuses unknown keys (true for suite configs), which makes an inserted key a must-refuse.
 */
export function mutateJson(input: Json, r: Rand, closedObjects: boolean): JsonMutation {
  const root = JSON.parse(JSON.stringify(input)) as Json;
  const locs = locations(root);
  const objects = containers(root).filter((c) => !Array.isArray(c)) as { [key: string]: Json }[];
  const lists = containers(root).filter(Array.isArray) as Json[][];
  const op = r.int(7);
  if (op === 0 && locs.length > 0) {
    const { parent, key } = r.pick(locs);
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
    return { value: root, what: `delete ${String(key)}`, mustRefuse: false };
  }
  if (op === 1 && locs.length > 0) {
    const { parent, key } = r.pick(locs);
    const value = r.pick(HOSTILE_VALUES);
    (parent as Record<string, Json>)[key as string] = JSON.parse(JSON.stringify(value)) as Json;
    return { value: root, what: `set ${String(key)} = ${JSON.stringify(value).slice(0, 40)}`, mustRefuse: false };
  }
  if (op === 2 && locs.length > 0) {
    const { parent, key } = r.pick(locs);
    const p = parent as Record<string, Json>;
    p[key as string] = swapType(p[key as string], r);
    return { value: root, what: `swap type of ${String(key)}`, mustRefuse: false };
  }
  if (op === 3 && objects.length > 0) {
    const obj = r.pick(objects);
    const keys = Object.keys(obj);
    const name = r.chance(0.5) && keys.length > 0 ? typo(r.pick(keys), r) : r.pick(['__proto__', 'constructor', 'extra', 'epsilon', '', 'a\nb']);
    const known = Object.prototype.hasOwnProperty.call(obj, name);
    setOwn(obj, name, r.pick(HOSTILE_VALUES));
    return { value: root, what: `insert key ${JSON.stringify(name)}`, mustRefuse: closedObjects && !known };
  }
  if (op === 4 && lists.length > 0) {
    const list = r.pick(lists);
    list.length = 0;
    return { value: root, what: 'empty a list', mustRefuse: false };
  }
  if (op === 5 && lists.length > 0) {
    const list = r.pick(lists.filter((l) => l.length > 0).concat([[]]));
    if (list.length > 0) list.push(JSON.parse(JSON.stringify(list[r.int(list.length)])) as Json);
    return { value: root, what: 'duplicate a list item', mustRefuse: false };
  }
  if (op === 6 && objects.length > 0) {
    const obj = r.pick(objects);
    const keys = Object.keys(obj);
    if (keys.length > 0) {
      const key = r.pick(keys);
      const renamed = typo(key, r);
      const value = obj[key];
      delete obj[key];
      const known = Object.prototype.hasOwnProperty.call(obj, renamed);
      setOwn(obj, renamed, value);
      return { value: root, what: `rename ${key} -> ${renamed}`, mustRefuse: closedObjects && !known && renamed !== key };
    }
  }
  return { value: root, what: 'unchanged', mustRefuse: false };
}

// ---- outcomes ---------------------------------------------------------------------------------

export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; message: string; ms: number };

/**
 * Runs `fn` and classifies the result: a value, or an InputError. Anything else (a TypeError, a
 * RangeError, a plain Error) is re-thrown with the case description: it is a bug.
 */
export async function outcomeOf<T>(what: string, fn: () => T | Promise<T>): Promise<Outcome<T>> {
  const start = performance.now();
  try {
    const value = await fn();
    return { ok: true, value, ms: performance.now() - start };
  } catch (err) {
    if (err instanceof InputError) return { ok: false, message: err.message, ms: performance.now() - start };
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    throw new Error(`${what}: not an InputError: ${detail}`);
  }
}

/** The one-line contract of an InputError message; returns the problems found (empty = fine). */
export function messageProblems(message: string): string[] {
  const problems: string[] = [];
  if (/[\n\r\u2028\u2029]/.test(message)) problems.push('has a line break');
  if (/\bat .+:\d+:\d+\)?/.test(message)) problems.push('contains a stack frame');
  if (message.trim() === '') problems.push('is empty');
  if (message.length > 2000) problems.push(`is ${message.length} characters long`);
  return problems;
}
