/** Host-side weights of a checkpoint, by name (see architecture.ts for names, shapes and layouts). */
export interface WeightArray {
  shape: number[];
  data: Float32Array;
}
export type WeightArrays = Record<string, WeightArray>;
