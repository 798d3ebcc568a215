import { inputError, showValue } from '../src/engine/errors.js';
import { didYouMean } from '../src/engine/suggest.js';

/**
 * A small declarative schema for attack parameters, so every attack validates its config the same
 * way: unknown keys are refused, each field names its allowed values in the error.
 */
export type FieldSpec =
  | { kind: 'int'; min: number; max?: number; optional?: boolean }
  | { kind: 'number'; min: number; max?: number; exclusiveMin?: boolean; optional?: boolean }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] };

export type ParamSchema<P> = { [K in keyof P]-?: FieldSpec };

function describeAllowed(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'int':
      return `integers >= ${spec.min}${spec.max !== undefined ? ` and <= ${spec.max}` : ''}`;
    case 'number':
      return `numbers ${spec.exclusiveMin ? '>' : '>='} ${spec.min}${spec.max !== undefined ? ` and <= ${spec.max}` : ''}`;
    case 'boolean':
      return 'true, false';
    case 'enum':
      return spec.values.join(', ');
  }
}

function checkField(value: unknown, spec: FieldSpec, where: string, key: string): unknown {
  const bad = () =>
    inputError(`${where}.${key}`, `invalid value ${showValue(value)}${spec.kind === 'enum' ? didYouMean(value, spec.values) : ''}`, describeAllowed(spec));
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || (spec.max !== undefined && value > spec.max))
        throw bad();
      return value;
    case 'number':
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        (spec.exclusiveMin ? value <= spec.min : value < spec.min) ||
        (spec.max !== undefined && value > spec.max)
      )
        throw bad();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad();
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) throw bad();
      return value;
  }
}

/**
 * Merges `raw` (a config's params object, or undefined) over `defaults`, checking each field.
 * Optional numeric fields may be given as null or left out; they stay undefined.
 */
export function parseWithSchema<P extends object>(raw: unknown, where: string, defaults: P, schema: ParamSchema<P>): P {
  if (raw === undefined || raw === null) return { ...defaults };
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw inputError(where, `params must be an object, got ${showValue(raw)}`, `an object with keys ${Object.keys(schema).join(', ')}`);
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  const keys = Object.keys(schema);
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!Object.hasOwn(schema, key)) throw inputError(`${where}.${key}`, `unknown parameter${didYouMean(key, keys)}`, keys.join(', '));
    const spec = (schema as Record<string, FieldSpec>)[key];
    if (value === undefined) continue; // a JS object's unset field (JSON has no undefined)
    if (value === null && 'optional' in spec && spec.optional) {
      out[key] = undefined;
      continue;
    }
    out[key] = checkField(value, spec, where, key);
  }
  return out as P;
}

/** Kept here for callers that imported it from the attack params; defined in src/engine/suggest.ts. */
export { editDistance } from '../src/engine/suggest.js';
