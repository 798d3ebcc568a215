import type { Argv } from 'yargs';
import { InputError, StorageError } from '../engine/errors.js';
import { BACKEND_CHOICES, initBackend, type BackendInfo } from '../engine/backend.js';

/** Flags every verb that computes shares. */
export function withBackendOption<T>(y: Argv<T>) {
  return y.option('backend', {
    choices: BACKEND_CHOICES as unknown as string[],
    describe: 'compute backend (env BENCH_BACKEND); auto = native binding if installed, else wasm, else cpu',
    default: process.env.BENCH_BACKEND ?? 'auto',
    type: 'string',
  });
}

/** Initialises the backend and prints the choice once, on stderr so stdout stays machine-readable. */
export async function startBackend(requested: string | undefined, quiet = false): Promise<BackendInfo> {
  const info = await initBackend(requested);
  if (!quiet) process.stderr.write(`backend: ${info.name} (${info.provider}, tfjs ${info.tfjsVersion})\n`);
  return info;
}

/** Prints one line and exits 2 for input errors, 3 for storage errors (a write failed); anything else is an internal error with its stack (3). */
export function reportError(err: unknown): never {
  if (err instanceof InputError || err instanceof StorageError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`internal error: ${msg}\n`);
  process.exit(3);
}

/** Wraps a command handler so input errors exit 2 with one line. */
export function handler<A>(fn: (args: A) => Promise<number | void>): (args: A) => Promise<void> {
  return async (args: A) => {
    try {
      const code = await fn(args);
      process.exitCode = code ?? 0;
    } catch (err) {
      reportError(err);
    }
  };
}
