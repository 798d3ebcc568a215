/** Markup shared by the report's sections: checkpoint swatches, result tables, chart figures, definition lists. */
import type { Chart } from '../charts.js';
import { checkpointColour, escapeHtml, pct, pctOrInfinity } from '../format.js';
import { displayValue, isEstimate, isRatioInterval, type Table, type TableValue } from '../tables.js';

/** A small square in the checkpoint's colour (the charts use the same colours). */
export function swatch(names: string[], name: string): string {
  return `<span class="swatch" style="background:${checkpointColour(names, name)}"></span>`;
}

function tableCell(v: TableValue, kind: Table['columns'][number]['kind'], names: string[], header: string): string {
  if (isEstimate(v))
    return `<td class="num"><span class="acc">${pct(v.accuracy)}</span> <span class="ci">${pct(v.ci95[0])}–${pct(v.ci95[1])}</span></td>`;
  if (isRatioInterval(v) && v.baseline) return `<td class="num"><span class="acc">${escapeHtml(displayValue(v, kind))}</span></td>`;
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

/** A result table (tables.ts) with its title and note; accuracies show their 95% interval. */
export function tableHtml(table: Table, names: string[], heading: 'h2' | 'h3' = 'h3'): string {
  const body = table.rows
    .map((r) => `<tr${r.emphasis ? ' class="emph"' : ''}>${r.values.map((v, i) => tableCell(v, table.columns[i].kind, names, table.columns[i].header)).join('')}</tr>`)
    .join('');
  return (
    `<div class="table-block" id="table-${escapeHtml(table.id)}"><${heading}>${escapeHtml(table.title)}</${heading}><p class="muted">${escapeHtml(table.note)}</p>` +
    `<div class="table-wrap"><table class="results"><thead>${tableHead(table)}</thead><tbody>${body}</tbody></table></div></div>`
  );
}

/** The placeholder a chart is embedded into in the browser (html.ts's bootstrap), with its caption. */
export function chartFigure(chart: Chart): string {
  return (
    `<figure class="chart-figure"><div class="chart" id="chart-${escapeHtml(chart.id)}" data-chart="${escapeHtml(chart.id)}"></div>` +
    `<figcaption>${escapeHtml(chart.caption)} <span class="muted">(spec: charts/${escapeHtml(chart.id)}.vl.json, static: charts/${escapeHtml(chart.id)}.svg)</span></figcaption></figure>`
  );
}

/** A definition list of label/value pairs, both escaped. */
export function dl(entries: [string, unknown][]): string {
  return `<dl class="meta">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

/** A duration in seconds as "12.3 s", "4.5 min" or "1.25 h". */
export function seconds(s: number): string {
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

/** The headline chart: the L-inf one, else the first other norm's (an L2-only run has only an L2 headline). */
export function headlineOf(charts: Chart[]): Chart | undefined {
  return charts.find((c) => c.id === 'headline') ?? charts.find((c) => c.id.startsWith('headline-'));
}
