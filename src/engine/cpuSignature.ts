import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The x86 vector extensions whose presence changes how fast native libraries (oneDNN, OpenBLAS) run. */
export const SIGNATURE_FLAGS = ['avx', 'avx2', 'fma', 'avx512f'] as const;

/**
 * A one-line description of this machine's processor for timing records: the CPU model and which of
 * SIGNATURE_FLAGS /proc/cpuinfo lists, e.g. "AMD EPYC (avx avx2 fma avx512f)". Why: the machines a
 * long run resumes on are not all alike, and PyTorch's oneDNN uses AVX-512 where it exists while wasm's
 * 128-bit SIMD cannot, so CPU seconds from two machines must not be summed or compared unmarked
 * (docs/autoattack.md). scripts/reference/reference_env.py cpu_signature() writes the same format.
 * Without /proc/cpuinfo (not Linux) the flags read "(flags unknown)". Never throws.
 */
export function cpuSignature(): string {
  const model = cpus()[0]?.model?.trim() || 'unknown CPU';
  const extensions = vectorExtensions();
  return extensions ? `${model} (${extensions.join(' ')})` : `${model} (flags unknown)`;
}

/**
 * Which of SIGNATURE_FLAGS this processor has, in that order, from /proc/cpuinfo's first `flags` line; null
 * where that cannot be read (not Linux). Recorded with every run (src/suite/runner.ts) so that timings from
 * different machines are told apart. Never throws.
 */
export function vectorExtensions(): string[] | null {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    if (!line) return null;
    const flags = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
    return SIGNATURE_FLAGS.filter((f) => flags.has(f));
  } catch {
    return null;
  }
}
