// The parent's side of the measuring processes (scripts/perf/child.ts): spawn, request/reply over
// stdin/stdout JSON lines, and lock-step rounds across several processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MARK, type Request } from './protocol.js';

/** node arguments that run a sibling module of this one (through tsx when running from source). */
export function nodeArgsFor(scriptBase: string, fromUrl: string = import.meta.url): string[] {
  const here = fileURLToPath(fromUrl);
  const fromSource = here.endsWith('.ts');
  const script = join(dirname(here), `${scriptBase}${fromSource ? '.ts' : '.js'}`);
  const loader = fromSource ? ['--import', pathToFileURL(createRequire(fromUrl).resolve('tsx')).href] : [];
  return [...loader, script];
}

export class MeasuringProcess {
  private readonly child: ChildProcess;
  private readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private stderr = '';
  private exited = false;

  /** `nodeArgs`: how to start the child (default: this tree's child.ts; ab-trees.ts starts another tree's). */
  constructor(readonly index: number, nodeArgs: string[] = nodeArgsFor('child')) {
    this.child = spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d) => (this.stderr += String(d)));
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith(MARK)) return; // stray output of a library
      const next = this.pending.shift();
      if (!next) return;
      const value = JSON.parse(line.slice(MARK.length)) as { error?: string };
      if (value && typeof value === 'object' && typeof value.error === 'string')
        next.reject(new Error(`measuring process ${this.index}: ${value.error}`));
      else next.resolve(value);
    });
    this.child.on('close', (code) => {
      this.exited = true;
      const err = new Error(`measuring process ${this.index} exited with code ${code}${this.stderr ? `: ${this.stderr.trim().slice(-2000)}` : ''}`);
      for (const p of this.pending.splice(0)) p.reject(err);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send<T>(req: Request): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`measuring process ${this.index} has exited`));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  async close(): Promise<{ maxRssMB: number } | null> {
    if (this.exited) return null;
    const r = await this.send<{ maxRssMB: number }>({ op: 'exit' });
    this.child.stdin!.end();
    return r;
  }

  /** Ends this process (only ever one we started). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }
}
