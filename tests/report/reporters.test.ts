import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseReporters, runReporters } from '../../src/report/reporters/index.js';
import { terminalText } from '../../src/report/reporters/terminal.js';
import { githubSummaryReporter } from '../../src/report/reporters/githubSummary.js';
import { corruptionSummary } from '../../src/suite/summary.js';
import { readRun } from '../../src/rundir/read.js';
import { adversarialTable, corruptionTable, mceSummary } from '../../src/suite/table.js';
import { formatSanity } from '../../src/suite/sanity.js';
import type { SuiteCellResult } from '../../src/rundir/records.js';
import { writeMceEdgeRun, writeMixedNormRun, writeSyntheticRun } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'bench-reporters-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('parseReporters', () => {
  it('takes names in their order, each once', () => {
    expect(parseReporters('html,terminal,html', {}).map((r) => r.name)).toEqual(['html', 'terminal']);
  });

  it('refuses an unknown name in one line listing the reporters, and github-summary with no file to write', () => {
    expect(() => parseReporters('terminal,pdf', {})).toThrow('--reporter: unknown reporter "pdf" (allowed: terminal, html, tables, github-summary)');
    expect(() => parseReporters('github-summary', { env: {} })).toThrow(
      '--reporter github-summary: no file to write the summary to (allowed: --summary FILE, or the GITHUB_STEP_SUMMARY environment variable (set by GitHub Actions))',
    );
    expect(parseReporters('github-summary', { env: { GITHUB_STEP_SUMMARY: '/tmp/x.md' } })).toHaveLength(1);
    expect(parseReporters('github-summary', { env: {}, summaryFile: 'x.md' })).toHaveLength(1);
  });
});

describe('terminal reporter', () => {
  it('an adversarial run: the ε table, the plan notes, the sanity checks (warnings first), the run directory', async () => {
    const dir = join(root, 'adv');
    writeSyntheticRun(dir, { samples: 40 });
    const manifest = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...manifest, notes: ['cnn-fmnist has no feedback: e2e copies first'] }));
    const run = await readRun(dir);
    expect(terminalText(run)).toBe(
      `\n${adversarialTable(run.cells as SuiteCellResult[])}\nnote: cnn-fmnist has no feedback: e2e copies first\n\n${formatSanity(run.sanity)}\n\nrun directory: ${dir}\n`,
    );
    expect(terminalText(run)).toContain('Sanity checks: 1 WARNING (see below)');
  });

  it('a corruption run: the corruption table and mCE with its notes', async () => {
    const dir = join(root, 'corr');
    writeMceEdgeRun(dir);
    const run = await readRun(dir);
    const text = terminalText(run);
    expect(text).toBe(`\n${corruptionTable(run.cells as SuiteCellResult[])}\n\n${mceSummary(corruptionSummary(run))}\n\nrun directory: ${dir}\n`);
    expect(text).toContain('left out of relative mCE: contrast');
  });

  it('mCE is against --baseline, as the tables are; an unknown baseline is refused before any reporter runs', async () => {
    const dir = join(root, 'corr-baseline');
    writeMceEdgeRun(dir);
    const run = await readRun(dir);
    let printed = '';
    await runReporters(run, parseReporters('terminal', {}), { baseline: 'other-net', print: (s) => (printed += s) });
    expect(printed).toContain('mCE and relative mCE against other-net');
    expect(printed).toContain(mceSummary(corruptionSummary(run, 'other-net')));
    expect(printed).not.toContain('against base-net');
    printed = '';
    await expect(runReporters(run, parseReporters('terminal', {}), { baseline: 'nope', print: (s) => (printed += s) }, { keepGoing: true })).rejects.toThrow(
      '--baseline: no checkpoint "nope" in this run (allowed: base-net, other-net)',
    );
    expect(printed).toBe('');
  });

  it('prints through the print option', async () => {
    const dir = join(root, 'mixed');
    writeMixedNormRun(dir);
    let printed = '';
    const out = await runReporters(await readRun(dir), parseReporters('terminal', {}), { print: (s) => (printed += s) });
    expect(out).toEqual([{ reporter: 'terminal', files: [] }]);
    expect(printed).toContain('L2 3');
  });
});

describe('github-summary reporter', () => {
  const HOSTILE = 'net<img src=x onerror=alert(1)>|*x*';
  const dir = join(root, 'gh');
  const { cells } = writeSyntheticRun(dir, { samples: 50, cnnf: HOSTILE });

  it('the baseline\'s verdict reads "mCE 100% (baseline)", without an interval; another checkpoint keeps its interval', async () => {
    const corr = join(root, 'gh-mce');
    writeMceEdgeRun(corr);
    const file = join(root, 'gh-mce-out', 'summary.md');
    await githubSummaryReporter.write(await readRun(corr), { env: { GITHUB_STEP_SUMMARY: file } });
    const lines = readFileSync(file, 'utf8').split('\n');
    const base = lines.find((l) => l.startsWith('- **base-net**'))!;
    expect(base).toContain(', mCE 100% (baseline)');
    expect(base).not.toContain('95% CI');
    expect(lines.find((l) => l.startsWith('- **other-net**'))).toMatch(/, mCE 248\.0% \(95% CI \d+\.\d–\d+\.\d%\)/);
  });

  it('appends the headline table and one verdict per checkpoint to $GITHUB_STEP_SUMMARY, names escaped', async () => {
    const file = join(root, 'gh-out', 'summary.md');
    const run = await readRun(dir);
    const [written] = await githubSummaryReporter.write(run, { env: { GITHUB_STEP_SUMMARY: file } });
    expect(written).toBe(resolve(file));
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('## Robustness: fixture\n')).toBe(true);
    expect(text).toContain('| checkpoint | clean |');
    // Clean accuracy of the CNN from its cell: correct / samples.
    const clean = cells.find((c) => c.id === 'cnn-fmnist|clean')!;
    expect(text).toContain(`- **cnn-fmnist**: clean **${((100 * clean.correct) / clean.samples).toFixed(1)}%** · worst-case robust **`);
    expect(text).toMatch(/points vs cnn-fmnist\) · corruptions \*\*\d+\.\d%\*\* mean/);
    // The hostile name is text: no HTML, no table break, no emphasis.
    expect(text).not.toContain('<img');
    expect(text).toContain('- **net&lt;img src=x onerror=alert(1)&gt;\\|\\*x\\***: ');
    expect(text).toContain('> [!WARNING]\n> 1 sanity check warns: robust accuracy may be overestimated (possible gradient masking).');
    // A second step appends: GitHub shows both.
    await githubSummaryReporter.write(run, { summaryFile: file, env: {} });
    expect(readFileSync(file, 'utf8')).toBe(text + text);
  });
});

describe('the executor renders nothing', () => {
  /** Relative imports of a source file, resolved to .ts paths. */
  function importsOf(file: string): string[] {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => resolve(dirname(file), m[1]).replace(/\.js$/, '.ts'));
  }

  it('no module src/suite/runner.ts imports, directly or not, is a report module (png.ts, the PNG encoder of images/, aside)', () => {
    const start = join(ROOT, 'src', 'suite', 'runner.ts');
    const seen = new Set<string>([start]);
    const queue = [start];
    while (queue.length > 0) for (const f of importsOf(queue.pop()!)) if (!seen.has(f)) (seen.add(f), queue.push(f));
    // The runner writes the run's example images (images/*.png) with the report's PNG encoder.
    expect([...seen].filter((f) => f.includes(`${join('src', 'report')}/`))).toEqual([join(ROOT, 'src', 'report', 'png.ts')]);
    expect(readFileSync(start, 'utf8')).not.toMatch(/report\/index/);
  });
});
