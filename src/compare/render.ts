/**
 * Outputs of a comparison: Markdown for people (terminal, $GITHUB_STEP_SUMMARY, a PR comment), JSON with
 * every row for machines, JUnit XML for CI test reporters (one testcase per gated row).
 */
import type { Comparison, ComparisonRow } from './compareRuns.js';

/** Rows beyond this go in a collapsed <details> block, so a PR comment stays readable. */
const COLLAPSE_AFTER = 40;

export function formatPercent(accuracy: number): string {
  return `${(100 * accuracy).toFixed(1)}%`;
}

export function formatDelta(deltaPoints: number): string {
  const rounded = Number(deltaPoints.toFixed(2));
  return `${rounded > 0 ? '+' : ''}${rounded === 0 ? '0.00' : rounded.toFixed(2)}`;
}

export function formatP(p: number): string {
  if (p >= 0.001) return Number(p.toPrecision(2)).toString();
  return p === 0 ? '<1e-300' : p.toExponential(1);
}

const mdCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function checkpointLabel(row: ComparisonRow): string {
  return row.baseline.checkpoint === row.candidate.checkpoint ? row.candidate.checkpoint : `${row.baseline.checkpoint} → ${row.candidate.checkpoint}`;
}

function testName(row: ComparisonRow): string {
  return row.test.method === 'mcnemar-exact' ? 'McNemar' : 'sign-flip';
}

function table(rows: ComparisonRow[], withGate: boolean): string {
  const head = [...(withGate ? ['gate'] : []), 'checkpoint', 'row', 'baseline', 'candidate', 'Δ points', 'b / c', 'p'];
  const align = [...(withGate ? [':--'] : []), ':--', ':--', '--:', '--:', '--:', '--:', '--:'];
  const lines = [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const r of rows) {
    const cells = [
      ...(withGate ? [r.failed ? '**FAIL**' : 'ok'] : []),
      checkpointLabel(r),
      r.label,
      formatPercent(r.baseline.accuracy),
      formatPercent(r.candidate.accuracy),
      formatDelta(r.deltaPoints),
      `${r.test.b} / ${r.test.c}`,
      formatP(r.test.pValue),
    ];
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderMarkdown(cmp: Comparison): string {
  const gated = cmp.rows.length;
  const failing = cmp.rows.filter((r) => r.failed);
  const out: string[] = [];
  out.push(
    cmp.verdict === 'REGRESSION'
      ? `## REGRESSION: ${failing.length} of ${gated} gated rows fail`
      : `## PASS: no regression in ${gated} gated rows`,
  );
  out.push('');
  out.push(
    `Candidate \`${cmp.candidate.dir}\` against baseline \`${cmp.baseline.dir}\`: ${cmp.suite} suite, ${cmp.samples} samples, seed ${cmp.seed}. ` +
      `A row fails when the candidate is lower by more than ${cmp.gates.maxDrop} points and the paired test gives p < ${cmp.gates.alpha} ` +
      `(${cmp.rows.some((r) => r.scope === 'mean-corruption') ? 'exact McNemar per cell and worst case, exact sign-flip for the mean corruption accuracy' : 'exact McNemar'}). ` +
      `b / c = samples where the baseline / the candidate does better.`,
  );
  out.push('');
  if (failing.length > 0) {
    out.push('### Failing rows', '', table(failing, false), '');
  }
  const all = table(cmp.rows, true);
  if (cmp.rows.length > COLLAPSE_AFTER) out.push(`<details><summary>All ${cmp.rows.length} rows</summary>`, '', all, '', '</details>', '');
  else out.push('### All rows', '', all, '');
  if (cmp.notes.length > 0) {
    out.push('### Notes', '');
    for (const n of cmp.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

export function renderJson(cmp: Comparison): string {
  return `${JSON.stringify(cmp, null, 2)}\n`;
}

/** Escapes text for XML 1.0 content and attributes, dropping characters XML 1.0 cannot carry at all. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function rowSentence(r: ComparisonRow, cmp: Comparison): string {
  return (
    `${checkpointLabel(r)} ${r.label}: candidate ${formatPercent(r.candidate.accuracy)} vs baseline ${formatPercent(r.baseline.accuracy)} ` +
    `(${formatDelta(r.deltaPoints)} points; ${testName(r)} p = ${formatP(r.test.pValue)}, b = ${r.test.b}, c = ${r.test.c}; ` +
    `gate: drop > ${cmp.gates.maxDrop} points and p < ${cmp.gates.alpha})`
  );
}

/** JUnit XML: one testsuite, one testcase per gated row, a <failure> for each failing row. */
export function renderJunit(cmp: Comparison): string {
  const a = (s: string) => `"${xmlEscape(s)}"`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="bench compare" tests="${cmp.rows.length}" failures="${cmp.failures}" errors="0">`,
    `  <testsuite name=${a(`robustness: ${cmp.candidate.dir} vs ${cmp.baseline.dir}`)} tests="${cmp.rows.length}" failures="${cmp.failures}" errors="0" skipped="0">`,
  ];
  for (const r of cmp.rows) {
    const open = `    <testcase classname=${a(`bench.compare.${r.scope}`)} name=${a(`${checkpointLabel(r)}: ${r.label}`)} time="0"`;
    if (!r.failed) {
      lines.push(`${open}/>`);
      continue;
    }
    const sentence = rowSentence(r, cmp);
    lines.push(`${open}>`, `      <failure type="regression" message=${a(sentence)}>${xmlEscape(`${r.id}\n${sentence}`)}</failure>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
