import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { osSystemPickle, makeZip } from '../models/torchPickle.helpers.js';

// The user-facing contract of `bench import` and `bench verify`: exit 0 on success, 1 when verification
// fails, 2 with exactly one clear line on bad input, never a stack trace.
const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'tests', 'fixtures', 'cnnf-reference');

function bench(...args: string[]) {
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, BENCH_BACKEND: 'wasm' },
  });
  const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, errorLines };
}

function expectOneLineError(r: ReturnType<typeof bench>, mentions: string) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.errorLines).toHaveLength(1);
  expect(r.errorLines[0]).toContain(mentions);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('bench import + verify', () => {
  const work = mkdtempSync(join(tmpdir(), 'bench-cli-'));

  it('imports the legacy-format CNN-F fixture and verifies it (exit 0)', () => {
    const out = join(work, 'cnnf');
    const imp = bench('import', join(FIXTURES, 'cnnf_ind2_cycles1', 'state_dict.pt'), '--arch', 'cnnf-fmnist', '--ind', '2', '--cycles', '1', '--res-param', '0.1', '--out', out);
    expect(imp.code, imp.stderr).toBe(0);
    const v = bench('verify', out, '--reference', join(FIXTURES, 'cnnf_ind2_cycles1', 'cases.safetensors'));
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain('verify: all 8 cases pass');
  });

  it('exits 1 when the checkpoint does not match the reference', () => {
    const v = bench('verify', join(work, 'cnnf'), '--reference', join(FIXTURES, 'cnn_feedforward', 'cases.safetensors'));
    expect(v.code).toBe(1);
    expect(v.stdout).toContain('FAIL');
  });

  it('refuses a pickle naming os.system without running it (exit 2)', () => {
    const marker = join(work, 'pwned');
    const file = join(work, 'evil.pt');
    writeFileSync(file, makeZip([['archive/data.pkl', osSystemPickle(`touch ${marker}`)]]));
    expectOneLineError(bench('import', file, '--arch', 'cnnf-fmnist', '--cycles', '0', '--out', join(work, 'evil')), 'os.system');
    expect(() => readFileSync(marker)).toThrow();
  });

  it('refuses a corrupted .pt (exit 2)', () => {
    const bytes = readFileSync(join(FIXTURES, 'cnn_feedforward', 'state_dict.pt'));
    const file = join(work, 'corrupt.pt');
    writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
    expectOneLineError(bench('import', file, '--arch', 'cnnf-fmnist', '--cycles', '0', '--out', join(work, 'corrupt')), 'corrupt.pt');
  });

  it('refuses a truncated weights file and a NaN weight at load time (exit 2)', () => {
    const good = join(work, 'cnnf');
    const truncated = mkdtempSync(join(tmpdir(), 'bench-trunc-'));
    copyFileSync(join(good, 'model.json'), join(truncated, 'model.json'));
    const weights = readFileSync(join(good, 'weights.safetensors'));
    writeFileSync(join(truncated, 'weights.safetensors'), weights.subarray(0, weights.length - 1000));
    expectOneLineError(bench('verify', truncated, '--reference', join(FIXTURES, 'cnnf_ind2_cycles1', 'cases.safetensors')), 'weights.safetensors');

    // A NaN in the last float of the file, with the manifest's checksum updated so only finiteness fails.
    const nan = mkdtempSync(join(tmpdir(), 'bench-nan-'));
    const poisoned = Buffer.from(weights);
    poisoned.writeFloatLE(Number.NaN, poisoned.length - 4);
    writeFileSync(join(nan, 'weights.safetensors'), poisoned);
    const manifest = JSON.parse(readFileSync(join(good, 'model.json'), 'utf8'));
    manifest.weights.sha256 = createHash('sha256').update(poisoned).digest('hex');
    writeFileSync(join(nan, 'model.json'), JSON.stringify(manifest));
    expectOneLineError(bench('verify', nan, '--reference', join(FIXTURES, 'cnnf_ind2_cycles1', 'cases.safetensors')), 'NaN');
  });

  it('imports the Wide-ResNet CNN baseline (zip) with --arch cnnf-wrn and verifies it (exit 0)', () => {
    const out = join(work, 'wrn-cnn');
    const imp = bench('import', join(FIXTURES, 'cnn_wrn40-2', 'state_dict.pt'), '--arch', 'cnnf-wrn', '--depth', '40', '--widen', '2', '--cycles', '0', '--out', out);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain('[cnnf-wrn WRN-40-2 ind=0 cycles=0 resParam=0]');
    const v = bench('verify', out, '--reference', join(FIXTURES, 'cnn_wrn40-2', 'cases.safetensors'), '--max-outliers', '3');
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain('verify: all 2 cases pass');
    // The paper's CNN-F in the legacy format imports too; a wrong depth is one line naming the flag.
    const paper = bench('import', join(FIXTURES, 'cnnf_wrn40-2_ind5_cycles2', 'state_dict.pt'), '--arch', 'cnnf-wrn', '--depth', '40', '--widen', '2', '--ind', '5', '--cycles', '2', '--res-param', '0.1', '--out', join(work, 'wrn-cnnf'));
    expect(paper.code, paper.stderr).toBe(0);
    expectOneLineError(bench('import', join(FIXTURES, 'cnn_wrn40-2', 'state_dict.pt'), '--arch', 'cnnf-wrn', '--depth', '41', '--widen', '2', '--cycles', '0', '--out', join(work, 'never')), '--depth');
  }, 300_000);

  it('rejects an unknown verb and a bad flag value with exit 2', () => {
    expect(bench('frobnicate').code).toBe(2);
    expectOneLineError(bench('verify', join(work, 'cnnf'), '--reference', 'x', '--tol-grad', '-1'), '--tol-grad');
    expectOneLineError(bench('verify', join(work, 'cnnf'), '--reference', 'x', '--conv-chunk', '1.5'), '--conv-chunk');
  });
});
