import { describe, expect, it } from 'vitest';
import { notANumberLine, usageErrorLine } from '../../src/cli/usageError.js';

const commands = ['import', 'preview', 'train', 'verify', 'report', 'run', 'list', 'compare', 'merge'];
const ctx = (argv: string[], options: string[] = []) => ({ argv, commands, options });

// yargs' own messages, as it prints them, rewritten to the project's one line.
describe('notANumberLine', () => {
  it('quotes what was typed for a number flag yargs parsed to NaN (both --flag x and --flag=x)', () => {
    expect(notANumberLine({ limit: NaN, _: [] }, ['run', '--limit', 'abc'])).toBe('--limit: "abc" is not a number');
    expect(notANumberLine({ 'batch-size': NaN, batchSize: NaN }, ['run', '--batch-size=1e'])).toBe('--batch-size: "1e" is not a number');
    expect(notANumberLine({ limit: 5, seed: 0 }, ['run', '--limit', '5'])).toBeNull();
  });
});

describe('usageErrorLine', () => {
  it('invalid choices: the flag, the value, a suggestion and the allowed values', () => {
    const msg = 'Invalid values:\n  Argument: output, Given: "lst", Choices: "first", "last", "average"';
    expect(usageErrorLine(msg, ctx(['run', '--output', 'lst']))).toBe('--output: invalid value "lst" (did you mean "last"?) (allowed: first, last, average)');
    const two = 'Invalid values:\n  Argument: output, Given: "zzz", Choices: "first", "last"\n  Argument: backend, Given: "wsm", Choices: "auto", "wasm"';
    expect(usageErrorLine(two, ctx(['run']))).toBe('--output: invalid value "zzz" (allowed: first, last); --backend: invalid value "wsm" (did you mean "wasm"?) (allowed: auto, wasm)');
  });

  it('unknown flags and commands, with suggestions', () => {
    expect(usageErrorLine('Unknown argument: outptu', ctx(['run', '--outptu', 'x'], ['help', 'version', 'output', 'limit']))).toBe(
      '--outptu: unknown flag (did you mean --output?) (run `bench run --help` for usage)',
    );
    expect(usageErrorLine('Unknown argument: batchSiz', ctx(['run', '--batch-siz', '3'], ['batch-size', 'batchSize']))).toBe(
      '--batch-siz: unknown flag (did you mean --batch-size?) (run `bench run --help` for usage)',
    );
    expect(usageErrorLine('Unknown argument: frobnicate', ctx(['frobnicate']))).toBe(
      `unknown command "frobnicate" (allowed: ${commands.join(', ')}) (run \`bench --help\` for usage)`,
    );
    expect(usageErrorLine('Did you mean run?', ctx(['rn']))).toBe(`unknown command "rn" (did you mean "run"?) (allowed: ${commands.join(', ')})`);
    expect(usageErrorLine('Unknown argument: extra', ctx(['run', 'extra']))).toBe('unexpected argument "extra" (run `bench run --help` for usage)');
  });

  it('anything else becomes one line', () => {
    const line = usageErrorLine('Not enough non-option arguments: got 0, need at least 1', ctx(['import']));
    expect(line).toBe('Not enough non-option arguments: got 0, need at least 1 (run `bench import --help` for usage)');
    expect(usageErrorLine('Missing required argument: out\nsecond line', ctx(['train']))).not.toContain('\n');
  });
});
