import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runBench as bench } from '../helpers/cli.js';
import { afterAll, describe, expect, it } from 'vitest';
import { writeScaledCheckpoint } from '../helpers/scaledCheckpoint.js';

/**
 * `bench run` on a checkpoint whose weights are finite but whose logits overflow to +-Infinity: the
 * committed CNN with its classifier layer scaled by 1e38. Square used to end the run with
 * "internal error: TypeError ... attacks/square" (a row whose margin is +Infinity never got a best
 * candidate); now the run finishes, every image with non-finite logits counts as misclassified unless its
 * label's logit is the unique maximum, and the logits-finite sanity check says so.
 */
const tmp = mkdtempSync(join(tmpdir(), 'bench-cli-nonfinite-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench run on a checkpoint whose logits overflow', () => {
  it('square finishes, the cells count the non-finite logits and logits-finite warns', async () => {
    const dir = await writeScaledCheckpoint(join(ROOT, 'checkpoints', 'cnn-fmnist'), join(tmp, 'cnn-x1e38'), 1e38);
    const out = join(tmp, 'run');
    const r = await bench([
      'run', '--suite', 'adversarial', '--checkpoints', dir, '--attacks', 'square', '--epsilons', '0,0.03',
      '--limit', '5', '--out', out, '--workers', '1', '--quiet',
    ]);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);
    const name = 'cnn-fmnist-x1e+38';
    expect(r.stdout).toMatch(new RegExp(`WARN ${name.replace(/[.+]/g, '\\$&')} logits-finite: NaN or infinite logits on 5 of 5 clean images`));

    const cells = readdirSync(join(out, 'cells')).map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));
    const clean = cells.find((c) => c.kind === 'clean');
    expect(clean.nonFiniteLogits).toBe(5);
    const square = cells.find((c) => c.kind === 'attack' && c.eps === 0.03);
    expect(square.nonFiniteLogits).toBe(square.attacked);
    const sanity = JSON.parse(readFileSync(join(out, 'sanity.json'), 'utf8'));
    const check = sanity.find((c: { name: string }) => c.name === 'logits-finite');
    expect(check.status).toBe('warn');
    expect(check.numbers.cleanNonFinite).toBe(5);
  }, 300_000);
});
