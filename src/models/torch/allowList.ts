import { InputError, inputError, showValue } from '../../engine/errors.js';
import type { NumericKind } from './binary.js';
import { PyDict, type CallKind, type PickleHooks } from './pickle.js';

/**
 * The only Python names a checkpoint pickle may mention. They are interpreted here as data builders
 * (a dict, a tensor view of a storage, a storage dtype); nothing is ever looked up or executed, so a
 * pickle naming os.system, builtins.eval, subprocess.Popen or torch.storage._load_from_bytes is refused
 * the moment its GLOBAL opcode is read.
 */
const STORAGE_TYPES: Record<string, NumericKind> = {
  'torch.FloatStorage': 'float32',
  'torch.DoubleStorage': 'float64',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ShortStorage': 'int16',
  'torch.CharStorage': 'int8',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
};

const CALLABLES = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
] as const;
type CallableName = (typeof CALLABLES)[number];

export const TORCH_ALLOWED_GLOBALS: readonly string[] = [...CALLABLES, ...Object.keys(STORAGE_TYPES)];

/** An allowed global as it sits on the pickle stack. */
export class AllowedGlobal {
  constructor(
    readonly qualifiedName: string,
    /** Set for storage classes (torch.FloatStorage, ...). */
    readonly storageDtype?: NumericKind,
  ) {}
}

/** A persistent-id reference to (a view of) a storage: `count` elements of `key` from element `offset`. */
export interface StorageRef {
  key: string;
  dtype: NumericKind;
  /** Elements of the whole (root) storage. */
  rootCount: number;
  /** Element offset and length of the view (legacy format only; else 0 and rootCount). */
  offset: number;
  count: number;
}

/** What `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)` would build. */
export interface TensorRef {
  storage: StorageRef;
  storageOffset: number;
  shape: number[];
  strides: number[];
}

export function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && 'storage' in v && 'strides' in v;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Hooks for the pickle VM. `format` chooses the persistent-id layout:
 * zip: ('storage', storage_type, key, location, numel);
 * legacy: ('storage', storage_type, root_key, location, root_numel, view_metadata | None),
 *         view_metadata = (view_key, offset, view_numel).
 */
export function torchPickleHooks(where: string, format: 'zip' | 'legacy'): PickleHooks {
  const bad = (problem: string) => inputError(where, `unexpected pickle content: ${problem}`);
  const int = (v: unknown, what: string) => {
    if (!isCount(v)) throw bad(`${what} must be a non-negative integer`);
    return v;
  };
  const ints = (v: unknown, what: string) => {
    if (!Array.isArray(v) || !v.every(isCount)) throw bad(`${what} must be a tuple of non-negative integers`);
    return [...v] as number[];
  };
  return {
    findGlobal(module, name) {
      const qualified = `${module}.${name}`;
      if (qualified in STORAGE_TYPES) return new AllowedGlobal(qualified, STORAGE_TYPES[qualified]);
      if ((CALLABLES as readonly string[]).includes(qualified)) return new AllowedGlobal(qualified);
      throw new InputError(
        `${where}: refused to load: the pickle names the global ${qualified}, which is not on the allow-list ` +
          `(${TORCH_ALLOWED_GLOBALS.join(', ')}); only state_dicts of tensors can be imported`,
      );
    },

    call(fn, args, kind: CallKind) {
      if (!(fn instanceof AllowedGlobal) || fn.storageDtype)
        throw bad(`refused to call ${fn instanceof AllowedGlobal ? fn.qualifiedName : 'a non-callable value'}`);
      const name = fn.qualifiedName as CallableName;
      if (kind === 'newobj' && name !== 'collections.OrderedDict') throw bad(`refused to instantiate ${name}`);
      switch (name) {
        case 'collections.OrderedDict': {
          const dict = new PyDict();
          const pairs = args[0];
          if (Array.isArray(pairs))
            for (const pair of pairs) {
              if (!Array.isArray(pair) || pair.length !== 2) throw bad('OrderedDict items must be (key, value) pairs');
              dict.map.set(pair[0], pair[1]);
            }
          return dict;
        }
        case 'torch._utils._rebuild_tensor':
        case 'torch._utils._rebuild_tensor_v2': {
          const [storage, offset, shape, strides] = args;
          if (typeof storage !== 'object' || storage === null || !('rootCount' in storage))
            throw bad(`${name} expects a storage as its first argument`);
          const ref: TensorRef = {
            storage: storage as StorageRef,
            storageOffset: int(offset, 'storage_offset'),
            shape: ints(shape, 'size'),
            strides: ints(strides, 'stride'),
          };
          if (ref.shape.length !== ref.strides.length) throw bad('size and stride have different lengths');
          return ref;
        }
        case 'torch._utils._rebuild_parameter':
        case 'torch._utils._rebuild_parameter_with_state':
          if (!isTensorRef(args[0])) throw bad(`${name} expects a tensor`);
          return args[0];
      }
    },

    build(obj, state) {
      // An OrderedDict's __dict__ (a state_dict's _metadata of module versions): kept, unused.
      if (obj instanceof PyDict) obj.state = state;
      else throw bad('BUILD (setstate) on an object that is not a dict');
    },

    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid.length < 5) throw bad('persistent id must be a tuple');
      if (pid[0] === 'module')
        throw inputError(where, 'the file pickles a whole nn.Module (its source code); save model.state_dict() instead');
      if (pid[0] !== 'storage') throw bad(`persistent id of kind ${showValue(pid[0])}`);
      const [, type, key, , count] = pid;
      if (!(type instanceof AllowedGlobal) || !type.storageDtype) throw bad('persistent id names no storage type');
      if (typeof key !== 'string') throw bad('storage key must be a string');
      const ref: StorageRef = { key, dtype: type.storageDtype, rootCount: int(count, 'storage size'), offset: 0, count: 0 };
      ref.count = ref.rootCount;
      const view = pid[5];
      if (format === 'legacy' && view !== null && view !== undefined) {
        if (!Array.isArray(view) || view.length !== 3) throw bad('storage view metadata must be (key, offset, size)');
        ref.offset = int(view[1], 'storage view offset');
        ref.count = int(view[2], 'storage view size');
        if (ref.offset + ref.count > ref.rootCount) throw bad(`storage view ${showValue(view[0])} lies outside storage ${showValue(key)}`);
      }
      return ref;
    },
  };
}
