/** `tables`: <run-dir>/tables/*.csv and *.md (and all.md) and <run-dir>/charts/*.vl.json and *.svg. */
import { writeCharts } from '../charts.js';
import { writeTables } from '../tables.js';
import { derived } from './derived.js';
import type { Reporter } from './types.js';

export const tablesReporter: Reporter = {
  name: 'tables',
  describe: 'tables/*.csv and *.md, charts/*.vl.json and *.svg in the run directory',
  async write(run, options) {
    const { tables, charts } = derived(run, options.baseline);
    return [...(await writeTables(run.dir, tables)), ...(await writeCharts(run.dir, charts))];
  },
};
