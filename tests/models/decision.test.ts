import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { attackMargin, attackMarginTensor, attackSucceeded, labelMargin, NO_PREDICTION, predictClasses } from '../../src/models/decision.js';
import { scoreLogits } from '../../attacks/common.js';
import { judgeLogits } from '../../src/suite/context.js';

/** The one decision rule (src/models/decision.ts) on rows with ties, NaN and infinities. */
const I = Infinity;
const ROWS: { z: number[]; predicted: number }[] = [
  { z: [1, 3, 2], predicted: 1 },
  { z: [3, 3, 2], predicted: NO_PREDICTION }, // a finite tie at the top
  { z: [1, 3, 3], predicted: NO_PREDICTION },
  { z: [I, 1, -I], predicted: 0 },
  { z: [I, I, 0], predicted: NO_PREDICTION }, // tie at +Infinity
  { z: [-I, -I, -I], predicted: NO_PREDICTION },
  { z: [-I, -I, 5], predicted: 2 },
  { z: [NaN, 1, 2], predicted: NO_PREDICTION },
  { z: [5, NaN, 2], predicted: NO_PREDICTION }, // a NaN anywhere, even below the top
  { z: [3e38, -3e38, 0], predicted: 0 },
];
const flat = ROWS.flatMap((r) => r.z);

beforeAll(async () => {
  await initBackend('wasm');
});

describe('decision rule', () => {
  it('predicts the strict maximum; NaN rows and ties at the top have no prediction', () => {
    expect(Array.from(predictClasses(flat, 3))).toEqual(ROWS.map((r) => r.predicted));
  });

  it('the label margin is > 0 exactly for the predicted class, and Infinity - Infinity is a tie (0)', () => {
    ROWS.forEach(({ z, predicted }, r) => {
      for (let c = 0; c < 3; c++) {
        const m = labelMargin(flat, r, 3, c);
        if (z.some(Number.isNaN)) expect(m).toBeNaN();
        else expect([r, c, m > 0]).toEqual([r, c, c === predicted]);
      }
    });
    expect(labelMargin(flat, 4, 3, 0)).toBe(0);
    expect(labelMargin(flat, 3, 3, 0)).toBe(Infinity);
  });

  it('attack margins are never NaN and decide success as the prediction does', () => {
    ROWS.forEach(({ predicted }, r) => {
      for (let c = 0; c < 3; c++)
        for (const targeted of [false, true]) {
          const m = attackMargin(flat, r, 3, c, targeted);
          expect(Number.isNaN(m)).toBe(false);
          expect([r, c, targeted, attackSucceeded(m, targeted)]).toEqual([r, c, targeted, targeted ? predicted === c : predicted !== c]);
        }
    });
  });

  it('scoreLogits (attacks), judgeLogits (evaluation) and the device margin agree row by row', () => {
    const logits = tf.tensor2d(flat, [ROWS.length, 3]) as Tensor2D;
    for (let c = 0; c < 3; c++) {
      const labels = ROWS.map(() => c);
      const y = tf.tensor1d(labels, 'int32');
      const judged = judgeLogits(logits, y);
      for (const targeted of [false, true]) {
        const score = scoreLogits(flat, 3, labels, targeted);
        const device = attackMarginTensor(logits, y, targeted);
        const onDevice = Array.from(device.dataSync());
        device.dispose();
        expect(onDevice).toEqual(Array.from(score.margin, Math.fround));
        if (!targeted) expect(score.fooled).toEqual(judged.correct.map((ok) => !ok));
        expect(score.nonFinite).toEqual(ROWS.map((r) => !r.z.every(Number.isFinite)));
      }
      expect(judged.nonFinite).toEqual(ROWS.map((r) => !r.z.every(Number.isFinite)));
      y.dispose();
    }
    logits.dispose();
  });
});
