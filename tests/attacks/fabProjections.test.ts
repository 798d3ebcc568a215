import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectHyperplaneBoxL2, projectHyperplaneBoxLinf } from '../../attacks/fabProjections.js';
import { mulberry32 } from '../helpers/mulberry32.js';

/**
 * FAB's projection onto a hyperplane intersected with the box [0,1]^D, L-inf and L2, checked against
 * (1) AutoAttack's own projection_linf / projection_l2 (fra31/auto-attack autoattack/fab_projections.py),
 *     run in float64 by tests/fixtures/fab-projections/make_fixture.py on 48 rows, and
 * (2) brute force on small random problems: the L-inf problem as a linear program solved by enumerating
 *     every vertex, the L2 problem by enumerating every active set (each coordinate at 0, at 1 or free).
 */

interface Case {
  t: number[];
  w: number[];
  b: number;
  linf: number[];
  l2: number[];
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'fab-projections', 'cases.json'), 'utf8')) as { cases: Case[] };

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i], 0);
const linfNorm = (d: ArrayLike<number>) => Math.max(0, ...Array.from(d, Math.abs));
const l2Norm = (d: ArrayLike<number>) => Math.sqrt(dot(d, d));

describe('FAB projections equal AutoAttack reference outputs', () => {
  it('the fixture covers in-reach, on-plane and out-of-reach rows', () => {
    expect(fixture.cases.length).toBe(48);
    const gaps = fixture.cases.map((c) => Math.abs(dot(c.w, c.t) - c.b));
    expect(gaps.filter((g) => g === 0).length).toBeGreaterThan(0);
  });

  it.each(fixture.cases.map((c, k) => [k, c] as const))('row %i: L-inf and L2 within 1e-9 of the reference', (_k, c) => {
    const linf = projectHyperplaneBoxLinf(c.t, c.w, c.b);
    const l2 = projectHyperplaneBoxL2(c.t, c.w, c.b);
    const scale = 1 + linfNorm(c.linf);
    c.linf.forEach((v, i) => expect(Math.abs(linf[i] - v)).toBeLessThanOrEqual(1e-9 * scale));
    c.l2.forEach((v, i) => expect(Math.abs(l2[i] - v)).toBeLessThanOrEqual(1e-9 * (1 + linfNorm(c.l2))));
  });
});

/** Solves the square system A x = y by Gaussian elimination with partial pivoting; null when singular. */
function solve(A: number[][], y: number[]): number[] | null {
  const n = y.length;
  const M = A.map((row, i) => [...row, y[i]]);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r][col]) > Math.abs(M[p][col])) p = r;
    if (Math.abs(M[p][col]) < 1e-12) return null;
    [M[col], M[p]] = [M[p], M[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = M[r][col] / M[col][col];
      for (let k = col; k <= n; k++) M[r][k] -= f * M[col][k];
    }
  }
  return M.map((row, i) => row[n] / row[i]);
}

function* subsets(n: number, k: number, start = 0, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === k) {
    yield prefix;
    return;
  }
  for (let i = start; i < n; i++) yield* subsets(n, k, i + 1, [...prefix, i]);
}

/**
 * min lambda over (d, lambda) s.t. w . d = b - w . t, |d_i| <= lambda, -t_i <= d_i <= 1 - t_i, by evaluating
 * every basic solution (D of the 4D inequalities active, with the equality): the smallest feasible lambda,
 * or Infinity when the plane is out of the box's reach.
 */
function bruteLinf(t: number[], w: number[], b: number): number {
  const D = t.length;
  const rhs = b - dot(w, t);
  // Inequalities a . (d, lambda) <= c.
  const ineq: { a: number[]; c: number }[] = [];
  for (let i = 0; i < D; i++) {
    const e = (s: number, l: number) => Array.from({ length: D + 1 }, (_, j) => (j === i ? s : j === D ? l : 0));
    ineq.push({ a: e(1, -1), c: 0 }, { a: e(-1, -1), c: 0 }, { a: e(1, 0), c: 1 - t[i] }, { a: e(-1, 0), c: t[i] });
  }
  let best = Infinity;
  for (const active of subsets(ineq.length, D)) {
    const A = [[...w, 0], ...active.map((k) => ineq[k].a)];
    const y = [rhs, ...active.map((k) => ineq[k].c)];
    const v = solve(A, y);
    if (!v) continue;
    if (ineq.every(({ a, c }) => dot(a, v) <= c + 1e-9)) best = Math.min(best, v[D]);
  }
  return best;
}

/**
 * min ||d||_2 s.t. w . d = b - w . t and -t_i <= d_i <= 1 - t_i, over every active set: coordinates at 0, at 1,
 * or free (the free ones the least-norm solution of the remaining equality, kept when inside the box).
 */
function bruteL2(t: number[], w: number[], b: number): number {
  const D = t.length;
  let best = Infinity;
  for (let code = 0; code < 3 ** D; code++) {
    const state = Array.from({ length: D }, (_, i) => Math.floor(code / 3 ** i) % 3); // 0 lower, 1 upper, 2 free
    const d = state.map((s, i) => (s === 0 ? -t[i] : s === 1 ? 1 - t[i] : 0));
    const free = state.flatMap((s, i) => (s === 2 ? [i] : []));
    const rest = b - dot(w, t) - dot(w, d);
    const ww = free.reduce((s, i) => s + w[i] * w[i], 0);
    if (ww === 0) {
      if (Math.abs(rest) > 1e-12) continue;
    } else for (const i of free) d[i] = (rest * w[i]) / ww;
    if (d.every((v, i) => v >= -t[i] - 1e-12 && v <= 1 - t[i] + 1e-12)) best = Math.min(best, l2Norm(d));
  }
  return best;
}

describe('FAB projections are the minimal-norm point of the plane in the box (brute force)', () => {
  const rand = mulberry32(16);
  const problems = Array.from({ length: 60 }, (_, k) => {
    const D = 1 + (k % 4);
    const t = Array.from({ length: D }, () => (rand() < 0.2 ? (rand() < 0.5 ? 0 : 1) : rand()));
    const w = Array.from({ length: D }, () => (rand() < 0.1 ? 0 : 2 * rand() - 1));
    // A target value anywhere from inside the box's range to well beyond it.
    const b = dot(w, t) + (rand() - 0.5) * 1.2;
    return { t, w, b };
  });

  it('reaches the plane when the box allows it, else the nearest corner; both cases occur', () => {
    let reached = 0;
    let outOfReach = 0;
    for (const { t, w, b } of problems) {
      const lp = bruteLinf(t, w, b);
      for (const d of [projectHyperplaneBoxLinf(t, w, b), projectHyperplaneBoxL2(t, w, b)]) {
        d.forEach((v, i) => {
          expect(t[i] + v).toBeGreaterThanOrEqual(0);
          expect(t[i] + v).toBeLessThanOrEqual(1);
        });
        if (Number.isFinite(lp)) expect(Math.abs(dot(w, t) + dot(w, d) - b)).toBeLessThan(1e-9);
        else
          d.forEach((v, i) => {
            // The corner that moves the value furthest towards b.
            const towardsOne = Math.sign(b - dot(w, t)) * w[i] > 0;
            expect(v).toBeCloseTo(w[i] === 0 ? 0 : towardsOne ? 1 - t[i] : -t[i], 12);
          });
      }
      if (Number.isFinite(lp)) reached++;
      else outOfReach++;
    }
    expect(reached).toBeGreaterThan(20);
    expect(outOfReach).toBeGreaterThan(5);
  });

  it('L-inf: the norm equals the linear program optimum', () => {
    for (const { t, w, b } of problems) {
      const lp = bruteLinf(t, w, b);
      if (!Number.isFinite(lp)) continue;
      expect(Math.abs(linfNorm(projectHyperplaneBoxLinf(t, w, b)) - lp)).toBeLessThan(1e-9);
    }
  });

  it('L2: the norm equals the best active set', () => {
    for (const { t, w, b } of problems) {
      if (!Number.isFinite(bruteLinf(t, w, b))) continue;
      expect(Math.abs(l2Norm(projectHyperplaneBoxL2(t, w, b)) - bruteL2(t, w, b))).toBeLessThan(1e-9);
    }
  });
});
