import type { CommandModule } from 'yargs';
import { compareCommand } from './compare.js';
import { importCommand } from './import.js';
import { listCommand } from './list.js';
import { mergeCommand } from './merge.js';
import { previewCommand } from './preview.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { trainCommand } from './train.js';
import { verifyCommand } from './verify.js';

// One module per verb; adding a verb is one line here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [importCommand, previewCommand, trainCommand, verifyCommand, reportCommand, runCommand, listCommand, compareCommand, mergeCommand];
