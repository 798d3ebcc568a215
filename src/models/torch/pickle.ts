import { inputError, showValue } from '../../engine/errors.js';

/**
 * A pickle virtual machine (protocols 0-5, the opcodes of CPython's Lib/pickletools.py) that builds
 * plain values and never executes anything itself: GLOBAL, REDUCE, NEWOBJ, INST, OBJ, BUILD and
 * persistent ids are all delegated to the caller's hooks, which decide what (if anything) a name means.
 *
 * Values: None -> null; bool; int -> number (bigint beyond 2^53); float -> number; str -> string;
 * bytes/bytearray -> Uint8Array; list -> array; tuple -> frozen array; dict -> PyDict; set -> Set.
 */

export class PyDict {
  readonly map = new Map<unknown, unknown>();
  /** State attached by BUILD (an OrderedDict's `__dict__`, e.g. a state_dict's `_metadata`). */
  state: unknown = undefined;
}

export type CallKind = 'reduce' | 'newobj';

export interface PickleHooks {
  /** Resolves `module.name`; throws for anything that is not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** Applies an allowed callable (REDUCE, INST, OBJ) or class (NEWOBJ); throws for anything else. */
  call(callable: unknown, args: readonly unknown[], kind: CallKind): unknown;
  /** BUILD: `obj.__setstate__(state)`; throws when the object does not accept state. */
  build(obj: unknown, state: unknown): void;
  persistentLoad(pid: unknown): unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** Byte offset just after the STOP opcode (the next pickle in a legacy torch file starts there). */
  end: number;
}

const MAX_LONG_BYTES = 1024;
/** Decimal digits of the same bound (protocol 0 INT / LONG lines); parsing longer ones costs quadratic time. */
const MAX_LONG_DIGITS = 2500;

const isList = (v: unknown): v is unknown[] => Array.isArray(v) && !Object.isFrozen(v);
const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);

function normaliseInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes Python's repr-style escapes (protocol 0 STRING / UNICODE opcodes). */
function unescapePython(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case 'x':
      case 'u':
      case 'U':
        return String.fromCodePoint(parseInt(e.slice(1), 16));
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case '0':
        return '\0';
      default:
        return e;
    }
  });
}

/** Runs one pickle starting at `start`; `where` (the file name) prefixes every error. */
export function unpickle(bytes: Uint8Array, start: number, hooks: PickleHooks, where: string): UnpickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (problem: string) => inputError(where, `corrupted pickle at byte ${pos}: ${problem}`);
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) throw fail('truncated (unexpected end of data)');
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) throw fail('length field larger than the file');
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) throw fail('truncated (missing newline)');
    const text = new TextDecoder('latin1').decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return text;
  };
  const utf8 = (raw: Uint8Array) => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw fail('invalid UTF-8 in a string');
    }
  };
  const pop = () => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    const previous = metastack.pop();
    if (!previous) throw fail('MARK missing');
    stack = previous;
    return items;
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`memo entry ${i} is missing`);
    return memo.get(i);
  };
  const memoPut = (i: number) => memo.set(i, top());
  const longFromBytes = (raw: Uint8Array) => {
    if (raw.length === 0) return 0;
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(raw.length * 8);
    return normaliseInt(v);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof PyDict)) throw fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) throw fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) dict.map.set(items[i], items[i + 1]);
  };
  const str = (v: unknown, what: string) => {
    if (typeof v !== 'string') throw fail(`${what} must be a string`);
    return v;
  };

  for (;;) {
    const opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        const protocol = u8(); // PROTO
        if (protocol > 5) throw fail(`unsupported pickle protocol ${protocol}`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        need(8);
        pos += 8;
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length > 0) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // Scalars.
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        const text = line(); // INT (protocol 0; "01"/"00" are True/False)
        if (text === '01' || text === '00') stack.push(text === '01');
        else if (text.length > MAX_LONG_DIGITS) throw fail(`integer of ${text.length} digits is out of range`);
        else if (/^[-+]?\d+$/.test(text)) stack.push(normaliseInt(BigInt(text)));
        else throw fail(`bad INT ${showValue(text)}`);
        break;
      }
      case 0x4c: {
        const text = line().replace(/L$/, ''); // LONG
        if (text.length > MAX_LONG_DIGITS) throw fail(`integer of ${text.length} digits is out of range`);
        if (!/^[-+]?\d+$/.test(text)) throw fail(`bad LONG ${showValue(text)}`);
        stack.push(normaliseInt(BigInt(text)));
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFromBytes(take(u8())));
        break;
      case 0x8b: {
        const n = i32(); // LONG4
        if (n < 0 || n > MAX_LONG_BYTES) throw fail(`integer of ${n} bytes is out of range`);
        stack.push(longFromBytes(take(n)));
        break;
      }
      case 0x46: {
        const text = line(); // FLOAT
        const v = Number(text);
        if (Number.isNaN(v) && !/nan/i.test(text)) throw fail(`bad FLOAT ${showValue(text)}`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;

      // Strings and bytes.
      case 0x53: {
        const text = line().trim(); // STRING (protocol 0, quoted repr)
        const q = text[0];
        if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) throw fail('bad STRING');
        stack.push(unescapePython(text.slice(1, -1)));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push(unescapePython(line()));
        break;
      case 0x54: // BINSTRING (Python 2 str: bytes shown as latin-1 text)
        stack.push(new TextDecoder('latin1').decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;

      // Containers.
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        {
        const items = popMark();
        stack.push(items);
      }
        break;
      case 0x61: {
        const v = pop(); // APPEND
        const list = top();
        if (!isList(list)) throw fail('APPEND to something that is not a list');
        list.push(v);
        break;
      }
      case 0x65: {
        const items = popMark(); // APPENDS
        const list = top();
        if (!isList(list)) throw fail('APPENDS to something that is not a list');
        for (const v of items) list.push(v);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        {
        const items = popMark();
        stack.push(tuple(items));
      }
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        const b = pop(); // TUPLE2
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop(); // TUPLE3
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        const dict = new PyDict(); // DICT
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: {
        const v = pop(); // SETITEM
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        const items = popMark(); // SETITEMS
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        const items = popMark(); // ADDITEMS
        const set = top();
        if (!(set instanceof Set)) throw fail('ADDITEMS to something that is not a set');
        for (const v of items) set.add(v);
        break;
      }
      case 0x91: // FROZENSET
        {
        const items = popMark();
        stack.push(new Set(items));
      }
        break;

      // Memo.
      case 0x70: // PUT
        memoPut(Number(line()));
        break;
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x67: // GET
        stack.push(memoGet(Number(line())));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;

      // Everything that could run code goes through the hooks.
      case 0x63: {
        const module = line(); // GLOBAL
        stack.push(hooks.findGlobal(module, line()));
        break;
      }
      case 0x93: {
        const name = str(pop(), 'STACK_GLOBAL name');
        stack.push(hooks.findGlobal(str(pop(), 'STACK_GLOBAL module'), name));
        break;
      }
      case 0x52: {
        const args = pop(); // REDUCE
        const fn = pop();
        if (!Array.isArray(args)) throw fail('REDUCE arguments must be a tuple');
        stack.push(hooks.call(fn, args, 'reduce'));
        break;
      }
      case 0x81: {
        const args = pop(); // NEWOBJ
        const cls = pop();
        if (!Array.isArray(args)) throw fail('NEWOBJ arguments must be a tuple');
        stack.push(hooks.call(cls, args, 'newobj'));
        break;
      }
      case 0x92: {
        const kwargs = pop(); // NEWOBJ_EX
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) throw fail('NEWOBJ_EX arguments must be a tuple');
        if (!(kwargs instanceof PyDict) || kwargs.map.size > 0) throw fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(hooks.call(cls, args, 'newobj'));
        break;
      }
      case 0x69: {
        const module = line(); // INST
        const cls = hooks.findGlobal(module, line());
        const args = popMark();
        stack.push(hooks.call(cls, args, 'reduce'));
        break;
      }
      case 0x6f: {
        const items = popMark(); // OBJ
        if (items.length === 0) throw fail('OBJ without a class');
        stack.push(hooks.call(items[0], items.slice(1), 'reduce'));
        break;
      }
      case 0x62: {
        const state = pop(); // BUILD
        hooks.build(top(), state);
        break;
      }
      case 0x50: // PERSID
        stack.push(hooks.persistentLoad(line()));
        break;
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        pos = opAt;
        throw fail('extension-registry opcodes (EXT1/2/4) are not supported');
      case 0x97:
      case 0x98:
        pos = opAt;
        throw fail('out-of-band buffers (pickle protocol 5 NEXT_BUFFER) are not supported');
      default:
        pos = opAt;
        throw fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
