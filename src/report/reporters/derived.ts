/** Tables and charts of a run, built once per run and baseline however many reporters use them. */
import type { RunData } from '../../rundir/read.js';
import { buildCharts, type Chart } from '../charts.js';
import { buildTables, type Table } from '../tables.js';

const cache = new WeakMap<RunData, Map<string, { tables: Table[]; charts: Chart[] }>>();

/** buildTables(run, baseline) and buildCharts(run), memoised on the run object. */
export function derived(run: RunData, baseline?: string): { tables: Table[]; charts: Chart[] } {
  let byBaseline = cache.get(run);
  if (!byBaseline) cache.set(run, (byBaseline = new Map()));
  const key = baseline ?? '';
  let out = byBaseline.get(key);
  if (!out) byBaseline.set(key, (out = { tables: buildTables(run, baseline), charts: buildCharts(run) }));
  return out;
}
