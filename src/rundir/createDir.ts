/**
 * Creating an output directory (a run directory, a merge's --out) with an accurate reason when it cannot
 * be: the first existing ancestor is found by walking up, then each missing level is made with a plain
 * (non-recursive) mkdir, so the error is the one the existing parent gave. Node's recursive mkdir cannot
 * be used for this: it reports ENOENT for a parent it may not write in some cases, and loops forever
 * on /proc (Node 20), whose directories refuse new entries with ENOENT.
 */
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { StorageError } from '../engine/errors.js';

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);

/** Why a directory cannot be made in (or written in) the existing directory `parent`, from the errno code. */
export function refusalReason(parent: string, code: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `${parent} is not writable (${code})`;
    case 'EROFS':
      return `${parent} is on a read-only file system (EROFS)`;
    case 'ENOSPC':
      return `no space left on the device of ${parent} (ENOSPC)`;
    case 'EDQUOT':
      return `the disk quota of ${parent} is exhausted (EDQUOT)`;
    case 'ENOENT':
      // The parent exists (we stat'ed it): only virtual file systems answer ENOENT here.
      return `${parent} does not take new directories (ENOENT although it exists: a virtual file system such as /proc)`;
    default:
      return `${parent}: ${code}`;
  }
}

/**
 * The nearest existing ancestor of `dir` (or `dir` itself) and the missing levels below it, outermost
 * first. Throws a StorageError `cannot create <what> <dir>: <path> is not a directory` when the walk meets
 * a file (e.g. `--out afile/run`), or names the ancestor that cannot be examined.
 */
export async function existingAncestor(dir: string, what: string): Promise<{ ancestor: string; missing: string[] }> {
  const missing: string[] = [];
  let path = resolve(dir);
  for (;;) {
    try {
      const s = await stat(path);
      if (!s.isDirectory()) throw new StorageError(`cannot create ${what} ${dir}: ${path} is not a directory`);
      return { ancestor: path, missing: missing.reverse() };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      const code = codeOf(err);
      // ENOTDIR: a level above is a file; keep walking up until the stat names it.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(path) === path) throw new StorageError(`cannot create ${what} ${dir}: cannot examine ${path} (${code})`);
      missing.push(path);
      path = dirname(path);
    }
  }
}

/**
 * Refuses early (before any model loads), without creating anything, an output directory that cannot be
 * made or written in: a StorageError (exit 3) naming `dir` and the reason (existingAncestor; a nearest
 * existing directory that is not writable). Creation can still fail where only mkdir tells (/proc).
 */
export async function checkCreatable(dir: string, what = 'the run directory'): Promise<void> {
  const { ancestor, missing } = await existingAncestor(dir, what);
  try {
    await access(ancestor, constants.W_OK);
  } catch (err) {
    throw new StorageError(missing.length > 0 ? `cannot create ${what} ${dir}: ${refusalReason(ancestor, codeOf(err))}` : `cannot write in ${what} ${dir}: ${refusalReason(ancestor, codeOf(err))}`);
  }
}

/**
 * Creates `dir` and its missing parents (an existing directory is fine). Failure is one StorageError
 * line (exit 3): `cannot create <what> <dir>: <reason>`, the reason naming the level at fault.
 */
export async function createDirectory(dir: string, what = 'the run directory'): Promise<void> {
  const { missing } = await existingAncestor(dir, what);
  for (const level of missing) {
    try {
      await mkdir(level);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EEXIST' && (await stat(level).catch(() => null))?.isDirectory()) continue; // made meanwhile
      throw new StorageError(`cannot create ${what} ${dir}: ${code === 'EEXIST' ? `${level} is not a directory` : refusalReason(dirname(level), code)}`);
    }
  }
}
