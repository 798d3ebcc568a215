/**
 * The self-contained HTML report: one file with vega, vega-lite and vega-embed inlined, the chart specs as
 * escaped JSON, images as data: URIs and no external reference, so it opens from file:// and makes no
 * network request. Every string that comes from a config, a checkpoint or a file name is HTML-escaped.
 */
import { basename } from 'node:path';
import type { SanityCheck } from '../rundir/records.js';
import { checkpointNames, summaryRows, type SummaryRow } from '../suite/summary.js';
import { missingCells, type RunData } from '../rundir/read.js';
import type { Chart } from './charts.js';
import { checkpointColour, epsWithNorm, escapeHtml, jsonForScript, pct, pctOrInfinity } from './format.js';
import { displayValue, isEstimate, isRatioInterval, type Table, type TableValue } from './tables.js';

export interface ReportImage {
  name: string;
  /** data: URI of the PNG. */
  dataUri: string;
  width: number;
  height: number;
  /** From the sidecar images/<name>.json when there is one (plain text; escaped when rendered). */
  group?: 'adversarial' | 'corruption';
  title?: string;
  caption?: string;
  /** Headers of the grid's columns and rows, and optionally a label per tile (row-major). */
  grid?: { columns: string[]; rows: string[]; tiles?: { text: string; marked?: boolean }[][] };
}

export interface ReportScripts {
  vega: string;
  vegaLite: string;
  vegaEmbed: string;
}

export interface ReportInput {
  run: RunData;
  tables: Table[];
  charts: Chart[];
  images: ReportImage[];
  scripts: ReportScripts;
  /** Baseline checkpoint of mCE (as the tables used). */
  baseline?: string;
}

/** An inline script body must not contain `</script` (it would end the element); in JS source `<\/` reads the same. */
export function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function swatch(names: string[], name: string): string {
  return `<span class="swatch" style="background:${checkpointColour(names, name)}"></span>`;
}

function runTitle(run: RunData): string {
  const name = run.manifest.config.name;
  return typeof name === 'string' && name ? name : basename(run.dir);
}

function signed(points: number): string {
  return `${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(1)}`;
}

/** One line per checkpoint: clean, worst case at the largest ε, corruption mean and mCE, sanity warnings. */
function verdicts(run: RunData, rows: SummaryRow[]): string {
  const names = checkpointNames(run);
  const reference = rows[0];
  const items = rows.map((r) => {
    const parts: string[] = [];
    if (r.clean) parts.push(`clean <b>${pct(r.clean.accuracy)}%</b>`);
    // One worst case per threat model (its largest radius): L-inf and L2 radii are not comparable.
    for (const threatModel of [...new Set(r.robust.map((x) => x.threatModel))]) {
      const robust = r.robust.filter((x) => x.eps > 0 && x.threatModel === threatModel);
      const last = robust[robust.length - 1];
      if (!last) continue;
      let s = `worst-case robust <b>${pct(last.estimate.accuracy)}%</b> at ${escapeHtml(epsWithNorm(threatModel, last.eps))}`;
      const ref = reference.robust.find((x) => x.eps === last.eps && x.threatModel === threatModel);
      if (r !== reference && ref)
        s += ` (${signed(100 * (last.estimate.accuracy - ref.estimate.accuracy))} points vs ${escapeHtml(reference.checkpoint)})`;
      parts.push(s);
    }
    if (r.meanCorruptionAccuracy !== null) {
      let s = `corruptions <b>${pct(r.meanCorruptionAccuracy)}%</b> mean`;
      if (r.mCE !== null)
        s += `, mCE ${pct(r.mCE)}%${r.mCECi95 ? ` (95% CI ${pctOrInfinity(r.mCECi95[0])}–${pctOrInfinity(r.mCECi95[1])}%)` : ''}${r.baseline === r.checkpoint ? ' (baseline)' : ''}`;
      if (r.mceNotes.length > 0) s += ` <span class="badge warn">${r.mceNotes.length} mCE note${r.mceNotes.length > 1 ? 's' : ''}</span>`;
      parts.push(s);
    }
    const warns = run.sanity.filter((c) => c.checkpoint === r.checkpoint && c.status === 'warn').length;
    if (warns > 0) parts.push(`<span class="badge warn">${warns} sanity warning${warns > 1 ? 's' : ''}</span>`);
    else if (run.sanity.some((c) => c.checkpoint === r.checkpoint)) parts.push('<span class="badge pass">sanity checks pass</span>');
    return `<li>${swatch(names, r.checkpoint)}<span class="ckpt">${escapeHtml(r.checkpoint)}</span> <span class="verdict">${parts.join(' · ') || 'no results yet'}</span></li>`;
  });
  return `<ul class="verdicts">${items.join('')}</ul>`;
}

function banners(run: RunData, rows: SummaryRow[]): string {
  const out: string[] = [];
  // Every corruption the mCE means leave out, and why, and where relative CE is within noise.
  const notes = rows.filter((r) => r.mceNotes.length > 0);
  if (notes.length > 0)
    out.push(
      `<div class="banner warn" id="mce-notes"><b>mCE and relative mCE:</b><ul>` +
        notes.map((r) => `<li><b>${escapeHtml(r.checkpoint)}</b>: ${r.mceNotes.map((n) => escapeHtml(n)).join('<br>')}</li>`).join('') +
        '</ul></div>',
    );
  const missing = missingCells(run);
  if (missing.length > 0)
    out.push(
      `<div class="banner info"><b>Partial run:</b> ${run.manifest.cells.length - missing.length} of ${run.manifest.cells.length} planned cells have results` +
        `${run.manifest.shard ? ` (shard ${run.manifest.shard.index} of ${run.manifest.shard.count})` : ''}; numbers below cover the completed cells only.</div>`,
    );
  const softmax = run.manifest.checkpoints.filter((c) => c.scores === 'log-probabilities').map((c) => c.name);
  if (softmax.length > 0)
    out.push(
      `<div class="banner info"><b>Softmax head${softmax.length > 1 ? 's' : ''}:</b> ${escapeHtml(softmax.join(', '))} ${softmax.length > 1 ? 'end' : 'ends'} in a softmax; ` +
        'attacks work on log-probabilities. A saturated softmax is a known cause of vanishing gradients, so gradient attacks may overestimate robustness.</div>',
    );
  if (run.manifest.dataset.labels === 'model')
    out.push(
      `<div class="banner info"><b>Labels are the models' own clean predictions</b> (<code>--labels model</code>): clean accuracy is 100% by construction, ` +
        'and robust accuracy measures how stable each prediction is under the perturbation.</div>',
    );
  const warns = run.sanity.filter((c) => c.status === 'warn');
  if (warns.length > 0)
    out.push(
      `<div class="banner warn"><b>${warns.length} sanity check${warns.length > 1 ? 's' : ''} warn${warns.length > 1 ? '' : 's'}:</b> ` +
        `robust accuracy may be overestimated (possible gradient masking). <a href="#sanity">See the sanity checks.</a></div>`,
    );
  return out.join('\n');
}

function numbers(n: Record<string, number>): string {
  const entries = Object.entries(n ?? {});
  if (entries.length === 0) return '';
  return entries.map(([k, v]) => `<code>${escapeHtml(k)}=${escapeHtml(Number.isFinite(v) ? Number(v.toPrecision(4)) : v)}</code>`).join(' ');
}

function sanityPanel(run: RunData): string {
  if (run.sanity.length === 0)
    return '<p class="muted">This run recorded no gradient-masking sanity checks (no sanity.json): treat robust accuracy with care.</p>';
  const names = checkpointNames(run);
  const count = (s: SanityCheck['status']) => run.sanity.filter((c) => c.status === s).length;
  const rank = { warn: 0, pass: 1, skip: 2 } as const;
  const sorted = [...run.sanity].sort((a, b) => names.indexOf(a.checkpoint) - names.indexOf(b.checkpoint) || (rank[a.status] ?? 3) - (rank[b.status] ?? 3));
  const rows = sorted.map(
    (c) =>
      `<tr class="${c.status === 'warn' ? 'row-warn' : ''}"><td><span class="badge ${escapeHtml(c.status)}">${escapeHtml(c.status)}</span></td>` +
      `<td>${swatch(names, c.checkpoint)}${escapeHtml(c.checkpoint)}</td><td><code>${escapeHtml(c.name)}</code></td>` +
      `<td>${escapeHtml(c.detail)}</td><td class="nums">${numbers(c.numbers)}</td></tr>`,
  );
  return (
    `<p class="sanity-counts"><span class="badge pass">${count('pass')} pass</span> <span class="badge warn">${count('warn')} warn</span> ` +
    `<span class="badge skip">${count('skip')} skipped</span> <span class="muted">Checks against gradient masking (Carlini et al. 2019): ` +
    'a warning means an attack may be too weak for this model, so its robust accuracy is an upper bound at best.</span></p>' +
    `<div class="table-wrap"><table class="sanity"><thead><tr><th>status</th><th>checkpoint</th><th>check</th><th>finding</th><th>numbers</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table></div>`
  );
}

function tableCell(v: TableValue, kind: Table['columns'][number]['kind'], names: string[], header: string): string {
  if (isEstimate(v))
    return `<td class="num"><span class="acc">${pct(v.accuracy)}</span> <span class="ci">${pct(v.ci95[0])}–${pct(v.ci95[1])}</span></td>`;
  if (isRatioInterval(v))
    return `<td class="num"><span class="acc">${pct(v.ratio)}</span> <span class="ci">${pctOrInfinity(v.ci95[0])}–${pctOrInfinity(v.ci95[1])}</span></td>`;
  const text = displayValue(v, kind);
  if (header === 'checkpoint' && typeof v === 'string') return `<td class="text">${swatch(names, v)}${escapeHtml(v)}</td>`;
  return `<td class="${kind === 'text' ? 'text' : 'num'}">${escapeHtml(text)}</td>`;
}

/** The header rows: one row, or two when columns are grouped (the group spans its columns, which show their sub-headers). */
function tableHead(table: Table): string {
  const cls = (c: Table['columns'][number]) => (c.kind === 'text' ? 'text' : 'num');
  if (!table.columns.some((c) => c.group))
    return `<tr>${table.columns.map((c) => `<th class="${cls(c)}">${escapeHtml(c.header)}</th>`).join('')}</tr>`;
  const top: string[] = [];
  const bottom: string[] = [];
  for (let i = 0; i < table.columns.length; ) {
    const c = table.columns[i];
    if (!c.group) {
      top.push(`<th class="${cls(c)}" rowspan="2">${escapeHtml(c.header)}</th>`);
      i++;
      continue;
    }
    let j = i;
    while (j < table.columns.length && table.columns[j].group === c.group) {
      bottom.push(`<th class="${cls(table.columns[j])}">${escapeHtml(table.columns[j].sub ?? table.columns[j].header)}</th>`);
      j++;
    }
    top.push(`<th class="group" colspan="${j - i}">${escapeHtml(c.group)}</th>`);
    i = j;
  }
  return `<tr>${top.join('')}</tr><tr>${bottom.join('')}</tr>`;
}

export function tableHtml(table: Table, names: string[], heading: 'h2' | 'h3' = 'h3'): string {
  const body = table.rows
    .map((r) => `<tr${r.emphasis ? ' class="emph"' : ''}>${r.values.map((v, i) => tableCell(v, table.columns[i].kind, names, table.columns[i].header)).join('')}</tr>`)
    .join('');
  return (
    `<div class="table-block" id="table-${escapeHtml(table.id)}"><${heading}>${escapeHtml(table.title)}</${heading}><p class="muted">${escapeHtml(table.note)}</p>` +
    `<div class="table-wrap"><table class="results"><thead>${tableHead(table)}</thead><tbody>${body}</tbody></table></div></div>`
  );
}

function chartFigure(chart: Chart): string {
  return (
    `<figure class="chart-figure"><div class="chart" id="chart-${escapeHtml(chart.id)}" data-chart="${escapeHtml(chart.id)}"></div>` +
    `<figcaption>${escapeHtml(chart.caption)} <span class="muted">(spec: charts/${escapeHtml(chart.id)}.vl.json, static: charts/${escapeHtml(chart.id)}.svg)</span></figcaption></figure>`
  );
}

/** Small images (28-pixel digits) are shown magnified, up to about 720 pixels wide, with crisp pixels. */
function imageSize(i: ReportImage): string {
  if (!(i.width > 0 && i.height > 0)) return '';
  const scale = Math.max(1, Math.min(4, Math.floor(720 / i.width)));
  return ` width="${i.width * scale}" height="${i.height * scale}"`;
}

/** The labels of a panel's grid: a table (row headers, column headers, one label per tile), or the headers alone. */
function gridLabels(grid: NonNullable<ReportImage['grid']>): string {
  const { columns, rows, tiles } = grid;
  if (!tiles)
    return `<p class="grid-axes">Rows: ${rows.map(escapeHtml).join(', ')}.<br>Columns: ${columns.map(escapeHtml).join(', ')}.</p>`;
  const head = `<tr><th></th>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r, i) =>
        `<tr><th>${escapeHtml(r)}</th>${(tiles[i] ?? [])
          .map((t) => `<td${t.marked ? ' class="marked"' : ''}>${escapeHtml(t.text)}</td>`)
          .join('')}</tr>`,
    )
    .join('');
  return `<div class="table-wrap"><table class="tile-labels"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function imageFigure(i: ReportImage): string {
  const caption = [
    i.title ? `<b>${escapeHtml(i.title)}</b>` : '',
    i.caption ? escapeHtml(i.caption) : '',
    `<span class="muted">(images/${escapeHtml(i.name)})</span>`,
  ]
    .filter(Boolean)
    .join(' ');
  return (
    `<figure><img src="${escapeHtml(i.dataUri)}" alt="${escapeHtml(i.title ?? i.name)}"${imageSize(i)}>` +
    `<figcaption><p class="caption">${caption}</p>${i.grid ? gridLabels(i.grid) : ''}</figcaption></figure>`
  );
}

function imagePanels(images: ReportImage[]): string {
  // A sidecar's group decides; images without one (e.g. added by hand or by `bench preview`) go by name.
  const groups: [string, string, (i: ReportImage) => boolean][] = [
    ['adversarial', 'Clean vs adversarial examples', (i) => (i.group ? i.group === 'adversarial' : /adv|attack|eps|pgd|fgsm/i.test(i.name))],
    ['corruption', 'Corruption previews', (i) => (i.group ? i.group === 'corruption' : /corrupt|severity|preview/i.test(i.name))],
    ['other', 'Other images', () => true],
  ];
  const used = new Set<string>();
  const out: string[] = [];
  for (const [id, title, test] of groups) {
    const mine = images.filter((i) => !used.has(i.name) && test(i));
    mine.forEach((i) => used.add(i.name));
    if (mine.length === 0) continue;
    out.push(
      `<h3 id="images-${id}">${escapeHtml(title)}</h3><div class="images">` +
        mine.map(imageFigure).join('') +
        '</div>',
    );
  }
  return out.join('\n');
}

function dl(entries: [string, unknown][]): string {
  return `<dl class="meta">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function seconds(s: number): string {
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

/** The runner's plan notes (an optional `notes: string[]` in run.json, e.g. which cells are copies and why). */
function planNotes(run: RunData): string {
  const notes = (run.manifest as { notes?: unknown }).notes;
  if (!Array.isArray(notes) || notes.length === 0) return '';
  return `<h3>Plan notes</h3><ul class="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`;
}

function metadata(run: RunData): string {
  const m = run.manifest;
  const names = checkpointNames(run);
  const total = run.cells.reduce((a, c) => a + (c.timings?.seconds ?? 0), 0);
  const byKind = (['clean', 'attack', 'corruption'] as const)
    .map((k) => [k, run.cells.filter((c) => c.kind === k)] as const)
    .filter(([, cs]) => cs.length > 0)
    .map(([k, cs]) => `${k}: ${cs.length} cells, ${seconds(cs.reduce((a, c) => a + (c.timings?.seconds ?? 0), 0))}`);
  const slowest = [...run.cells].sort((a, b) => (b.timings?.seconds ?? 0) - (a.timings?.seconds ?? 0))[0];
  const finished = run.cells.map((c) => c.completedAt).sort().pop();
  // CNN-F's architecture columns only when a CNN-F checkpoint is in the run (other families have none).
  const cnnf = m.checkpoints.some((c) => c.cycles !== undefined && c.ind !== undefined);
  const ckptRows = m.checkpoints
    .map(
      (c) =>
        `<tr><td class="text">${swatch(names, c.name)}${escapeHtml(c.name)}</td><td class="text">${escapeHtml(c.family)}</td>` +
        (cnnf ? `<td class="num">${escapeHtml(c.ind !== undefined ? c.cycles : '—')}</td><td class="num">${escapeHtml(c.ind ?? '—')}</td>` : '') +
        `<td class="text">${escapeHtml(c.inputShape ? c.inputShape.join('×') : '28×28×1')}</td>` +
        `<td class="text">${escapeHtml(c.output)}${c.scores === 'log-probabilities' ? ' (log-probabilities of a softmax head)' : ''}</td><td class="text"><code>${escapeHtml(c.dir)}</code></td>` +
        `<td class="text"><code title="${escapeHtml(c.weightsSha256)}">${escapeHtml(String(c.weightsSha256).slice(0, 12))}…</code></td></tr>`,
    )
    .join('');
  const d = m.dataset;
  const datasetText =
    `${d.name} (${d.split}, ${d.source})` +
    (d.numClasses !== undefined ? `, ${d.numClasses} classes` : '') +
    (d.shape ? `, images ${d.shape.slice(1).join('×')}` : '') +
    (d.labels === 'model' ? ", labels: each model's clean predictions" : '');
  return (
    '<div class="meta-grid"><div><h3>Run</h3>' +
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
      ['machine', `${m.machine.platform}/${m.machine.arch}, ${m.machine.cpus} × ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB`],
      ['host', m.machine.hostname],
    ]) +
    '</div><div><h3>Timings</h3>' +
    dl([
      ['compute time (sum over cells)', seconds(total)],
      ...byKind.map((s, i) => [i === 0 ? 'by kind' : '', s] as [string, unknown]),
      ['slowest cell', slowest ? `${slowest.id} (${seconds(slowest.timings.seconds)})` : '—'],
    ]) +
    '</div></div>' +
    `<h3>Models</h3><div class="table-wrap"><table class="results"><thead><tr><th class="text">name</th><th class="text">family</th>` +
    (cnnf ? `<th class="num">cycles</th><th class="num">ind</th>` : '') +
    `<th class="text">input</th><th class="text">output</th><th class="text">path</th><th class="text">weights sha256</th></tr></thead><tbody>${ckptRows}</tbody></table></div>` +
    planNotes(run) +
    `<details><summary>Full config (as run)</summary><pre>${escapeHtml(JSON.stringify(m.config, null, 2))}</pre></details>`
  );
}

const CSS = `
:root { --ink:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --warn:#9a6700; --warn-bg:#fff8c5; --pass:#1a7f37; --pass-bg:#dafbe1; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif; }
main { max-width:1240px; margin:0 auto; padding:28px 32px 60px; background:#fff; min-height:100vh; box-shadow:0 0 0 1px var(--line); }
h1 { font-size:26px; margin:0 0 4px; }
h2 { font-size:19px; margin:36px 0 10px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:22px 0 6px; }
.subtitle, .muted { color:var(--muted); }
.subtitle { margin:0 0 16px; }
nav { margin:6px 0 18px; font-size:13px; }
nav a { color:#0969da; text-decoration:none; margin-right:14px; }
a { color:#0969da; }
.verdicts { list-style:none; padding:0; margin:14px 0; }
.verdicts li { padding:8px 12px; margin:6px 0; border:1px solid var(--line); border-radius:6px; background:#fbfcfd; }
.ckpt { font-weight:600; margin-right:6px; }
.swatch { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:6px; vertical-align:-1px; }
.banner { padding:10px 14px; border-radius:6px; margin:10px 0; border-left:5px solid; }
.banner.warn { background:var(--warn-bg); border-color:#d4a72c; }
.banner.info { background:#ddf4ff; border-color:#54aeff; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.badge.pass { background:var(--pass-bg); color:var(--pass); }
.badge.warn { background:var(--warn-bg); color:var(--warn); border:1px solid #d4a72c; }
.badge.skip { background:#eaeef2; color:var(--muted); }
#sanity-panel { border:2px solid var(--line); border-radius:8px; padding:4px 16px 12px; }
#sanity-panel.has-warn { border-color:#d4a72c; }
.sanity-counts .muted { margin-left:8px; }
tr.row-warn td { background:#fffbe6; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; font-size:13px; margin:6px 0 10px; }
th, td { padding:5px 10px; border-bottom:1px solid #eaeef2; vertical-align:top; }
th.group { text-align:center; border-bottom:1px solid var(--line); color:var(--muted); font-weight:600; }
th { background:#f6f8fa; font-weight:600; border-bottom:1px solid var(--line); white-space:nowrap; position:sticky; top:0; }
td.num, th.num { text-align:right; white-space:nowrap; font-variant-numeric:tabular-nums; }
td.text, th.text { text-align:left; }
table.results tbody tr:nth-child(even) td { background:#fafbfc; }
tr.emph td { font-weight:700; background:#fff8e1 !important; border-top:1px solid #e6c86e; }
.acc { font-variant-numeric:tabular-nums; }
.ci { color:var(--muted); font-size:11px; font-weight:normal; }
table.sanity td.nums code { font-size:11px; margin-right:4px; }
.chart-figure { margin:16px 0 28px; }
.chart { overflow-x:auto; min-height:60px; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; max-width:900px; }
.images { display:flex; flex-wrap:wrap; gap:16px; }
.images figure { margin:0; max-width:100%; flex:1 1 100%; }
.images figcaption { max-width:none; }
.images figcaption p.caption { max-width:900px; margin:0; }
table.tile-labels { font-size:12px; margin:6px 0 0; }
table.tile-labels th, table.tile-labels td { padding:2px 8px; white-space:nowrap; }
table.tile-labels td.marked { color:#b35900; font-weight:600; }
.grid-axes { margin:4px 0 0; }
.images img { image-rendering:pixelated; max-width:100%; height:auto; border:1px solid var(--line); }
.meta-grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:8px 28px; }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:0; font-size:13px; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; word-break:break-word; }
pre { background:#f6f8fa; padding:12px; border-radius:6px; overflow:auto; font-size:12px; max-height:480px; }
details summary { cursor:pointer; color:#0969da; margin:8px 0; }
footer { margin-top:40px; font-size:12px; color:var(--muted); }
`;

/** Runs in the page: embeds every chart, then marks the body so tests (and people) know rendering finished. */
const BOOTSTRAP = `
(function () {
  var specs = JSON.parse(document.getElementById('chart-specs').textContent);
  var jobs = Object.keys(specs).map(function (id) {
    return vegaEmbed('#chart-' + id, specs[id], {
      renderer: 'svg',
      actions: { export: true, source: false, compiled: false, editor: false },
    });
  });
  Promise.all(jobs).then(
    function () { document.body.setAttribute('data-charts', 'rendered'); },
    function (err) { document.body.setAttribute('data-charts', 'failed'); console.error('chart rendering failed: ' + err); }
  );
})();
`;

export function renderHtml(input: ReportInput): string {
  const { run, tables, charts, images, scripts } = input;
  const names = checkpointNames(run);
  const rows = summaryRows(run, input.baseline);
  const title = `Robustness report: ${runTitle(run)}`;
  // An L2-only run has only an L2 headline chart.
  const headline = charts.find((c) => c.id === 'headline') ?? charts.find((c) => c.id.startsWith('headline-'));
  const others = charts.filter((c) => c !== headline);
  const summary = tables.find((t) => t.id === 'summary');
  const detail = tables.filter((t) => t.id !== 'summary' && t.id !== 'cells');
  const cells = tables.find((t) => t.id === 'cells');
  const m = run.manifest;
  const hasWarn = run.sanity.some((c) => c.status === 'warn');
  const specs: Record<string, unknown> = Object.fromEntries(charts.map((c) => [c.id, c.spec]));
  const nav: [string, string][] = [
    ['headline', 'Headline'],
    ['sanity', 'Sanity checks'],
    ['summary', 'Summary'],
    ['charts', 'Charts'],
    ['tables', 'Tables'],
    ...(images.length ? ([['images', 'Images']] as [string, string][]) : []),
    ['metadata', 'Run metadata'],
  ];
  const sections = [
    headline ? `<section id="headline"><h2>Headline</h2>${chartFigure(headline)}</section>` : '',
    `<section id="sanity"><h2>Sanity checks</h2><div id="sanity-panel" class="${hasWarn ? 'has-warn' : ''}">${sanityPanel(run)}</div></section>`,
    summary ? `<section id="summary">${tableHtml(summary, names, 'h2')}</section>` : '',
    others.length ? `<section id="charts"><h2>Charts</h2>${others.map(chartFigure).join('')}</section>` : '',
    `<section id="tables"><h2>Tables</h2>${detail.map((t) => tableHtml(t, names)).join('')}` +
      (cells ? `<details><summary>All ${cells.rows.length} cells</summary>${tableHtml(cells, names)}</details>` : '') +
      '<p class="muted">CSV and Markdown versions are in the run directory under tables/.</p></section>',
    images.length ? `<section id="images"><h2>Images</h2>${imagePanels(images)}</section>` : '',
    `<section id="metadata"><h2>Run metadata</h2>${metadata(run)}</section>`,
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="subtitle">${escapeHtml(m.suite)} suite · ${escapeHtml(m.dataset.name)} ${escapeHtml(m.dataset.split)} · ${m.sampleIndices.length} images · seed ${escapeHtml(m.seed)} · ${escapeHtml(m.backend.name)} backend · ${escapeHtml(m.createdAt)}</p>
<nav>${nav.map(([id, label]) => `<a href="#${id}">${label}</a>`).join('')}</nav>
</header>
${verdicts(run, rows)}
${banners(run, rows)}
${sections.join('\n')}
<footer>Generated by bench ${escapeHtml(m.versions.bench)} from the records in ${escapeHtml(run.dir)}. Accuracies are percentages of the evaluated images; intervals are 95% Wilson score intervals.</footer>
</main>
<noscript><p>The charts need JavaScript; static SVGs are in the run directory under charts/.</p></noscript>
<script type="application/json" id="chart-specs">${jsonForScript(specs)}</script>
<script>${inlineScript(scripts.vega)}</script>
<script>${inlineScript(scripts.vegaLite)}</script>
<script>${inlineScript(scripts.vegaEmbed)}</script>
<script>${BOOTSTRAP}</script>
</body>
</html>
`;
}
