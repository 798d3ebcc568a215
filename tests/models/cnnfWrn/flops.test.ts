import { describe, expect, it } from 'vitest';
import { wrnArchitecture } from '../../../src/models/cnnfWrn/architecture.js';
import { wrnFirstPassFlops } from '../../../src/models/cnnfWrn/flops.js';
import { countWrnFlops } from '../../../scripts/perf/wrnFlops.js';

describe('wrnFirstPassFlops', () => {
  it('counts WRN-10-1 layer by layer (one BasicBlock per group)', () => {
    // conv1 32x32, 3x3, 3 -> 16; block1 16 -> 16 at 32x32; block2 16 -> 32 stride 2 at 16x16 with a 1x1
    // shortcut; block3 32 -> 64 stride 2 at 8x8 with a 1x1 shortcut; fc 64 -> 10.
    const macs =
      32 * 32 * 9 * 3 * 16 +
      32 * 32 * 9 * 16 * 16 * 2 +
      (16 * 16 * 9 * 16 * 32 + 16 * 16 * 9 * 32 * 32 + 16 * 16 * 16 * 32) +
      (8 * 8 * 9 * 32 * 64 + 8 * 8 * 9 * 64 * 64 + 8 * 8 * 32 * 64) +
      64 * 10;
    expect(wrnFirstPassFlops(wrnArchitecture(10, 1, 0, 0, 0))).toBe(2 * macs);
  });

  it('agrees with the per-layer count of scripts/perf/wrnFlops.ts on the paper network and WRN-28-10', () => {
    for (const a of [wrnArchitecture(40, 2, 5, 2, 0.1), wrnArchitecture(28, 10, 0, 0, 0)])
      expect(wrnFirstPassFlops(a)).toBe(countWrnFlops(a).firstPassFlops);
  });
});
