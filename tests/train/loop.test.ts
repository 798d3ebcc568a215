import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { SgdMomentum } from '../../src/train/optimizer.js';
import { EpochTally, resumeTrainingRun, STATE_FILE } from '../../src/train/loop.js';

const ROOT = join(import.meta.dirname, '..', '..');

const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A copy of the committed CNN checkpoint (provenance: 4 epochs) with a training state claiming `epochsDone`. */
function savedRun(epochsDone: number | null): string {
  const parent = mkdtempSync(join(tmpdir(), 'bench-loop-'));
  made.push(parent);
  const dir = join(parent, 'run');
  cpSync(join(ROOT, 'checkpoints', 'cnn-fmnist'), dir, { recursive: true });
  if (epochsDone !== null) writeFileSync(join(dir, STATE_FILE), JSON.stringify({ epochsDone, step: 10, history: [], wallTimeSeconds: 1 }));
  return dir;
}

async function refusal(promise: Promise<unknown>): Promise<InputError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(InputError);
  return error as InputError;
}

describe('resumeTrainingRun refuses what it cannot continue, naming the run directory', () => {
  it('no training state', async () => {
    const dir = savedRun(null);
    const e = await refusal(resumeTrainingRun(dir, 'cnnf', new SgdMomentum(0.9, 0), true));
    expect(e.message).toContain(dir);
    expect(e.message).toContain('start without --resume');
  });

  it('a checkpoint of another architecture family', async () => {
    const dir = savedRun(4);
    const e = await refusal(resumeTrainingRun(dir, 'cnnf-wrn', new SgdMomentum(0.9, 0), true));
    expect(e.message).toContain('is a cnnf network, not cnnf-wrn');
  });

  it('model.json and the state disagree on the epochs done (an interrupted save)', async () => {
    const dir = savedRun(3);
    const e = await refusal(resumeTrainingRun(dir, 'cnnf', new SgdMomentum(0.9, 0), true));
    expect(e.message).toContain('model.json is from epoch 4 but training-state.json says 3');
  });
});

describe('EpochTally', () => {
  it('weights each step by its images and reports the running mean loss and accuracy', () => {
    const tally = new EpochTally();
    tally.add(2, 30, 40, 0);
    tally.add(1, 5, 10, 0);
    expect(tally.steps).toBe(2);
    expect(tally.loss).toBeCloseTo((2 * 40 + 1 * 10) / 50, 12);
    expect(tally.accuracy).toBeCloseTo(35 / 50, 12);
  });

  it('throws on a non-finite loss, naming the 1-based epoch and step', () => {
    const tally = new EpochTally();
    tally.add(1, 1, 1, 2);
    expect(() => tally.add(Number.NaN, 0, 1, 2)).toThrow('training diverged at epoch 3, step 2: loss NaN');
  });
});
