/**
 * The CIFAR Wide-ResNet CNN-F end to end through the CLI: `bench import --arch cnnf-wrn` of the reference
 * WRN-40-2 fixtures (tests/fixtures/cnnf-reference: the CNN baseline in torch.save's zip format, the
 * paper's CNN-F ind 5, 2 cycles in the legacy format), then `bench run` of both suites on a CIFAR-10
 * binary test batch. The checkpoints load through the model-family registry (family cnnf, architecture
 * family cnnf-wrn) and run.json records them with their 32x32x3 input.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runBench as bench } from '../helpers/cli.js';
import { cifarRecords } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const FIXTURES = join(ROOT, 'tests', 'fixtures', 'cnnf-reference');
const tmp = mkdtempSync(join(tmpdir(), 'bench-wrn-'));
const data = join(tmp, 'cifar-10-batches-bin');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cellsOf = (out: string) => readdirSync(join(out, 'cells')).map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));

describe('imported Wide-ResNet CNN-Fs on CIFAR-10', { timeout: 400_000 }, () => {
  beforeAll(() => {
    // A CIFAR-10 binary test batch of 4 random images with labels 0..3.
    mkdirSync(data);
    const rand = mulberry32(15);
    writeFileSync(join(data, 'test_batch.bin'), cifarRecords([[0], [1], [2], [3]], () => Math.floor(rand() * 256)));
  });

  it('the CNN baseline runs the corruption suite on cifar10:DIR and is recorded as 32x32x3', async () => {
    const model = join(tmp, 'models', 'wrn40-2');
    const imp = await bench(['import', join(FIXTURES, 'cnn_wrn40-2', 'state_dict.pt'), '--arch', 'cnnf-wrn', '--depth', '40', '--widen', '2', '--cycles', '0', '--out', model]);
    expect(imp.code, imp.stderr).toBe(0);
    const out = join(tmp, 'run-corruption');
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
    const cells = cellsOf(out);
    expect(cells.length).toBeGreaterThanOrEqual(2);
    for (const cell of cells) expect(cell.samples).toBe(4);
  });

  it("the paper's CNN-F (legacy .pt) runs the adversarial suite through the first and e2e paths on the averaged logits", async () => {
    const model = join(tmp, 'models', 'cnnf-wrn40-2');
    const imp = await bench([
      'import', join(FIXTURES, 'cnnf_wrn40-2_ind5_cycles2', 'state_dict.pt'), '--arch', 'cnnf-wrn',
      '--depth', '40', '--widen', '2', '--ind', '5', '--cycles', '2', '--res-param', '0.1', '--out', model,
    ]);
    expect(imp.code, imp.stderr).toBe(0);
    const config = join(tmp, 'wrn-adversarial.json');
    writeFileSync(config, JSON.stringify({
      suite: 'adversarial',
      limit: 2,
      batchSize: 2,
      output: 'average',
      attacks: [{ name: 'pgd', params: { steps: 1 }, paths: ['first', 'e2e'], epsilons: [0.0315] }],
    }));
    const out = join(tmp, 'run-adversarial');
    const r = await bench([
      'run', '--suite', 'adversarial', '--config', config, '--models', model, '--dataset', `cifar10:${data}`,
      '--workers', '1', '--no-sanity', '--quiet', '--out', out,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.checkpoints[0]).toMatchObject({ family: 'cnnf-wrn', inputShape: [32, 32, 3], cycles: 2 });
    const attacked = cellsOf(out).filter((c) => c.attack === 'pgd');
    expect(attacked.map((c) => c.path).sort()).toEqual(['e2e', 'first']);
    for (const cell of attacked) {
      expect(cell.samples).toBe(2);
      expect(cell.output).toBe('average');
    }
  });
});
