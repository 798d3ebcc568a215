/**
 * The self-contained HTML report: one file with vega, vega-lite and vega-embed inlined, the chart specs as
 * escaped JSON, images as data: URIs and no external reference, so it opens from file:// and makes no
 * network request. Every string that comes from a config, a checkpoint or a file name is HTML-escaped.
 * The page is assembled from the section registry (sections/index.ts): each section says when it applies.
 */
import { basename } from 'node:path';
import { checkpointNames, summaryRows } from '../suite/summary.js';
import { type RunData } from '../rundir/read.js';
import type { Chart } from './charts.js';
import { escapeHtml, jsonForScript } from './format.js';
import { REPORT_SECTIONS, type ReportContext, type ReportImage, type ReportSection } from './sections/index.js';
import type { Table } from './tables.js';

export type { ReportImage } from './sections/index.js';

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
  /** The sections to draw, in order (default REPORT_SECTIONS). */
  sections?: readonly ReportSection[];
}

/** An inline script body must not contain `</script` (it would end the element); in JS source `<\/` reads the same. */
export function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function runTitle(run: RunData): string {
  const name = run.manifest.config.name;
  return typeof name === 'string' && name ? name : basename(run.dir);
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

/**
 * The report page of a run: header, the `top` sections (verdicts, notices), then every `body` section
 * that applies, with a navigation bar listing those; the vega libraries and chart specs inlined.
 */
export function renderHtml(input: ReportInput): string {
  const { run, tables, charts, images, scripts } = input;
  const report: ReportContext = {
    run,
    names: checkpointNames(run),
    rows: summaryRows(run, input.baseline),
    tables,
    charts,
    images,
    ...(input.baseline !== undefined ? { baseline: input.baseline } : {}),
  };
  const active = (input.sections ?? REPORT_SECTIONS).filter((s) => s.applies(report));
  const top = active.filter((s) => s.placement === 'top');
  const body = active.filter((s) => s.placement !== 'top');
  const title = `Robustness report: ${runTitle(run)}`;
  const m = run.manifest;
  const specs: Record<string, unknown> = Object.fromEntries(charts.map((c) => [c.id, c.spec]));
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
<nav>${body.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('')}</nav>
</header>
${[...top, ...body].map((s) => s.render(report)).join('\n')}
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
