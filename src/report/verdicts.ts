/**
 * One verdict per checkpoint, as data: clean accuracy, the worst case at the largest radius of each threat
 * model (with its difference to the first checkpoint), the corruption mean and mCE, and the sanity
 * status. The HTML verdicts section and the GitHub step summary render the same verdicts.
 */
import type { ThreatModel } from '../../attacks/types.js';
import type { SummaryRow } from '../suite/summary.js';
import type { RunData } from '../rundir/read.js';

export interface Verdict {
  checkpoint: string;
  /** Clean accuracy in [0,1], null without a clean cell. */
  clean: number | null;
  /** Worst-case robust accuracy at the largest ε > 0 of each threat model (L-inf and L2 radii are not comparable). */
  worst: { threatModel: ThreatModel; eps: number; accuracy: number; vsReference: { reference: string; points: number } | null }[];
  corruption: { mean: number; mCE: number | null; mCECi95: [number, number] | null; baseline: boolean; notes: number } | null;
  /** Sanity warnings of this checkpoint; `checked` when the run has any sanity check of it. */
  sanity: { warns: number; checked: boolean };
}

/** The verdicts of summaryRows(run) rows; the first row is the reference the others are compared with. */
export function verdicts(run: RunData, rows: SummaryRow[]): Verdict[] {
  const reference = rows[0];
  return rows.map((r) => {
    const worst: Verdict['worst'] = [];
    for (const threatModel of [...new Set(r.robust.map((x) => x.threatModel))]) {
      const robust = r.robust.filter((x) => x.eps > 0 && x.threatModel === threatModel);
      const last = robust[robust.length - 1];
      if (!last) continue;
      const ref = reference.robust.find((x) => x.eps === last.eps && x.threatModel === threatModel);
      worst.push({
        threatModel,
        eps: last.eps,
        accuracy: last.estimate.accuracy,
        vsReference: r !== reference && ref ? { reference: reference.checkpoint, points: 100 * (last.estimate.accuracy - ref.estimate.accuracy) } : null,
      });
    }
    const corruption =
      r.meanCorruptionAccuracy === null
        ? null
        : { mean: r.meanCorruptionAccuracy, mCE: r.mCE, mCECi95: r.mCECi95, baseline: r.baseline === r.checkpoint, notes: r.mceNotes.length };
    const mine = run.sanity.filter((c) => c.checkpoint === r.checkpoint);
    return {
      checkpoint: r.checkpoint,
      clean: r.clean ? r.clean.accuracy : null,
      worst,
      corruption,
      sanity: { warns: mine.filter((c) => c.status === 'warn').length, checked: mine.length > 0 },
    };
  });
}

/** A difference in percentage points with its sign, e.g. "+3.5" or "−2.0". */
export function signedPoints(points: number): string {
  return `${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(1)}`;
}
