/**
 * yargs reports usage errors in its own words, some over several lines ("Invalid values:\n  Argument:
 * ..."). This rewrites them as the project's one line, naming the flag and the allowed values, with a
 * "did you mean" suggestion where one is close.
 */
import { oneLine, showValue } from '../engine/errors.js';
import { didYouMean } from '../engine/suggest.js';

export interface UsageContext {
  /** The command line after `bench` (process.argv.slice(2)). */
  argv: readonly string[];
  /** Verbs `bench` knows (for an unknown command). */
  commands: readonly string[];
  /** Option keys of the verb being parsed, as yargs knows them (camelCase or kebab-case). */
  options: readonly string[];
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const flag = (key: string) => (key.length === 1 ? `-${key}` : `--${kebab(key)}`);

/** The strings quoted in yargs' `"a", "b"` lists (JSON-escaped). */
function quotedList(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => {
    try {
      return JSON.parse(`"${m[1]}"`) as string;
    } catch {
      return m[1];
    }
  });
}

/** The verb on the command line: its first word that is not a flag. */
function verbOf(argv: readonly string[]): string | undefined {
  return argv.find((a) => !a.startsWith('-'));
}

function helpHint(ctx: UsageContext): string {
  const verb = verbOf(ctx.argv);
  return verb !== undefined && ctx.commands.includes(verb) ? `(run \`bench ${verb} --help\` for usage)` : '(run `bench --help` for usage)';
}

/** One line (without the `error: ` prefix) for a yargs failure message. */
export function usageErrorLine(message: string, ctx: UsageContext): string {
  const msg = message.trim();
  const verb = verbOf(ctx.argv);
  const knownVerb = verb !== undefined && ctx.commands.includes(verb);

  if (msg.startsWith('Invalid values:')) {
    const parts = [...msg.matchAll(/Argument: (.+?), Given: (.*?), Choices: (.*)$/gm)].map(([, key, given, choices]) => {
      const allowed = quotedList(choices);
      let value: unknown = given;
      try {
        value = JSON.parse(given);
      } catch {
        // Keep yargs' text.
      }
      return `${flag(key)}: invalid value ${showValue(value)}${didYouMean(value, allowed)} (allowed: ${allowed.join(', ')})`;
    });
    if (parts.length > 0) return oneLine(parts.join('; '));
  }

  // recommendCommands: "Did you mean run?" for a misspelt verb.
  if (/^Did you mean /.test(msg) && verb !== undefined)
    return oneLine(`unknown command ${showValue(verb)}${didYouMean(verb, ctx.commands)} (allowed: ${ctx.commands.join(', ')})`);

  const unknown = /^Unknown arguments?: (.*)$/s.exec(msg);
  if (unknown) {
    const names = unknown[1].split(', ').map((s) => s.trim());
    const parts = names.map((name) => {
      if (!knownVerb && name === verb)
        return `unknown command ${showValue(name)}${didYouMean(name, ctx.commands)} (allowed: ${ctx.commands.join(', ')})`;
      // A word given without dashes is an extra positional argument, not a flag.
      if (ctx.argv.includes(name)) return `unexpected argument ${showValue(name)}`;
      const flags = ctx.options.filter((o) => o.length > 1 && o !== '$0').map(kebab);
      return `${flag(name)}: unknown flag${didYouMean(kebab(name), [...new Set(flags)], (f) => `--${f}`)}`;
    });
    return oneLine(`${parts.join('; ')} ${helpHint(ctx)}`);
  }

  return oneLine(`${msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')} ${helpHint(ctx)}`);
}

/**
 * yargs turns a `type: 'number'` flag given a non-number (`--limit abc`) into NaN, and errors would then
 * quote "NaN". This finds the first such flag in the parsed arguments and returns its one line quoting
 * what the user typed (`--limit: "abc" is not a number`), or null when every number flag parsed.
 */
export function notANumberLine(parsed: Record<string, unknown>, argv: readonly string[]): string | null {
  for (const [key, value] of Object.entries(parsed)) {
    // yargs holds a kebab-case flag under its camelCase key too: look at one of them.
    if (typeof value !== 'number' || !Number.isNaN(value) || /[A-Z]/.test(key)) continue;
    const name = flag(key);
    let typed: string | undefined;
    for (let i = 0; i < argv.length && typed === undefined; i++) {
      if (argv[i] === name) typed = argv[i + 1];
      else if (argv[i].startsWith(`${name}=`)) typed = argv[i].slice(name.length + 1);
    }
    return oneLine(`${name}: ${typed === undefined ? 'not a number' : `${showValue(typed)} is not a number`}`);
  }
  return null;
}
