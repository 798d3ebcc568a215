import { inputError, type InputError } from '../engine/errors.js';

/** Host-side weights of a checkpoint, by name (see architecture.ts for names, shapes and layouts). */
export interface WeightArray {
  shape: number[];
  data: Float32Array;
}
export type WeightArrays = Record<string, WeightArray>;

/** Flat index of the first NaN or ±Infinity in `data` (row-major), or -1 when every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/**
 * Refuses weights holding a NaN or ±Infinity: throws the InputError `<at>: non-finite value <v> at flat
 * index <i>` for the first one (`at` names the file and the tensor). The one check of bench checkpoints
 * (checkpoint.ts) and TF.js models (tfjsFiles.ts), so both say it the same way.
 */
export function assertFiniteWeights(data: ArrayLike<number>, at: string): void {
  const i = firstNonFinite(data);
  if (i >= 0) throw nonFiniteWeight(at, data[i], i);
}

/** The InputError for a non-finite weight value: `<at>: non-finite value <value> at flat index <index>`. */
export function nonFiniteWeight(at: string, value: number, index: number): InputError {
  return inputError(at, `non-finite value ${value} at flat index ${index}`);
}
