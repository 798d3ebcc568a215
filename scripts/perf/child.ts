// One measuring process of scripts/perf.ts. It owns one backend instance and answers one JSON request
// per stdin line with one JSON line on stdout (prefixed by MARK, so stray output cannot be mistaken for
// a reply). The parent drives several of these in lock step to measure N processes running at once,
// as `bench run --workers N` does. Every timed call ends with its result read back to the host, outside
// any tf.tidy (design.md: a read inside a tidy measured 50x slower for one conv).
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { tf, type Tensor1D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { disabledFastPaths } from '../../src/engine/fastPaths.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist, packageRoot, type ImageDataset } from '../../src/data/fashionMnist.js';
import { toBatch } from '../../src/data/batching.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { pgd } from '../../attacks/pgd.js';
import { getCorruption } from '../../corruptions/registry.js';
import { profileKernels, type KernelProfile } from './profile.js';
import { CHECKPOINT_DIRS, MARK, type FinishReply, type InitReply, type PerfModel, type Request, type RunReply, type Task } from './protocol.js';
import { buildUserModel, saveUserModel, USER_MODEL } from './userModel.js';
import { buildWrnClassifier, wrnCall, wrnInputs } from './wrnModel.js';

let data: ImageDataset | null = null;
const models = new Map<PerfModel, SuiteModel>();
/** WRN classifiers by configuration (random weights; kept across tasks like the checkpoints). */
const wrns = new Map<string, ReturnType<typeof buildWrnClassifier>>();
let current: { task: Task; run: (steps?: number) => Promise<RunReply>; dispose: () => void; profile?: KernelProfile } | null = null;
let tensorsBeforeTask = 0;

/**
 * The user model (scripts/perf/userModel.ts): built with tfjs-layers, saved to a temporary directory in
 * the TF.js on-disk format and loaded back through bench's model families (the tfjs-layers family, with
 * its input mapping from [0,1] pixels to the model's declared range), as `bench run --checkpoints
 * model.json` would.
 */
async function loadUserModel(): Promise<SuiteModel> {
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-perf-user-model-'));
  try {
    const built = buildUserModel();
    const path = await saveUserModel(built, join(dir, 'user-model'));
    built.dispose();
    return await loadSuiteModel({ path, options: { name: 'user-model', inputRange: USER_MODEL.inputRange }, where: 'perf user-model' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function model(name: PerfModel): Promise<SuiteModel> {
  let m = models.get(name);
  if (!m) {
    m = name === 'user' ? await loadUserModel() : await loadSuiteModel({ path: join(packageRoot(), CHECKPOINT_DIRS[name]), output: 'last', where: CHECKPOINT_DIRS[name] });
    models.set(name, m);
  }
  return m;
}

/** The first n Fashion-MNIST test images, or for the user model n seeded uniform [0,1] 32x32x3 images with labels i mod 10. */
async function images(n: number, name: PerfModel = 'cnn'): Promise<{ x: Tensor4D; y: Tensor1D; sampleIndices: number[] }> {
  const sampleIndices = Array.from({ length: n }, (_, i) => i);
  if (name === 'user')
    return {
      x: tf.randomUniform([n, ...USER_MODEL.inputShape], 0, 1, 'float32', 14) as Tensor4D,
      y: tf.tensor1d(sampleIndices.map((i) => i % USER_MODEL.classes), 'int32'),
      sampleIndices,
    };
  if (!data || data.count < n) data = await loadFashionMnist('test', { limit: Math.max(n, 256) });
  return toBatch(data, sampleIndices);
}

/** Times `f`, whose tensors it returns are read back and disposed inside the timed interval. */
async function timed(f: () => Promise<tf.Tensor | tf.Tensor[]> | tf.Tensor | tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const out = await f();
  for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose(out);
  return seconds;
}

async function prepare(task: Task): Promise<void> {
  // Models stay loaded across tasks (a cache, not a leak): load before counting.
  if ('model' in task) await model(task.model);
  if (task.kind === 'wrn' && !wrns.has(JSON.stringify(task.config))) wrns.set(JSON.stringify(task.config), buildWrnClassifier(task.config));
  tensorsBeforeTask = tf.memory().numTensors;
  const withDelta = async (f: () => Promise<Omit<RunReply, 'tensorDelta' | 'cpuSeconds'>>): Promise<RunReply> => {
    const before = tf.memory().numTensors;
    const cpu0 = process.cpuUsage();
    const r = await f();
    const cpu = process.cpuUsage(cpu0);
    return { ...r, cpuSeconds: (cpu.user + cpu.system) / 1e6, tensorDelta: tf.memory().numTensors - before };
  };
  switch (task.kind) {
    case 'matmul': {
      const a = tf.randomNormal([task.size, task.size]) as tf.Tensor2D;
      const b = tf.randomNormal([task.size, task.size]) as tf.Tensor2D;
      const run = () => withDelta(async () => ({ seconds: await timed(() => tf.matMul(a, b)), work: 2 * task.size ** 3 }));
      current = { task, run, dispose: () => tf.dispose([a, b]) };
      break;
    }
    case 'forward': {
      const m = await model(task.model);
      const { x, y } = await images(task.batch);
      const run = () => withDelta(async () => ({ seconds: await timed(() => m.classifier.logits(x, task.output)), work: task.batch }));
      current = { task, run, dispose: () => tf.dispose([x, y]) };
      break;
    }
    case 'pgd': {
      const m = await model(task.model);
      const { x, y, sampleIndices } = await images(task.batch, task.model);
      const run = (steps = 1) =>
        withDelta(async () => {
          // earlyStop off: every image takes every step, so the work is exactly batch x steps.
          const params = { ...pgd.defaults, steps, earlyStop: false };
          const seconds = await timed(async () => {
            const r = await pgd.run(m.classifier, x, y, task.eps, new KeyedRng(0, 'perf/pgd', sampleIndices), {
              path: task.path,
              output: m.ref.output,
              params,
            });
            return r.xAdv;
          });
          return { seconds, work: task.batch * steps };
        });
      current = { task, run, dispose: () => tf.dispose([x, y]) };
      break;
    }
    case 'corruption': {
      const { x, y, sampleIndices } = await images(task.batch);
      const corruptions = task.names.map((n) => getCorruption(n));
      const run = () =>
        withDelta(async () => {
          const parts: Record<string, number> = {};
          let seconds = 0;
          for (const c of corruptions) {
            const rng = new KeyedRng(0, `perf/${c.name}/${task.severity}`, sampleIndices);
            parts[c.name] = await timed(() => c.apply(x, task.severity, rng));
            seconds += parts[c.name];
          }
          return { seconds, work: task.batch * corruptions.length, parts };
        });
      current = { task, run, dispose: () => tf.dispose([x, y]) };
      break;
    }
    case 'wrn': {
      const { classifier } = wrns.get(JSON.stringify(task.config))!;
      const { x, y } = wrnInputs(task.batch);
      const call = wrnCall(classifier, task.case, x, y);
      const run = () => withDelta(async () => ({ seconds: await timed(call), work: task.batch }));
      current = { task, run, dispose: () => tf.dispose([x, y]) };
      break;
    }
    case 'profile': {
      const m = await model(task.model);
      const { x, y } = await images(task.batch, task.model);
      const profile = await profileKernels(m.classifier, x, y, task.path);
      const run = () => withDelta(async () => ({ seconds: profile.wallMs / 1000, work: task.batch }));
      current = { task, run, dispose: () => tf.dispose([x, y]), profile };
      break;
    }
  }
  // Warm-up: the first call allocates wasm memory and fills caches; it is not timed.
  if (task.kind !== 'profile') await current!.run(1);
}

function reply(value: unknown): void {
  process.stdout.write(`${MARK}${JSON.stringify(value)}\n`);
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'init': {
      const info = await initBackend(req.backend);
      let wasmSimd: boolean | null = null;
      let wasmThreads: number | null = null;
      if (info.name === 'wasm') {
        wasmSimd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasmThreads = wasm.getThreadsCount();
      }
      const r: InitReply = { backend: info.name, provider: info.provider, tfjsVersion: info.tfjsVersion, wasmSimd, wasmThreads, disabledFastPaths: disabledFastPaths() };
      return r;
    }
    case 'prepare':
      await prepare(req.task);
      return { ok: true };
    case 'run':
      if (!current) throw new Error('run before prepare');
      return current.run(req.steps);
    case 'finish': {
      if (!current) throw new Error('finish before prepare');
      const profile = current.profile;
      current.dispose();
      current = null;
      const r: FinishReply = {
        maxRssMB: process.resourceUsage().maxRSS / 1024,
        tensorDelta: tf.memory().numTensors - tensorsBeforeTask,
        profile,
      };
      return r;
    }
    case 'exit':
      for (const m of models.values()) m.dispose();
      for (const w of wrns.values()) w.dispose();
      return { ok: true, maxRssMB: process.resourceUsage().maxRSS / 1024 };
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    reply({ error: `not JSON: ${line.slice(0, 80)}` });
    continue;
  }
  try {
    reply(await handle(req));
  } catch (err) {
    reply({ error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
  }
  if (req.op === 'exit') break;
}
rl.close();
