/**
 * Counter-based random numbers. Every draw is a pure function of (seed, key, sample index, counter),
 * so results never depend on batch size, worker count, resume or sharding: a sample's stream is the
 * same whichever batch it lands in. The mixer is SplitMix64's finaliser on 64-bit BigInt-free halves
 * (two 32-bit lanes, Math.imul), fast enough for per-pixel noise.
 */

/** 32-bit FNV-1a of a string: turns a cell key such as "cnnf/pgd/e2e/0.05" into a number. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix32(x: number): number {
  // Murmur3 finaliser: a bijection on 32-bit integers with full avalanche.
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A stream of uniform numbers for one (seed, key, sample) triple. */
export class SampleStream {
  private state: number;
  private counter = 0;
  private spareNormal: number | null = null;

  constructor(seed: number, key: string | number, sampleIndex: number) {
    const k = typeof key === 'number' ? key >>> 0 : hashString(key);
    this.state = mix32(mix32(mix32(seed >>> 0) ^ k) ^ mix32(sampleIndex + 0x9e3779b9));
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    const c = this.counter++;
    const a = mix32(this.state ^ mix32(c));
    const b = mix32(a + 0x6d2b79f5);
    return ((a ^ (b >>> 7)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/**
 * Keyed randomness handed to attacks and corruptions. `sampleIndices` are the global dataset indices of
 * the rows of the current batch; the draws for row i depend only on (seed, key, sampleIndices[i]).
 */
export class KeyedRng {
  constructor(readonly seed: number, readonly key: string, readonly sampleIndices: readonly number[]) {}

  /** A derived generator for a sub-purpose (e.g. a restart number or a step) with the same samples. */
  derive(subKey: string | number): KeyedRng {
    return new KeyedRng(this.seed, `${this.key}/${subKey}`, this.sampleIndices);
  }

  /** The generator restricted to a subset of rows (e.g. the samples not yet fooled). */
  select(rows: readonly number[]): KeyedRng {
    return new KeyedRng(this.seed, this.key, rows.map((r) => this.sampleIndices[r]));
  }

  stream(row: number): SampleStream {
    return new SampleStream(this.seed, this.key, this.sampleIndices[row]);
  }

  /** Fills [rows, perSample] values, row-major, drawing with `draw` from each row's own stream. */
  fill(perSample: number, draw: (s: SampleStream) => number): Float32Array {
    const out = new Float32Array(this.sampleIndices.length * perSample);
    for (let r = 0; r < this.sampleIndices.length; r++) {
      const s = this.stream(r);
      const base = r * perSample;
      for (let i = 0; i < perSample; i++) out[base + i] = draw(s);
    }
    return out;
  }

  uniform(perSample: number, lo = 0, hi = 1): Float32Array {
    return this.fill(perSample, (s) => lo + (hi - lo) * s.next());
  }

  normal(perSample: number, mean = 0, std = 1): Float32Array {
    return this.fill(perSample, (s) => mean + std * s.normal());
  }
}
