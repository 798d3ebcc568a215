/**
 * "Did you mean" suggestions for unknown names (attacks, corruptions, gradient paths, outputs, config
 * keys, flags, ...), in one place so every message suggests the same way.
 */

/** Levenshtein distance (insertions, deletions and substitutions each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Case, spaces, dashes and underscores do not count: "Motion Blur", "motion-blur" and "motion_blur" are one name. */
const normalise = (s: string) => s.toLowerCase().trim().replace(/[\s_-]+/g, '_');

/** Longer inputs than this are not compared (a suggestion for a pasted paragraph helps nobody, and costs O(n*m)). */
const MAX_COMPARED_LENGTH = 64;

/**
 * The option `word` most plausibly misspells, or undefined when none is close: equal up to case and
 * separators, an abbreviation the option contains (at least 3 characters, "jpeg" for
 * "jpeg_compression"), or within an edit distance of a third of the shorter length (at least 1).
 * Ties go to the earlier option.
 */
export function closestMatch(word: string, options: readonly string[]): string | undefined {
  if (word.length === 0 || word.length > MAX_COMPARED_LENGTH) return undefined;
  const w = normalise(word);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const option of options) {
    const o = normalise(option);
    let score: number;
    if (o === w) score = 0;
    else if (w.length >= 3 && o.includes(w)) score = 0.5;
    else {
      const d = editDistance(w, o);
      score = d <= Math.max(1, Math.floor(Math.min(w.length, o.length) / 3)) ? d : Infinity;
    }
    if (score < bestScore) {
      best = option;
      bestScore = score;
    }
  }
  return best;
}

/**
 * ` (did you mean "x"?)` for the closest option, or '' when nothing is close (or `word` is not a
 * string). `format` renders the suggestion (default: a JSON string, as config values are written).
 */
export function didYouMean(word: unknown, options: readonly string[], format: (s: string) => string = (s) => JSON.stringify(s)): string {
  if (typeof word !== 'string') return '';
  const match = closestMatch(word, options);
  return match === undefined || match === word ? '' : ` (did you mean ${format(match)}?)`;
}
