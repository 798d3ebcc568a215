/**
 * Threat models: the norm in which an attack's radius eps is measured. Each attack declares its own
 * (`Attack.threatModel`); a radius means nothing without it, so every table, chart and message that shows
 * an eps names the norm, and results of different threat models are never combined (a worst case is
 * over the attacks of one threat model at one radius).
 *
 * Radii are in [0,1] pixel units (images enter models in [0,1], README "Conventions"):
 * - L-inf: max_i |delta_i| <= eps; eps = 1 already allows any image, so eps is in [0, 1].
 * - L2: sqrt(sum_i delta_i^2) <= eps over the H x W x C pixels; the largest distance between two images
 *   in [0,1]^(H W C) is the diagonal of that box, sqrt(H W C) (28 for 28x28 grey images), beyond which a
 *   larger eps allows nothing more.
 */
import { inputError } from '../src/engine/errors.js';
import type { ThreatModel } from './types.js';

export const THREAT_MODELS: readonly ThreatModel[] = ['linf', 'l2'];

/** The norm as tables and charts write it: "L∞" or "L2". */
export function normSymbol(threatModel: ThreatModel): string {
  return threatModel === 'linf' ? 'L∞' : 'L2';
}

/** The norm in plain ASCII (CSV headers, error messages): "L-inf" or "L2". */
export function normAscii(threatModel: ThreatModel): string {
  return threatModel === 'linf' ? 'L-inf' : 'L2';
}

/** Image shape, for the L2 bound. */
export interface InputShape {
  height: number;
  width: number;
  channels: number;
}

/** The largest meaningful radius of a threat model on images of `shape`, in [0,1] pixel units: 1 (L-inf), sqrt(H W C) (L2). */
export function maxEpsilon(threatModel: ThreatModel, shape: InputShape): number {
  return threatModel === 'linf' ? 1 : Math.sqrt(shape.height * shape.width * shape.channels);
}

/** The allowed range as error messages state it, e.g. "finite numbers in [0, 28] (L2 radius in [0,1] pixel units, the diagonal ...)". */
export function epsilonRange(threatModel: ThreatModel, shape: InputShape): string {
  const max = maxEpsilon(threatModel, shape);
  const why = threatModel === 'linf' ? '' : `, the diagonal sqrt(${shape.height}x${shape.width}x${shape.channels}) of the image box`;
  return `finite numbers in [0, ${Number(max.toPrecision(6))}] (${normAscii(threatModel)} radius in [0,1] pixel units${why})`;
}

/** Threat model of a recorded cell: records written before the field existed were L-inf (every attack was). */
export function threatModelOf(cell: { threatModel?: ThreatModel }): ThreatModel {
  return cell.threatModel ?? 'linf';
}

/**
 * Refuses a radius outside the threat model's range on images of x's shape (NHWC): [0, 1] for L-inf,
 * [0, sqrt(H W C)] for L2, as an InputError at `where`.
 */
export function checkEps(eps: number, threatModel: ThreatModel = 'linf', x?: { shape: readonly number[] }, where = 'eps'): void {
  const [, height = 1, width = 1, channels = 1] = x?.shape ?? [];
  const shape = { height, width, channels };
  if (!Number.isFinite(eps) || eps < 0 || eps > maxEpsilon(threatModel, shape))
    throw inputError(where, `invalid epsilon ${eps} for the ${normAscii(threatModel)} threat model`, epsilonRange(threatModel, shape));
}
