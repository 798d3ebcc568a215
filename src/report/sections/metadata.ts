/** Run metadata: the run (suite, config, seed, dataset, samples, shard), its environment, its timings and the full config as run. */
import { escapeHtml } from '../format.js';
import { dl, seconds } from './markup.js';
import type { ReportSection } from './types.js';

export const metadataSection: ReportSection = {
  id: 'metadata',
  title: 'Run metadata',
  applies: () => true,
  render({ run }) {
    const m = run.manifest;
    const total = run.cells.reduce((a, c) => a + (c.timings?.seconds ?? 0), 0);
    const byKind = (['clean', 'attack', 'corruption'] as const)
      .map((k) => [k, run.cells.filter((c) => c.kind === k)] as const)
      .filter(([, cs]) => cs.length > 0)
      .map(([k, cs]) => `${k}: ${cs.length} cells, ${seconds(cs.reduce((a, c) => a + (c.timings?.seconds ?? 0), 0))}`);
    const slowest = [...run.cells].sort((a, b) => (b.timings?.seconds ?? 0) - (a.timings?.seconds ?? 0))[0];
    const finished = run.cells.map((c) => c.completedAt).sort().pop();
    const d = m.dataset;
    const datasetText =
      `${d.name} (${d.split}, ${d.source})` +
      (d.numClasses !== undefined ? `, ${d.numClasses} classes` : '') +
      (d.shape ? `, images ${d.shape.slice(1).join('×')}` : '') +
      (d.labels === 'model' ? ", labels: each model's clean predictions" : '');
    return (
      '<section id="metadata"><h2>Run metadata</h2><div class="meta-grid"><div><h3>Run</h3>' +
      dl([
        ['suite', m.suite],
        ['config file', m.configFile ?? '(none)'],
        ['seed', m.seed],
        ['dataset', datasetText],
        ...(d.files && d.files.length > 0 ? ([['dataset sha256', d.files.map((f) => `${f.path.split('/').pop()} ${f.sha256.slice(0, 12)}…`).join(', ')]] as [string, unknown][]) : []),
        ['samples', m.sampleIndices.length],
        ['cells', `${run.cells.length} of ${m.cells.length} planned`],
        ['shard', m.shard ? `${m.shard.index} of ${m.shard.count}` : 'whole run'],
        ['created', m.createdAt],
        ['last cell finished', finished ?? '—'],
        ['run directory', run.dir],
      ]) +
      '</div><div><h3>Environment</h3>' +
      dl([
        ['backend', `${m.backend.name} (${m.backend.provider}), ${m.backend.workers} worker${m.backend.workers === 1 ? '' : 's'}`],
        ['tfjs', m.backend.tfjsVersion],
        ['bench', m.versions.bench],
        ['node', m.versions.node],
        ['machine', `${m.machine.platform}/${m.machine.arch}, ${m.machine.cpus} × ${m.machine.cpuModel}${m.machine.vectorExtensions ? ` (${m.machine.vectorExtensions.join(' ') || 'no AVX'})` : ''}, ${m.machine.memoryGiB} GiB`],
        ['host', m.machine.hostname],
      ]) +
      '</div><div><h3>Timings</h3>' +
      dl([
        ['compute time (sum over cells)', seconds(total)],
        ...byKind.map((s, i) => [i === 0 ? 'by kind' : '', s] as [string, unknown]),
        ['slowest cell', slowest ? `${slowest.id} (${seconds(slowest.timings.seconds)})` : '—'],
      ]) +
      '</div></div>' +
      `<details><summary>Full config (as run)</summary><pre>${escapeHtml(JSON.stringify(m.config, null, 2))}</pre></details></section>`
    );
  },
};
