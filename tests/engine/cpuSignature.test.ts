import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuSignature, SIGNATURE_FLAGS } from '../../src/engine/cpuSignature.js';

describe('cpuSignature', () => {
  it('names the CPU model and, in a fixed order, exactly the vector extensions /proc/cpuinfo lists', () => {
    const signature = cpuSignature();
    const match = /^(.*) \((.*)\)$/.exec(signature);
    expect(match, signature).not.toBeNull();
    expect(match![1]).toBe(cpus()[0]?.model?.trim() || 'unknown CPU');
    if (!existsSync('/proc/cpuinfo')) {
      expect(match![2]).toBe('flags unknown');
      return;
    }
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const present = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
    const listed = match![2] === '' ? [] : match![2].split(' ');
    expect(listed).toEqual(SIGNATURE_FLAGS.filter((f) => present.has(f)));
  });
});

describe('cpuSignature and the Python reference scripts', () => {
  // Equal strings on one machine are what keeps autoattack-side-by-side.ts from warning that the two sides
  // of a stage ran on different processors.
  const python = '/usr/bin/python3';
  // reference_env imports numpy: the check needs Debian's python3 with python3-numpy (not in CI).
  const usable = existsSync(python) && spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!usable)('writes the same line as reference_env.cpu_signature() (skipped without python3-numpy)', () => {
    const root = join(import.meta.dirname, '..', '..');
    const out = spawnSync(python, ['-B', '-c', 'import sys; sys.path.insert(0, sys.argv[1]); import reference_env; print(reference_env.cpu_signature())', join(root, 'scripts', 'reference')], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe(cpuSignature());
  });
});
