/**
 * All corruptions by name. Order: the 15 CIFAR-10-C benchmark corruptions in the paper's order (frost
 * excluded: it needs photographs), then the held-out ones (speckle noise, Gaussian blur, and saturate,
 * which needs RGB images; spatter is not provided).
 */
import { inputError, showValue } from '../src/engine/errors.js';
import { closestMatch, didYouMean } from '../src/engine/suggest.js';
import { defocusBlur, gaussianBlur, glassBlur, motionBlur, zoomBlur } from './blur.js';
import { contrast, jpegCompression, pixelate, saturate } from './digital.js';
import { elasticTransform } from './elastic.js';
import { gaussianNoise, impulseNoise, shotNoise, speckleNoise } from './noise.js';
import type { AnyCorruption } from './types.js';
import { brightness, fog, snow } from './weather.js';

const ALL: readonly AnyCorruption[] = [
  gaussianNoise,
  shotNoise,
  impulseNoise,
  defocusBlur,
  glassBlur,
  motionBlur,
  zoomBlur,
  snow,
  fog,
  brightness,
  contrast,
  elasticTransform,
  pixelate,
  jpegCompression,
  speckleNoise,
  gaussianBlur,
  saturate,
];

/** Corruptions defined on RGB images only (apply() throws an InputError on grey ones). */
const RGB_ONLY: readonly AnyCorruption[] = ALL.filter((c) => !c.channels.includes(1));

/** Names of the CIFAR-10-C benchmark corruptions we generate (all but frost), for a default suite. */
export const BENCHMARK_CORRUPTION_NAMES: readonly string[] = ALL.slice(0, 14).map((c) => c.name);
export const CORRUPTION_NAMES: readonly string[] = ALL.map((c) => c.name);
/**
 * What a corruption suite's "all" runs: every corruption defined on every image, grey or RGB (all but
 * the RGB-only ones, which a config names explicitly).
 */
export const DEFAULT_CORRUPTION_NAMES: readonly string[] = ALL.filter((c) => !RGB_ONLY.includes(c)).map((c) => c.name);
/** Names of the corruptions that need RGB images. */
export const RGB_ONLY_CORRUPTION_NAMES: readonly string[] = RGB_ONLY.map((c) => c.name);

export function listCorruptions(): readonly AnyCorruption[] {
  return ALL;
}

export { editDistance } from '../src/engine/suggest.js';

/** The valid name `wanted` most plausibly means (an abbreviation such as "jpeg", or a typo), if any. */
export function closestCorruptionName(wanted: string): string | undefined {
  return closestMatch(wanted, CORRUPTION_NAMES);
}

/** The corruption called `name`; an InputError naming the closest valid name otherwise. */
export function getCorruption(name: string, where = '--corruption'): AnyCorruption {
  const found = ALL.find((c) => c.name === name);
  if (found) return found;
  throw inputError(where, `unknown corruption ${showValue(name)}${didYouMean(name, CORRUPTION_NAMES)}`, CORRUPTION_NAMES.join(', '));
}

/**
 * The rng key of one corruption cell: a suite cell and `bench preview` use it so a preview shows the exact
 * images a run evaluates (with KeyedRng(seed, key, global test-set indices)).
 */
export function corruptionKey(name: string, severity: number): string {
  return `corruption/${name}/${severity}`;
}

function formatValue(v: unknown): string {
  if (typeof v === 'number') return String(Number(v.toPrecision(6)));
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.length <= 3) return v.map(formatValue).join(',');
    return `${formatValue(v[0])}..${formatValue(v[v.length - 1])} (${v.length})`;
  }
  return String(v);
}

/** Severity table as aligned text: one row per severity, one column per parameter, then the source. */
export function formatSeverityTable(c: AnyCorruption): string {
  const first = c.severities[0];
  const keys = first !== null && typeof first === 'object' && !Array.isArray(first) ? Object.keys(first) : [''];
  const cell = (p: unknown, k: string) => formatValue(k === '' ? p : (p as Record<string, unknown>)[k]);
  const header = ['severity', ...keys.map((k) => k || 'value')];
  const rows = c.severities.map((p, i) => [String(i + 1), ...keys.map((k) => cell(p, k))]);
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((v, j) => v.padEnd(widths[j])).join('  ').trimEnd();
  return [
    `${c.name} (${c.family}): ${c.describe}`,
    line(header),
    ...rows.map(line),
    `source: ${c.source}`,
  ].join('\n');
}
