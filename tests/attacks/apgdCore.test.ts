import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apgdCheckpoints, ApgdSchedule } from '../../attacks/apgdCore.js';

/**
 * APGD's step-size schedule replayed on the original AutoAttack's own per-step losses: for the first runs
 * (targets) of APGD-T on the fixture's linear model and tanh MLP (tests/fixtures/apgd-t-reference.json, made
 * by /usr/bin/python3 scripts/reference/apgd_t.py, which records, inside fra31/auto-attack's
 * autopgd_base.py attack_single_run, the start loss, every step's loss and the step size every iteration
 * uses), ApgdSchedule fed the same losses must use the same step size at every iteration for every sample:
 * 2 eps at the start, halved exactly where the reference halves (checkpoints 6, 11, 15, 18, 20, 21, ... of 30
 * steps, condition (1) on the loss-increasing steps of the window, condition (2) on a stalled best loss).
 * Replaying the reference's losses isolates the schedule from float32 differences between the frameworks.
 */
interface Schedule {
  rows: number[];
  initialLoss: string[];
  losses: string[][];
  eta: string[][];
}
const REFERENCE = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'apgd-t-reference.json'), 'utf8')) as Record<
  'linear' | 'mlp',
  { eps: number; steps: number; schedules: Schedule[] }
>;

const f32 = (texts: string[]) => Float64Array.from(texts, (t) => Math.fround(Number(t)));

describe.each(['linear', 'mlp'] as const)('APGD step-size schedule against the reference, %s model', (kind) => {
  const ref = REFERENCE[kind];

  it.each(ref.schedules.map((s, i) => [i + 1, s] as const))('run %i: the same step size at every iteration for every sample', (_run, s) => {
    const schedule = new ApgdSchedule(apgdCheckpoints(ref.steps), 0.75, 2 * ref.eps, f32(s.initialLoss));
    let halvings = 0;
    for (let k = 0; k < ref.steps; k++) {
      expect([k, Array.from(schedule.eta)]).toEqual([k, Array.from(f32(s.eta[k]))]);
      const { halve } = schedule.step(k, f32(s.losses[k]));
      halvings += halve?.filter(Boolean).length ?? 0;
    }
    expect(halvings).toBeGreaterThan(0);
  });

  it('the recorded runs halve at different iterations for different samples (the replay is not trivial)', () => {
    const patterns = new Set(ref.schedules.flatMap((s) => s.rows.map((_, r) => s.eta.map((step) => step[r]).join(','))));
    expect(patterns.size).toBeGreaterThan(3);
  });
});

describe('APGD schedule details of the reference (autopgd_base.py attack_single_run)', () => {
  // 30 steps: checkpoints after steps 6, 11, 15, ... (n_iter_2 = int(0.22 * 30) = 6).
  const checkpoints = apgdCheckpoints(30);

  it('condition (2) is off at the first checkpoint: a best loss stalled since the start does not halve there', () => {
    // Start loss 10; six rising losses below it: every step a success (the first against 0), so condition (1)
    // does not fire (6 > 0.75 * 6), and the best loss never improves. The reference starts with
    // reduced_last_check = 1, so it keeps the step size; the paper's condition (2) would halve it.
    const s = new ApgdSchedule(checkpoints, 0.75, 0.1, Float64Array.of(10));
    const halves = [1, 2, 3, 4, 5, 6].map((loss, k) => s.step(k, Float64Array.of(loss)).halve);
    expect(halves.slice(0, 5)).toEqual([null, null, null, null, null]);
    expect(halves[5]).toEqual([false]);
    expect(s.eta[0]).toBe(Math.fround(0.1));
    // At the next checkpoint (step 11) condition (2) applies: five more rising losses, still below 10.
    const next = [7, 8, 9, 9.5, 9.9].map((loss, k) => s.step(6 + k, Float64Array.of(loss)).halve);
    expect(next[4]).toEqual([true]);
    expect(s.eta[0]).toBe(Math.fround(0.05));
  });

  it('the first step counts as a success when its loss is positive, whatever the start loss (compared with 0)', () => {
    // Start loss 5, then losses 1, 1, 2, 3, 4, 6: the first step (1, below the start loss) counts, being
    // compared with 0, and with the four rising steps makes 5 > 0.75 * 6 successes: no halving.
    const rising = new ApgdSchedule(checkpoints, 0.75, 0.1, Float64Array.of(5));
    const halveRising = [1, 1, 2, 3, 4, 6].map((loss, k) => rising.step(k, Float64Array.of(loss)).halve)[5];
    expect(halveRising).toEqual([false]); // 1 (first, vs 0) + 4 rising = 5 > 4.5, and the best improved (6 > 5)
    // The same steps shifted below zero (a DLR loss before success): the first step no longer counts.
    const negative = new ApgdSchedule(checkpoints, 0.75, 0.1, Float64Array.of(-5));
    const halveNegative = [-9, -9, -8, -7, -6, -4].map((loss, k) => negative.step(k, Float64Array.of(loss)).halve)[5];
    expect(halveNegative).toEqual([true]); // 0 + 4 rising = 4 <= 4.5
  });
});
