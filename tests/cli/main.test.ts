import { describe, expect, it } from 'vitest';
import { runBench as bench } from '../helpers/cli.js';

describe('bench --help', () => {
  it('lists --version at the top level only, not in each verb\'s help (where it still works)', { timeout: 120_000 }, async () => {
    const [top, run, merge, version] = await Promise.all([bench(['--help']), bench(['run', '--help']), bench(['merge', '--help']), bench(['run', '--version'])]);
    expect(top.stdout).toMatch(/--version\s+Show version number/);
    expect(run.stdout).toMatch(/--limit/);
    expect(run.stdout).not.toMatch(/--version/);
    expect(merge.stdout).toMatch(/--out/);
    expect(merge.stdout).not.toMatch(/--version/);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
