/**
 * Golden results of the committed checkpoints: the per-sample correctness bits of every cell of
 * `configs/ci.json` and of the default corruption config at --limit 30, recorded on the wasm backend
 * before the model/dataset seams were redesigned (tests/fixtures/golden/*.json say when and at which
 * commit). Refactoring the executor, the model contract or the dataset loading must leave every bit as it
 * was; a change that is meant to change results (a corrected corruption parameter, say) re-records the
 * fixture in the same commit and says why.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runBench as bench } from '../helpers/cli.js';
import { afterAll, describe, expect, it } from 'vitest';

const tmp = mkdtempSync(join(tmpdir(), 'bench-golden-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface GoldenCell {
  samples: number;
  correct: number;
  correctBits: string;
}
interface Golden {
  command: string;
  cells: Record<string, GoldenCell>;
}

function cellsOf(dir: string): Record<string, GoldenCell> {
  const out: Record<string, GoldenCell> = {};
  for (const f of readdirSync(join(dir, 'cells')).sort()) {
    const c = JSON.parse(readFileSync(join(dir, 'cells', f), 'utf8'));
    out[c.id] = { samples: c.samples, correct: c.correct, correctBits: c.correctBits };
  }
  return out;
}

function golden(file: string): Golden {
  return JSON.parse(readFileSync(join(ROOT, 'tests', 'fixtures', 'golden', file), 'utf8'));
}

describe('golden results of the committed checkpoints', () => {
  it('configs/ci.json gives the recorded bits in every cell', { timeout: 1_500_000 }, async () => {
    const out = join(tmp, 'ci');
    const r = await bench(['run', '--config', 'configs/ci.json', '--no-sanity', '--quiet', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(cellsOf(out)).toEqual(golden('ci-bits.json').cells);
  });

  it('the default corruption config at --limit 30 gives the recorded bits in every cell', { timeout: 1_500_000 }, async () => {
    const out = join(tmp, 'corruption');
    const r = await bench(['run', '--suite', 'corruption', '--limit', '30', '--quiet', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(cellsOf(out)).toEqual(golden('corruption-limit30-bits.json').cells);
  });
});
