/**
 * `--workers` helpers and `--resume` re-read a run from its run.json, so run.json must say everything the
 * lead used:
 * - a relative `--dataset` path given on the command line resolves against the working directory (run.json
 *   records the fields set by flags, `origins`); before, the helpers and resume resolved it against the
 *   config file's directory (configs/ for `--suite`): a helper died with "file not found" (the run went on
 *   with one process fewer) and `--resume` was refused;
 * - per-model options of a config (`name`, `classNames`, ...) are stored as the config gives them; before,
 *   run.json held the validated `options` object, which validation refuses ("checkpoints[0].options:
 *   unknown key"), with the same two failures.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { i64, npyBytes, zipBytes } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'bench-flag-paths-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: tmp, // the relative dataset path below only exists from here
      env: { ...process.env, BENCH_BACKEND: 'wasm' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
}

function writeNpz(): void {
  const rand = mulberry32(3);
  const n = 10; // labels 0..9: the class count the CNN has
  writeFileSync(
    join(tmp, 'grey.npz'),
    zipBytes([
      { name: 'x.npy', data: npyBytes('|u1', [n, 28, 28, 1], Uint8Array.from({ length: n * 784 }, () => Math.floor(rand() * 256))) },
      { name: 'y.npy', data: npyBytes('<i8', [n], i64(Array.from({ length: n }, (_, i) => i % 10))) },
    ]),
  );
}

describe('what helpers and --resume read back from run.json', () => {
  it('a relative --dataset path is read from the working directory by --workers helpers and by --resume', async () => {
    writeNpz();
    const out = join(tmp, 'run');
    const r = await bench([
      'run', '--suite', 'corruption', '--models', 'checkpoints/cnn-fmnist', '--dataset', 'npz:grey.npz',
      '--corruptions', 'gaussian_noise,brightness,contrast', '--severities', '1,2', '--workers', '2', '--quiet', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/worker \d+ exited/);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.origins).toMatchObject({ dataset: '--dataset' });

    // Resume after losing a cell: the dataset is found again and the cell recomputed.
    const cell = readdirSync(join(out, 'cells')).find((f) => f.includes('contrast'))!;
    unlinkSync(join(out, 'cells', cell));
    const resumed = await bench(['run', '--resume', out, '--quiet', '--workers', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readdirSync(join(out, 'cells'))).toContain(cell);
  });

  it('per-model options of a config are stored as given and re-read by --workers helpers', async () => {
    writeNpz();
    const config = join(tmp, 'named.json');
    writeFileSync(config, JSON.stringify({
      suite: 'corruption', checkpoints: [{ dir: 'checkpoints/cnn-fmnist', name: 'my-cnn' }], dataset: 'npz:grey.npz',
      corruptions: ['gaussian_noise', 'brightness', 'contrast'], severities: [1, 2], limit: 10,
    }));
    const out = join(tmp, 'named-run');
    const r = await bench(['run', '--config', config, '--workers', '2', '--quiet', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/worker \d+ exited/);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.config.checkpoints).toEqual([{ dir: 'checkpoints/cnn-fmnist', name: 'my-cnn' }]);
    expect(readdirSync(join(out, 'cells')).every((f) => f.startsWith('my-cnn_'))).toBe(true);
  });
});
