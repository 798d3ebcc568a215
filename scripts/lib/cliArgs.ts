// Command-line flags of the measurement scripts under scripts/ (scriptArgs), on Node's util.parseArgs.
import { readFileSync, writeSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packageRoot } from '../../src/engine/packageRoot.js';

/** One flag: `--name VALUE` (type 'string') or `--name` alone (type 'boolean'). */
export type FlagSpec = { type: 'string'; default?: string } | { type: 'boolean'; default?: boolean };
export type FlagSpecs = Record<string, FlagSpec>;

/** The parsed flags: booleans are always set (false when absent), strings are set when given or defaulted. */
export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]: S[K] extends { type: 'boolean' } ? boolean : S[K] extends { default: string } ? string : string | undefined;
};

export interface ScriptArgsOptions {
  /**
   * Names of the positional arguments the script takes (e.g. ['CHECKPOINT_DIR', 'CASES']); exactly this many
   * must be given, anywhere among the flags. Without it, any positional argument is an error.
   */
  positionals?: string[];
  /** The arguments to parse; process.argv.slice(2) by default. */
  args?: string[];
}

/** What parseScriptArgs found: the values, a request for help (with its text), or one line of error. */
export type ParseOutcome<S extends FlagSpecs> =
  | { kind: 'ok'; values: FlagValues<S>; positionals: string[] }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

/** The script's path as messages show it: relative to the package root when inside it. */
function scriptName(file: string): string {
  let root: string;
  try {
    root = packageRoot();
  } catch {
    return file;
  }
  const rel = relative(root, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * The file's leading block of `//` comment lines (after a `#!` line, if any), each without its `// ` prefix.
 * Throws the fs error when the file cannot be read.
 */
export function leadingComment(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines[0]?.startsWith('#!')) lines.shift();
  const out: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    out.push(line.replace(/^\/\/ ?/, ''));
  }
  return out;
}

/** The flags as the help and error lines list them: `--a --b ... --help`. */
function flagList(specs: FlagSpecs, withValues: boolean): string {
  const flags = Object.entries(specs).map(([name, spec]) => (withValues && spec.type === 'string' ? `--${name} VALUE` : `--${name}`));
  return [...flags, withValues ? '-h/--help' : '--help'].join(' ');
}

/**
 * The pure part of scriptArgs (no output, no exit): parses `args` against `specs` with util.parseArgs in
 * strict mode and says what scriptArgs would do. See scriptArgs. Throws an Error when `specs` declares
 * `help` (it is built in): a mistake in the script, not in its command line.
 */
export function parseScriptArgs<const S extends FlagSpecs>(scriptUrl: string, specs: S, options: ScriptArgsOptions = {}): ParseOutcome<S> {
  if ('help' in specs) throw new Error('scriptArgs: --help is built in; do not declare it');
  const file = scriptUrl.startsWith('file:') ? fileURLToPath(scriptUrl) : scriptUrl;
  const args = options.args ?? process.argv.slice(2);
  const positionalNames = options.positionals;
  const parseOptions = { ...specs, help: { type: 'boolean', short: 'h' } } as const;

  // Help first, whatever else is on the line (a mistyped flag next to --help still gets the help).
  const loose = parseArgs({ args, options: parseOptions, strict: false, allowPositionals: true, tokens: true });
  if (loose.tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
    const lines = leadingComment(file);
    if (positionalNames?.length) lines.push(`arguments: ${positionalNames.join(' ')}`);
    lines.push(`flags: ${flagList(specs, true)}`);
    return { kind: 'help', text: `${lines.join('\n')}\n` };
  }

  const name = scriptName(file);
  const fail = (problem: string): ParseOutcome<S> => ({ kind: 'error', message: `${name}: ${problem} (allowed: ${flagList(specs, false)})` });
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: parseOptions, strict: true, allowPositionals: positionalNames !== undefined });
  } catch (err) {
    // Node's messages (ERR_PARSE_ARGS_*) name the flag; the ambiguous-value one spans lines, and with
    // positionals allowed the unknown-flag one adds advice on positionals that start with '-'.
    const message = (err instanceof Error ? err.message : String(err)).replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
    return fail(message.replace(/\s*\n\s*/g, ' '));
  }
  if (positionalNames !== undefined && parsed.positionals.length !== positionalNames.length)
    return fail(`expected ${positionalNames.length} argument(s) ${positionalNames.join(' ')}, got ${parsed.positionals.length}${parsed.positionals.length ? `: ${parsed.positionals.join(' ')}` : ''}`);

  const values: Record<string, string | boolean | undefined> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const v = parsed.values[key];
    values[key] = v ?? spec.default ?? (spec.type === 'boolean' ? false : undefined);
  }
  return { kind: 'ok', values: values as FlagValues<S>, positionals: parsed.positionals };
}

/**
 * Parses a script's command line (process.argv.slice(2)) with Node's util.parseArgs in strict mode against
 * `specs`: `--name VALUE` (or `--name=VALUE`) for a 'string' flag, `--name` alone for a 'boolean' one.
 *
 * - `--help` or `-h` anywhere: prints the usage to stdout and exits 0. The usage is the script's own leading
 *   block of `//` comment lines, read from the file at `scriptUrl` (pass `import.meta.url`) with the `// `
 *   prefix removed, followed by a line listing the accepted flags, so the header comment is the only copy
 *   of the usage text.
 * - An unknown flag, a string flag without a value (a value starting with `-` must be written
 *   `--name=-1`), a value given to a boolean flag, a positional argument the script does not take, or a
 *   wrong count of those it does (`options.positionals`): prints one line
 *   `<script path relative to the package root>: <problem> (allowed: --a --b ...)` to stderr and exits 2.
 * - Otherwise returns the values with the defaults applied (a boolean flag absent is false; a string flag
 *   without default absent is undefined) and the positional arguments. Values stay strings: the script
 *   converts them (Number(...), split(',')) as it needs. A flag given twice takes its last value.
 *
 * Call it at the top of the script's body, before any backend or model loads, so that --help and a mistyped
 * flag end the process at once.
 */
export function scriptArgs<const S extends FlagSpecs>(
  scriptUrl: string,
  specs: S,
  options: ScriptArgsOptions = {},
): { values: FlagValues<S>; positionals: string[] } {
  const outcome = parseScriptArgs(scriptUrl, specs, options);
  if (outcome.kind === 'help') {
    writeSync(1, outcome.text);
    process.exit(0);
  }
  if (outcome.kind === 'error') {
    writeSync(2, `${outcome.message}\n`);
    process.exit(2);
  }
  return { values: outcome.values, positionals: outcome.positionals };
}
