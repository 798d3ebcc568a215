/**
 * The lossy part of a baseline JPEG round trip of an RGB image as Pillow's save(format='JPEG', quality=q)
 * and open() do it with libjpeg(-turbo) defaults, which is what CIFAR-10-C's jpeg_compression runs: YCbCr
 * with 4:2:0 chroma subsampling. Entropy coding is lossless and left out; every other step follows the IJG
 * library (ITU-T T.81 and the IJG source, jccolor.c, jcsample.c, jcdctmgr.c, jdsample.c, jdcolor.c):
 * - RGB -> YCbCr in 16-bit fixed point (Y rounded half up, Cb/Cr with the 0.5 - epsilon fudge);
 * - edge replication to a multiple of 16 pixels, chroma box-averaged over 2x2 with the alternating
 *   bias 1, 2 (h2v2_downsample);
 * - 8x8 DCT of samples - 128, quantisation by the IJG tables scaled by `quality` (jpeg_quality_scaling,
 *   baseline: entries in 1..255), rounding half away from zero; dequantisation, inverse DCT, + 128,
 *   rounded and clamped to 0..255. The DCTs here are exact (float64), where libjpeg's default is the
 *   integer ISLOW approximation: a coefficient can land on the other side of a rounding boundary, so
 *   results can differ from Pillow by a few levels in a few pixels;
 * - chroma upsampled by the "fancy" triangle filter (h2v2_fancy_upsample: 3/4, 1/4 weights in each
 *   direction, biases 8 and 7), edges replicated;
 * - YCbCr -> RGB with the decoder's fixed-point tables, clamped to 0..255.
 */

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.round(x * (1 << SCALEBITS));

/** IJG (ITU-T T.81 Annex K) luminance and chrominance quantisation tables, natural (row-major) order. */
const LUMA_TABLE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_TABLE = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** jpeg_quality_scaling and jpeg_add_quant_table with force_baseline: the table Pillow writes at `quality`. */
export function quantTable(base: readonly number[], quality: number): Int32Array {
  const q = Math.min(Math.max(Math.trunc(quality), 1), 100);
  const scale = q < 50 ? Math.trunc(5000 / q) : 200 - 2 * q;
  return Int32Array.from(base, (b) => Math.min(Math.max(Math.trunc((b * scale + 50) / 100), 1), 255));
}

/** cos((2x + 1) u pi / 16) * C(u) / 2 for the 8-point DCT-II (C(0) = 1 / sqrt 2, else 1). */
const BASIS = (() => {
  const m = new Float64Array(64);
  for (let u = 0; u < 8; u++)
    for (let x = 0; x < 8; x++) m[u * 8 + x] = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return m;
})();

/**
 * Quantises and reconstructs one 8x8 block in place: `block` holds level-shifted samples (value - 128)
 * and receives the decoded samples (0..255). `table` is the quantisation table in natural order.
 */
function codeBlock(block: Float64Array, table: Int32Array): void {
  const tmp = new Float64Array(64);
  const coef = new Float64Array(64);
  for (let y = 0; y < 8; y++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += BASIS[u * 8 + x] * block[y * 8 + x];
      tmp[y * 8 + u] = s;
    }
  for (let v = 0; v < 8; v++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += BASIS[v * 8 + y] * tmp[y * 8 + u];
      const q = table[v * 8 + u];
      const level = Math.sign(s) * Math.floor(Math.abs(s) / q + 0.5);
      coef[v * 8 + u] = level * q;
    }
  for (let y = 0; y < 8; y++)
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += BASIS[v * 8 + y] * coef[v * 8 + u];
      tmp[y * 8 + u] = s;
    }
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) {
      let s = 0;
      for (let u = 0; u < 8; u++) s += BASIS[u * 8 + x] * tmp[y * 8 + u];
      block[y * 8 + x] = Math.min(255, Math.max(0, Math.round(s + 128)));
    }
}

/** Codes a plane of size h x w (both multiples of 8) block by block, in place. */
function codePlane(plane: Float64Array, h: number, w: number, table: Int32Array): void {
  const block = new Float64Array(64);
  for (let by = 0; by < h; by += 8)
    for (let bx = 0; bx < w; bx += 8) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[(by + y) * w + bx + x] - 128;
      codeBlock(block, table);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) plane[(by + y) * w + bx + x] = block[y * 8 + x];
    }
}

/**
 * h2v2_fancy_upsample of a chroma plane whose first rows x cols samples are the image's (the rest is
 * padding the decoder ignores): each output sample is (9 nearer + 3 + 3 + 1 farther) / 16 of the four
 * nearest input samples, computed as the IJG code does (column sums 3 a + b, then (3 s + t + 8) >> 4 or
 * (3 s + t + 7) >> 4; the outermost columns use 4 s). Returns a (2 rows) x (2 cols) plane.
 */
function fancyUpsample(plane: Float64Array, stride: number, rows: number, cols: number): Int32Array {
  const out = new Int32Array(4 * rows * cols);
  const at = (r: number, c: number) => plane[Math.min(Math.max(r, 0), rows - 1) * stride + c];
  for (let r = 0; r < rows; r++)
    for (const [dr, half] of [
      [-1, 0],
      [1, 1],
    ] as const) {
      const sum = (c: number) => 3 * at(r, c) + at(r + dr, c);
      const o = (2 * r + half) * 2 * cols;
      if (cols === 1) {
        out[o] = (sum(0) * 4 + 8) >> 4;
        out[o + 1] = (sum(0) * 4 + 7) >> 4;
        continue;
      }
      out[o] = (sum(0) * 4 + 8) >> 4;
      out[o + 1] = (sum(0) * 3 + sum(1) + 7) >> 4;
      for (let c = 1; c < cols - 1; c++) {
        out[o + 2 * c] = (sum(c) * 3 + sum(c - 1) + 8) >> 4;
        out[o + 2 * c + 1] = (sum(c) * 3 + sum(c + 1) + 7) >> 4;
      }
      const c = cols - 1;
      out[o + 2 * c] = (sum(c) * 3 + sum(c - 1) + 8) >> 4;
      out[o + 2 * c + 1] = (sum(c) * 4 + 7) >> 4;
    }
  return out;
}

/**
 * JPEG round trip (4:2:0, IJG tables at `quality`) of one RGB image: `rgb` holds h * w * 3 interleaved
 * 8-bit values (0..255 integers); returns the decoded 8-bit values in the same layout.
 */
export function jpeg420RoundTrip(rgb: ArrayLike<number>, h: number, w: number, quality: number): Uint8Array {
  const ph = Math.ceil(h / 16) * 16;
  const pw = Math.ceil(w / 16) * 16;
  const y = new Float64Array(ph * pw);
  const cb = new Float64Array(ph * pw);
  const cr = new Float64Array(ph * pw);
  const [yr, yg, yb] = [fix(0.299), fix(0.587), fix(0.114)];
  const [br, bg, bb] = [fix(0.16874), fix(0.33126), fix(0.5)];
  const [rr, rg, rb] = [fix(0.5), fix(0.41869), fix(0.08131)];
  const offset = (128 << SCALEBITS) + ONE_HALF - 1;
  for (let i = 0; i < ph; i++)
    for (let j = 0; j < pw; j++) {
      const s = (Math.min(i, h - 1) * w + Math.min(j, w - 1)) * 3; // edge replication
      const [r, g, b] = [rgb[s], rgb[s + 1], rgb[s + 2]];
      y[i * pw + j] = Math.floor((yr * r + yg * g + yb * b + ONE_HALF) / 65536);
      cb[i * pw + j] = Math.floor((-br * r - bg * g + bb * b + offset) / 65536);
      cr[i * pw + j] = Math.floor((rr * r - rg * g - rb * b + offset) / 65536);
    }
  const ch = ph / 2;
  const cw = pw / 2;
  const down = (plane: Float64Array) => {
    const out = new Float64Array(ch * cw);
    for (let i = 0; i < ch; i++) {
      let bias = 1;
      for (let j = 0; j < cw; j++) {
        const a = 2 * i * pw + 2 * j;
        out[i * cw + j] = (plane[a] + plane[a + 1] + plane[a + pw] + plane[a + pw + 1] + bias) >> 2;
        bias ^= 3;
      }
    }
    return out;
  };
  const cbS = down(cb);
  const crS = down(cr);
  codePlane(y, ph, pw, quantTable(LUMA_TABLE, quality));
  const chromaTable = quantTable(CHROMA_TABLE, quality);
  codePlane(cbS, ch, cw, chromaTable);
  codePlane(crS, ch, cw, chromaTable);
  const rows = Math.ceil(h / 2);
  const cols = Math.ceil(w / 2);
  const cbUp = fancyUpsample(cbS, cw, rows, cols);
  const crUp = fancyUpsample(crS, cw, rows, cols);
  const out = new Uint8Array(h * w * 3);
  const [crR, cbB, crG, cbG] = [fix(1.402), fix(1.772), fix(0.71414), fix(0.34414)];
  const clamp = (v: number) => Math.min(255, Math.max(0, v));
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const lum = y[i * pw + j];
      const u = cbUp[i * 2 * cols + j] - 128;
      const v = crUp[i * 2 * cols + j] - 128;
      const o = (i * w + j) * 3;
      out[o] = clamp(lum + ((crR * v + ONE_HALF) >> SCALEBITS));
      out[o + 1] = clamp(lum + ((-cbG * u + ONE_HALF - crG * v) >> SCALEBITS));
      out[o + 2] = clamp(lum + ((cbB * u + ONE_HALF) >> SCALEBITS));
    }
  return out;
}
