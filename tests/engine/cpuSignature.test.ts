import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
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
