/**
 * Atomic file writes: temp file in the same directory, fsync, rename, fsync of the directory, so a crash
 * leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StorageError } from '../engine/errors.js';
import { createDirectory } from './createDir.js';

/** Temp files of writeFileAtomic: `.<pid>.<hex>.tmp`. */
export const TEMP_NAME = /^\.(\d+)\.[0-9a-f]+\.tmp$/;

/** Why a write failed, in words, for the one-line message. */
export function writeProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EIO: 'input/output error',
    ENAMETOOLONG: 'file name too long',
    ENOTDIR: 'a parent is not a directory',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/**
 * Test hook (fault injection): with BENCH_TEST_FAIL_WRITES_AFTER=N in the environment, the atomic writes of
 * this process after the first N fail as on a full disk (ENOSPC, after the temp file is created, so the
 * cleanup path runs too). Unset in normal use.
 */
let atomicWrites = 0;
function injectedFault(): NodeJS.ErrnoException | null {
  const after = process.env.BENCH_TEST_FAIL_WRITES_AFTER;
  if (after === undefined || after === '' || ++atomicWrites <= Number(after)) return null;
  return Object.assign(new Error('ENOSPC: no space left on device, write (injected by BENCH_TEST_FAIL_WRITES_AFTER)'), { code: 'ENOSPC' });
}

/**
 * Writes `text` (or bytes) to `path` atomically: temp file in the same directory, fsync, rename, fsync the
 * directory. Any failure removes the temp file, leaves `path` as it was, and is a StorageError naming
 * `path` and the reason (e.g. "no space left on device (ENOSPC)").
 */
export async function writeFileAtomic(path: string, text: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await createDirectory(dir, 'the folder');
  try {
    const handle = await open(temp, 'wx');
    try {
      const fault = injectedFault();
      if (fault) throw fault;
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new StorageError(`cannot write ${path}: ${writeProblem(err)}`);
  }
  try {
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
  } catch {
    // Some filesystems cannot open or sync a directory; the rename is still atomic.
  }
}
