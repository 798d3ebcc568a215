/**
 * The order in which the processes of `bench run --workers N` claim units (src/suite/workers.ts claimOrder):
 * most expensive first, and a sanity probe that continues a main sweep or cascade after everything else, so
 * that the cells or cascade parts it starts from are done when it is claimed.
 */
import { describe, expect, it } from 'vitest';
import { claimOrder } from '../../src/suite/workers.js';
import type { PlannedCell, PlanUnit } from '../../src/suite/planner.js';

const unit = (id: string, kind: PlanUnit['kind'], cost: number, cell: Partial<PlannedCell> = {}): PlanUnit =>
  ({ id, kind, cost, gradientProbes: [], cells: [{ id: `${id}#cell`, kind: 'attack', checkpoint: 'm', samples: 10, ...cell }] }) as PlanUnit;

describe('claimOrder', () => {
  it('takes the most expensive units first, keeping plan order among equal costs', () => {
    const units = [unit('clean', 'clean', 1), unit('sweep-a', 'sweep', 30), unit('sweep-b', 'sweep', 30), unit('part', 'cascade', 80), unit('large-eps', 'probe-attack', 40)];
    expect(claimOrder(units).map((u) => u.id)).toEqual(['part', 'large-eps', 'sweep-a', 'sweep-b', 'clean']);
  });

  it('puts a probe continuing a sweep or cascade after every other unit, however expensive it is', () => {
    const continues = { continues: { entry: { name: 'pgd', label: 'pgd', params: {} }, epsilons: [0.03] } } as Partial<PlannedCell>;
    const units = [
      unit('more-steps', 'probe-attack', 500, continues),
      unit('part-0', 'cascade', 100, { samples: 10 }),
      unit('part-1', 'cascade', 100),
      unit('gradients', 'probe-gradients', 5),
      unit('large-eps', 'probe-attack', 200),
    ];
    expect(claimOrder(units).map((u) => u.id)).toEqual(['large-eps', 'part-0', 'part-1', 'gradients', 'more-steps']);
  });
});
