// Performance benchmark (issue 8): how fast attacks, forward passes and corruptions run on this machine,
// with 1 process and with N processes at once (how `bench run --workers N` uses the cores), compared
// with an analytic FLOP count and the backend's measured matrix-multiply rate. Method and results:
// docs/performance.md.
//
//   npm run build && npm run perf -- [--quick] [--batches 50,100,200] [--workers N] [--steps 10]
//       [--reps 3] [--eps 0.03] [--backend auto|wasm|cpu|tensorflow] [--suites] [--no-profile]
//       [--note TEXT] [--out FILE]
//
// Writes a JSON record (default reports/perf-<timestamp>.json) and prints a table; one progress line
// per measurement on stderr. --suites also times `bench run --suite adversarial` and `--suite corruption`
// end to end (about 13 minutes more). --quick is a smoke run with tiny settings (seconds). The
// `user-model` section (issue 14) times PGD on a depthwise-separable TF.js layers-model loaded through
// bench's model families (scripts/perf/userModel.ts) and profiles its attack step.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { packageRoot } from '../src/data/fashionMnist.js';
import { vectorExtensions } from '../src/engine/cpuSignature.js';
import { CORRUPTION_NAMES } from '../corruptions/registry.js';
import type { ArchitectureSpec } from '../src/models/architecture.js';
import type { GradientPath, OutputKind } from '../src/models/classifier.js';
import { countFlops, forwardFlops, stepFlops, type FlopCount } from './perf/flops.js';
import { MeasuringProcess } from './perf/driver.js';
import { CHECKPOINT_DIRS, type FinishReply, type InitReply, type ModelName, type PerfModel, type RunReply, type Task } from './perf/protocol.js';
import { USER_MODEL, userModelFlops } from './perf/userModel.js';
import { PAPER_WRN, QUICK_WRN, WRN_CASES, wrnArch, type WrnCase, type WrnConfig } from './perf/wrnModel.js';
import { countWrnFlops } from './perf/wrnFlops.js';
import type { KernelProfile } from './perf/profile.js';

export const PERF_FORMAT = 'bench-perf/1';

/** The issue's reference: PyTorch 1.13 (CPU, 2 threads, batch 100) on this machine, and the 2x target. */
const PYTORCH_RATE = { cnnFirst: 185, cnnfE2e: 41 };
const TARGET_RATE = { cnnFirst: 370, cnnfE2e: 82 };
/** The issue's ceiling: a large float32 matmul with an optimised BLAS on these 2 cores (not measured here). */
const BLAS_GFLOPS_2_CORES = 180;

// ---------------------------------------------------------------------------------------------- options

interface Options {
  quick: boolean;
  batches: number[];
  workers: number | null;
  steps: number;
  reps: number;
  eps: number;
  backend: string;
  suites: boolean;
  note: string;
  out: string | null;
  matmulSize: number;
  corruptionBatch: number;
  corruptionSeverity: number;
  corruptions: string[];
  profileBatch: number;
  /** Sections to run (all by default). */
  only: Set<Section>;
  /** PGD cases as model/path (default cnn/first, cnnf/e2e, cnnf/bpda). */
  cases: [ModelName, GradientPath][];
  /** PGD batch sizes of the user model (default 32,100; --quick 8; an explicit --batches applies too). */
  userBatches: number[];
  /** Batch of the user model's kernel profile (32; --quick 8). */
  userProfileBatch: number;
  /** The Wide-ResNet CNN-F timed by the wrn section (WRN-40-2 ind 5 cycles 2; --quick WRN-10-1 ind 1 cycles 1). */
  wrnConfig: WrnConfig;
  /** Its batch (32; --quick 2). */
  wrnBatch: number;
  /** A checkout of yjhuangcd/CNNF: run the PyTorch reference (scripts/reference/wrn_perf.py) for the same cases. */
  wrnTorch: string | null;
  /** Torch thread counts of the reference runs (1 and 2). */
  wrnTorchThreads: number[];
}

export const SECTIONS = ['matmul', 'forward', 'pgd', 'user-model', 'wrn', 'corruption', 'profile'] as const;
export type Section = (typeof SECTIONS)[number];
const DEFAULT_CASES: [ModelName, GradientPath][] = [['cnn', 'first'], ['cnnf', 'e2e'], ['cnnf', 'bpda']];

function usageError(message: string): never {
  process.stderr.write(`perf: ${message}\n`);
  process.exit(2);
}

const USAGE = `npm run perf -- [options]   (after npm run build; docs/performance.md)
  --quick                 smoke run with tiny settings (seconds)
  --workers N             measuring processes at once (default: cores for wasm/cpu, 1 for tensorflow)
  --batches 50,100,200    PGD and forward batch sizes
  --steps 10 --reps 3     PGD steps per attack; timed rounds per measurement (median reported)
  --eps 0.03              L-inf radius in [0,1] pixel units
  --backend auto|wasm|cpu|tensorflow
  --only matmul,forward,pgd,user-model,wrn,corruption,profile   sections to run (default all)
  --cases cnn/first,cnnf/e2e,cnnf/bpda           PGD model/path cases
  --profile-batch 100     batch of the kernel profile
  --wrn-batch 32          batch of the WRN-40-2 CNN-F cases (first pass, full inference, e2e PGD step)
  --wrn-torch DIR         also run the original PyTorch code (a yjhuangcd/CNNF checkout) on the WRN cases,
                          with /usr/bin/python3 scripts/reference/wrn_perf.py
  --wrn-torch-threads 1,2 thread counts of those runs (torch's and OpenBLAS's pools; needs python3-threadpoolctl)
  --suites                also time bench run --suite adversarial and --suite corruption
  --note TEXT             stored in the record (what else ran on the machine)
  --out FILE              JSON record (default reports/perf-<time>.json)
  BENCH_DISABLE_FAST=name,...|all turns fast paths off (src/engine/fastPaths.ts)`;

export function parseOptions(argv: string[]): Options {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) usageError(`unexpected argument ${JSON.stringify(a)}`);
    const name = a.slice(2);
    if (['quick', 'suites', 'no-profile'].includes(name)) flags.set(name, true);
    else if (['batches', 'workers', 'steps', 'reps', 'eps', 'backend', 'note', 'out', 'only', 'cases', 'profile-batch', 'wrn-batch', 'wrn-torch', 'wrn-torch-threads'].includes(name)) {
      if (i + 1 >= argv.length) usageError(`--${name} needs a value`);
      flags.set(name, argv[++i]);
    } else usageError(`unknown flag --${name} (allowed: --quick --batches --workers --steps --reps --eps --backend --suites --no-profile --note --out --only --cases --profile-batch --wrn-batch --wrn-torch --wrn-torch-threads)`);
  }
  const str = (k: string) => (typeof flags.get(k) === 'string' ? (flags.get(k) as string) : undefined);
  const posInt = (k: string, v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usageError(`--${k} ${v}: must be a positive integer`);
    return n;
  };
  const quick = flags.has('quick');
  const batchesText = str('batches');
  const batches = batchesText === undefined ? (quick ? [8] : [50, 100, 200]) : batchesText.split(',').map((b) => posInt('batches', b.trim(), 0));
  const eps = str('eps') === undefined ? 0.03 : Number(str('eps'));
  if (!(eps > 0 && eps <= 1)) usageError(`--eps ${str('eps')}: must be in (0, 1]`);
  const backend = str('backend') ?? process.env.BENCH_BACKEND ?? 'auto';
  if (!['auto', 'wasm', 'cpu', 'tensorflow'].includes(backend)) usageError(`--backend ${backend}: allowed auto, tensorflow, wasm, cpu`);
  const onlyText = str('only');
  const only = new Set<Section>(onlyText === undefined ? SECTIONS : (onlyText.split(',').map((x) => x.trim()) as Section[]));
  for (const sct of only) if (!SECTIONS.includes(sct)) usageError(`--only ${onlyText}: allowed sections ${SECTIONS.join(', ')}`);
  if (flags.has('no-profile')) only.delete('profile');
  const casesText = str('cases');
  const cases = casesText === undefined
    ? DEFAULT_CASES
    : casesText.split(',').map((c) => {
        const [m, p] = c.trim().split('/');
        if (!['cnn', 'cnnf'].includes(m) || !['first', 'e2e', 'bpda'].includes(p)) usageError(`--cases ${casesText}: each case is cnn|cnnf / first|e2e|bpda, e.g. cnnf/e2e`);
        return [m, p] as [ModelName, GradientPath];
      });
  return {
    quick,
    only,
    cases,
    batches,
    workers: str('workers') === undefined ? null : posInt('workers', str('workers'), 1),
    steps: posInt('steps', str('steps'), quick ? 2 : 10),
    reps: posInt('reps', str('reps'), quick ? 1 : 3),
    eps,
    backend,
    suites: flags.has('suites'),
    note: str('note') ?? '',
    out: str('out') ?? null,
    matmulSize: quick ? 128 : 1024,
    corruptionBatch: quick ? 8 : 250,
    corruptionSeverity: 3,
    corruptions: quick ? ['gaussian_noise', 'defocus_blur', 'contrast'] : [...CORRUPTION_NAMES],
    profileBatch: posInt('profile-batch', str('profile-batch'), quick ? 8 : 100),
    userBatches: batchesText === undefined ? (quick ? [8] : [32, 100]) : batches,
    userProfileBatch: quick ? 8 : 32,
    wrnConfig: quick ? QUICK_WRN : PAPER_WRN,
    wrnBatch: posInt('wrn-batch', str('wrn-batch'), quick ? 2 : 32),
    wrnTorch: str('wrn-torch') ?? null,
    wrnTorchThreads: str('wrn-torch-threads') === undefined ? [1, 2] : str('wrn-torch-threads')!.split(',').map((t) => posInt('wrn-torch-threads', t.trim(), 1)),
  };
}

// ------------------------------------------------------------------------------------------ statistics

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One lock-step round: every process ran the same call; the round lasts as long as the slowest. */
interface Round {
  /** Slowest process's seconds (the round's wall time). */
  seconds: number;
  /** Largest CPU time of a process in the round. */
  cpuSeconds: number;
  /** Work per CPU-second, summed over processes (each process's own work / its own CPU time). */
  cpuRate: number;
  /** Work summed over processes. */
  work: number;
  perProcessSeconds: number[];
  parts?: Record<string, number>;
}

interface Series {
  processes: number;
  /** Rounds per variant (steps for PGD; 'run' otherwise), in repetition order. */
  rounds: Record<string, Round[]>;
}

/** Work per second of the median round of a variant. */
function rate(series: Series, variant = 'run'): { median: number; best: number; cpu: number } {
  const rounds = series.rounds[variant];
  return {
    median: median(rounds.map((r) => r.work / r.seconds)),
    best: Math.max(...rounds.map((r) => r.work / r.seconds)),
    cpu: median(rounds.map((r) => r.cpuRate)),
  };
}

// ------------------------------------------------------------------------------------------- machine

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    /** Which of avx, avx2, fma, avx512f the CPU has: native libraries (PyTorch) use them, wasm does not. */
    vectorExtensions: vectorExtensions(),
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
  };
}

function packageVersion(name: string): string | null {
  try {
    const require = createRequire(join(packageRoot(), 'package.json'));
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

function architecture(model: ModelName): ArchitectureSpec {
  const manifest = JSON.parse(readFileSync(join(packageRoot(), CHECKPOINT_DIRS[model], 'model.json'), 'utf8')) as { architecture: ArchitectureSpec };
  return manifest.architecture;
}

// --------------------------------------------------------------------------------------- measuring

const progress = (line: string) => process.stderr.write(`[perf ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

class Bench {
  readonly processes: MeasuringProcess[] = [];
  readonly maxRssMB: number[] = [];
  leaks: { task: string; where: string; tensors: number }[] = [];

  constructor(readonly opts: Options) {}

  async start(workers: number, backend: string): Promise<InitReply> {
    for (let i = 0; i < workers; i++) this.processes.push(new MeasuringProcess(i));
    const infos = await Promise.all(this.processes.map((p) => p.send<InitReply>({ op: 'init', backend })));
    return infos[0];
  }

  async round(procs: MeasuringProcess[], steps?: number): Promise<Round> {
    const replies = await Promise.all(procs.map((p) => p.send<RunReply>({ op: 'run', steps })));
    for (const [i, r] of replies.entries()) if (r.tensorDelta !== 0) this.leaks.push({ task: '', where: `process ${i} run`, tensors: r.tensorDelta });
    return {
      seconds: Math.max(...replies.map((r) => r.seconds)),
      cpuSeconds: Math.max(...replies.map((r) => r.cpuSeconds)),
      cpuRate: replies.reduce((s, r) => s + r.work / r.cpuSeconds, 0),
      work: replies.reduce((s, r) => s + r.work, 0),
      perProcessSeconds: replies.map((r) => r.seconds),
      parts: replies[0].parts,
    };
  }

  /**
   * Prepares `task` (with an untimed warm-up call) in every process, then runs `reps` rounds of each
   * variant in process 0 alone and then in all processes at once.
   */
  async measure(task: Task, label: string, variants: (number | undefined)[], parallel = true): Promise<{ single: Series; parallel: Series | null; profile?: KernelProfile }> {
    const all = parallel ? this.processes : this.processes.slice(0, 1);
    const leaksBefore = this.leaks.length;
    await Promise.all(all.map((p) => p.send({ op: 'prepare', task })));
    const series = async (procs: MeasuringProcess[]): Promise<Series> => {
      const rounds: Record<string, Round[]> = {};
      for (let r = 0; r < this.opts.reps; r++)
        for (const v of variants) (rounds[v === undefined ? 'run' : String(v)] ??= []).push(await this.round(procs, v));
      return { processes: procs.length, rounds };
    };
    const single = await series(all.slice(0, 1));
    const par = all.length > 1 ? await series(all) : null;
    const finishes = await Promise.all(all.map((p) => p.send<FinishReply>({ op: 'finish' })));
    finishes.forEach((f, i) => {
      this.maxRssMB[i] = Math.max(this.maxRssMB[i] ?? 0, f.maxRssMB);
      if (f.tensorDelta !== 0) this.leaks.push({ task: label, where: `process ${i} after finish`, tensors: f.tensorDelta });
    });
    for (const l of this.leaks.slice(leaksBefore)) l.task ||= label;
    return { single, parallel: par, profile: finishes[0].profile };
  }

  async close(): Promise<void> {
    const closes = await Promise.all(this.processes.map((p) => p.close().catch(() => null)));
    closes.forEach((c, i) => c && (this.maxRssMB[i] = Math.max(this.maxRssMB[i] ?? 0, c.maxRssMB)));
  }

  kill(): void {
    for (const p of this.processes) p.kill();
  }
}

// ------------------------------------------------------------------------------------------ records

export interface RateSummary {
  processes: number;
  /** images x steps / s of whole attacks of `steps` steps (random start, final evaluation and copies included). */
  attackRate: number;
  attackRateBest: number;
  /** attackRate with CPU time in place of wall time (see RunReply.cpuSeconds): steadier under contention. */
  attackRateCpu: number;
  /** images x steps / s of the steps alone: (T(steps) - T(1)) / (batch x (steps - 1)) on the median rounds. */
  stepRate: number | null;
  /** stepRate with CPU time in place of wall time. */
  stepRateCpu: number | null;
  /** FLOP/s of the steps (stepRate x FLOP per image-step), in GFLOP/s. */
  gflops: number | null;
  /** gflops / the measured matmul rate with the same number of processes. */
  fractionOfMatmul: number | null;
  /** FLOP/s of the steps per CPU-second (stepRateCpu x FLOP per image-step), in GFLOP/s. */
  gflopsCpu: number | null;
  /** gflopsCpu / the matmul rate per CPU-second with the same number of processes: the steadier ratio on a loaded machine. */
  fractionOfMatmulCpu: number | null;
  seconds: number[];
}

export interface PgdRecord {
  model: PerfModel;
  path: GradientPath | 'direct';
  batch: number;
  steps: number;
  eps: number;
  mflopPerImageStep: number;
  single: RateSummary;
  parallel: RateSummary | null;
}

function pgdSummary(series: Series, batch: number, steps: number, flop: number, matmul: number | null, matmulCpu: number | null = null): RateSummary {
  const a = rate(series, String(steps));
  const tS = median(series.rounds[String(steps)].map((r) => r.seconds));
  let stepRate: number | null = null;
  let stepRateCpu: number | null = null;
  if (steps > 1 && series.rounds['1']) {
    const t1 = median(series.rounds['1'].map((r) => r.seconds));
    stepRate = tS > t1 ? (series.processes * batch * (steps - 1)) / (tS - t1) : null;
    const c1 = median(series.rounds['1'].map((r) => r.cpuSeconds));
    const cS = median(series.rounds[String(steps)].map((r) => r.cpuSeconds));
    stepRateCpu = cS > c1 ? (series.processes * batch * (steps - 1)) / (cS - c1) : null;
  }
  const gflops = stepRate === null ? null : (stepRate * flop) / 1e9;
  const gflopsCpu = stepRateCpu === null ? null : (stepRateCpu * flop) / 1e9;
  return {
    processes: series.processes,
    attackRate: a.median,
    attackRateBest: a.best,
    attackRateCpu: a.cpu,
    stepRate,
    stepRateCpu,
    gflops,
    fractionOfMatmul: gflops !== null && matmul ? gflops / matmul : null,
    gflopsCpu,
    fractionOfMatmulCpu: gflopsCpu !== null && matmulCpu ? gflopsCpu / matmulCpu : null,
    seconds: series.rounds[String(steps)].map((r) => r.seconds),
  };
}

function simpleSummary(series: Series, flopPerUnit: number | null, matmul: number | null) {
  const r = rate(series);
  const gflops = flopPerUnit === null ? null : (r.median * flopPerUnit) / 1e9;
  return {
    processes: series.processes,
    rate: r.median,
    rateBest: r.best,
    rateCpu: r.cpu,
    gflops,
    fractionOfMatmul: gflops !== null && matmul ? gflops / matmul : null,
    seconds: series.rounds.run.map((x) => x.seconds),
  };
}

// ------------------------------------------------------------------------------------------- suites

async function timeSuite(suite: 'adversarial' | 'corruption', workers: number, backend: string) {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const root = packageRoot();
  const cli = fromSource
    ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, join(root, 'src/cli/main.ts')]
    : [join(root, 'dist/src/cli/main.js')];
  const dir = mkdtempSync(join(os.tmpdir(), `bench-perf-${suite}-`));
  const runDir = join(dir, 'run');
  const args = [...cli, 'run', '--suite', suite, '--quiet', '--workers', String(workers), '--backend', backend, '--out', runDir];
  progress(`suite ${suite}: bench ${args.slice(cli.length).join(' ')}`);
  const t0 = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += String(d)));
    child.on('close', (c) => done({ code: c, stderr: err }));
  });
  const seconds = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  progress(`suite ${suite}: ${code === 0 ? `${seconds.toFixed(0)} s` : `failed with exit code ${code}`}`);
  return { suite, command: `bench ${args.slice(cli.length).join(' ').replace(runDir, '<tmp>')}`, workers, wallSeconds: seconds, exitCode: code, stderrTail: code === 0 ? undefined : stderr.slice(-2000) };
}

// ------------------------------------------------------------------------------------ PyTorch reference

/** What scripts/reference/wrn_perf.py prints (per case: seconds per batch and rates). */
interface TorchRecord {
  threads: number;
  torch?: string;
  loadavg_start?: number[];
  loadavg_end?: number[];
  results?: Record<WrnCase, { wall_s: number[]; cpu_s: number[]; best_rate: number; median_rate: number; cpu_rate: number }>;
  error?: string;
}

/**
 * Runs the original PyTorch WideResNet (a yjhuangcd/CNNF checkout at opts.wrnTorch) on the WRN cases with
 * Debian's python3-torch: scripts/reference/wrn_perf.py, same configuration, batch and repetitions,
 * `threads` torch threads. A failure is recorded, not thrown (the wasm figures stand on their own).
 */
function runTorchReference(opts: Options, threads: number): TorchRecord {
  const c = opts.wrnConfig;
  const args = [join(packageRoot(), 'scripts', 'reference', 'wrn_perf.py'), '--cnnf', resolve(opts.wrnTorch!), '--threads', String(threads),
    '--batch', String(opts.wrnBatch), '--reps', String(opts.reps), '--depth', String(c.depth), '--widen', String(c.widen), '--ind', String(c.ind), '--cycles', String(c.cycles)];
  progress(`wrn PyTorch reference, ${threads} thread(s): python3 ${args.join(' ')}`);
  try {
    const out = execFileSync('/usr/bin/python3', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
    const rec = { ...(JSON.parse(out) as TorchRecord), threads };
    progress(`  ${WRN_CASES.map((k) => `${k} ${f(rec.results?.[k]?.median_rate, 2)}/s`).join(', ')}`);
    return rec;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    progress(`  failed: ${(e.stderr || e.message).trim().split('\n').slice(-1)[0]}`);
    return { threads, error: (e.stderr || e.message).slice(-2000) };
  }
}

// ---------------------------------------------------------------------------------------------- table

const f = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function formatTable(rec: any): string {
  const lines: string[] = [];
  const m = rec.machine;
  const b = rec.backend;
  lines.push(`bench perf  ${rec.createdAt}  commit ${rec.git.commit ?? '?'}${rec.git.dirty ? ' (dirty)' : ''}`);
  lines.push(`machine: ${m.cpuModel}${m.vectorExtensions ? ` (${m.vectorExtensions.join(' ') || 'no AVX'})` : ''}, ${m.cpus} cpus, ${m.memoryGB} GB; node ${rec.software.node}, tfjs ${rec.software.tfjs}`);
  lines.push(`backend: ${b.name} (${b.provider})${b.wasmSimd !== null ? `, SIMD ${b.wasmSimd ? 'on' : 'off'}, ${b.wasmThreads} thread(s) per process` : ''}; workers ${rec.options.workers}${rec.disabledFastPaths?.length ? `; fast paths OFF: ${rec.disabledFastPaths.join(', ')}` : ''}`);
  lines.push(`load average at start ${rec.conditions.loadAverageStart.map((x: number) => x.toFixed(2)).join(' ')}, at end ${rec.conditions.loadAverageEnd.map((x: number) => x.toFixed(2)).join(' ')}${rec.conditions.note ? `; note: ${rec.conditions.note}` : ''}`);
  lines.push('');
  const mm = rec.matmul;
  if (mm) lines.push(`matmul ${mm.size}x${mm.size}x${mm.size} float32: ${f(mm.single.gflops)} GFLOP/s in 1 process${mm.parallel ? `, ${f(mm.parallel.gflops)} GFLOP/s in ${mm.parallel.processes} at once` : ''}  (issue's BLAS reference on 2 cores: ${BLAS_GFLOPS_2_CORES})`);
  const W = rec.options.workers;
  if (rec.pgd.length) {
  lines.push('');
  lines.push(`PGD L-inf, eps ${rec.options.eps}, ${rec.options.steps} steps, random start, no early stop; images x steps / s (attack: whole attack; step: the steps alone)`);
  const widths = [10, 5, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7];
  lines.push(`  columns 4-7: 1 process alone; columns 8-11: ${W} processes at once (summed)`);
  lines.push(pad(['model/path', 'batch', 'MFLOP/is', 'attack', 'step', 'atk/cpu', 'GFLOP/s', 'attack', 'step', 'atk/cpu', 'GFLOP/s', '%matmul'], widths));
  for (const p of rec.pgd as PgdRecord[]) {
    const one = p.single;
    const par = p.parallel;
    const frac = (par ?? one).fractionOfMatmul;
    lines.push(
      pad(
        [`${p.model}/${p.path}`, String(p.batch), f(p.mflopPerImageStep), f(one.attackRate), f(one.stepRate), f(one.attackRateCpu), f(one.gflops),
          f(par?.attackRate), f(par?.stepRate), f(par?.attackRateCpu), f(par?.gflops), frac != null ? `${(100 * frac).toFixed(0)}%` : '-'],
        widths,
      ),
    );
  }
  lines.push('  attack: n x steps / wall time of a whole attack; step: the steps alone (T(steps) - T(1)); atk/cpu: attack rate per CPU-second');
  }
  const um = rec.userModel;
  if (um) {
    lines.push('');
    lines.push(`user model (TF.js layers-model, depthwise-separable, ${um.spec.inputShape.join('x')}, input range [${um.spec.inputRange.join(', ')}]): ${f(um.flops.forwardFlops / 1e6, 2)} MFLOP forward, ${f(um.flops.stepFlops / 1e6, 2)} MFLOP per image-step (x${um.flops.stepFactor.toFixed(2)})`);
    const widths = [12, 5, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8];
    lines.push(`  columns 4-7: 1 process alone; columns 8-11: ${W} processes at once (summed); %matmul: wall GFLOP/s / wall matmul rate; %mm/cpu: the same per CPU-second`);
    lines.push(pad(['model/path', 'batch', 'MFLOP/is', 'attack', 'step', 'atk/cpu', 'GFLOP/s', 'attack', 'step', 'atk/cpu', 'GFLOP/s', '%matmul', 'stp/cpu', '%mm/cpu'], widths));
    for (const p of um.pgd as PgdRecord[]) {
      const one = p.single;
      const par = p.parallel;
      const frac = (par ?? one).fractionOfMatmul;
      const fracCpu = (par ?? one).fractionOfMatmulCpu;
      lines.push(
        pad(
          ['user/direct', String(p.batch), f(p.mflopPerImageStep), f(one.attackRate), f(one.stepRate), f(one.attackRateCpu), f(one.gflops),
            f(par?.attackRate), f(par?.stepRate), f(par?.attackRateCpu), f(par?.gflops), frac != null ? `${(100 * frac).toFixed(0)}%` : '-',
            f((par ?? one).stepRateCpu), fracCpu != null ? `${(100 * fracCpu).toFixed(0)}%` : '-'],
          widths,
        ),
      );
    }
  }
  if (rec.forward.length) {
  lines.push('');
  lines.push('forward (classifier.logits, read back), images / s');
  const fw = [12, 5, 9, 10, 10];
  lines.push(pad(['model/output', 'batch', 'MFLOP/img', '1 process', `${W} at once`], fw));
  for (const r of rec.forward) lines.push(pad([`${r.model}/${r.output}`, String(r.batch), f(r.mflopPerImage), f(r.single.rate, 0), f(r.parallel?.rate, 0)], fw));
  }
  const wr = rec.wrn;
  if (wr) {
    const cfg = wr.config;
    lines.push('');
    lines.push(`WRN-${cfg.depth}-${cfg.widen} CNN-F (ind ${cfg.ind}, ${cfg.cycles} cycles), batch ${wr.batch}: images / s (e2e: images x steps / s of one PGD step)`);
    const torch = (wr.torch as TorchRecord[]).filter((t) => t.results);
    const t1 = torch.find((t) => t.threads === 1);
    const t2 = torch.find((t) => t.threads === 2);
    const widths = [7, 8, 7, 7, 7, 7, 8, 7, 7, 7, 7, 7, 7];
    lines.push(`  wasm: 1 process (wall, per CPU-second, GFLOP per CPU-second, % of the matmul probe per CPU-second) and ${W} at once; PyTorch ${t1?.torch ?? ''}: 1 thread (wall, per CPU-s), 2 threads; ratios wasm / PyTorch`);
    lines.push(pad(['case', 'MFLOP/i', '1 proc', 'cpu', 'GF/cpu-s', '%mm', `${W} procs`, 'torch1', 'cpu', 'torch2', '1p/t1', 'cpu/cpu', `${W}p/t2`], widths));
    for (const r of wr.cases) {
      const a = t1?.results?.[r.case as WrnCase];
      const b = t2?.results?.[r.case as WrnCase];
      const ratio = (x: number | null | undefined, y: number | undefined) => (x != null && y ? `${(x / y).toFixed(2)}x` : '-');
      lines.push(pad([r.case, f(r.mflopPerImage, 0), f(r.single.rate, 2), f(r.single.rateCpu, 2), f(r.single.gflopsCpu), r.single.fractionOfMatmulCpu != null ? `${(100 * r.single.fractionOfMatmulCpu).toFixed(0)}%` : '-',
        f(r.parallel?.rate, 2), f(a?.median_rate, 2), f(a?.cpu_rate, 2), f(b?.median_rate, 2),
        ratio(r.single.rate, a?.median_rate), ratio(r.single.rateCpu, a?.cpu_rate), ratio(r.parallel?.rate, b?.median_rate)], widths));
    }
    if (!torch.length) lines.push(`  PyTorch reference: ${(wr.torch as TorchRecord[]).length ? `failed (${(wr.torch as TorchRecord[]).map((t) => t.error?.trim().split('\n').slice(-1)[0]).join('; ')})` : 'not run (--wrn-torch DIR: a yjhuangcd/CNNF checkout)'}`);
    else lines.push(`  PyTorch load average ${torch.map((t) => `${t.threads} thread(s): ${t.loadavg_start?.map((x) => x.toFixed(1)).join(' ')} -> ${t.loadavg_end?.map((x) => x.toFixed(1)).join(' ')}`).join('; ')}`);
  }
  const c = rec.corruption;
  if (c) {
  lines.push('');
  lines.push(`corruptions (${c.names.length} at severity ${c.severity}, batch ${c.batch}, generation only): ${f(c.single.rate, 0)} images / s in 1 process${c.parallel ? `, ${f(c.parallel.rate, 0)} in ${c.parallel.processes}` : ''}`);
  const slow = Object.entries(c.perCorruptionImagesPerSecond as Record<string, number>).sort((a, z) => a[1] - z[1]).slice(0, 4);
  lines.push(`  slowest: ${slow.map(([n, v]) => `${n} ${v.toFixed(0)}/s`).join(', ')}`);
  }
  const profiles = [...(rec.profile ?? []), ...(rec.userModel?.profile ? [rec.userModel.profile] : [])];
  if (profiles.length) {
    for (const pr of profiles as (KernelProfile & { model: string })[]) {
      lines.push('');
      lines.push(`profile: one ${pr.model} ${pr.path} loss-and-gradient at batch ${pr.batch}: ${f(pr.wallMs)} ms wall (${f(pr.profiledWallMs)} ms profiled, kernels sum ${f(pr.kernelMs)} ms; forward alone ${f(pr.forwardKernelMs)} ms)`);
      for (const k of pr.kernels.filter((x) => !x.wrapper).slice(0, 10))
        lines.push(`  ${k.name.padEnd(22)} ${f(k.ms).padStart(8)} ms ${`${(100 * k.share).toFixed(1)}%`.padStart(6)}  ${String(k.calls).padStart(4)} calls  (forward ${f(k.forwardMs)} ms)${pr.cpuFallbacks?.some((c) => c.kernel === k.name) ? '  cpu fallback' : ''}`);
      if (pr.cpuFallbacks) lines.push(`  cpu-fallback kernels: ${pr.cpuFallbacks.length ? pr.cpuFallbacks.map((c) => `${c.kernel} (${c.calls} calls)`).join(', ') : 'none'}`);
    }
  }
  if (rec.suites?.length) {
    lines.push('');
    for (const s of rec.suites) lines.push(`suite ${s.suite} (--workers ${s.workers}): ${s.exitCode === 0 ? `${Math.floor(s.wallSeconds / 60)}m${String(Math.round(s.wallSeconds % 60)).padStart(2, '0')}s wall` : `FAILED (exit ${s.exitCode})`}`);
  }
  lines.push('');
  lines.push(`peak RSS per process: ${(rec.peakRssMB as number[]).map((x) => `${x.toFixed(0)} MB`).join(', ')}; tensor leaks: ${rec.leaks.length === 0 ? 'none' : JSON.stringify(rec.leaks)}`);
  const t = rec.targets;
  const verdict = (x: { rate: number | null; met: boolean }) => (x.rate === null ? 'not measured' : x.met ? 'MET' : 'not met');
  lines.push(`targets (2x PyTorch, ${t.processes} process(es), best batch, whole-attack rate): CNN first ${f(t.cnnFirst.rate)} / ${t.cnnFirst.target} ${verdict(t.cnnFirst)}; CNN-F e2e ${f(t.cnnfE2e.rate)} / ${t.cnnfE2e.target} ${verdict(t.cnnfE2e)}`);
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const loadAverageStart = os.loadavg();
  const createdAt = new Date().toISOString();
  const bench = new Bench(opts);
  const onSignal = () => {
    bench.kill();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Process 0 first, to learn the backend: the default worker count is the core count for wasm and cpu
  // (one core per process) and 1 for the native binding (it threads itself, or runs on a GPU).
  const info = await bench.start(1, opts.backend);
  const workers = opts.workers ?? (info.backend === 'tensorflow' ? 1 : os.availableParallelism());
  if (workers > 1) {
    for (let i = 1; i < workers; i++) bench.processes.push(new MeasuringProcess(i));
    await Promise.all(bench.processes.slice(1).map((p) => p.send<InitReply>({ op: 'init', backend: opts.backend })));
  }
  progress(`backend ${info.backend} (${info.provider}), ${workers} process(es), reps ${opts.reps}, steps ${opts.steps}, batches ${opts.batches.join(',')}`);

  const flops: Record<ModelName, FlopCount> = { cnn: countFlops(architecture('cnn')), cnnf: countFlops(architecture('cnnf')) };

  try {
    // Matrix multiply: the backend's best-case arithmetic rate.
    let matmul: { size: number; single: { gflops: number; best: number; cpuGflops: number }; parallel: { processes: number; gflops: number; best: number; cpuGflops: number } | null } | null = null;
    if (opts.only.has('matmul')) {
      progress(`matmul ${opts.matmulSize}^3`);
      const mmRun = await bench.measure({ kind: 'matmul', size: opts.matmulSize }, 'matmul', [undefined]);
      const perFlop = 1e-9; // work is FLOP; rate x 1e-9 = GFLOP/s
      matmul = {
        size: opts.matmulSize,
        single: { gflops: rate(mmRun.single).median * perFlop, best: rate(mmRun.single).best * perFlop, cpuGflops: rate(mmRun.single).cpu * perFlop },
        parallel: mmRun.parallel
          ? { processes: mmRun.parallel.processes, gflops: rate(mmRun.parallel).median * perFlop, best: rate(mmRun.parallel).best * perFlop, cpuGflops: rate(mmRun.parallel).cpu * perFlop }
          : null,
      };
      progress(`  ${f(matmul.single.gflops)} GFLOP/s (1 process)${matmul.parallel ? `, ${f(matmul.parallel.gflops)} (${workers})` : ''}; per CPU-second ${f(matmul.single.cpuGflops)}${matmul.parallel ? `, ${f(matmul.parallel.cpuGflops)}` : ''}`);
    }
    const mmRate = (processes: number) => (matmul === null ? null : processes > 1 ? matmul.parallel?.gflops ?? null : matmul.single.gflops);
    const mmRateCpu = (processes: number) => (matmul === null ? null : processes > 1 ? matmul.parallel?.cpuGflops ?? null : matmul.single.cpuGflops);

    // Forward passes.
    const forward = [];
    const forwardCases: [ModelName, OutputKind][] = opts.only.has('forward') ? [['cnn', 'last'], ['cnnf', 'last']] : [];
    for (const [model, output] of forwardCases)
      for (const batch of opts.batches) {
        progress(`forward ${model}/${output} batch ${batch}`);
        const r = await bench.measure({ kind: 'forward', model, output, batch }, `forward ${model} ${batch}`, [undefined]);
        const flop = forwardFlops(flops[model], output);
        const single = simpleSummary(r.single, flop, mmRate(1));
        const par = r.parallel ? simpleSummary(r.parallel, flop, mmRate(workers)) : null;
        forward.push({ model, output, batch, mflopPerImage: flop / 1e6, single, parallel: par });
        progress(`  ${f(single.rate, 0)} images/s${par ? `, ${f(par.rate, 0)} (${workers})` : ''}`);
      }

    // PGD: the real attack (attacks/pgd.ts).
    const pgdRecords: PgdRecord[] = [];
    for (const [model, path] of opts.only.has('pgd') ? opts.cases : [])
      for (const batch of opts.batches) {
        progress(`pgd ${model}/${path} batch ${batch}, ${opts.steps} steps`);
        const variants = opts.steps > 1 ? [1, opts.steps] : [opts.steps];
        const r = await bench.measure({ kind: 'pgd', model, path, batch, eps: opts.eps }, `pgd ${model} ${path} ${batch}`, variants);
        const flop = stepFlops(flops[model], path, !info.disabledFastPaths.includes('bpda-first-pass'));
        const rec: PgdRecord = {
          model,
          path,
          batch,
          steps: opts.steps,
          eps: opts.eps,
          mflopPerImageStep: flop / 1e6,
          single: pgdSummary(r.single, batch, opts.steps, flop, mmRate(1), mmRateCpu(1)),
          parallel: r.parallel ? pgdSummary(r.parallel, batch, opts.steps, flop, mmRate(workers), mmRateCpu(workers)) : null,
        };
        pgdRecords.push(rec);
        progress(`  ${f(rec.single.attackRate)} image-steps/s (step ${f(rec.single.stepRate)})${rec.parallel ? `, ${workers} at once ${f(rec.parallel.attackRate)} (step ${f(rec.parallel.stepRate)})` : ''}`);
      }

    // The user model (issue 14): PGD on a depthwise-separable TF.js layers-model and its kernel profile.
    let userModel = null;
    if (opts.only.has('user-model')) {
      const uf = userModelFlops();
      const rows: PgdRecord[] = [];
      for (const batch of opts.userBatches) {
        progress(`pgd user-model/direct batch ${batch}, ${opts.steps} steps`);
        const variants = opts.steps > 1 ? [1, opts.steps] : [opts.steps];
        const r = await bench.measure({ kind: 'pgd', model: 'user', path: 'direct', batch, eps: opts.eps }, `pgd user-model ${batch}`, variants);
        const rec: PgdRecord = {
          model: 'user',
          path: 'direct',
          batch,
          steps: opts.steps,
          eps: opts.eps,
          mflopPerImageStep: uf.stepFlops / 1e6,
          single: pgdSummary(r.single, batch, opts.steps, uf.stepFlops, mmRate(1), mmRateCpu(1)),
          parallel: r.parallel ? pgdSummary(r.parallel, batch, opts.steps, uf.stepFlops, mmRate(workers), mmRateCpu(workers)) : null,
        };
        rows.push(rec);
        progress(`  ${f(rec.single.attackRate)} image-steps/s (step ${f(rec.single.stepRate)})${rec.parallel ? `, ${workers} at once ${f(rec.parallel.attackRate)} (step ${f(rec.parallel.stepRate)})` : ''}`);
      }
      progress(`profile user-model/direct batch ${opts.userProfileBatch}`);
      const saved = opts.reps;
      opts.reps = 1;
      const pr = await bench.measure({ kind: 'profile', model: 'user', path: 'direct', batch: opts.userProfileBatch }, 'profile user-model', [undefined], false);
      opts.reps = saved;
      userModel = {
        description: 'depthwise-separable TF.js layers-model built by tfjs-layers, saved as model.json + shard and loaded through the tfjs-layers family (scripts/perf/userModel.ts); seeded random weights and uniform [0,1] images',
        spec: USER_MODEL,
        flops: uf,
        stepFactorNote: 'step = 2 x forward (forward + input gradient) + the weight gradients formed: the Dense layer\'s (tfjs fused matMul), and the Conv2D layers\' when fast path fused-conv-grad is off',
        pgd: rows,
        profile: pr.profile ? { model: 'user-model', ...pr.profile } : null,
      };
      if (pr.profile) progress(`  cpu-fallback kernels: ${pr.profile.cpuFallbacks.length ? pr.profile.cpuFallbacks.map((c) => c.kernel).join(', ') : 'none'}`);
    }

    // The Wide-ResNet CNN-F (issue 15): first pass, full inference and one e2e PGD step at one batch,
    // and optionally the original PyTorch code on the same cases.
    let wrn = null;
    if (opts.only.has('wrn')) {
      const cfg = opts.wrnConfig;
      const wf = countWrnFlops(wrnArch(cfg));
      const flopOf: Record<WrnCase, number> = { first: wf.firstPassFlops, forward: wf.forwardFlops, e2e: 2 * wf.forwardFlops };
      const cases = [];
      for (const c of WRN_CASES) {
        progress(`wrn WRN-${cfg.depth}-${cfg.widen} ind ${cfg.ind} cycles ${cfg.cycles} ${c} batch ${opts.wrnBatch}`);
        const r = await bench.measure({ kind: 'wrn', config: cfg, case: c, batch: opts.wrnBatch }, `wrn ${c}`, [undefined]);
        // Per CPU-second too (steadier than wall time on a shared machine), against the matmul rate per CPU-second.
        const perCpu = (x: ReturnType<typeof simpleSummary>, mm: number | null) => ({ gflopsCpu: (x.rateCpu * flopOf[c]) / 1e9, fractionOfMatmulCpu: mm ? (x.rateCpu * flopOf[c]) / 1e9 / mm : null });
        const single = simpleSummary(r.single, flopOf[c], mmRate(1));
        const par = r.parallel ? simpleSummary(r.parallel, flopOf[c], mmRate(workers)) : null;
        cases.push({ case: c, mflopPerImage: flopOf[c] / 1e6, single: { ...single, ...perCpu(single, mmRateCpu(1)) }, parallel: par ? { ...par, ...perCpu(par, mmRateCpu(workers)) } : null });
        progress(`  ${f(single.rate, 2)} /s (per CPU-second ${f(single.rateCpu, 2)})${par ? `, ${workers} at once ${f(par.rate, 2)}` : ''}`);
      }
      const torch = [];
      if (opts.wrnTorch) for (const threads of opts.wrnTorchThreads) torch.push(runTorchReference(opts, threads));
      wrn = {
        config: cfg,
        batch: opts.wrnBatch,
        weights: 'random (scripts/perf/wrnModel.ts; the reference run loads or draws its own)',
        flops: wf,
        matmulGflops: matmul ? { single: matmul.single.gflops, parallel: matmul.parallel?.gflops ?? null, singleCpu: matmul.single.cpuGflops } : null,
        cases,
        torch,
      };
    }

    // Corruptions: generation only (their evaluation is a forward pass, measured above).
    let corruption = null;
    if (opts.only.has('corruption')) {
      progress(`corruptions: ${opts.corruptions.length} at severity ${opts.corruptionSeverity}, batch ${opts.corruptionBatch}`);
      const cr = await bench.measure(
        { kind: 'corruption', names: opts.corruptions, severity: opts.corruptionSeverity, batch: opts.corruptionBatch },
        'corruption',
        [undefined],
      );
      const perCorruption: Record<string, number> = {};
      for (const name of opts.corruptions)
        perCorruption[name] = opts.corruptionBatch / median(cr.single.rounds.run.map((r) => r.parts?.[name] ?? NaN));
      corruption = {
        names: opts.corruptions,
        severity: opts.corruptionSeverity,
        batch: opts.corruptionBatch,
        single: simpleSummary(cr.single, null, null),
        parallel: cr.parallel ? simpleSummary(cr.parallel, null, null) : null,
        perCorruptionImagesPerSecond: perCorruption,
      };
      progress(`  ${f(corruption.single.rate, 0)} images/s${corruption.parallel ? `, ${f(corruption.parallel.rate, 0)} (${workers})` : ''}`);
    }

    // Kernel profile of one step (process 0 alone).
    const profile: (KernelProfile & { model: ModelName })[] = [];
    if (opts.only.has('profile')) {
      for (const [model, path] of [['cnnf', 'e2e'], ['cnn', 'first']] as [ModelName, GradientPath][]) {
        progress(`profile ${model}/${path} batch ${opts.profileBatch}`);
        const saved = opts.reps;
        opts.reps = 1;
        const r = await bench.measure({ kind: 'profile', model, path, batch: opts.profileBatch }, `profile ${model}`, [undefined], false);
        opts.reps = saved;
        if (r.profile) profile.push({ model, ...r.profile });
      }
    }
    await bench.close();

    const suites = [];
    if (opts.suites) {
      suites.push(await timeSuite('adversarial', workers, info.backend));
      suites.push(await timeSuite('corruption', workers, info.backend));
    }

    const best = (model: ModelName, path: GradientPath) => {
      const rows = pgdRecords.filter((p) => p.model === model && p.path === path);
      return rows.length === 0 ? null : Math.max(...rows.map((p) => (p.parallel ?? p.single).attackRate));
    };
    const record = {
      format: PERF_FORMAT,
      createdAt,
      command: `perf ${process.argv.slice(2).join(' ')}`.trim(),
      options: { ...opts, workers },
      machine: machineInfo(),
      software: {
        node: process.version,
        tfjs: info.tfjsVersion,
        tfjsBackendWasm: packageVersion('@tensorflow/tfjs-backend-wasm'),
      },
      backend: { name: info.backend, provider: info.provider, wasmSimd: info.wasmSimd, wasmThreads: info.wasmThreads },
      disabledFastPaths: info.disabledFastPaths,
      git: { commit: git(['rev-parse', 'HEAD']), dirty: (git(['status', '--porcelain']) ?? '') !== '' },
      conditions: { loadAverageStart, loadAverageEnd: os.loadavg(), note: opts.note },
      flops: {
        cnn: { ...flops.cnn, stepFlops: { first: stepFlops(flops.cnn, 'first') } },
        cnnf: {
          ...flops.cnnf,
          stepFlops: { first: stepFlops(flops.cnnf, 'first'), e2e: stepFlops(flops.cnnf, 'e2e'), bpda: stepFlops(flops.cnnf, 'bpda', !info.disabledFastPaths.includes('bpda-first-pass')) },
        },
      },
      matmul,
      forward,
      pgd: pgdRecords,
      userModel,
      wrn,
      corruption,
      profile,
      suites,
      peakRssMB: [...bench.maxRssMB, process.resourceUsage().maxRSS / 1024],
      peakRssNote: 'measuring processes in order, then the parent',
      leaks: bench.leaks,
      reference: { pytorch: PYTORCH_RATE, target: TARGET_RATE, blasGflops2Cores: BLAS_GFLOPS_2_CORES },
      targets: {
        processes: workers,
        cnnFirst: { rate: best('cnn', 'first'), target: TARGET_RATE.cnnFirst, met: (best('cnn', 'first') ?? 0) >= TARGET_RATE.cnnFirst },
        cnnfE2e: { rate: best('cnnf', 'e2e'), target: TARGET_RATE.cnnfE2e, met: (best('cnnf', 'e2e') ?? 0) >= TARGET_RATE.cnnfE2e },
      },
    };
    const out = resolve(opts.out ?? join(packageRoot(), 'reports', `perf-${createdAt.replace(/[:.]/g, '-')}.json`));
    if (!existsSync(dirname(out))) mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
    process.stdout.write(`${formatTable(record)}\n\nrecord: ${out}\n`);
  } catch (err) {
    bench.kill();
    process.stderr.write(`perf: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
