/**
 * configs/paper-cifar10.json: the reference's CIFAR-10 evaluation (yjhuangcd/CNNF test.py: eps 0.063,
 * step 0.02, 7 steps on [-1,1] inputs; first pass and end to end; averaged logits; transfer from the CNN)
 * in our [0,1] pixel units, and a run of it end to end on a generated CIFAR-10 binary directory with a
 * tiny imported CNN (the WRN-10-1 weights of tests/fixtures/cnnf-reference/wrn_train_step, 0 cycles) and a
 * tiny CNN-F trained by bench, at the paths the config names.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { initBackend } from '../../src/engine/backend.js';
import { runImport } from '../../src/cli/import.js';
import { trainWrn } from '../../src/train/wrnTrainer.js';
import { ROOT, runBench } from '../helpers/cli.js';
import { tinyCifarDir } from '../helpers/datasetFiles.js';

const CONFIG = join(ROOT, 'configs', 'paper-cifar10.json');
const tmp = mkdtempSync(join(tmpdir(), 'bench-paper-cifar10-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('configs/paper-cifar10.json', { timeout: 300_000 }, () => {
  const config = validateConfig(JSON.parse(readFileSync(CONFIG, 'utf8')), CONFIG) as AdversarialConfig;

  it('is the reference evaluation in [0,1] pixel units', () => {
    // The reference's [-1,1] eps and step, halved: [0,1] pixels span half the range.
    expect(config.epsilons).toContain(0.063 / 2);
    expect(Math.max(...config.epsilons)).toBe(0.063 / 2);
    expect(config.output).toBe('average');
    const [pgd, transfer] = config.attacks;
    for (const a of [pgd, transfer]) {
      expect(a.name).toBe('pgd');
      expect(a.params).toMatchObject({ norm: 'linf', steps: 7, stepSize: 0.02 / 2, randomStart: true, earlyStop: false });
    }
    expect(pgd.paths).toEqual(['first', 'e2e']);
    expect(pgd.transferFrom).toBeUndefined();
    expect(transfer.paths).toEqual(['first']);
    // The CNN baseline of the config, by its name (the folder name bench import gives it).
    expect(transfer.transferFrom).toBe('cnn-cifar10');
    expect(config.checkpoints.map((c) => c.dir)).toEqual(['checkpoints/imported/cnn-cifar10', 'checkpoints/imported/cnnf-cifar10']);
    for (const c of config.checkpoints) expect(c.createWith).toMatch(new RegExp(`^bench import \\S+\\.pt --arch cnnf-wrn --depth 40 --widen 2 .*--out ${c.dir}$`));
  });

  it('without its checkpoints, stops with one line naming the import command (exit 2)', async () => {
    const empty = mkdtempSync(join(tmp, 'empty-'));
    const data = tinyCifarDir(join(empty, 'cifar'), 1, 2);
    // The package root must not hold imported checkpoints either, or the config would find them there.
    if (existsSync(join(ROOT, config.checkpoints[0].dir))) return;
    const r = await runBench(['run', '--config', CONFIG, '--dataset', `cifar10:${data}`, '--limit', '2', '--quiet'], { cwd: empty });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `error: ${CONFIG}: checkpoints[0]: checkpoints/imported/cnn-cifar10 does not exist; create it with: ` +
        'bench import CNN_cifar.pt --arch cnnf-wrn --depth 40 --widen 2 --cycles 0 --out checkpoints/imported/cnn-cifar10',
    );
  });

  it('runs end to end with an imported CNN and a trained CNN-F at its checkpoint paths', async () => {
    await initBackend('wasm');
    const work = mkdtempSync(join(tmp, 'work-'));
    const data = tinyCifarDir(join(work, 'cifar-10-batches-bin'), 2, 4);
    const cnn = join(work, 'checkpoints', 'imported', 'cnn-cifar10');
    const cnnf = join(work, 'checkpoints', 'imported', 'cnnf-cifar10');
    mkdirSync(join(work, 'checkpoints', 'imported'), { recursive: true });
    await runImport({
      file: join(ROOT, 'tests', 'fixtures', 'cnnf-reference', 'wrn_train_step', 'weights.safetensors'),
      arch: 'cnnf-wrn', depth: 10, widen: 1, cycles: 0, out: cnn,
    });
    await trainWrn({
      depth: 10, widen: 1, ind: 1, cycles: 2, resParam: 0.1, epochs: 1, batchSize: 8, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, power: 0.9,
      gradClip: 0.5, mseWeight: 0.1, seed: 0, validationSize: 2, dataset: `cifar10:${data}`, augment: true, out: cnnf, name: 'cnnf-cifar10',
      resume: false, adv: { kind: 'pgd', eps: 0.0315, steps: 1, stepSize: 0.01, cleanWeight: 0.05 }, testLimit: 2, quiet: true, command: 'test',
    });

    const out = join(work, 'run');
    const r = await runBench([
      'run', '--config', CONFIG, '--dataset', `cifar10:${data}`, '--limit', '2', '--epsilons', '0,0.0315', '--workers', '1', '--quiet', '--out', out,
    ], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.dataset).toMatchObject({ name: 'cifar10', shape: [2, 32, 32, 3] });
    expect(run.checkpoints.map((c: { name: string; output: string; cycles: number }) => [c.name, c.output, c.cycles])).toEqual([
      ['cnn-cifar10', 'average', 0],
      ['cnnf-cifar10', 'average', 2],
    ]);
    const cells = readdirSync(join(out, 'cells')).map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));
    const ids = cells.map((c) => c.id as string);
    for (const c of cells) expect(c.samples).toBe(2);
    expect(ids.some((id) => id.includes('cnnf-cifar10') && id.includes('pgd7@cnn-cifar10'))).toBe(true);
    expect(ids.some((id) => id.includes('cnnf-cifar10') && id.includes('e2e') && id.includes('0.0315'))).toBe(true);
  });
});
