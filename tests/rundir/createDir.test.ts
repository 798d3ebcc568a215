import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/engine/errors.js';
import { checkCreatable, createDirectory, existingAncestor, refusalReason } from '../../src/rundir/createDir.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-create-dir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function storageErrorOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return (err as StorageError).message;
}

describe('creating an output directory', () => {
  it('makes every missing level, and accepts an existing directory', async () => {
    const dir = join(tmp, 'a', 'b', 'c');
    expect(await existingAncestor(dir, 'x')).toEqual({ ancestor: tmp, missing: [join(tmp, 'a'), join(tmp, 'a', 'b'), dir] });
    await checkCreatable(dir);
    expect(existsSync(join(tmp, 'a'))).toBe(false); // the check creates nothing
    await createDirectory(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    await createDirectory(dir);
  });

  it('a file on the path: names the file, not the lock or the leaf', async () => {
    const file = join(tmp, 'afile');
    writeFileSync(file, 'x\n');
    const dir = join(file, 'run', 'deeper');
    const want = `cannot create the run directory ${dir}: ${file} is not a directory`;
    expect(await storageErrorOf(checkCreatable(dir))).toBe(want);
    expect(await storageErrorOf(createDirectory(dir))).toBe(want);
  });

  it.runIf(existsSync('/proc/self'))('/proc refuses new directories: one line, no endless loop (Node 20 recursive mkdir spins there)', { timeout: 10_000 }, async () => {
    expect(await storageErrorOf(createDirectory('/proc/bench-x/run'))).toBe(
      'cannot create the run directory /proc/bench-x/run: /proc does not take new directories (ENOENT although it exists: a virtual file system such as /proc)',
    );
  });

  it('says why from the errno code of the existing parent', () => {
    expect(refusalReason('/mnt/ro', 'EROFS')).toBe('/mnt/ro is on a read-only file system (EROFS)');
    expect(refusalReason('/data', 'EACCES')).toBe('/data is not writable (EACCES)');
    expect(refusalReason('/data', 'ENOSPC')).toBe('no space left on the device of /data (ENOSPC)');
  });
});
