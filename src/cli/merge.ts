/**
 * `bench merge <shard-dirs...> --out DIR`: joins the run directories of `bench run --shard i/n` into one
 * run directory, as if the run had not been sharded. Exit 2 (one line) when a shard is missing, the
 * shards are of different runs, or a cell is corrupt, duplicated with other results, or not in the plan.
 */
import type { Argv, CommandModule } from 'yargs';
import { handler } from './common.js';
import { mergeShards, type MergeResult } from '../compare/mergeShards.js';

export interface MergeArgs {
  shards: string[];
  out: string;
  allowMissing: boolean;
  quiet: boolean;
}

/** Merges and prints a one-paragraph account on stderr; returns the result. */
export async function runMerge(a: MergeArgs, say: (s: string) => void = (s) => void process.stderr.write(s)): Promise<MergeResult> {
  const r = await mergeShards(a.shards, { out: a.out, allowMissing: a.allowMissing });
  if (!a.quiet) {
    say(`merged ${r.shards.length} shard directories of ${r.shards[0].count} into ${r.out}: ${r.cells} cells, ${r.probes} probes\n`);
    if (r.duplicates.length > 0) say(`  ${r.duplicates.length} records found in two shard directories with equal results, taken once\n`);
    if (r.missingCells.length > 0) say(`  warning: ${r.missingCells.length} planned cells have no result; finish them with bench run --resume ${r.out}\n`);
    if (r.missingProbes.length > 0) say(`  warning: ${r.missingProbes.length} planned sanity probes have no result\n`);
    for (const n of r.notes) say(`  note: ${n}\n`);
  }
  return r;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <shards..>',
  describe: 'merge the run directories of `bench run --shard i/n` into one run directory',
  builder: (y: Argv<object>) =>
    y
      .positional('shards', { type: 'string', array: true, demandOption: true, describe: 'shard run directories (all n of them)' })
      .option('out', { type: 'string', demandOption: true, describe: 'directory of the merged run (must not hold a run)' })
      .option('allow-missing', { type: 'boolean', default: false, describe: 'write the merged run even when planned cells have no result' })
      .option('quiet', { type: 'boolean', default: false, describe: 'print nothing on success' })
      .example('$0 merge shards/* --out runs/candidate', 'merge every shard of a CI matrix') as unknown as Argv<MergeArgs>,
  handler: handler(async (a: MergeArgs) => {
    await runMerge(a);
    return 0;
  }),
};
