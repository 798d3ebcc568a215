import type { CommandModule } from 'yargs';
import { importCommand } from './import.js';
import { previewCommand } from './preview.js';
import { reportCommand } from './report.js';
import { trainCommand } from './train.js';
import { verifyCommand } from './verify.js';

// One module per verb; adding a verb is one line here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [importCommand, previewCommand, reportCommand, trainCommand, verifyCommand];
