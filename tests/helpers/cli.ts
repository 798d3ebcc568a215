import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where `src/cli/main.ts` and `node_modules` are). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BenchResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bench <args>` through tsx (no build needed) on the wasm backend, from the package root (or `cwd`). */
export function runBench(args: string[], opts: { cwd?: string } = {}): Promise<BenchResult> {
  return new Promise((done) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, BENCH_BACKEND: 'wasm' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
