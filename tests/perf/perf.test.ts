// The performance benchmark script (scripts/perf.ts) in --quick mode: it runs end to end with two
// measuring processes and writes a record of the documented shape. Timings are not checked (they depend
// on the machine); the analytic FLOP count is, against design.md's figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { countFlops, stepFlops } from '../../scripts/perf/flops.js';
import { buildUserModel, USER_MODEL, userModelFlops } from '../../scripts/perf/userModel.js';
import { parseOptions } from '../../scripts/perf.js';
import { fmnistArchitecture } from '../../src/models/architecture.js';
import { initBackend } from '../../src/engine/backend.js';
import { layersForwardFlops } from '../../src/models/families/tfjsLayers.js';
import { vectorExtensions } from '../../src/engine/cpuSignature.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const dir = mkdtempSync(join(os.tmpdir(), 'bench-perf-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function perf(args: string[]) {
  return spawnSync(process.execPath, ['--import', tsx, join(root, 'scripts', 'perf.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 420_000 });
}

describe('FLOP count', () => {
  it('matches design.md for the Fashion-MNIST CNN-F (35.7 MFLOP forward, ~28 M multiply-adds per cycle)', () => {
    const f = countFlops(fmnistArchitecture(2, 1, 0.1));
    expect(f.firstPassMacs).toBe(17_828_864);
    expect(f.firstPassFlops / 1e6).toBeCloseTo(35.66, 2);
    expect(f.cycleMacs).toBe(28_206_592);
    expect(stepFlops(f, 'first')).toBe(2 * f.firstPassFlops);
    expect(stepFlops(f, 'e2e')).toBe(2 * f.forwardFlops);
    expect(stepFlops(f, 'bpda')).toBe(f.forwardFlops + f.firstPassFlops);
    expect(stepFlops(f, 'bpda', false)).toBe(f.forwardFlops + 2 * f.firstPassFlops);
    const cnn = countFlops(fmnistArchitecture(2, 0, 0.1));
    expect(cnn.forwardFlops).toBe(cnn.firstPassFlops);
    expect(stepFlops(cnn, 'e2e')).toBe(2 * cnn.firstPassFlops);
  });
});

describe('user model FLOP count', () => {
  it('agrees with the tfjs-layers family\'s own count from the built model\'s weights, and counts the step as 2 forward + the weight gradients formed', async () => {
    await initBackend('wasm');
    const model = buildUserModel();
    const f = userModelFlops();
    // Two counts: ours from the layer shapes in the spec, the family's from each layer's weight sizes x output positions.
    expect(f.forwardFlops).toBe(layersForwardFlops(model));
    model.dispose();
    // By hand: stem 16*16*9*3*32; depthwise 16*16*9*32, 8*8*9*64, 8*8*9*128, 4*4*9*128, 4*4*9*256;
    // pointwise 16*16*32*64, 8*8*64*128, 8*8*128*128, 4*4*128*256, 4*4*256*256; dense 256*10.
    const depthwise = 16 * 16 * 9 * 32 + 8 * 8 * 9 * 64 + 8 * 8 * 9 * 128 + 4 * 4 * 9 * 128 + 4 * 4 * 9 * 256;
    const fused = 16 * 16 * 9 * 3 * 32 + 16 * 16 * 32 * 64 + 8 * 8 * 64 * 128 + 8 * 8 * 128 * 128 + 4 * 4 * 128 * 256 + 4 * 4 * 256 * 256 + 256 * 10;
    expect(f.forwardMacs).toBe(depthwise + fused);
    expect(f.fusedMacs).toBe(fused);
    // With the fused conv2d gradient (fast path on) only the Dense layer's weight gradient is formed.
    expect(f.weightGradientMacs).toBe(256 * 10);
    expect(f.stepFlops).toBe(2 * (2 * (depthwise + fused) + 256 * 10));
    // TensorFlow.js's own fused gradients form every Conv2D and Dense weight gradient.
    expect(userModelFlops(USER_MODEL, true).stepFlops).toBe(2 * (2 * (depthwise + fused) + fused));
    expect(USER_MODEL.inputShape).toEqual([32, 32, 3]);
  });

  it('--only user-model selects that section alone', () => {
    expect([...parseOptions(['--only', 'user-model']).only]).toEqual(['user-model']);
    expect(parseOptions(['--quick']).only.has('user-model')).toBe(true);
    expect(parseOptions([]).userBatches).toEqual([32, 100]);
  });

  it('times the paper\'s WRN-40-2 CNN-F at batch 32 by default, a WRN-10-1 at batch 2 with --quick', () => {
    const full = parseOptions([]);
    expect(full.only.has('wrn')).toBe(true);
    expect(full.wrnConfig).toEqual({ depth: 40, widen: 2, ind: 5, cycles: 2 });
    expect(full.wrnBatch).toBe(32);
    expect(full.wrnTorch).toBeNull();
    expect(full.wrnTorchThreads).toEqual([1, 2]);
    const quick = parseOptions(['--quick', '--wrn-torch', '/tmp/cnnf', '--wrn-torch-threads', '1']);
    expect(quick.wrnConfig).toEqual({ depth: 10, widen: 1, ind: 1, cycles: 1 });
    expect(quick.wrnBatch).toBe(2);
    expect(quick.wrnTorch).toBe('/tmp/cnnf');
    expect(quick.wrnTorchThreads).toEqual([1]);
  });
});

describe('npm run perf -- --quick', () => {
  it('measures with 2 processes and writes a record of the documented shape', () => {
    const out = join(dir, 'perf.json');
    const r = perf(['--quick', '--workers', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('PGD L-inf');
    expect(r.stderr).toMatch(/\[perf [0-9:]+\] pgd cnnf\/e2e batch 8/); // one progress line per measurement
    const rec = JSON.parse(readFileSync(out, 'utf8'));
    expect(rec.format).toBe('bench-perf/1');
    expect(rec.options).toMatchObject({ quick: true, workers: 2, batches: [8], steps: 2 });
    expect(rec.machine.cpus).toBeGreaterThan(0);
    expect(typeof rec.machine.cpuModel).toBe('string');
    expect(rec.machine.vectorExtensions).toEqual(vectorExtensions());
    expect(rec.software.node).toBe(process.version);
    expect(rec.backend.name).toBe('wasm');
    expect(rec.git).toHaveProperty('commit');
    expect(rec.conditions.loadAverageStart).toHaveLength(3);
    expect(rec.matmul.single.gflops).toBeGreaterThan(0);
    expect(rec.matmul.parallel.processes).toBe(2);
    expect(rec.pgd.map((p: { model: string; path: string }) => `${p.model}/${p.path}`)).toEqual(['cnn/first', 'cnnf/e2e', 'cnnf/bpda']);
    for (const p of rec.pgd) {
      expect(p.batch).toBe(8);
      expect(p.mflopPerImageStep).toBeGreaterThan(0);
      for (const s of [p.single, p.parallel]) {
        expect(s.attackRate).toBeGreaterThan(0);
        expect(s.attackRateCpu).toBeGreaterThan(0);
        expect(s.seconds).toHaveLength(1);
      }
      expect(p.parallel.processes).toBe(2);
    }
    expect(rec.forward).toHaveLength(2);
    expect(rec.forward[0].single.rate).toBeGreaterThan(0);
    expect(rec.corruption.names).toHaveLength(3);
    expect(Object.keys(rec.corruption.perCorruptionImagesPerSecond)).toEqual(rec.corruption.names);
    expect(rec.profile.map((p: { model: string; path: string }) => `${p.model}/${p.path}`)).toEqual(['cnnf/e2e', 'cnn/first']);
    expect(rec.profile[0].kernels.length).toBeGreaterThan(3);
    // bench's own models run no kernel through the cpu fallback (src/engine/kernels/cpu-fallback.ts).
    for (const p of rec.profile) expect(p.cpuFallbacks, `${p.model}/${p.path}`).toEqual([]);
    // The user model: PGD through the tfjs-layers family, and a profile with no cpu-fallback kernel.
    const um = rec.userModel;
    expect(um.pgd.map((p: { model: string; path: string; batch: number }) => `${p.model}/${p.path}/${p.batch}`)).toEqual(['user/direct/8']);
    for (const s of [um.pgd[0].single, um.pgd[0].parallel]) {
      expect(s.attackRate).toBeGreaterThan(0);
      expect(s.attackRateCpu).toBeGreaterThan(0);
    }
    expect(um.pgd[0].parallel.processes).toBe(2);
    expect(um.pgd[0].mflopPerImageStep).toBeCloseTo(um.flops.stepFlops / 1e6, 9);
    expect(um.profile.model).toBe('user-model');
    // The input gradients run; no weight gradient is formed (fast paths fused-conv-grad, batch-norm-grad: no Tile).
    const kernelNames = um.profile.kernels.map((k: { name: string }) => k.name);
    expect(kernelNames).toEqual(expect.arrayContaining(['DepthwiseConv2dNativeBackpropInput', 'Conv2DBackpropInput', 'FusedConv2D']));
    expect(kernelNames).not.toContain('Conv2DBackpropFilter');
    expect(kernelNames).not.toContain('Tile');
    expect(um.profile.cpuFallbacks).toEqual([]);
    expect(r.stdout).toContain('user model (TF.js layers-model');
    // The Wide-ResNet CNN-F section (issue 15) at its smoke size: WRN-10-1, ind 1, 1 cycle, batch 2.
    expect(rec.wrn.config).toEqual({ depth: 10, widen: 1, ind: 1, cycles: 1 });
    expect(rec.wrn.batch).toBe(2);
    expect(rec.wrn.cases.map((c: { case: string }) => c.case)).toEqual(['first', 'forward', 'e2e']);
    for (const c of rec.wrn.cases) {
      expect(c.single.rate).toBeGreaterThan(0);
      expect(c.single.rateCpu).toBeGreaterThan(0);
      expect(c.single.gflopsCpu).toBeCloseTo((c.single.rateCpu * c.mflopPerImage) / 1e3, 6);
      expect(c.parallel.processes).toBe(2);
    }
    // e2e = 2 x the full inference's FLOPs, which exceed the first pass's (scripts/perf/wrnFlops.ts).
    expect(rec.wrn.cases[2].mflopPerImage).toBeCloseTo(2 * rec.wrn.cases[1].mflopPerImage, 9);
    expect(rec.wrn.cases[1].mflopPerImage).toBeGreaterThan(rec.wrn.cases[0].mflopPerImage);
    expect(rec.wrn.torch).toEqual([]); // the PyTorch reference runs only with --wrn-torch
    expect(r.stdout).toContain('WRN-10-1 CNN-F (ind 1, 1 cycles), batch 2');
    expect(r.stdout).toContain('PyTorch reference: not run');
    expect(rec.peakRssMB.length).toBe(3); // two measuring processes and the parent
    expect(rec.leaks).toEqual([]); // tf.memory().numTensors flat across every measured call
    expect(rec.targets.cnnFirst.target).toBe(370);
    expect(rec.targets.cnnfE2e.target).toBe(82);
    expect(rec.suites).toEqual([]);
  }, 450_000);

  it('refuses an unknown flag with one line and exit code 2', () => {
    const r = perf(['--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--bogus');
  });
});
