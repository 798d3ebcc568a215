/**
 * The run directory's own guarantees, in process: record checksums, atomic writes under a failing disk,
 * the lock, and names from config text (checkpoint names, attack labels) that must never become paths.
 * The CLI-level fault tests (SIGKILL, ENOSPC, a second process, corrupt cells) are in crash.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { InputError, StorageError } from '../../src/engine/errors.js';
import { writeFileAtomic } from '../../src/rundir/atomic.js';
import { openRecord, recordChecksum, sealedJson } from '../../src/rundir/checksums.js';
import { cellFileName, checkFileNames } from '../../src/rundir/files.js';
import { checkRunLock, RunLock } from '../../src/rundir/lock.js';
import type { SuiteCellResult } from '../../src/rundir/records.js';
import { RunStore } from '../../src/rundir/store.js';
import { validateConfig } from '../../src/suite/config.js';
import { executeRun, prepareRun } from '../../src/suite/runner.js';
import { readRun } from '../../src/rundir/read.js';
import { fixtureCheckpoint } from '../suite/fixtures.js';

let root: string;
let backend: BackendInfo;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bench-rundir-'));
  backend = await initBackend('wasm');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cell = (id: string): SuiteCellResult => ({
  format: 'bench-cell/1',
  id,
  kind: 'clean',
  checkpoint: 'a',
  output: 'last',
  samples: 3,
  correct: 2,
  accuracy: 2 / 3,
  ci95: [0.2, 0.94],
  correctBits: 'Aw==',
  timings: { seconds: 0.5, imagesPerSecond: 6 },
  backend: 'wasm',
  completedAt: '2026-01-01T00:00:00.000Z',
});

describe('record checksums', () => {
  it('a sealed record opens to itself; any changed value, a missing or a wrong checksum is refused', () => {
    const text = sealedJson(cell('a|clean'));
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed).at(-1)).toBe('sha256');
    expect(parsed.sha256).toBe(recordChecksum(cell('a|clean')));
    expect(openRecord(parsed)).toEqual({ record: cell('a|clean'), sha256: parsed.sha256 });
    // The checksum is of the canonical body: key order and whitespace do not matter.
    const reordered = Object.fromEntries(Object.entries(parsed).reverse());
    expect(openRecord(JSON.parse(JSON.stringify(reordered))).problem).toBeUndefined();
    for (const [key, value] of [['correct', 1], ['correctBits', 'Bw=='], ['accuracy', 0.6666666666666667 + 1e-15], ['completedAt', '2026-01-01T00:00:00.001Z']] as const)
      expect(openRecord({ ...parsed, [key]: value }).problem).toMatch(/^checksum mismatch/);
    expect(openRecord({ ...parsed, extra: true }).problem).toMatch(/^checksum mismatch/);
    const { sha256, ...unsealed } = parsed;
    void sha256;
    expect(openRecord(unsealed).problem).toMatch(/^no sha256 field/);
    expect(openRecord([parsed]).problem).toBe('not a JSON object');
  });

  it('the runner reads a corrupt or torn cell as missing and says so once', async () => {
    const dir = join(root, 'store');
    const store = await RunStore.create(dir, { format: 'bench-run/1' } as never);
    const lines: string[] = [];
    store.warn = (l) => lines.push(l);
    await store.writeCell(cell('a|clean'));
    expect(await store.readCell('a|clean')).toEqual(cell('a|clean'));
    const file = store.cellPath('a|clean');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('"correct": 2', '"correct": 3'));
    expect(await store.readCell('a|clean')).toBeNull();
    expect(await store.readCell('a|clean')).toBeNull();
    writeFileSync(file, good.slice(0, good.length / 2));
    expect(await store.readCell('a|clean')).toBeNull();
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^warning: ${file.replace(/[|.]/g, '\\$&')}: checksum mismatch .*; recomputing it$`))]);
    // Another cell's valid record under this name (a clash) is not this cell either.
    writeFileSync(file, sealedJson(cell('b|clean')));
    expect(await store.readCell('a|clean')).toBeNull();
    expect(await store.readCell('never|written')).toBeNull();
  });
});

describe('atomic writes on a failing disk', () => {
  it('a failed write leaves the old file and no temp file, and is a StorageError naming the file and the reason', async () => {
    const dir = join(root, 'atomic');
    const file = join(dir, 'x.json');
    await writeFileAtomic(file, 'old\n');
    process.env.BENCH_TEST_FAIL_WRITES_AFTER = '0';
    try {
      const err = await writeFileAtomic(file, 'new\n').catch((e: Error) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toBe(`cannot write ${file}: no space left on device (ENOSPC)`);
    } finally {
      delete process.env.BENCH_TEST_FAIL_WRITES_AFTER;
    }
    expect(readFileSync(file, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['x.json']);
    // A real failure too: the directory is a file.
    writeFileSync(join(root, 'not-a-dir'), '');
    await expect(writeFileAtomic(join(root, 'not-a-dir', 'y.json'), 'y')).rejects.toThrow(`cannot create the folder ${join(root, 'not-a-dir')}: ${join(root, 'not-a-dir')} is not a directory`);
    // Missing parents are made level by level; a virtual file system refuses in one line instead of looping.
    await writeFileAtomic(join(root, 'a', 'b', 'z.json'), 'z');
    expect(readFileSync(join(root, 'a', 'b', 'z.json'), 'utf8')).toBe('z');
    if (existsSync('/proc/self')) await expect(writeFileAtomic('/proc/bench-x/y.json', 'y')).rejects.toThrow(/^cannot create the folder \/proc\/bench-x: \/proc does not take new directories/);
  });
});

describe('the run lock', () => {
  const holder = (pid: number, host = hostname()) => JSON.stringify({ format: 'bench-lock/1', pid, hostname: host, startedAt: '2026-01-01T00:00:00.000Z' });

  it('is exclusive within a process too, and released only by its holder', async () => {
    const dir = join(root, 'lock1');
    mkdirSync(dir);
    const warnings: string[] = [];
    const a = await RunLock.acquire(dir, (l) => warnings.push(l));
    const held = JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'));
    expect(held).toMatchObject({ format: 'bench-lock/1', pid: process.pid, hostname: hostname() });
    await expect(RunLock.acquire(dir, (l) => warnings.push(l))).rejects.toThrow(new RegExp(`in use by another bench run \\(pid ${process.pid} `));
    await expect(checkRunLock(dir)).rejects.toThrow(InputError);
    await a.release();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    const b = await RunLock.acquire(dir, (l) => warnings.push(l));
    await a.release(); // a second release of an old lock must not remove the new one
    expect(existsSync(join(dir, '.lock'))).toBe(true);
    await b.release();
    expect(warnings).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock from another host is respected; an unreadable one is taken over with a warning', async () => {
    const dir = join(root, 'lock2');
    mkdirSync(dir);
    writeFileSync(join(dir, '.lock'), holder(1, 'elsewhere.example'));
    await expect(RunLock.acquire(dir, () => undefined)).rejects.toThrow(
      `${dir}: in use by another bench run (pid 1 on elsewhere.example, since 2026-01-01T00:00:00.000Z; lock ${join(dir, '.lock')}); if that run is gone, delete the lock file`,
    );
    writeFileSync(join(dir, '.lock'), '');
    const warnings: string[] = [];
    const lock = await RunLock.acquire(dir, (l) => warnings.push(l));
    expect(warnings).toEqual([`warning: ${dir}: taking over an unreadable lock file ${join(dir, '.lock')}`]);
    await lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('names from config text never become paths', () => {
  it('hostile checkpoint names (../, leading dot, absolute, NUL) stay inside the run directory, and every cell is read back', async () => {
    const ckpts = join(root, 'ckpts');
    await fixtureCheckpoint('cnn', join(ckpts, 'cnn'), '../../../escape');
    await fixtureCheckpoint('cnnf', join(ckpts, 'cnnf'), '.hidden/../\u0000/etc/passwd');
    const config = join(root, 'hostile.json');
    writeFileSync(
      config,
      JSON.stringify({
        suite: 'adversarial',
        checkpoints: [join(ckpts, 'cnn'), join(ckpts, 'cnnf')],
        attacks: [{ name: 'fgsm', label: '..', paths: ['first'] }],
        epsilons: [0, 0.05],
        limit: 4,
        batchSize: 4,
        sanity: true,
        sanityLimit: 2,
      }),
    );
    const sandbox = join(root, 'sandbox');
    const runDir = join(sandbox, 'a', 'b', 'run');
    mkdirSync(join(sandbox, 'a', 'b'), { recursive: true });
    const before = readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
    const out = await executeRun(await prepareRun({ configFile: config, out: runDir }), { backend, quiet: true });
    const after = readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
    const added = after.filter((p) => !before.includes(p));
    expect(added.length).toBeGreaterThan(out.manifest.cells.length);
    for (const p of added) expect(relative(runDir, join(root, p)).startsWith('..'), p).toBe(false);
    for (const sub of ['cells', 'probes', 'images'])
      if (existsSync(join(runDir, sub))) for (const name of readdirSync(join(runDir, sub))) expect(name.startsWith('.'), `${sub}/${name}`).toBe(false);
    expect(out.manifest.checkpoints.map((c) => c.name)).toEqual(['../../../escape', '.hidden/../\u0000/etc/passwd']);
    expect(cellFileName('../../../escape|clean')).toBe('_.._.._.._escape_clean.json');
    const run = await readRun(runDir);
    expect(run.cells.map((c) => c.id)).toEqual(out.manifest.cells);
  });

  it('names that would share a cell file are refused in one line; an attack label with a path is refused by the config', async () => {
    const ckpts = join(root, 'clash');
    await fixtureCheckpoint('cnn', join(ckpts, 'one'), 'cnn a');
    await fixtureCheckpoint('cnn', join(ckpts, 'two'), 'cnn_a');
    const config = join(root, 'clash.json');
    writeFileSync(config, JSON.stringify({ suite: 'adversarial', checkpoints: [join(ckpts, 'one'), join(ckpts, 'two')], attacks: ['fgsm'], epsilons: [0], limit: 2, sanity: false }));
    const runDir = join(root, 'clash-run');
    const err = await executeRun(await prepareRun({ configFile: config, out: runDir }), { backend, quiet: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `${config}: records "cnn a|clean" and "cnn_a|clean" would share the file cnn_a_clean.json (allowed: checkpoint names (model.json) and attack labels that differ in letters, digits or . _ = - (other characters become _))`,
    );
    // Refused before anything was written: no run directory is left behind.
    expect(existsSync(runDir)).toBe(false);
    expect(() => checkFileNames([`x|${'a'.repeat(300)}`], 'cfg')).toThrow(/makes a file name of 307 bytes/);
    expect(() => validateConfig({ suite: 'adversarial', checkpoints: ['c'], attacks: [{ name: 'fgsm', label: '../x' }], epsilons: [0] }, 'cfg.json')).toThrow(
      /cfg\.json: attacks\[0\]\.label: invalid label "\.\.\/x"/,
    );
  });
});
