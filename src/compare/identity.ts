/**
 * When two runs may be compared, and which cells of one answer which cells of the other.
 *
 * A baseline and a candidate differ by design in their checkpoints (names, directories, weights), so a
 * checkpoint is identified by its POSITION in run.json's `checkpoints` list, never by its name. Two cells
 * match when they have the same checkpoint position and the same evaluation:
 *   clean:       nothing more;
 *   attack:      label, gradient path, epsilon (to 12 significant digits), threat model, parameters
 *                (canonical JSON) and transfer source;
 *   corruption:  corruption name and severity.
 * A reference to a checkpoint of the run itself inside a cell or the config (an attack's `transferFrom`,
 * the `name@source` label derived from it, the corruption suite's `baseline`) is replaced by its position
 * too, so a transfer attack from checkpoint #1 matches across runs whatever #1 is called.
 */
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import type { CellResult, RunManifest } from '../rundir/records.js';
import { epsKey } from '../suite/summary.js';

export const COMPARE_RULE = 'runs of one config, seed and sample set; only the checkpoints may differ';

/** Config fields that do not change any result (batching is keyed per sample; text is text). */
export const RESULT_NEUTRAL_CONFIG_FIELDS = ['batchSize', 'description', '$schema'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON with object keys sorted at every level, so equal values have equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

export interface Difference {
  /** e.g. "config.epsilons[2]" */
  path: string;
  a: unknown;
  b: unknown;
}

/** The first place where two JSON values differ (depth first, keys sorted), or null when they are equal. */
export function firstDifference(a: unknown, b: unknown, path: string): Difference | null {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return a.length === b.length ? null : { path: `${path}.length`, a: a.length, b: b.length };
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return canonicalJson(a) === canonicalJson(b) ? null : { path, a, b };
}

/** Short text of a JSON value for a one-line message. */
export function brief(v: unknown, max = 60): string {
  const text = v === undefined ? '(absent)' : JSON.stringify(v);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const trimDir = (d: string) => d.replace(/\/+$/, '').replace(/^\.\//, '');
const baseName = (d: string) => trimDir(d).split('/').pop() ?? d;

/** Position of the run's checkpoint a reference names (by name, directory or directory base name), or -1. */
export function checkpointPosition(manifest: RunManifest, ref: string): number {
  const r = trimDir(ref);
  const configDirs = Array.isArray(manifest.config.checkpoints)
    ? (manifest.config.checkpoints as unknown[]).map((c) => (typeof c === 'string' ? c : isObject(c) && typeof c.dir === 'string' ? c.dir : ''))
    : [];
  for (const byName of [true, false])
    for (let i = 0; i < manifest.checkpoints.length; i++) {
      const c = manifest.checkpoints[i];
      if (byName ? c.name === r : [trimDir(c.dir), baseName(c.dir), trimDir(configDirs[i] ?? ''), baseName(configDirs[i] ?? '')].includes(r)) return i;
    }
  return -1;
}

/** A reference to a checkpoint of the run becomes "#<position>"; anything else stays as written. */
function positional(manifest: RunManifest, ref: string): string {
  const i = checkpointPosition(manifest, ref);
  return i >= 0 ? `#${i}` : ref;
}

/** An attack label "name@source" whose source is a checkpoint of the run becomes "name@#<position>". */
function positionalLabel(manifest: RunManifest, label: string): string {
  const at = label.lastIndexOf('@');
  return at < 0 ? label : `${label.slice(0, at)}@${positional(manifest, label.slice(at + 1))}`;
}

/** The config with checkpoint identities replaced by positions and result-neutral fields removed. */
export function comparableConfig(manifest: RunManifest): Record<string, unknown> {
  const config: Record<string, unknown> = { ...manifest.config };
  for (const k of RESULT_NEUTRAL_CONFIG_FIELDS) delete config[k];
  if (Array.isArray(config.checkpoints))
    config.checkpoints = (config.checkpoints as unknown[]).map((c, i) => ({ position: i, output: isObject(c) ? c.output : undefined }));
  if (Array.isArray(config.attacks))
    config.attacks = (config.attacks as unknown[]).map((a) => {
      if (!isObject(a)) return a;
      const out = { ...a };
      if (typeof a.transferFrom === 'string') out.transferFrom = positional(manifest, a.transferFrom);
      if (typeof a.label === 'string') out.label = positionalLabel(manifest, a.label);
      return out;
    });
  if (typeof config.baseline === 'string') config.baseline = positional(manifest, config.baseline);
  return config;
}

/**
 * Refuses (InputError, one line naming the difference) two runs that are not the same evaluation of
 * their checkpoints: a shard, another suite, dataset, sample set, seed or config.
 */
export function assertComparable(baseline: { dir: string; manifest: RunManifest }, candidate: { dir: string; manifest: RunManifest }): void {
  for (const run of [baseline, candidate])
    if (run.manifest.shard)
      throw inputError(
        join(run.dir, 'run.json'),
        `is shard ${run.manifest.shard.index}/${run.manifest.shard.count} of a run`,
        'a whole run: merge the shards first (bench merge <shard-dirs...> --out DIR)',
      );
  const where = join(candidate.dir, 'run.json');
  const a = baseline.manifest;
  const b = candidate.manifest;
  const differs = (what: string, x: unknown, y: unknown) =>
    inputError(where, `${what} differs from the baseline's (baseline ${brief(x)}, candidate ${brief(y)})`, COMPARE_RULE);
  if (a.suite !== b.suite) throw differs('suite', a.suite, b.suite);
  if (a.dataset?.name !== b.dataset?.name || a.dataset?.split !== b.dataset?.split) throw differs('dataset', a.dataset, b.dataset);
  if (a.sampleIndices.length !== b.sampleIndices.length)
    throw differs('sampleIndices (count)', a.sampleIndices.length, b.sampleIndices.length);
  const i = a.sampleIndices.findIndex((x, k) => x !== b.sampleIndices[k]);
  if (i >= 0) throw differs(`sampleIndices[${i}]`, a.sampleIndices[i], b.sampleIndices[i]);
  if (a.seed !== b.seed) throw differs('seed', a.seed, b.seed);
  if (a.checkpoints.length !== b.checkpoints.length) throw differs('number of checkpoints', a.checkpoints.length, b.checkpoints.length);
  const d = firstDifference(comparableConfig(a), comparableConfig(b), 'config');
  if (d) throw differs(d.path, d.a, d.b);
}

/** The identity of a cell across runs (see the file comment); the checkpoint is its position. */
export function cellKey(manifest: RunManifest, cell: CellResult, where: string): string {
  const position = manifest.checkpoints.findIndex((c) => c.name === cell.checkpoint);
  if (position < 0)
    throw inputError(where, `checkpoint ${JSON.stringify(cell.checkpoint)} of cell ${JSON.stringify(cell.id)} is not in run.json's checkpoints`, manifest.checkpoints.map((c) => c.name).join(', '));
  const head = `#${position}|${cell.kind}`;
  switch (cell.kind) {
    case 'clean':
      return head;
    case 'corruption':
      return `${head}|${cell.corruption}|${cell.severity}`;
    case 'attack':
      return [
        head,
        positionalLabel(manifest, cell.attack ?? '?'),
        cell.path ?? 'none',
        epsKey(cell.eps ?? NaN),
        cell.threatModel ?? '',
        canonicalJson(cell.attackParams ?? {}),
        cell.transferFrom ? positional(manifest, cell.transferFrom) : '',
      ].join('|');
  }
}
