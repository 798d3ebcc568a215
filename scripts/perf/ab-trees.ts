// Before/after of two source trees (e.g. a commit checked out with `git worktree add`), interleaved:
// one measuring process (scripts/perf/child.ts) per tree, each running ITS OWN tree's code, driven one at
// a time in a fresh shuffled order every round, so slow drifts of a shared machine's load hit both trees
// alike. Each round times the real PGD attack (attacks/pgd.ts, L-inf, earlyStop off) with 1 step and with
// --steps steps in each tree; the step rate is batch x (steps - 1) / (T(steps) - T(1)), from wall time and
// from the process's CPU time (steadier under contention). Medians over rounds, and the median of the
// per-round after/before ratios with its spread (min..max), are printed.
//   npx tsx scripts/perf/ab-trees.ts --before /tmp/perf-before [--after .] [--cases cnn/first,cnnf/e2e]
//       [--batch 100] [--steps 10] [--rounds 7] [--eps 0.03]
// Both trees run through tsx from source (the same loader for both). The trees' child protocols must agree
// (init / prepare / run with cpuSeconds / finish / exit; true since issue 8).
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MeasuringProcess } from './driver.js';
import type { ModelName, RunReply } from './protocol.js';
import { scriptArgs } from '../lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  before: { type: 'string', default: '' },
  after: { type: 'string', default: '.' },
  cases: { type: 'string', default: 'cnn/first,cnnf/e2e' },
  batch: { type: 'string', default: '100' },
  steps: { type: 'string', default: '10' },
  rounds: { type: 'string', default: '7' },
  eps: { type: 'string', default: '0.03' },
});
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const before = resolve(flags.before);
const after = resolve(flags.after);
if (!flags.before) {
  process.stderr.write('ab-trees: --before DIR is required (a source tree with node_modules)\n');
  process.exit(2);
}
const batch = Number(flags.batch);
const steps = Number(flags.steps);
const rounds = Number(flags.rounds);
const eps = Number(flags.eps);
const cases = flags.cases.split(',').map((c) => c.split('/') as [ModelName, 'first' | 'e2e' | 'bpda']);

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const trees = [
  { label: 'before', dir: before },
  { label: 'after', dir: after },
];
const procs = trees.map((t, i) => new MeasuringProcess(i, ['--import', tsx, join(t.dir, 'scripts/perf/child.ts')]));
const onSignal = () => {
  for (const p of procs) p.kill();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const load0 = os.loadavg();
console.log(`ab-trees: before ${before}, after ${after}; batch ${batch}, ${steps} steps, ${rounds} interleaved rounds; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
try {
  for (const p of procs) await p.send({ op: 'init', backend: 'wasm' });
  let seed = 4242;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const [model, path] of cases) {
    for (const p of procs) await p.send({ op: 'prepare', task: { kind: 'pgd', model, path, batch, eps } });
    // Per tree: per round, T(1) and T(steps) in wall and CPU seconds.
    const rows = trees.map(() => ({ wall1: [] as number[], wallN: [] as number[], cpu1: [] as number[], cpuN: [] as number[] }));
    for (let r = 0; r < rounds; r++) {
      const order = rand() < 0.5 ? [0, 1] : [1, 0];
      for (const i of order) {
        const one = await procs[i].send<RunReply>({ op: 'run', steps: 1 });
        const many = await procs[i].send<RunReply>({ op: 'run', steps });
        rows[i].wall1.push(one.seconds);
        rows[i].cpu1.push(one.cpuSeconds);
        rows[i].wallN.push(many.seconds);
        rows[i].cpuN.push(many.cpuSeconds);
        // Raw figures as they come (usable if the run is cut short).
        process.stderr.write(`[ab-trees] ${model}/${path} round ${r + 1} ${trees[i].label}: T(1) ${one.seconds.toFixed(2)} s wall ${one.cpuSeconds.toFixed(2)} s cpu, T(${steps}) ${many.seconds.toFixed(2)} s wall ${many.cpuSeconds.toFixed(2)} s cpu\n`);
      }
      process.stderr.write(`[ab-trees] ${model}/${path} round ${r + 1}/${rounds}, load ${os.loadavg()[0].toFixed(2)}\n`);
    }
    for (const p of procs) await p.send({ op: 'finish' });
    const stepRate = (tN: number, t1: number) => (batch * (steps - 1)) / (tN - t1);
    console.log(`\n${model}/${path}, batch ${batch}: images x steps / s (median over rounds)`);
    console.log('  tree     attack(wall)  step(wall)  attack(cpu)  step(cpu)');
    const summary = rows.map((x, i) => {
      const s = {
        attackWall: (batch * steps) / median(x.wallN),
        stepWall: stepRate(median(x.wallN), median(x.wall1)),
        attackCpu: (batch * steps) / median(x.cpuN),
        stepCpu: stepRate(median(x.cpuN), median(x.cpu1)),
      };
      console.log(`  ${trees[i].label.padEnd(7)} ${s.attackWall.toFixed(1).padStart(12)} ${s.stepWall.toFixed(1).padStart(11)} ${s.attackCpu.toFixed(1).padStart(12)} ${s.stepCpu.toFixed(1).padStart(10)}`);
      return s;
    });
    // Paired per-round ratios after/before (>1: after faster), attack rate.
    const ratios = (k: 'wallN' | 'cpuN') => rows[0][k].map((b, r) => b / rows[1][k][r]);
    for (const k of ['wallN', 'cpuN'] as const) {
      const v = ratios(k);
      console.log(`  after/before, ${k === 'wallN' ? 'wall' : 'cpu '} attack rate per round: median ${median(v).toFixed(3)}, range ${Math.min(...v).toFixed(3)}..${Math.max(...v).toFixed(3)}`);
    }
    console.log(`  after/before, step rate of the medians: wall ${(summary[1].stepWall / summary[0].stepWall).toFixed(3)}, cpu ${(summary[1].stepCpu / summary[0].stepCpu).toFixed(3)}`);
    console.log(`  raw seconds, ${steps}-step attacks: before wall ${rows[0].wallN.map((t) => t.toFixed(2)).join(' ')} | after wall ${rows[1].wallN.map((t) => t.toFixed(2)).join(' ')}`);
    console.log(`                                     before cpu  ${rows[0].cpuN.map((t) => t.toFixed(2)).join(' ')} | after cpu  ${rows[1].cpuN.map((t) => t.toFixed(2)).join(' ')}`);
  }
  console.log(`\nload average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const p of procs) await p.close();
} catch (err) {
  for (const p of procs) p.kill();
  process.stderr.write(`ab-trees: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
