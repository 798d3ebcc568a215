import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeMceEdgeRun, writeSyntheticRun } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'bench-report-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function bench(...args: string[]) {
  const env = { ...process.env };
  delete env.GITHUB_STEP_SUMMARY;
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench report', () => {
  it('prints the report path; --out chooses it', () => {
    const dir = join(root, 'run');
    writeSyntheticRun(dir, { samples: 40 });
    const out = join(root, 'out', 'r.html');
    const r = bench('report', dir, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${out}\n`);
    expect(existsSync(out)).toBe(true);
    // --out means the report goes there: the run directory is not touched (no tables, charts or report.html).
    for (const f of ['report.html', 'tables', 'charts']) expect(existsSync(join(dir, f))).toBe(false);
    expect(bench('report', dir).code).toBe(0);
    expect(existsSync(join(dir, 'charts', 'headline.svg'))).toBe(true);
  });

  it.runIf(existsSync('/proc/self'))('--out under /proc: one line naming the folder and exit 3 instead of hanging', { timeout: 30_000 }, () => {
    const dir = join(root, 'run-proc');
    writeSyntheticRun(dir, { samples: 40 });
    const r = bench('report', dir, '--out', '/proc/bench-x/r.html');
    expect(r.stderr.trim()).toBe(
      'error: cannot create the report folder /proc/bench-x: /proc does not take new directories (ENOENT although it exists: a virtual file system such as /proc)',
    );
    expect(r.code).toBe(3);
  });

  it('an unknown --baseline exits 2 in one line whatever the reporter, before writing anything', () => {
    const dir = join(root, 'corr');
    writeMceEdgeRun(dir);
    for (const reporter of ['terminal', 'html,tables', 'tables,terminal']) {
      const r = bench('report', dir, '--reporter', reporter, '--baseline', 'nope');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('error: --baseline: no checkpoint "nope" in this run (allowed: base-net, other-net)\n');
      for (const f of ['report.html', 'tables', 'charts']) expect(existsSync(join(dir, f))).toBe(false);
    }
    const ok = bench('report', dir, '--reporter', 'terminal', '--baseline', 'other-net');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('mCE and relative mCE against other-net');
  });

  it('exits 2 with one line naming the file for a bad run directory', () => {
    const missing = bench('report', join(root, 'nothing-here'));
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual([`error: ${join(root, 'nothing-here')}: no such run directory`]);
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'run.json'), '{"format": "bench-run/1",');
    const corrupt = bench('report', bad);
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(1);
    expect(corrupt.stderr).toContain(`${join(bad, 'run.json')}: run manifest (run.json) is not valid JSON`);
  });

  it('--reporter picks the reporters: the terminal table and a step summary, and no HTML, tables or charts', () => {
    const dir = join(root, 'picked');
    writeSyntheticRun(dir, { samples: 30 });
    const summary = join(root, 'step-summary.md');
    const r = bench('report', dir, '--reporter', 'terminal,github-summary', '--summary', summary);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Robust accuracy (%) by ε');
    expect(r.stdout.endsWith(`run directory: ${dir}\n${summary}\n`)).toBe(true);
    expect(readFileSync(summary, 'utf8')).toContain('### Verdicts');
    for (const f of ['report.html', 'tables', 'charts']) expect(existsSync(join(dir, f))).toBe(false);
  });

  it('exits 2 with one line for an unknown reporter, and for github-summary with nowhere to write, before writing anything', () => {
    const dir = join(root, 'refused');
    writeSyntheticRun(dir, { samples: 30 });
    const unknown = bench('report', dir, '--reporter', 'html,pdf');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('error: --reporter: unknown reporter "pdf" (allowed: terminal, html, tables, github-summary)\n');
    const nowhere = bench('report', dir, '--reporter', 'html,github-summary');
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr.trim().split('\n')).toHaveLength(1);
    expect(nowhere.stderr).toContain('GITHUB_STEP_SUMMARY');
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  });
});
