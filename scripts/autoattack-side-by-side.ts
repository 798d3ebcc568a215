// Side by side with the original AutoAttack: bench's attacks and fra31/auto-attack on the same model,
// images and epsilons. The reference side is scripts/reference/autoattack_run.py (run it first; it writes
// per-sample outcomes and the PyTorch model's clean logits); this script runs bench's attacks on the same
// first --n test images, checks that the two models agree (max abs logit difference), and prints per
// attack and eps: robust accuracy of each, AutoAttack's 95% interval, samples broken by only one of the
// two, and wall time.
//   npx tsx scripts/autoattack-side-by-side.ts --reference reports/aa/cnn-square200.json \
//       [--checkpoint checkpoints/cnn-fmnist] [--output last] [--path e2e] [--n 1000] [--eps 0.03,0.1]
//       [--attacks apgd,square] [--params '{"square":{"queries":200}}'] [--seed 0] [--batch 250]
//       [--cascade] [--out reports/aa/bench-cnn-square200.json] [--load reports/aa/bench-cnn-square200.json]
//       [--resume] [--backend wasm] [--jobs 1]
// --load reads bench's per-sample outcomes from an earlier --out instead of running the attacks again
// (to compare one bench run with several reference runs; a run still in progress is compared up to its
// last finished stage, and so is an AutoAttack reference still running). --out is rewritten after every
// batch; --resume reuses the stages (and batches of a stage) an interrupted run already wrote there and runs
// only the rest, and refuses (one line, exit 2, the file untouched) a record made with other settings
// (--output, --path, --n, --seed, --params, --cascade, --batch) or whose model classified other images correctly.
// --jobs N runs a stage's batches in N worker processes (wasm runs one thread per process), N at a time;
// each batch's result is the same whichever process runs it (its random draws are keyed by sample), its
// CPU seconds are added up, and `seconds` is the sum of the batches' wall times. Batches finished out of
// order are recorded (doneBatches) and skipped on --resume.
// Attack names are bench's; their AutoAttack names: apgd -> apgd-ce, apgd-dlr, apgd-t, fab-t, square.
// --cascade runs the attacks in order, each on the samples every previous one left correct (AutoAttack's
// standard evaluation), and compares stage by stage with a reference run of attack `standard` or `cascade`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync, readFileSync, mkdirSync, existsSync, renameSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { getAttack } from '../attacks/registry.js';
import { cpuSignature } from '../src/engine/cpuSignature.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  reference: { type: 'string', default: '' },
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  output: { type: 'string', default: 'last' },
  path: { type: 'string', default: 'e2e' },
  n: { type: 'string' }, // default: the reference's image count, else 1000
  eps: { type: 'string' }, // default: the reference's epsilons, else 0.03
  attacks: { type: 'string', default: 'apgd' },
  params: { type: 'string', default: '{}' },
  seed: { type: 'string', default: '0' },
  batch: { type: 'string', default: '250' },
  cascade: { type: 'boolean' },
  out: { type: 'string', default: '' },
  load: { type: 'string', default: '' },
  resume: { type: 'boolean' },
  backend: { type: 'string', default: 'wasm' },
  jobs: { type: 'string', default: '1' },
  child: { type: 'boolean' }, // internal: a --jobs worker process (batches on stdin, results on stdout)
});

const AA_NAME: Record<string, string> = { apgd: 'apgd-ce', 'apgd-ce': 'apgd-ce', 'apgd-dlr': 'apgd-dlr', 'apgd-t': 'apgd-t', 'fab-t': 'fab-t', square: 'square' };

/** A stage of a reference run; `done` false: a cascade run still in progress has not finished it (its unattacked samples still count as robust). */
interface RefStage { attack: string; seconds: number; robust: boolean[]; machines?: string[]; done?: boolean }
interface RefRun { eps: number; attack: string; seconds: number; cpuSeconds?: number; stages: RefStage[]; robust: boolean[]; machines?: string[] }
interface Reference { config: Record<string, unknown>; labels: number[]; cleanLogits: number[][]; clean: boolean[]; runs: RefRun[] }

const referencePath = flags.reference;
const reference: Reference | undefined = referencePath ? JSON.parse(readFileSync(referencePath, 'utf8')) : undefined;
const checkpoint = flags.checkpoint;
const output = flags.output;
const path = flags.path;
const n = Number(flags.n ?? String(reference?.labels.length ?? 1000));
const epsList = (flags.eps ?? (reference ? [...new Set(reference.runs.map((r) => r.eps))].join(',') : '0.03')).split(',').map(Number);
const attacks = flags.attacks.split(',').filter((a) => a !== '');
const extraParams: Record<string, Record<string, unknown>> = JSON.parse(flags.params);
const seed = Number(flags.seed);
const batchSize = Number(flags.batch);
const jobs = Number(flags.jobs);
if (!Number.isInteger(jobs) || jobs < 1) refuse(`--jobs: ${flags.jobs} is not a whole number of processes >= 1`);
const cascade = flags.cascade;
const outPath = flags.out;
const loadPath = flags.load;
const resume = flags.resume;
const loaded: BenchRun[] = loadPath ? JSON.parse(readFileSync(loadPath, 'utf8')).runs : [];
/** Ends the script on input it cannot use: one line on stderr, exit code 2, no file written. */
function refuse(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
/** The settings a record's batches ran with; --resume must match them. */
const settings = { output, path, n, seed, params: extraParams, cascade, batch: batchSize };
const previousRecord: (Partial<typeof settings> & { runs: BenchRun[]; clean?: boolean[] }) | null =
  resume && outPath && existsSync(outPath) ? JSON.parse(readFileSync(outPath, 'utf8')) : null;
if (previousRecord) {
  const differs = (Object.keys(settings) as (keyof typeof settings)[]).filter(
    // Records written before `batch` was kept have none; every other setting has always been written.
    (k) => previousRecord[k] !== undefined && JSON.stringify(previousRecord[k]) !== JSON.stringify(settings[k]),
  );
  if (differs.length)
    refuse(`${outPath}: recorded with ${differs.map((k) => `${k} ${JSON.stringify(previousRecord[k])}`).join(', ')}; resume with the same settings or start a new --out`);
}
const resumed: BenchRun[] = previousRecord?.runs ?? [];

const backend = await initBackend(flags.backend);
const data = await loadFashionMnist('test', { limit: n });
const model = await loadSuiteModel({ path: checkpoint, output: output as never, where: 'checkpoint' });
const classifier = model.classifier;

// --- one batch of one attack (in this process, or in a --jobs worker) ------------------------------------
const attackCache = new Map<string, { attack: ReturnType<typeof getAttack>; params: unknown }>();
/** The attack `name` (APGD-CE is `apgd` after the rename of issue 16 and `apgd-ce` before it; either finds it) with its --params. */
function attackFor(name: string) {
  let entry = attackCache.get(name);
  if (!entry) {
    const attack = name === 'apgd' || name === 'apgd-ce' ? (tryAttack(name) ?? getAttack(name === 'apgd' ? 'apgd-ce' : 'apgd')) : getAttack(name);
    entry = { attack, params: attack.parseParams(extraParams[name] ?? {}, `params.${name}`) };
    attackCache.set(name, entry);
  }
  return entry;
}
/** Result of attacking samples `rows`: robust[k] for rows[k], this process's CPU seconds and the wall seconds. */
interface BatchResult { robust: boolean[]; cpu: number; seconds: number }
async function attackBatch(name: string, eps: number, rows: number[]): Promise<BatchResult> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const { attack, params } = attackFor(name);
  const { x, y, sampleIndices } = toBatch(data, rows);
  const rng = new KeyedRng(seed, `side-by-side/${name}/${eps}`, sampleIndices);
  const res = await attack.run(classifier, x, y, eps, rng, { path, output, params: params as never });
  res.xAdv.dispose();
  x.dispose();
  y.dispose();
  const robust = rows.map((_, k) => !res.fooled[k] && !res.nonFiniteLogits?.[k]);
  const cpu = process.cpuUsage(cpu0);
  return { robust, cpu: (cpu.user + cpu.system) / 1e6, seconds: (performance.now() - started) / 1000 };
}
const RESULT_PREFIX = '@@batch ';
if (flags.child) {
  // A --jobs worker: one JSON request {name, eps, rows} per stdin line, one result line per request.
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const { name, eps, rows } = JSON.parse(line) as { name: string; eps: number; rows: number[] };
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(await attackBatch(name, eps, rows))}\n`);
  }
  model.dispose();
  process.exit(0);
}

/** A --jobs worker process: this script with --child, sent one batch at a time. */
class Worker {
  private readonly child: ChildProcessWithoutNullStreams;
  private waiting: { resolve: (r: BatchResult) => void; reject: (e: Error) => void } | null = null;
  constructor() {
    this.child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2), '--child'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith(RESULT_PREFIX) || !this.waiting) return;
      const w = this.waiting;
      this.waiting = null;
      w.resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as BatchResult);
    });
    this.child.on('exit', (code) => this.waiting?.reject(new Error(`a --jobs worker exited with code ${code} during a batch`)));
  }
  run(name: string, eps: number, rows: number[]): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.stdin.write(`${JSON.stringify({ name, eps, rows })}\n`);
    });
  }
  close(): void {
    this.child.stdin.end();
  }
}
const workers: Worker[] = [];

// --- parity of the two models -------------------------------------------------------------------------
const labels = Array.from(data.labels.slice(0, n));
const clean: boolean[] = [];
let maxDiff = 0;
let argmaxDisagree = 0;
for (let start = 0; start < n; start += batchSize) {
  const rows = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
  const { x, y } = toBatch(data, rows);
  const logits = classifier.logits(x, output);
  const values = logits.arraySync() as number[][];
  logits.dispose();
  x.dispose();
  y.dispose();
  values.forEach((row, k) => {
    const i = start + k;
    const pred = row.indexOf(Math.max(...row));
    clean.push(pred === labels[i]);
    const ref = reference?.cleanLogits[i];
    if (ref) {
      row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref[j]))));
      if (ref.indexOf(Math.max(...ref)) !== pred) argmaxDisagree++;
    }
  });
}
if (previousRecord?.clean && JSON.stringify(previousRecord.clean) !== JSON.stringify(clean))
  refuse(`${outPath}: recorded for a model that classified other images correctly (another checkpoint or output); cannot resume`);
const acc = (v: boolean[]) => v.filter(Boolean).length / v.length;
console.log(`backend ${backend.name}; ${n} images; clean accuracy bench ${(100 * acc(clean)).toFixed(1)}%` +
  (reference ? `, AutoAttack's model ${(100 * acc(reference.clean.slice(0, n))).toFixed(1)}%; logits of ${Math.min(n, reference.cleanLogits.length)} images: max |bench - PyTorch| = ${maxDiff.toExponential(2)}, argmax disagreements ${argmaxDisagree}` : ''));
if (reference && reference.labels.slice(0, n).some((l, i) => l !== labels[i])) throw new Error('reference labels differ from the vendored test set');

// --- bench's attacks ---------------------------------------------------------------------------------
function tryAttack(name: string) {
  try {
    return getAttack(name);
  } catch {
    return undefined;
  }
}
interface BenchRun {
  eps: number;
  attack: string;
  seconds: number;
  cpuSeconds?: number;
  robust: boolean[];
  /** How many batches of still-robust samples are finished; with `complete: false` the run was interrupted. */
  batchesDone?: number;
  /** Which batches (0-based, in sample order) are finished; absent in records of one process: the first batchesDone. */
  doneBatches?: number[];
  complete?: boolean;
  /** cpuSignature() of every machine a batch of this run ran on (absent in records made before it was kept). */
  machines?: string[];
}
const machine = cpuSignature();
/** Runs one attack on the `alive` samples in batches, recording the run in benchRuns and saving --out after
 * every batch; with --resume it continues a run an earlier process left unfinished. */
async function runAttack(name: string, eps: number, alive: boolean[]): Promise<BenchRun | undefined> {
  if (loadPath) {
    // A run still in progress (--resume writes after every batch) is compared up to its last finished stage.
    const found = loaded.find((r) => r.attack === name && r.eps === eps);
    if (!found || found.complete === false) {
      console.log(`${loadPath}: ${name} at eps ${eps} ${found ? `is unfinished (${found.batchesDone ?? 0} batches done)` : 'was not run'}; the comparison stops before it`);
      return undefined;
    }
    return { ...found, robust: found.robust.slice(0, n) };
  }
  const previous = resumed.find((r) => r.attack === name && r.eps === eps);
  const run: BenchRun = previous ?? { eps, attack: name, seconds: 0, cpuSeconds: 0, robust: [...alive], batchesDone: 0, complete: false };
  benchRuns.push(run);
  if (run.complete !== false) return run;
  attackFor(name); // an unknown attack or bad --params fails here, before any worker starts
  // The samples this stage attacks are the ones alive when it started (run.robust only loses samples).
  const todo = alive.flatMap((a, i) => (a ? [i] : []));
  const total = Math.ceil(todo.length / batchSize);
  const done = new Set<number>(run.doneBatches ?? Array.from({ length: run.batchesDone ?? 0 }, (_, b) => b));
  const queue = Array.from({ length: total }, (_, b) => b).filter((b) => !done.has(b));
  const record = (b: number, rows: number[], result: BatchResult) => {
    rows.forEach((r, k) => (run.robust[r] = result.robust[k]));
    run.seconds += result.seconds;
    run.cpuSeconds = (run.cpuSeconds ?? 0) + result.cpu;
    done.add(b);
    run.doneBatches = [...done].sort((p, q) => p - q);
    run.batchesDone = done.size;
    run.machines = [...new Set([...(run.machines ?? []), machine])].sort();
    save();
    console.log(`${name} eps ${eps}: batch ${b + 1} of ${total} done (${done.size}/${total}), cpu ${run.cpuSeconds.toFixed(0)} s`);
  };
  const rowsOf = (b: number) => todo.slice(b * batchSize, (b + 1) * batchSize);
  if (jobs === 1) {
    for (const b of queue) record(b, rowsOf(b), await attackBatch(name, eps, rowsOf(b)));
  } else {
    while (workers.length < Math.min(jobs, queue.length)) workers.push(new Worker());
    await Promise.all(
      workers.map(async (w) => {
        for (let b = queue.shift(); b !== undefined; b = queue.shift()) record(b, rowsOf(b), await w.run(name, eps, rowsOf(b)));
      }),
    );
  }
  // A stage with no sample left to attack ran nowhere; it is marked with this machine all the same.
  if (!run.machines?.length) run.machines = [machine];
  run.complete = true;
  return run;
}

/** Wilson 95% interval of a proportion k / m. */
function wilson(k: number, m: number): [number, number] {
  const z = 1.959963984540054;
  const p = k / m;
  const d = 1 + (z * z) / m;
  const c = (p + (z * z) / (2 * m)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / m + (z * z) / (4 * m * m))) / d;
  return [c - h, c + h];
}
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const rowsOut: string[] = [];
/** Stages whose CPU seconds came from different processors (within a side, or bench against AutoAttack). */
const machineNotes: string[] = [];
const benchRuns: BenchRun[] = [];
/**
 * Writes the runs so far to --out (atomically: an interrupted write never leaves a truncated file), with the
 * runs --resume read that this process has not reached yet, so that a save between stages keeps a later
 * stage's finished batches (before this, a restart lost them until that stage's next batch was saved).
 */
function save() {
  if (!outPath) return;
  mkdirSync(dirname(outPath), { recursive: true });
  const runs = [...benchRuns, ...resumed.filter((r) => !benchRuns.includes(r))];
  writeFileSync(`${outPath}.tmp`, JSON.stringify({ checkpoint, ...settings, clean, maxLogitDiff: reference ? maxDiff : null, runs }));
  renameSync(`${outPath}.tmp`, outPath);
}
for (const eps of epsList) {
  let alive = [...clean];
  for (const name of attacks) {
    const run = await runAttack(name, eps, cascade ? alive : clean);
    if (!run) break;
    save();
    alive = run.robust;
    const aaName = AA_NAME[name] ?? name;
    const ref = cascade
      ? reference?.runs.find((r) => r.eps === eps && (r.attack === 'standard' || r.attack === 'cascade'))?.stages.find((s) => s.attack === aaName)
      : reference?.runs.find((r) => r.eps === eps && r.attack === aaName);
    if (ref && 'done' in ref && ref.done === false) {
      console.log(`${referencePath}: ${aaName} at eps ${eps} is unfinished; the comparison stops before it`);
      break;
    }
    const time = (r: { seconds: number; cpuSeconds?: number }) => `${r.seconds.toFixed(0)} s${r.cpuSeconds !== undefined ? ` (cpu ${r.cpuSeconds.toFixed(0)} s)` : ''}`;
    let cells = `| ${name}${cascade ? ' (cascade)' : ''} | ${eps} | ${pct(acc(run.robust))} | ${time(run)} |`;
    if (ref) {
      const r = ref.robust.slice(0, n);
      const k = r.filter(Boolean).length;
      const [lo, hi] = wilson(k, n);
      const onlyBench = run.robust.filter((b, i) => !b && r[i]).length;
      const onlyAa = run.robust.filter((b, i) => b && !r[i]).length;
      const inside = acc(run.robust) >= lo && acc(run.robust) <= hi;
      cells += ` ${pct(k / n)} | [${pct(lo)}, ${pct(hi)}]${inside ? '' : ' (outside)'} | ${onlyBench} | ${onlyAa} | ${time(ref)} |`;
      const mine = run.machines ?? [];
      const theirs = ref.machines ?? [];
      if (mine.length !== 1 || theirs.length !== 1 || mine[0] !== theirs[0])
        machineNotes.push(`${name} at eps ${eps}: bench ran on ${mine.join(' + ') || 'unrecorded machines'}, AutoAttack on ${theirs.join(' + ') || 'unrecorded machines'}; its CPU seconds compare processors as well as code`);
    } else cells += ' - | - | - | - | - |';
    rowsOut.push(cells);
    console.log(cells);
  }
}
console.log('\n| attack | eps | bench robust | bench time (wall, cpu) | AutoAttack robust | AutoAttack 95% interval | broken only by bench | broken only by AutoAttack | AutoAttack time (wall, cpu) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rowsOut) console.log(r);
if (machineNotes.length) console.log(`\nwarning: ${machineNotes.join('\nwarning: ')}`);
save();
for (const w of workers) w.close();
model.dispose();
tf.disposeVariables();
