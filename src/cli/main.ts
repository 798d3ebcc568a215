#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands.js';
import { reportError } from './common.js';
import { notANumberLine, usageErrorLine } from './usageError.js';

// Silence tfjs's "install the node backend" banner: the backend line we print says what runs.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

const cli = yargs(hideBin(process.argv))
  .scriptName('bench')
  .usage('$0 <command> [options]\n\nRobustness benchmarks for image classifiers (CNN, CNN-F) on TensorFlow.js.')
  .strict()
  .demandCommand(1, 'Name a command; `bench --help` lists them.')
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err, usage) => {
    if (err) reportError(err);
    // The usage instance's descriptions are keyed by the options of the verb being parsed.
    const describe = (usage as unknown as { getDescriptions?: () => Record<string, unknown> }).getDescriptions;
    const options = typeof describe === 'function' ? Object.keys(describe.call(usage)) : [];
    const verbs = commands.map((c) => String(Array.isArray(c.command) ? c.command[0] : c.command).split(' ')[0]);
    process.stderr.write(`error: ${usageErrorLine(String(msg ?? 'invalid usage'), { argv: hideBin(process.argv), commands: verbs, options })}\n`);
    process.exit(2);
  });

// A number flag given a non-number: one line quoting what was typed, before any command runs.
cli.middleware((parsed) => {
  const line = notANumberLine(parsed, hideBin(process.argv));
  if (line === null) return;
  process.stderr.write(`error: ${line}\n`);
  process.exit(2);
});

// --version is about bench, not a verb: listed in `bench --help` only (it still works after a verb).
for (const c of commands) {
  const build = c.builder;
  cli.command({ ...c, builder: (y: Argv) => (typeof build === 'function' ? (build(y) as Argv) : y.options(build ?? {})).hide('version') });
}

await cli.parseAsync();
