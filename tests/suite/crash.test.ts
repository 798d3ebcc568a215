/**
 * The run directory under faults, through the real CLI (child processes, as a user or CI runs it): killed
 * with SIGKILL at seeded random points and resumed, a full disk (injected ENOSPC), a second process on the
 * same directory (the lock), and corrupt cells (checksums). A small run on the committed CNN keeps it
 * bounded: 19 cells + 3 probes of 8 images, 4-8 s per uninterrupted run (start-up and report included),
 * of which 2-4 s write records.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecord } from '../../src/rundir/checksums.js';
import { cellFileName } from '../../src/rundir/files.js';
import { pidAlive } from '../../src/rundir/lock.js';
import { runCompare } from '../../src/cli/compare.js';
import { InputError } from '../../src/engine/errors.js';
import { prepareRun } from '../../src/suite/runner.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const tmp = mkdtempSync(join(tmpdir(), 'bench-crash-'));
const CONFIG = join(tmp, 'small.json');
let clean: string;
let cleanResults: Results;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `bench <args>` from source on the wasm backend, with tsx as a loader in the same process: the
 * child's pid is bench's own (the tsx command would run bench in a grandchild, which a SIGKILL of the
 * child would leave running).
 */
function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Outcome> } {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, BENCH_BACKEND: 'wasm', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Outcome>((resolveDone) => child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })));
  return { child, done };
}

const bench = (args: string[], env: Record<string, string> = {}) => start(args, env).done;


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const recordFiles = (dir: string) =>
  ['cells', 'probes'].flatMap((sub) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).filter((n) => !n.startsWith('.')).map((n) => join(sub, n)) : []));

const tempFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => /(^|\/)\.\d+\.[0-9a-f]+\.tmp$/.test(p));

type Results = Record<string, unknown>;

/** Every record of a run directory, verified against its checksum, without what differs between executions. */
function results(dir: string): Results {
  const out: Results = {};
  for (const rel of recordFiles(dir)) {
    const opened = openRecord(JSON.parse(readFileSync(join(dir, rel), 'utf8')));
    if (opened.problem !== undefined) throw new Error(`${rel}: ${opened.problem}`);
    const { timings, completedAt, ...rest } = opened.record;
    void timings;
    void completedAt;
    out[rel] = rest;
  }
  out['sanity.json'] = JSON.parse(readFileSync(join(dir, 'sanity.json'), 'utf8'));
  return out;
}

/** A finished run: same results as the clean run, a checksum manifest that lists every record, no lock, no temp files. */
function expectFinishedLikeClean(dir: string): void {
  expect(results(dir)).toEqual(cleanResults);
  const sums = JSON.parse(readFileSync(join(dir, 'checksums.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  expect(Object.keys(sums.cells)).toEqual(manifest.cells);
  expect(Object.keys(sums.probes)).toEqual(manifest.probes);
  for (const id of manifest.cells) expect(sums.cells[id]).toBe(JSON.parse(readFileSync(join(dir, 'cells', cellFileName(id)), 'utf8')).sha256);
  expect(existsSync(join(dir, '.lock'))).toBe(false);
  expect(tempFiles(dir)).toEqual([]);
}

/** One line on stderr apart from the backend banner and warnings, and no stack trace. */
function errorLines(stderr: string): string[] {
  expect(stderr).not.toMatch(/^\s+at /m);
  return stderr.split('\n').filter((l) => l.startsWith('error:'));
}

/** A pid that certainly belongs to no process: one that just exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  expect(pidAlive(pid)).toBe(false);
  return pid;
}

beforeAll(async () => {
  writeFileSync(
    CONFIG,
    JSON.stringify({
      suite: 'adversarial',
      checkpoints: ['checkpoints/cnn-fmnist'],
      attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 2 } }],
      epsilons: [0, 0.03, 0.1],
      limit: 8,
      batchSize: 8,
      seed: 1,
      sanity: true,
      sanityLimit: 4,
    }),
  );
  clean = join(tmp, 'clean');
  const r = await bench(['run', '--config', CONFIG, '--out', clean, '--quiet', '--workers', '1']);
  expect(r.code, r.stderr).toBe(0);
  cleanResults = results(clean);
  expect(Object.keys(cleanResults).length).toBe(19 + 3 + 1);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench run killed with SIGKILL', () => {
  it('resumed after kills at seeded random points, ends with the uninterrupted run\'s results', async () => {
    const rng = mulberry32(20261127);
    const dir = join(tmp, 'killed');
    const total = recordFiles(clean).length;
    const log: string[] = [];
    const kills: { signal: string | null; records: number }[] = [];
    let previousStderr = '';
    let lockedWhenKilled = false;
    for (let k = 0; k < 4; k++) {
      const fresh = !existsSync(join(dir, 'run.json'));
      // The second kill lands in a parallel run: its helper process must not outlive the lead.
      const workers = k === 1 ? '2' : '1';
      const args = fresh ? ['run', '--config', CONFIG, '--out', dir, '--quiet', '--workers', workers] : ['run', '--resume', dir, '--quiet', '--workers', workers];
      // The first kill lands during start-up (loading, lock, run.json); the others once a seeded number of records exist.
      const target = k === 0 ? 0 : 1 + Math.floor(rng() * (total - 2));
      const extra = k === 0 ? 500 + rng() * 1500 : rng() * 100;
      const run = start(args);
      let finished = false;
      void run.done.then(() => (finished = true));
      while (!finished && recordFiles(dir).length < target) await sleep(10);
      await sleep(extra);
      const killedAt = recordFiles(dir).length;
      const helpers = existsSync(join(dir, 'claims'))
        ? readdirSync(join(dir, 'claims')).map((n) => Number(readFileSync(join(dir, 'claims', n), 'utf8'))).filter((pid) => pid !== run.child.pid)
        : [];
      lockedWhenKilled = existsSync(join(dir, '.lock'));
      run.child.kill('SIGKILL');
      const r = await run.done;
      kills.push({ signal: r.signal, records: killedAt });
      log.push(`kill ${k}: ${fresh ? 'fresh' : 'resume'} workers ${workers}, target ${target} + ${extra.toFixed(0)} ms, ${killedAt}/${total} records, ${r.signal ?? `exit ${r.code}`}`);
      if (k > 0) expect(previousStderr === '' || !previousStderr.includes('error:'), previousStderr).toBe(true);
      if (r.signal !== 'SIGKILL') expect(r.code, r.stderr).toBe(0);
      // Orphaned helpers stop by themselves (their stdin, held by the lead, closes).
      for (const pid of new Set(helpers)) {
        for (let t = 0; t < 100 && pidAlive(pid); t++) await sleep(50);
        expect(pidAlive(pid), `helper ${pid} outlived its lead`).toBe(false);
      }
      previousStderr = r.stderr;
    }
    if (process.env.BENCH_TEST_VERBOSE) console.log(log.join('\n'));
    const final = await bench(['run', '--resume', dir, '--quiet', '--workers', '1']);
    expect(final.code, `${log.join('\n')}\n${final.stderr}`).toBe(0);
    // A lock left by a killed lead is stale: taken over with a warning naming its pid.
    if (lockedWhenKilled) expect(final.stderr).toMatch(/warning: .*taking over a stale lock \(pid \d+/);
    expectFinishedLikeClean(dir);
    // The kills did interrupt the run, and at least two of them while it was writing records.
    expect(kills.filter((x) => x.signal === 'SIGKILL').length, log.join('\n')).toBeGreaterThanOrEqual(3);
    expect(kills.filter((x) => x.signal === 'SIGKILL' && x.records > 0 && x.records < total).length, log.join('\n')).toBeGreaterThanOrEqual(2);
  });
});

describe('bench run when a write fails (disk full, injected ENOSPC)', () => {
  it('stops with one line naming the file; the cells written stay intact; --resume finishes with equal results', async () => {
    const dir = join(tmp, 'enospc');
    // run.json and 5 records are written, the 7th atomic write fails.
    const r = await bench(['run', '--config', CONFIG, '--out', dir, '--quiet', '--workers', '1'], { BENCH_TEST_FAIL_WRITES_AFTER: '6' });
    expect(r.code).toBe(3);
    const lines = errorLines(r.stderr);
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^error: cannot write ${dir}/(cells|probes)/[^/ ]+\\.json: no space left on device \\(ENOSPC\\); the run stopped, and the cells written so far are intact: \`bench run --resume ${dir}\` finishes it$`,
      ),
    );
    expect(recordFiles(dir).length).toBe(5);
    for (const rel of recordFiles(dir)) expect(openRecord(JSON.parse(readFileSync(join(dir, rel), 'utf8'))).problem).toBeUndefined();
    expect(tempFiles(dir)).toEqual([]);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(existsSync(join(dir, 'checksums.json'))).toBe(false);

    const resumed = await bench(['run', '--resume', dir, '--quiet', '--workers', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expectFinishedLikeClean(dir);
  });

  it('a failure on run.json itself leaves no directory behind', async () => {
    const dir = join(tmp, 'enospc-first');
    const r = await bench(['run', '--config', CONFIG, '--out', dir, '--quiet', '--workers', '1'], { BENCH_TEST_FAIL_WRITES_AFTER: '0' });
    expect(r.code).toBe(3);
    expect(errorLines(r.stderr)).toEqual([`error: cannot write ${dir}/run.json: no space left on device (ENOSPC)`]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('two processes on one run directory', () => {
  const lock = (pid: number, host = hostname()) => JSON.stringify({ format: 'bench-lock/1', pid, hostname: host, startedAt: '2026-01-01T00:00:00.000Z' });

  it('a second run on a directory whose lock holder is alive is refused with one line naming its pid (exit 2)', async () => {
    const dir = join(tmp, 'locked');
    cpSync(clean, dir, { recursive: true });
    rmSync(join(dir, 'cells', cellFileName('cnn-fmnist|pgd|first|0.1')));
    // The holder: this test process, certainly alive.
    writeFileSync(join(dir, '.lock'), lock(process.pid));
    const r = await bench(['run', '--resume', dir, '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: ${dir}: in use by another bench run (pid ${process.pid} on ${hostname()}, since 2026-01-01T00:00:00.000Z; lock ${join(dir, '.lock')}); wait for it to finish, or stop it`,
    ]);
    expect(existsSync(join(dir, 'cells', cellFileName('cnn-fmnist|pgd|first|0.1')))).toBe(false);
    // A fresh run into a directory another run is still setting up (lock, no run.json yet) is refused too.
    const setup = join(tmp, 'setting-up');
    mkdirSync(setup);
    // (In process, so the holder is another live process: our parent. Our own pid in a lock we do not hold is a dead run's, reused.)
    writeFileSync(join(setup, '.lock'), lock(process.ppid));
    await expect(prepareRun({ configFile: CONFIG, out: setup })).rejects.toThrow(`${setup}: in use by another bench run (pid ${process.ppid}`);
    expect(readdirSync(setup)).toEqual(['.lock']);
  });

  it('a lock whose pid is dead on this host is stale: taken over with a warning, and released at the end', async () => {
    const dir = join(tmp, 'stale');
    cpSync(clean, dir, { recursive: true });
    rmSync(join(dir, 'checksums.json'));
    rmSync(join(dir, 'cells', cellFileName('cnn-fmnist|fgsm|first|0.03')));
    const pid = deadPid();
    writeFileSync(join(dir, '.lock'), lock(pid));
    // A temp file the dead process left mid-write is cleaned up.
    writeFileSync(join(dir, 'cells', `.${pid}.0badc0de.tmp`), '{"format": "bench-ce');
    const r = await bench(['run', '--resume', dir, '--quiet', '--workers', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ${dir}: taking over a stale lock (pid ${pid} on ${hostname()}, since 2026-01-01T00:00:00.000Z, is no longer running)`);
    expectFinishedLikeClean(dir);
  });
});

describe('a corrupt cell file', () => {
  it('is refused by bench report and compare in one line (exit 2), and recomputed by --resume', async () => {
    const dir = join(tmp, 'corrupt');
    cpSync(clean, dir, { recursive: true });
    const id = 'cnn-fmnist|pgd|first|0.03';
    const file = join(dir, 'cells', cellFileName(id));
    // A flipped digit in a count: still valid JSON and a plausible record; only the checksum tells.
    const text = readFileSync(file, 'utf8');
    const damaged = text.replace(/"correct": (\d+)/, (_, n) => `"correct": ${Number(n) === 0 ? 1 : Number(n) - 1}`);
    expect(damaged).not.toBe(text);
    writeFileSync(file, damaged);

    const report = await bench(['report', dir]);
    expect(report.code).toBe(2);
    expect(report.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^error: ${file.replace(/[|.]/g, '\\$&')}: corrupt record: checksum mismatch \\(.*\\); not used \\(\`bench run --resume ${dir}\` recomputes it\\)$`)),
    ]);
    const compared = await runCompare({ baseline: clean, candidate: dir, maxDrop: 1, alpha: 0.05, quiet: true }).catch((e: Error) => e);
    expect(compared).toBeInstanceOf(InputError);
    expect((compared as Error).message).toContain(`${file}: corrupt record: checksum mismatch`);

    // Torn (half a file) on another cell: the runner treats both as not done, says so, and recomputes them.
    const torn = join(dir, 'cells', cellFileName('cnn-fmnist|fgsm|first|0.1'));
    writeFileSync(torn, readFileSync(torn, 'utf8').slice(0, 100));
    const r = await bench(['run', '--resume', dir, '--quiet', '--workers', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ${file}: checksum mismatch`);
    expect(r.stderr).toContain(`warning: ${torn}: not valid JSON (a torn or damaged file); recomputing it`);
    expectFinishedLikeClean(dir);
  });
});
