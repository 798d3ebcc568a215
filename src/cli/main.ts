#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands.js';

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
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`error: ${msg}\n(run \`bench --help\` for usage)\n`);
    process.exit(2);
  });

for (const c of commands) cli.command(c);

await cli.parseAsync();
