/**
 * The CIFAR Wide-ResNet CNN-F end to end through the CLI: `bench import --arch cnnf-wrn` of the reference
 * WRN-40-2 CNN baseline (tests/fixtures/cnnf-reference/cnn_wrn40-2), then `bench run` of the corruption
 * suite on a CIFAR-10 binary test batch. The checkpoint loads through the model-family registry (family
 * cnnf, architecture family cnnf-wrn) and run.json records it with its 32x32x3 input.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cifarRecords } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(ROOT, 'tests', 'fixtures', 'cnnf-reference', 'cnn_wrn40-2', 'state_dict.pt');
const tmp = mkdtempSync(join(tmpdir(), 'bench-wrn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, BENCH_BACKEND: 'wasm' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('an imported Wide-ResNet CNN-F on CIFAR-10', { timeout: 240_000 }, () => {
  it('runs the corruption suite on cifar10:DIR and records the model as 32x32x3', async () => {
    const model = join(tmp, 'models', 'wrn40-2');
    const imp = await bench(['import', FIXTURE, '--arch', 'cnnf-wrn', '--depth', '40', '--widen', '2', '--cycles', '0', '--out', model]);
    expect(imp.code, imp.stderr).toBe(0);

    // A CIFAR-10 binary test batch of 4 random images with labels 0..3.
    const data = join(tmp, 'cifar-10-batches-bin');
    mkdirSync(data);
    const rand = mulberry32(15);
    writeFileSync(join(data, 'test_batch.bin'), cifarRecords([[0], [1], [2], [3]], () => Math.floor(rand() * 256)));

    const out = join(tmp, 'run');
    const r = await bench([
      'run', '--suite', 'corruption', '--models', model, '--dataset', `cifar10:${data}`, '--limit', '4',
      '--corruptions', 'gaussian_noise', '--severities', '1', '--workers', '1', '--quiet', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.dataset).toMatchObject({ name: 'cifar10', shape: [4, 32, 32, 3], numClasses: 10 });
    expect(run.checkpoints).toHaveLength(1);
    expect(run.checkpoints[0]).toMatchObject({ family: 'cnnf-wrn', inputShape: [32, 32, 3], numClasses: 10, cycles: 0, outputs: ['first', 'last', 'average'] });
    // Every cell (clean and gaussian_noise severity 1) evaluated all 4 images.
    const cells = readdirSync(join(out, 'cells')).map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));
    expect(cells.length).toBeGreaterThanOrEqual(2);
    for (const cell of cells) expect(cell.samples).toBe(4);
  });
});
