/**
 * The lock of a run directory: <run-dir>/.lock, held by the lead process of `bench run` (a fresh run or
 * `--resume`) from before it writes anything until it returns or fails. It holds JSON {format, pid,
 * hostname, startedAt}. It is created whole and exclusively: the holder's JSON is written and fsynced
 * under a temp name, then hard-linked to .lock (link fails if .lock exists), so no process ever sees an
 * empty or half-written lock.
 *
 * A second lead on the same directory is refused with one line naming the holder (exit 2). A lock whose
 * pid is not running on this host is stale (its run was killed): the next lead takes it over with a
 * warning. A lock from another host cannot be checked and is respected; the message says which file to
 * delete if that run is gone. Helper processes of a parallel run (workers.ts) work under their lead's
 * lock and never take it.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError, StorageError } from '../engine/errors.js';

export const LOCK_FILE = '.lock';

export interface LockHolder {
  format: 'bench-lock/1';
  pid: number;
  hostname: string;
  startedAt: string;
}

/** True when a process with this pid exists on this host (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks this process holds, by absolute lock path (a second run in the same process must be refused too). */
const held = new Map<string, LockHolder>();

function parseHolder(text: string): LockHolder | null {
  try {
    const v = JSON.parse(text) as LockHolder;
    return v && typeof v === 'object' && Number.isInteger(v.pid) && typeof v.hostname === 'string' && typeof v.startedAt === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** The lock's text and holder (null holder: unreadable), or null when there is no lock. */
async function readLock(file: string): Promise<{ text: string; holder: LockHolder | null } | null> {
  try {
    const text = await readFile(file, 'utf8');
    return { text, holder: parseHolder(text) };
  } catch (err) {
    // ENOTDIR: a level of the path is a file, so no lock can be there (creating the directory says why it fails).
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new StorageError(`cannot read the run lock ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Whether `holder` may still be running: this process, a live pid on this host, or any lock from another host. */
function isLive(file: string, holder: LockHolder): boolean {
  const mine = held.get(resolve(file));
  if (mine) return mine.pid === holder.pid && mine.startedAt === holder.startedAt;
  if (holder.hostname !== hostname()) return true;
  // Our own pid in a lock we do not hold: a dead run's pid reused by this process.
  if (holder.pid === process.pid) return false;
  return pidAlive(holder.pid);
}

function refusal(dir: string, file: string, holder: LockHolder): InputError {
  const other = holder.hostname !== hostname();
  return new InputError(
    `${dir}: in use by another bench run (pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}; lock ${file}); ` +
      (other ? `if that run is gone, delete the lock file` : 'wait for it to finish, or stop it'),
  );
}

/** Refuses (InputError, one line naming the holder's pid) when a live process holds the run directory's lock. */
export async function checkRunLock(dir: string): Promise<void> {
  const file = join(dir, LOCK_FILE);
  const seen = await readLock(file);
  if (seen?.holder && isLive(file, seen.holder)) throw refusal(dir, file, seen.holder);
}

export class RunLock {
  private released = false;
  private constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {}

  /**
   * Takes the lock of `dir` (which must exist): refuses with an InputError when a live process holds it,
   * takes a stale one over after `warn`ing. Write failures are StorageErrors.
   */
  static async acquire(dir: string, warn: (line: string) => void): Promise<RunLock> {
    const file = join(dir, LOCK_FILE);
    const holder: LockHolder = { format: 'bench-lock/1', pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
    // The temp name has writeFileAtomic's pattern, so a lead that dies right here leaves a temp file the
    // next lead removes (RunStore.removeStaleTemps).
    const temp = join(dir, `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(`${JSON.stringify(holder)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw new StorageError(`cannot write the run lock ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(temp, file);
          held.set(resolve(file), holder);
          return new RunLock(file, holder);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
            throw new StorageError(`cannot create the run lock ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        const seen = await readLock(file);
        if (!seen) continue; // released meanwhile
        if (seen.holder && isLive(file, seen.holder)) throw refusal(dir, file, seen.holder);
        // Stale: move it aside (atomic), then make sure what we moved is what we judged stale: a lead that
        // took the lock between our read and our rename gets it back.
        const grave = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
        try {
          await rename(file, grave);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw new StorageError(`cannot remove the stale run lock ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        const moved = await readFile(grave, 'utf8').catch(() => '');
        if (moved !== seen.text) await link(grave, file).catch(() => undefined);
        else
          warn(
            seen.holder
              ? `warning: ${dir}: taking over a stale lock (pid ${seen.holder.pid} on ${seen.holder.hostname}, since ${seen.holder.startedAt}, is no longer running)`
              : `warning: ${dir}: taking over an unreadable lock file ${file}`,
          );
        await rm(grave, { force: true });
      }
      throw new StorageError(`cannot take the run lock ${file}: it keeps changing hands`);
    } finally {
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  /** Removes the lock if it is still this one. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    held.delete(resolve(this.file));
    const seen = await readLock(this.file).catch(() => null);
    if (seen?.holder && seen.holder.pid === this.holder.pid && seen.holder.startedAt === this.holder.startedAt) await rm(this.file, { force: true });
  }
}
