/**
 * Turning rows of a loaded dataset into tensors, and walking a set of rows in batches.
 * Rows are indices into the dataset's arrays; the global sample index (for KeyedRng) of row r of an
 * ImageDataset is `dataset.offset + r`.
 */
import { tf, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import { inputError } from '../engine/errors.js';
import { SampleStream } from '../engine/rng.js';
import type { ImageDataset } from './fashionMnist.js';

/** A half-open range of rows [start, end). */
export interface RowRange {
  start: number;
  end: number;
}

/** Either explicit row indices or a contiguous range of them. */
export type RowSelection = ArrayLike<number> | RowRange;

/** Per-image shape [height, width, channels]. */
export type ImageShape = readonly [number, number, number];

function isRange(sel: RowSelection): sel is RowRange {
  return typeof (sel as RowRange).start === 'number' && typeof (sel as RowRange).end === 'number';
}

function checkRow(row: number, rows: number): void {
  if (!Number.isInteger(row) || row < 0 || row >= rows) throw new RangeError(`row ${row} out of range 0..${rows - 1}`);
}

/** Number of rows a selection picks. */
export function selectionSize(sel: RowSelection): number {
  return isRange(sel) ? Math.max(0, sel.end - sel.start) : sel.length;
}

/** The rows of a selection as an array. */
export function selectionRows(sel: RowSelection): number[] {
  if (!isRange(sel)) return Array.from(sel);
  const out: number[] = [];
  for (let r = sel.start; r < sel.end; r++) out.push(r);
  return out;
}

/** Copies the selected rows of `values` (rowSize numbers per row) into a new array. */
function gatherRows<T extends Float32Array | Int32Array>(values: T, rowSize: number, sel: RowSelection): T {
  const rows = values.length / rowSize;
  if (isRange(sel)) {
    if (sel.end > sel.start) {
      checkRow(sel.start, rows);
      checkRow(sel.end - 1, rows);
    }
    // slice copies, so later edits of the dataset cannot reach a tensor backed by it.
    return values.slice(sel.start * rowSize, Math.max(sel.start, sel.end) * rowSize) as T;
  }
  const out = new (values.constructor as { new (n: number): T })(sel.length * rowSize);
  for (let i = 0; i < sel.length; i++) {
    const r = sel[i];
    checkRow(r, rows);
    out.set(values.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
  }
  return out;
}

/** An NHWC float32 tensor [n, h, w, c] of the selected images (images holds rows of h*w*c pixels). */
export function toBatchTensor(images: Float32Array, selection: RowSelection, shape: ImageShape): Tensor4D {
  const [h, w, c] = shape;
  const rowSize = h * w * c;
  if (images.length % rowSize !== 0)
    throw new RangeError(`images length ${images.length} is not a multiple of ${h}x${w}x${c}`);
  const data = gatherRows(images, rowSize, selection);
  return tf.tensor4d(data, [data.length / rowSize, h, w, c], 'float32');
}

/** An int32 tensor [n] of the selected labels. */
export function toLabelTensor(labels: Int32Array, selection: RowSelection): Tensor1D {
  const data = gatherRows(labels, 1, selection);
  return tf.tensor1d(data, 'int32');
}

export interface Batch {
  x: Tensor4D;
  y: Tensor1D;
  /** The dataset rows in this batch. */
  rows: number[];
  /** Global sample indices (dataset.offset + row), what KeyedRng wants. */
  sampleIndices: number[];
}

/** Images and labels of the selected rows of a dataset; the caller disposes x and y. */
export function toBatch(dataset: ImageDataset, selection: RowSelection): Batch {
  const rows = selectionRows(selection);
  const x = toBatchTensor(dataset.images, rows, [dataset.height, dataset.width, dataset.channels]);
  const y = toLabelTensor(dataset.labels, rows);
  return { x, y, rows, sampleIndices: rows.map((r) => dataset.offset + r) };
}

/** Yields the indices in consecutive chunks of batchSize (the last may be shorter). */
export function* batches(indices: ArrayLike<number>, batchSize: number): Generator<number[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw inputError('--batch-size', `${batchSize} is not a positive integer`);
  for (let start = 0; start < indices.length; start += batchSize) {
    const end = Math.min(start + batchSize, indices.length);
    const chunk: number[] = new Array(end - start);
    for (let i = start; i < end; i++) chunk[i - start] = indices[i];
    yield chunk;
  }
}

/** The integers start..end-1. */
export function rangeIndices(start: number, end: number): Int32Array {
  const out = new Int32Array(Math.max(0, end - start));
  for (let i = 0; i < out.length; i++) out[i] = start + i;
  return out;
}

/**
 * A permutation of `indices` (Fisher-Yates) drawn from the keyed stream (seed, key), e.g. key
 * `epoch/3` for the third training epoch: the same seed and key always give the same order.
 */
export function shuffleIndices(indices: ArrayLike<number>, seed: number, key: string): Int32Array {
  const out = Int32Array.from(indices as ArrayLike<number>);
  const stream = new SampleStream(seed, key, 0);
  for (let i = out.length - 1; i > 0; i--) {
    const j = stream.int(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
