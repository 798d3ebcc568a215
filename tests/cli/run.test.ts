import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runBench as bench } from '../helpers/cli.js';
import { afterAll, describe, expect, it } from 'vitest';
import { listAttacksText, listCheckpointsText, listCorruptionsText } from '../../src/cli/list.js';
import { fixtureCheckpoint } from '../suite/fixtures.js';
import { tf } from '../../src/engine/tf.js';
import { saveLayersModel } from '../models/families/tfjsModels.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-cli-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench run', () => {
  it('exits 2 with one line naming the file, field and allowed values for a bad config', async () => {
    const config = join(tmp, 'bad.json');
    writeFileSync(config, JSON.stringify({ suite: 'adversarial', checkpoints: ['x'], attacks: ['pgd'], epsilons: [0, 0.3, 7] }));
    const r = await bench(['run', '--config', config, '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: ${config}: epsilons[2]: invalid epsilon 7 for the L-inf attack pgd (attacks[0]) (allowed: finite numbers in [0, 1] (L-inf radius in [0,1] pixel units))`,
    ]);
    expect(r.stdout).toBe('');
  });

  it('exits 2 for a bad flag value, naming the flag', async () => {
    const r = await bench(['run', '--suite', 'corruption', '--severities', '1,9', '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: --severities: invalid severity 9 (allowed: integers 1..5)');
  });
});

describe('bench run: an output directory that cannot be made is one line naming it and the real reason (exit 3)', () => {
  const args = (out: string) => ['run', '--suite', 'adversarial', '--checkpoints', 'checkpoints/cnn-fmnist', '--attacks', 'fgsm', '--epsilons', '0', '--limit', '2', '--no-sanity', '--quiet', '--out', out];

  it('--out under a regular file: says that file is not a directory (not "cannot read the run lock: ENOTDIR")', async () => {
    const file = join(tmp, 'afile');
    writeFileSync(file, 'x\n');
    const r = await bench(args(join(file, 'run')));
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(`error: cannot create the run directory ${join(file, 'run')}: ${file} is not a directory`);
  });

  it.runIf(existsSync('/proc/self'))('--out /proc/x: refused in one line instead of hanging', { timeout: 60_000 }, async () => {
    const r = await bench(args('/proc/bench-x'));
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'error: cannot create the run directory /proc/bench-x: /proc does not take new directories (ENOENT although it exists: a virtual file system such as /proc)',
    );
  });

  // A read-only mount needs a private mount namespace (unshare -m, as root); skipped where that is not allowed.
  const canMount = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ro none ${tmp}`]).status === 0;
  it.runIf(canMount)('--out on a read-only file system: EROFS, not the ENOENT of recursive mkdir', { timeout: 60_000 }, async () => {
    const ro = join(tmp, 'ro');
    mkdirSync(ro);
    const out = join(ro, 'sub', 'run');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ro none ${ro} && exec "$0" "$@"`, join(ROOT, 'node_modules', '.bin', 'tsx'), join(ROOT, 'src', 'cli', 'main.ts'), ...args(out)], {
      cwd: ROOT,
      env: { ...process.env, BENCH_BACKEND: 'wasm' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe(`error: cannot create the run directory ${out}: ${ro} is on a read-only file system (EROFS)`);
  });
});

describe('bench run: messages name what the user typed (trial 21)', () => {
  it('--limit abc quotes "abc", not NaN', async () => {
    const r = await bench(['run', '--suite', 'adversarial', '--limit', 'abc', '--quiet']);
    expect([r.code, r.stderr.trim()]).toEqual([2, 'error: --limit: "abc" is not a number']);
  });

  it('--models with an --output the model lacks: names --output and the model, not "--checkpoints: 1"', async () => {
    const dir = join(tmp, 'tfjs-model');
    await tf.setBackend('cpu');
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
    m.add(tf.layers.dense({ units: 10 }));
    const file = await saveLayersModel(m, dir);
    const r = await bench(['run', '--suite', 'adversarial', '--models', file, '--output', 'last', '--attacks', 'fgsm', '--epsilons', '0', '--limit', '1', '--quiet', '--out', join(tmp, 'no-run')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('error: --output: model "tfjs-model" (tfjs-layers) has no output "last" (allowed: logits)');
    // A bad entry of --models is named by that flag.
    const bad = await bench(['run', '--suite', 'adversarial', '--models', `${file},${file}`, '--quiet']);
    expect(bad.stderr.trim()).toBe(`error: --models: ${JSON.stringify(file)} is listed twice (allowed: distinct models)`);
  });

  it('two models with one name: the config file is named; a config of the other suite: "for the adversarial suite"', async () => {
    const config = join(tmp, 'twins.json');
    writeFileSync(config, JSON.stringify({ suite: 'adversarial', checkpoints: [{ dir: 'checkpoints/cnn-fmnist', name: 'a' }, { dir: 'checkpoints/cnnf-fmnist', name: 'a' }], attacks: ['fgsm'], epsilons: [0], limit: 1 }));
    const r = await bench(['run', '--config', config, '--quiet', '--out', join(tmp, 'no-run')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^error: ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: checkpoints\\[1\\]: checkpoints/cnnf-fmnist and checkpoints/cnn-fmnist are both named "a"`));
    const s = await bench(['run', '--config', config, '--suite', 'corruption', '--quiet']);
    expect(s.stderr.trim()).toBe(`error: ${config}: suite: the config is for the adversarial suite but --suite says corruption (allowed: adversarial)`);
  });

  it('a missing dataset directory: one line naming the flag or config field and the directory, nothing written', async () => {
    const config = join(tmp, 'no-data.json');
    writeFileSync(config, JSON.stringify({ suite: 'adversarial', checkpoints: ['checkpoints/cnn-fmnist'], attacks: ['fgsm'], epsilons: [0.01], dataset: 'folder:absent' }));
    const out = join(tmp, 'no-data-run');
    const r = await bench(['run', '--config', config, '--quiet', '--out', out]);
    expect([r.code, r.stderr.trim().split('\n').at(-1)]).toEqual([2, `error: ${config}: dataset: ${join(tmp, 'absent')}: directory not found (dataset folder:absent)`]);
    const f = await bench(['run', '--suite', 'adversarial', '--dataset', `folder:${join(tmp, 'absent')}`, '--quiet', '--out', out]);
    expect([f.code, f.stderr.trim().split('\n').at(-1)]).toEqual([2, `error: --dataset: ${join(tmp, 'absent')}: directory not found (dataset folder:${join(tmp, 'absent')})`]);
    expect(existsSync(out)).toBe(false);
  });

  it('--resume lists every flag it accepts', async () => {
    const r = await bench(['run', '--resume', join(tmp, 'whatever'), '--limit', '3', '--quiet']);
    expect(r.stderr.trim()).toBe(
      'error: --limit: --resume continues a run with its own config (run.json) (allowed: --resume DIR with only --quiet, --backend, --workers, --reporter and --summary)',
    );
  });

  it('--offset near the end: a notice says fewer images than --limit asked for are run', { timeout: 120_000 }, async () => {
    const r = await bench(['run', '--suite', 'adversarial', '--checkpoints', 'checkpoints/cnn-fmnist', '--attacks', 'fgsm', '--epsilons', '0', '--offset', '9999', '--limit', '5', '--no-sanity', '--quiet', '--out', join(tmp, 'short')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('notice: --limit 5 asks for 5 images, but the test split has only 1 from offset 9999 (10000 images): the run uses 1\n');
  });
});

describe('bench run with an L2 attack (issue 13, item 7)', () => {
  it('runs PGD-L2 at eps 1.5 (an L2 radius, beyond L-inf\'s [0, 1]) and labels the radius L2', async () => {
    const out = join(tmp, 'l2-run');
    const r = await bench(['run', '--suite', 'adversarial', '--checkpoints', 'checkpoints/cnn-fmnist', '--attacks', 'pgd-l2', '--epsilons', '0,1.5', '--limit', '4', '--no-sanity', '--quiet', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    // The terminal table names the norm of each ε column.
    expect(r.stdout).toMatch(/L2 1\.5/);
    const cell = JSON.parse(readFileSync(join(out, 'cells', readdirSync(join(out, 'cells')).find((f) => f.includes('1.5'))!), 'utf8'));
    expect([cell.attack, cell.threatModel, cell.eps, cell.samples]).toEqual(['pgd-l2', 'l2', 1.5, 4]);
    expect(readFileSync(join(out, 'tables', 'accuracy-vs-eps.md'), 'utf8')).toContain('L2 ε=1.5');
  });
});

describe('bench run with a minimisation attack (fmn)', () => {
  it('writes one cell per eps from one run: one progress bar, the gradients of one run, PGD probes, the median distance column', { timeout: 300_000 }, async () => {
    const out = join(tmp, 'fmn-run');
    const config = join(tmp, 'fmn.json');
    writeFileSync(
      config,
      JSON.stringify({
        suite: 'adversarial',
        checkpoints: ['checkpoints/cnn-fmnist'],
        attacks: [{ name: 'fmn', params: { steps: 10 }, paths: ['first'] }],
        epsilons: [0, 0.02, 0.05, 0.1],
        limit: 4,
        sanityLimit: 2,
      }),
    );
    const r = await bench(['run', '--config', config, '--workers', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => /^cnn-fmnist\|fmn\|first\|minimise \(one run for 4 eps\) adversarial examples found for \d+ of \d+/.test(l))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('cnn-fmnist|fmn|first|0.05'))).toBe(false);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    const ids = ['0', '0.02', '0.05', '0.1'].map((e) => `cnn-fmnist|fmn|first|${e}`);
    expect(run.cells).toEqual(['cnn-fmnist|clean', ...ids]);
    expect(run.plan.units.find((u: { id: string }) => u.id === 'sweep|cnn-fmnist|fmn|first').cells).toEqual(ids);
    // The probes run PGD's defaults: fmn answers radii from one run, so it is not a probe attack.
    expect(run.probes.length).toBeGreaterThan(0);
    expect(run.probes.every((id: string) => !id.includes('|fmn|'))).toBe(true);
    const cells = readdirSync(join(out, 'cells'))
      .filter((f) => f.includes('_fmn_'))
      .map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));
    const attacked = cells.find((c) => c.eps === 0.02).attacked;
    expect(cells.map((c) => c.timings.gradientEvaluations ?? 0).reduce((a: number, b: number) => a + b, 0)).toBe(10 * attacked);
    expect(cells.every((c) => c.minimisation.distances.length === 4)).toBe(true);
    expect(readFileSync(join(out, 'tables', 'accuracy-vs-eps.csv'), 'utf8').split('\n')[0]).toMatch(/,median_min_distance$/);
  });
});

describe('bench run --reporter (issue 14: reporters are wired by the CLI)', () => {
  it('refuses an unknown reporter in one line before any work', async () => {
    const r = await bench(['run', '--suite', 'adversarial', '--reporter', 'terminal,junit', '--quiet', '--out', join(tmp, 'never')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --reporter: unknown reporter "junit" (allowed: terminal, html, tables, github-summary)\n');
    expect(readdirSync(tmp)).not.toContain('never');
  });

  it('terminal,github-summary: prints the table and writes the step summary, and no HTML report, tables or charts', async () => {
    const out = join(tmp, 'terminal-run');
    const summary = join(tmp, 'summary.md');
    const r = await bench(['run', '--suite', 'adversarial', '--checkpoints', 'checkpoints/cnn-fmnist', '--attacks', 'fgsm', '--epsilons', '0,0.1', '--limit', '4',
      '--no-sanity', '--quiet', '--workers', '1', '--out', out, '--reporter', 'terminal,github-summary', '--summary', summary]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Robust accuracy \(%\) by ε[\s\S]*cnn-fmnist  fgsm\/first \(4\)/);
    expect(r.stdout).toContain(`run directory: ${out}\nstep summary: ${summary}\n`);
    expect(r.stdout).not.toContain('report:');
    expect(readFileSync(summary, 'utf8')).toContain('- **cnn-fmnist**: clean **');
    const files = readdirSync(out);
    expect(files).toContain('run.json');
    for (const f of ['report.html', 'tables', 'charts']) expect(files).not.toContain(f);
  });
});

describe('bench list', () => {
  it('lists every attack with its defaults, every corruption with its severity table, and checkpoints with metrics', async () => {
    const attacks = listAttacksText();
    for (const name of ['fgsm', 'pgd', 'apgd-ce', 'apgd-dlr', 'apgd-t', 'square']) expect(attacks).toContain(`  ${name}  [`);
    expect(attacks).toContain('steps=20');
    const corruptions = listCorruptionsText();
    expect(corruptions).toContain('gaussian_noise (noise)');
    expect(corruptions).toMatch(/severity/);
    const dir = join(tmp, 'checkpoints');
    await fixtureCheckpoint('cnnf', join(dir, 'cnnf'), 'my-cnnf');
    const text = listCheckpointsText(dir);
    expect(text).toContain('my-cnnf');
    expect(text).toContain('CNN-F ind 2, 1 cycle(s)');
    expect(listCheckpointsText(join(tmp, 'none'))).toContain('none under');
  });
});
