// The measurement scripts' command-line parsing (scripts/lib/cliArgs.ts): --help prints the script's own
// header comment and exits 0 before any model is loaded; an unknown flag, a flag without its value or a stray
// argument is one line on stderr naming the problem and the allowed flags, exit code 2. Run for real on
// scripts/model-cost.ts (through tsx, as the README's commands run the scripts), and in process on a
// small script file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { leadingComment, parseScriptArgs, type FlagSpecs } from '../../scripts/lib/cliArgs.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const tmp = mkdtempSync(join(os.tmpdir(), 'bench-cli-args-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `node --import tsx scripts/<script> <args>` from the package root; the parse comes before any model loads, so both cases end at once. */
function script(name: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', tsx, join(root, 'scripts', name), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

describe('a real script (scripts/model-cost.ts)', () => {
  it('--help prints its header comment and the accepted flags, exit 0', () => {
    const r = script('model-cost.ts', ['--help']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const header = readFileSync(join(root, 'scripts', 'model-cost.ts'), 'utf8').split('\n')[0].replace(/^\/\/ /, '');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(header);
    expect(r.stdout).toContain('  npx tsx scripts/model-cost.ts [--checkpoint checkpoints/cnn-fmnist]');
    expect(r.stdout).not.toMatch(/^\/\//m);
    expect(lines.at(-1)).toBe('flags: --checkpoint VALUE --batch VALUE --reps VALUE --rounds VALUE --path VALUE --output VALUE --python VALUE --default-malloc -h/--help');
    // -h is the same.
    expect(script('model-cost.ts', ['-h']).stdout).toBe(r.stdout);
  });

  it('a mistyped flag: one line naming it and the allowed flags, exit 2, nothing run', () => {
    const r = script('model-cost.ts', ['--chekpoint', 'x']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "scripts/model-cost.ts: Unknown option '--chekpoint' (allowed: --checkpoint --batch --reps --rounds --path --output --python --default-malloc --help)\n",
    );
  });

  it('a string flag without its value, and a stray argument, are refused the same way', () => {
    const missing = script('model-cost.ts', ['--batch']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^scripts\/model-cost\.ts: Option '--batch <value>' argument missing \(allowed: --checkpoint .* --help\)\n$/);
    const stray = script('model-cost.ts', ['250']);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toMatch(/^scripts\/model-cost\.ts: Unexpected argument '250'.* \(allowed: .*\)\n$/);
  });
});

describe('parseScriptArgs on a small script file', () => {
  const file = join(tmp, 'demo.ts');
  writeFileSync(
    file,
    [
      '#!/usr/bin/env -S npx tsx',
      '// A demo script: one line of what it does.',
      '//   npx tsx demo.ts [--n 10] [--eps 0.03] [--cascade]',
      '//',
      '// --cascade: a boolean flag.',
      "import { x } from './x.js';",
      '// not part of the usage',
      '',
    ].join('\n'),
  );
  const url = pathToFileURL(file).href;
  const specs = {
    n: { type: 'string', default: '10' },
    eps: { type: 'string' },
    cascade: { type: 'boolean' },
    resume: { type: 'boolean', default: true },
  } satisfies FlagSpecs;
  const parse = (args: string[], positionals?: string[]) => parseScriptArgs(url, specs, { args, positionals });
  const allowed = '(allowed: --n --eps --cascade --resume --help)';

  it('reads the leading comment block, without the shebang, the `// ` prefix, or later comments', () => {
    expect(leadingComment(file)).toEqual(['A demo script: one line of what it does.', '  npx tsx demo.ts [--n 10] [--eps 0.03] [--cascade]', '', '--cascade: a boolean flag.']);
  });

  it('applies defaults: a string flag absent is its default or undefined, a boolean false (or its default)', () => {
    expect(parse([])).toEqual({ kind: 'ok', values: { n: '10', eps: undefined, cascade: false, resume: true }, positionals: [] });
  });

  it('parses --name VALUE, --name=VALUE (the way to give a value starting with a dash) and boolean flags; values stay strings', () => {
    expect(parse(['--n', '5', '--eps=-0.5', '--cascade'])).toEqual({ kind: 'ok', values: { n: '5', eps: '-0.5', cascade: true, resume: true }, positionals: [] });
    // A flag given twice takes its last value.
    expect(parse(['--n', '5', '--n', '6'])).toMatchObject({ values: { n: '6' } });
  });

  it('--help or -h anywhere, even next to a bad flag: the usage and the flags', () => {
    const help = {
      kind: 'help',
      text: 'A demo script: one line of what it does.\n  npx tsx demo.ts [--n 10] [--eps 0.03] [--cascade]\n\n--cascade: a boolean flag.\nflags: --n VALUE --eps VALUE --cascade --resume -h/--help\n',
    };
    expect(parse(['--help'])).toEqual(help);
    expect(parse(['--n', '3', '-h'])).toEqual(help);
    expect(parse(['--no-such-flag', '--help'])).toEqual(help);
    const withPositionals = parse(['-h'], ['CHECKPOINT_DIR', 'CASES']);
    expect(withPositionals.kind === 'help' && withPositionals.text.split('\n').slice(-3)).toEqual(['arguments: CHECKPOINT_DIR CASES', 'flags: --n VALUE --eps VALUE --cascade --resume -h/--help', '']);
  });

  it('refuses, in one line that names the problem and the allowed flags: unknown flags, missing values, stray arguments', () => {
    // The temp file is outside the package, so its absolute path names it.
    const error = (problem: string) => ({ kind: 'error', message: `${file}: ${problem} ${allowed}` });
    expect(parse(['--no-such-flag'])).toEqual(error("Unknown option '--no-such-flag'"));
    expect(parse(['-x'])).toEqual(error("Unknown option '-x'"));
    expect(parse(['--n'])).toEqual(error("Option '--n <value>' argument missing"));
    expect(parse(['--cascade=yes'])).toEqual(error("Option '--cascade' does not take an argument"));
    expect(parse(['extra'])).toEqual(error("Unexpected argument 'extra'. This command does not take positional arguments"));
    // A value that looks like a flag (often a forgotten value): refused, Node's three-line message in one line.
    const ambiguous = parse(['--n', '--cascade']);
    expect(ambiguous.kind).toBe('error');
    const message = ambiguous.kind === 'error' ? ambiguous.message : '';
    expect(message).not.toContain('\n');
    expect(message).toMatch(/: Option '--n' argument is ambiguous\. Did you forget .* use '--n=-XYZ'\. \(allowed: /);
  });

  it('positional arguments when the script names them: exactly that many, anywhere among the flags', () => {
    expect(parse(['ckpt', '--n', '2', 'cases.safetensors'], ['CHECKPOINT_DIR', 'CASES'])).toEqual({
      kind: 'ok',
      values: { n: '2', eps: undefined, cascade: false, resume: true },
      positionals: ['ckpt', 'cases.safetensors'],
    });
    expect(parse(['ckpt'], ['CHECKPOINT_DIR', 'CASES'])).toEqual({ kind: 'error', message: `${file}: expected 2 argument(s) CHECKPOINT_DIR CASES, got 1: ckpt ${allowed}` });
    expect(parse([], ['CHECKPOINT_DIR', 'CASES'])).toEqual({ kind: 'error', message: `${file}: expected 2 argument(s) CHECKPOINT_DIR CASES, got 0 ${allowed}` });
    // Node's advice on positionals that start with '-' is left out of the unknown-flag line.
    expect(parse(['a', 'b', '--no-such-flag'], ['CHECKPOINT_DIR', 'CASES'])).toEqual({ kind: 'error', message: `${file}: Unknown option '--no-such-flag' ${allowed}` });
  });
});
