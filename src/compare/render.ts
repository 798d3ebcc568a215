/**
 * Outputs of a comparison: Markdown for people (terminal, $GITHUB_STEP_SUMMARY, a PR comment), JSON with
 * every row for machines, JUnit XML for CI test reporters (one testcase per gated row).
 */
import { exitCodeOf, type Comparison, type ComparisonRow } from './compareRuns.js';
import { minDiscordant, samplesNeeded } from './power.js';

/** Rows beyond this go in a collapsed <details> block, so a PR comment stays readable. */
const COLLAPSE_AFTER = 40;

export function formatPercent(accuracy: number): string {
  return `${(100 * accuracy).toFixed(1)}%`;
}

export function formatDelta(deltaPoints: number): string {
  const rounded = Number(deltaPoints.toFixed(2));
  return `${rounded > 0 ? '+' : ''}${rounded === 0 ? '0.00' : rounded.toFixed(2)}`;
}

/** A number of accuracy points, to at most 2 decimals. */
export function formatPoints(points: number): string {
  return String(Number(points.toFixed(2)));
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

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
  const head = [...(withGate ? ['gate'] : []), 'checkpoint', 'row', 'baseline', 'candidate', 'Δ points', 'b / c', 'p', 'detectable drop'];
  const align = [...(withGate ? [':--'] : []), ':--', ':--', '--:', '--:', '--:', '--:', '--:', '--:'];
  const lines = [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const r of rows) {
    const cells = [
      ...(withGate ? [r.status === 'fail' ? '**FAIL**' : r.status === 'inconclusive' ? '*inconclusive*' : 'ok'] : []),
      checkpointLabel(r),
      r.label,
      formatPercent(r.baseline.accuracy),
      formatPercent(r.candidate.accuracy),
      formatDelta(r.deltaPoints),
      `${r.test.b} / ${r.test.c}`,
      formatP(r.test.pValue),
      r.detectableDrop === null ? 'none' : formatPoints(r.detectableDrop),
    ];
    lines.push(`| ${cells.map(mdCell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Why an INCONCLUSIVE comparison cannot decide, and what would let it (power.ts has the reasoning). */
function inconclusiveParagraph(cmp: Comparison): string {
  const rows = cmp.rows.filter((r) => r.status === 'inconclusive');
  const { maxDrop, alpha } = cmp.gates;
  const k = minDiscordant(alpha);
  const drops = rows.map((r) => r.detectableDrop);
  const finite = drops.filter((d): d is number => d !== null);
  const range =
    finite.length === 0
      ? 'no drop at all'
      : Math.min(...finite) === Math.max(...finite)
        ? `${formatPoints(finite[0])} points`
        : `${formatPoints(Math.min(...finite))} to ${formatPoints(Math.max(...finite))} points`;
  const none = drops.length - finite.length;
  const needed = samplesNeeded(maxDrop, alpha);
  const raise = rows.map((r) => r.conclusiveMaxDrop);
  const raiseTo = raise.some((x) => x === null) ? null : Math.max(...(raise as number[]));
  return (
    `No row fails, but ${plural(rows.length, 'row')} cannot detect a drop of more than ${maxDrop} points at alpha ${alpha}: ` +
    `the exact test reaches p < ${alpha} only when at least ${k} samples change, all one way, so the smallest detectable drop ` +
    `on these rows is ${range}${none > 0 && finite.length > 0 ? ` (${plural(none, 'row')} of fewer than ${k} samples can detect none)` : ''}. ` +
    (needed === null
      ? `With --max-drop ${maxDrop} no sample size suffices (a one-sample drop is never significant). `
      : `Detecting a drop of more than ${maxDrop} points needs at least ${needed} images in every row. `) +
    (raiseTo === null
      ? `Rows of fewer than ${k} images are inconclusive at any --max-drop. `
      : `On these samples the gate is conclusive with --max-drop ${formatPoints(raiseTo)} or more. `) +
    (cmp.gates.allowInconclusive
      ? 'Passed with --allow-inconclusive (exit 0).'
      : `Exit code 4 (\`--allow-inconclusive\` exits 0).`)
  );
}

function heading(cmp: Comparison): string {
  const gated = cmp.rows.length;
  switch (cmp.verdict) {
    case 'REGRESSION':
      return `## REGRESSION: ${cmp.failures} of ${gated} gated rows fail`;
    case 'INCONCLUSIVE':
      return `## INCONCLUSIVE: ${cmp.inconclusive} of ${gated} gated rows cannot detect a drop of more than ${cmp.gates.maxDrop} points at alpha ${cmp.gates.alpha}`;
    case 'PASS':
      return `## PASS: no regression in ${gated} gated rows`;
  }
}

/**
 * The verdict as one plain line with the exit code it gives, e.g. `INCONCLUSIVE: 38 of 38 gated rows cannot
 * detect a drop of more than 1 points at alpha 0.05 (exit 4)`: what `bench compare --quiet` prints, so a CI
 * log says why the step failed.
 */
export function verdictLine(cmp: Comparison, exitCode: number): string {
  return `${heading(cmp).replace(/^#+\s*/, '')} (exit ${exitCode})`;
}

export function renderMarkdown(cmp: Comparison): string {
  const failing = cmp.rows.filter((r) => r.failed);
  const out: string[] = [];
  out.push(heading(cmp));
  out.push('');
  out.push(
    `Candidate \`${cmp.candidate.dir}\` against baseline \`${cmp.baseline.dir}\`: ${cmp.suite} suite, ${cmp.samples} samples, seed ${cmp.seed}. ` +
      `A row fails when the candidate is lower by more than ${cmp.gates.maxDrop} points and the paired test gives p < ${cmp.gates.alpha} ` +
      `(${cmp.rows.some((r) => r.scope === 'mean-corruption') ? 'exact McNemar per cell and worst case, exact sign-flip for the mean corruption accuracy' : 'exact McNemar'}); ` +
      `it is inconclusive when its sample cannot detect such a drop even with every changed sample going one way. ` +
      `b / c = samples where the baseline / the candidate does better; detectable drop = the smallest drop (points) that can reach p < ${cmp.gates.alpha} on the row's sample.`,
  );
  out.push('');
  if (cmp.verdict === 'INCONCLUSIVE') out.push(inconclusiveParagraph(cmp), '');
  else if (cmp.inconclusive > 0)
    out.push(`${plural(cmp.inconclusive, 'further row')} cannot detect a drop of more than ${cmp.gates.maxDrop} points on ${cmp.inconclusive === 1 ? 'its' : 'their'} sample (marked *inconclusive*).`, '');
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
  const detectable =
    r.status === 'inconclusive'
      ? `; inconclusive: the smallest detectable drop on this sample is ${r.detectableDrop === null ? 'none (too few samples)' : `${formatPoints(r.detectableDrop)} points`}`
      : '';
  return (
    `${checkpointLabel(r)} ${r.label}: candidate ${formatPercent(r.candidate.accuracy)} vs baseline ${formatPercent(r.baseline.accuracy)} ` +
    `(${formatDelta(r.deltaPoints)} points; ${testName(r)} p = ${formatP(r.test.pValue)}, b = ${r.test.b}, c = ${r.test.c}; ` +
    `gate: drop > ${cmp.gates.maxDrop} points and p < ${cmp.gates.alpha}${detectable})`
  );
}

/**
 * JUnit XML: one testsuite, one testcase per gated row, a <failure type="regression"> for each failing
 * row. An inconclusive row fails like the exit code does: <failure type="inconclusive">, or <skipped>
 * when inconclusive verdicts are allowed (--allow-inconclusive).
 */
export function renderJunit(cmp: Comparison): string {
  const a = (s: string) => `"${xmlEscape(s)}"`;
  const allowed = exitCodeOf('INCONCLUSIVE', cmp.gates) === 0;
  const failures = cmp.failures + (allowed ? 0 : cmp.inconclusive);
  const skipped = allowed ? cmp.inconclusive : 0;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="bench compare" tests="${cmp.rows.length}" failures="${failures}" errors="0" skipped="${skipped}">`,
    `  <testsuite name=${a(`robustness: ${cmp.candidate.dir} vs ${cmp.baseline.dir}`)} tests="${cmp.rows.length}" failures="${failures}" errors="0" skipped="${skipped}">`,
  ];
  for (const r of cmp.rows) {
    const open = `    <testcase classname=${a(`bench.compare.${r.scope}`)} name=${a(`${checkpointLabel(r)}: ${r.label}`)} time="0"`;
    if (r.status === 'pass') {
      lines.push(`${open}/>`);
      continue;
    }
    const sentence = rowSentence(r, cmp);
    const body = xmlEscape(`${r.id}\n${sentence}`);
    if (r.status === 'fail') lines.push(`${open}>`, `      <failure type="regression" message=${a(sentence)}>${body}</failure>`, '    </testcase>');
    else if (allowed) lines.push(`${open}>`, `      <skipped message=${a(sentence)}/>`, '    </testcase>');
    else lines.push(`${open}>`, `      <failure type="inconclusive" message=${a(sentence)}>${body}</failure>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
