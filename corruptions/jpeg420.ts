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
 *   clamped to 0..255; both DCTs are libjpeg's default integer ISLOW ones (jfdctint.c, jidctint.c);
 * - chroma upsampled by the "fancy" triangle filter (h2v2_fancy_upsample: 3/4, 1/4 weights in each
 *   direction, biases 8 and 7), edges replicated; a chroma plane at most 2 samples wide is replicated
 *   2x2 instead (h2v2_upsample), as libjpeg-turbo chooses;
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

/** The IJG ISLOW constants: round(c * 2^13) (CONST_BITS 13; PASS1_BITS 2). */
const CONST_BITS = 13;
const PASS1_BITS = 2;
const F0_298 = 2446;
const F0_390 = 3196;
const F0_541 = 4433;
const F0_765 = 6270;
const F0_899 = 7373;
const F1_175 = 9633;
const F1_501 = 12299;
const F1_847 = 15137;
const F1_961 = 16069;
const F2_053 = 16819;
const F2_562 = 20995;
const F3_072 = 25172;

/** DESCALE(x, n): x / 2^n rounded half up, as an arithmetic right shift of x + 2^(n-1) (exact in float64). */
const POW = Array.from({ length: 32 }, (_, n) => 2 ** n);
const HALF = POW.map((p) => p / 2);
const descale = (x: number, n: number) => Math.floor((x + HALF[n]) / POW[n]);

/**
 * jpeg_fdct_islow (jfdctint.c) of an 8x8 block of level-shifted samples, in place: the DCT scaled up by 8,
 * rows first with PASS1_BITS of extra precision, then columns (the LL&M flow graph: even part from the
 * sums, odd part from the differences).
 */
function fdctIslow(d: Float64Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 1 : 8;
    const shift = pass === 0 ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS;
    for (let k = 0; k < 8; k++) {
      const o = pass === 0 ? k * 8 : k;
      const x0 = d[o], x1 = d[o + step], x2 = d[o + 2 * step], x3 = d[o + 3 * step];
      const x4 = d[o + 4 * step], x5 = d[o + 5 * step], x6 = d[o + 6 * step], x7 = d[o + 7 * step];
      const t0 = x0 + x7, t7 = x0 - x7, t1 = x1 + x6, t6 = x1 - x6;
      const t2 = x2 + x5, t5 = x2 - x5, t3 = x3 + x4, t4 = x3 - x4;
      const t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
      d[o] = pass === 0 ? (t10 + t11) * 4 : descale(t10 + t11, PASS1_BITS);
      d[o + 4 * step] = pass === 0 ? (t10 - t11) * 4 : descale(t10 - t11, PASS1_BITS);
      const z1 = (t12 + t13) * F0_541;
      d[o + 2 * step] = descale(z1 + t13 * F0_765, shift);
      d[o + 6 * step] = descale(z1 + t12 * -F1_847, shift);
      const z5 = (t4 + t6 + t5 + t7) * F1_175;
      const m1 = (t4 + t7) * -F0_899;
      const m2 = (t5 + t6) * -F2_562;
      const z3 = (t4 + t6) * -F1_961 + z5;
      const z4 = (t5 + t7) * -F0_390 + z5;
      d[o + 7 * step] = descale(t4 * F0_298 + m1 + z3, shift);
      d[o + 5 * step] = descale(t5 * F2_053 + m2 + z4, shift);
      d[o + 3 * step] = descale(t6 * F3_072 + m2 + z3, shift);
      d[o + step] = descale(t7 * F1_501 + m1 + z4, shift);
    }
  }
}

/**
 * jpeg_idct_islow (jidctint.c): dequantised coefficients (coef * table) in, samples out (level shift
 * undone, clamped to 0..255), columns first, in place.
 */
function idctIslow(d: Float64Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 8 : 1;
    const shift = pass === 0 ? CONST_BITS - PASS1_BITS : CONST_BITS + PASS1_BITS + 3;
    const last = pass === 1;
    for (let k = 0; k < 8; k++) {
      const o = pass === 0 ? k : k * 8;
      const x0 = d[o], x1 = d[o + step], x2 = d[o + 2 * step], x3 = d[o + 3 * step];
      const x4 = d[o + 4 * step], x5 = d[o + 5 * step], x6 = d[o + 6 * step], x7 = d[o + 7 * step];
      const z1 = (x2 + x6) * F0_541;
      const t2 = z1 + x6 * -F1_847;
      const t3 = z1 + x2 * F0_765;
      const t0 = (x0 + x4) * 8192; // << CONST_BITS
      const t1 = (x0 - x4) * 8192;
      const t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
      // Odd part: inputs 7, 5, 3, 1.
      const z5 = (x7 + x3 + x5 + x1) * F1_175;
      const m1 = (x7 + x1) * -F0_899;
      const m2 = (x5 + x3) * -F2_562;
      const z3 = (x7 + x3) * -F1_961 + z5;
      const z4 = (x5 + x1) * -F0_390 + z5;
      const p0 = x7 * F0_298 + m1 + z3;
      const p1 = x5 * F2_053 + m2 + z4;
      const p2 = x3 * F3_072 + m2 + z3;
      const p3 = x1 * F1_501 + m1 + z4;
      const fin = (v: number) => (last ? Math.min(255, Math.max(0, descale(v, shift) + 128)) : descale(v, shift));
      d[o] = fin(t10 + p3);
      d[o + 7 * step] = fin(t10 - p3);
      d[o + step] = fin(t11 + p2);
      d[o + 6 * step] = fin(t11 - p2);
      d[o + 2 * step] = fin(t12 + p1);
      d[o + 5 * step] = fin(t12 - p1);
      d[o + 3 * step] = fin(t13 + p0);
      d[o + 4 * step] = fin(t13 - p0);
    }
  }
}

/**
 * Quantises and reconstructs one 8x8 block in place: `block` holds level-shifted samples (value - 128)
 * and receives the decoded samples (0..255). Quantisation as jcdctmgr.c for ISLOW: the DCT (scaled by 8)
 * divided by 8 q with rounding half away from zero; dequantisation multiplies by q.
 */
function codeBlock(block: Float64Array, table: Int32Array): void {
  fdctIslow(block);
  for (let i = 0; i < 64; i++) {
    const q8 = table[i] * 8;
    const level = Math.floor((Math.abs(block[i]) + (q8 >> 1)) / q8);
    block[i] = (block[i] < 0 ? -level : level) * table[i];
  }
  idctIslow(block);
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
      if (cols <= 2) {
        // libjpeg-turbo (jdsample.c) only filters planes wider than 2 samples; narrower ones are replicated.
        for (let c = 0; c < cols; c++) out[o + 2 * c] = out[o + 2 * c + 1] = at(r, c);
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
