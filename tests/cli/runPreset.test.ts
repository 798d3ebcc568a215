/**
 * `bench run --preset autoattack` end to end through the CLI (issue 16's "done when": it runs on the committed
 * checkpoints and on a TF.js model from a fresh clone). The preset runs as shipped (configs/autoattack.json:
 * APGD-CE 100 steps, APGD-T 9 targets x 100 steps, FAB-T 9 targets x 100 steps, Square 5000 queries, sanity
 * checks on), only --limit, --epsilons and --models narrowed:
 * - a TF.js layers-model saved by tfjs-layers (a small MLP with a softmax head, trained here on Fashion-MNIST
 *   test images 1000..2999 from the vendored set; evaluated on images 0..7), at one eps where four samples
 *   survive APGD-CE, so every later stage runs on them;
 * - the committed CNN and CNN-F (the preset's own checkpoints) on 2 images at eps 0.3, where APGD-CE breaks
 *   both and the later stages have nothing left (the full stages on these networks take minutes).
 * What a user relies on: a cell per stage and one worst-case cell, each stage attacking exactly the samples
 * the previous one left correct (so the robust accuracy never rises from stage to stage), the worst case
 * being the last stage's bits with `brokenBy` naming the first stage that broke each sample, and the cascade
 * section in the terminal and the HTML report.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench as bench } from '../helpers/cli.js';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { decodeBits } from '../../src/rundir/records.js';
import { cellFileName } from '../../src/rundir/files.js';
import { readJsonFile } from '../../src/suite/config.js';
import { presetConfigFile } from '../../src/suite/runner.js';
import { saveLayersModel } from '../models/families/tfjsModels.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-preset-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const modelJson = join(tmp, 'mlp', 'model.json');

const STAGES = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];

beforeAll(async () => {
  await initBackend('cpu');
  // A 784-16-10 MLP, softmax head, 5 epochs of Adam on 2,000 vendored test images not among those evaluated.
  const data = await loadFashionMnist('test', { offset: 1000, limit: 2000 });
  const input = tf.input({ shape: [28, 28, 1] });
  let h = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor4d(data.images, [data.count, 28, 28, 1]);
  const ys = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  await model.fit(xs, ys, { epochs: 5, batchSize: 100, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);
  await saveLayersModel(model, join(tmp, 'mlp'));
}, 120_000);

interface Cell {
  id: string;
  attack: string;
  method?: string;
  attackParams?: Record<string, unknown>;
  path: string;
  samples: number;
  correct: number;
  accuracy: number;
  attacked: number;
  correctBits: string;
  cascade?: { label: string; stages: string[]; stage?: number; broken?: number; brokenBy?: number[] };
}

const cellOf = (dir: string, id: string): Cell => JSON.parse(readFileSync(join(dir, 'cells', cellFileName(id)), 'utf8'));

/**
 * Checks one checkpoint's cascade at one eps against the cascade rules and returns its stage cells: per
 * stage s, attacked = the samples correct after stage s-1, correct bits a subset of them, broken = the
 * difference; the worst case = the last stage's bits, brokenBy = first stage that broke each sample.
 */
function checkCascade(dir: string, checkpoint: string, path: string, eps: number): Cell[] {
  const preset = readJsonFile(presetConfigFile('autoattack')) as { attacks: { name: string; params: Record<string, unknown> }[] };
  const clean = cellOf(dir, `${checkpoint}|clean`);
  const n = clean.samples;
  let previous = decodeBits(clean.correctBits, n);
  const stages = STAGES.map((stage, s) => {
    const cell = cellOf(dir, `${checkpoint}|autoattack/${stage}|${path}|${eps}`);
    const bits = decodeBits(cell.correctBits, n);
    expect(cell.attack).toBe(`autoattack/${stage}`);
    expect(cell.method).toBe(stage);
    // The stage ran with the preset's settings (AutoAttack's standard version), not reduced ones.
    expect(cell.attackParams).toMatchObject(preset.attacks[s].params);
    expect(cell.cascade).toMatchObject({ label: 'autoattack', stages: STAGES, stage: s + 1 });
    expect(cell.attacked, `${cell.id}: attacked`).toBe(previous.filter(Boolean).length);
    // A stage only breaks samples: never makes one correct again.
    bits.forEach((ok, i) => ok && expect(previous[i], `${cell.id}: sample ${i} correct after a stage that had it broken`).toBe(true));
    expect(cell.cascade!.broken).toBe(previous.filter(Boolean).length - bits.filter(Boolean).length);
    expect(cell.correct).toBe(bits.filter(Boolean).length);
    previous = bits;
    return cell;
  });
  const accuracies = [clean.accuracy, ...stages.map((c) => c.accuracy)];
  accuracies.slice(1).forEach((a, i) => expect(a).toBeLessThanOrEqual(accuracies[i]));
  const worst = cellOf(dir, `${checkpoint}|autoattack|${path}|${eps}`);
  const last = stages[stages.length - 1];
  expect(worst.attack).toBe('autoattack');
  expect([worst.correctBits, worst.correct, worst.accuracy]).toEqual([last.correctBits, last.correct, last.accuracy]);
  const cleanBits = decodeBits(clean.correctBits, n);
  const expectedBrokenBy = cleanBits.map((ok, i) => {
    if (!ok) return 0;
    const s = stages.findIndex((c) => !decodeBits(c.correctBits, n)[i]);
    return s < 0 ? -1 : s + 1;
  });
  expect(worst.cascade!.brokenBy).toEqual(expectedBrokenBy);
  return stages;
}

describe('bench run --preset autoattack', { timeout: 300_000 }, () => {
  it('on a TF.js layers-model: one cell per stage, robust accuracy never rising, the worst case = the last stage, the cascade report', async () => {
    const out = join(tmp, 'tfjs');
    const r = await bench(['run', '--preset', 'autoattack', '--models', modelJson, '--limit', '8', '--epsilons', '0.03', '--workers', '1', '--quiet', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    const name: string = run.checkpoints[0].name;
    expect(run.checkpoints).toHaveLength(1);
    expect(run.checkpoints[0]).toMatchObject({ family: 'tfjs-layers', gradientPaths: ['direct'] });
    expect(run.cells).toEqual([`${name}|clean`, ...STAGES.map((s) => `${name}|autoattack/${s}|direct|0.03`), `${name}|autoattack|direct|0.03`]);
    const stages = checkCascade(out, name, 'direct', 0.03);
    // Survivors of APGD-CE reach every later stage: FAB-T and Square ran on this model, not on an empty set.
    expect(stages[0].attacked).toBeGreaterThan(stages[0].correct);
    expect(stages[3].attacked).toBeGreaterThan(0);
    // The terminal prints AutoAttack's log, one line per stage; the HTML report has the cascade table.
    expect(r.stdout).toContain('Cascades (each stage attacks only the samples the earlier ones left correct)');
    for (const [s, stage] of STAGES.entries())
      expect(r.stdout).toContain(`  ${stage}: ${stages[s].attacked - stages[s].correct} of ${stages[s].attacked} broken; robust accuracy after ${stage}: ${(100 * stages[s].accuracy).toFixed(1)}%`);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('Cascade: robust accuracy after each stage');
    // The preset's sanity checks ran, AutoAttack's among them.
    const sanity = JSON.parse(readFileSync(join(out, 'sanity.json'), 'utf8')) as { name: string; status: string }[];
    for (const check of ['square-after-white-box', 'dlr-classes', 'deterministic', 'more-steps', 'large-eps-chance'])
      expect(sanity.find((c) => c.name === check)?.status, check).toBe('pass');
  });

  it('refuses a 3-class model before anything is computed or written: one line naming the preset file and the APGD-T entry, exit 2', async () => {
    const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 3 })] });
    await saveLayersModel(m, join(tmp, 'three'));
    const out = join(tmp, 'three-run');
    const r = await bench(['run', '--preset', 'autoattack', '--models', join(tmp, 'three', 'model.json'), '--limit', '3', '--labels', 'model', '--epsilons', '0.01', '--workers', '1', '--out', out]);
    expect(r.code).toBe(2);
    const error = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(error).toEqual([
      `error: ${presetConfigFile('autoattack')}: attacks[1].params: the targeted DLR loss of apgd-t needs a model of at least 4 classes; model "three" has 3 (allowed: apgd-ce, or apgd-dlr (untargeted DLR needs 3 classes))`,
    ]);
    expect(r.stdout).not.toMatch(/clean accuracy/);
    expect(existsSync(out)).toBe(false);
  });

  it('on the committed checkpoints (the preset as shipped, 2 images): both networks through the exact (e2e) path', async () => {
    const out = join(tmp, 'committed');
    const r = await bench(['run', '--preset', 'autoattack', '--limit', '2', '--epsilons', '0.3', '--workers', '1', '--quiet', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.checkpoints.map((c: { name: string }) => c.name)).toEqual(['cnn-fmnist', 'cnnf-fmnist']);
    for (const checkpoint of ['cnn-fmnist', 'cnnf-fmnist']) checkCascade(out, checkpoint, 'e2e', 0.3);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('Cascade: robust accuracy after each stage');
  });
});
