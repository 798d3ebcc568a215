import { inputError, showValue } from '../src/engine/errors.js';
import { didYouMean } from '../src/engine/suggest.js';
import { apgdCe, apgdCeL2 } from './apgd.js';
import { apgdDlr, apgdDlrL2 } from './apgdDlr.js';
import { apgdT, apgdTL2 } from './apgdT.js';
import { fabTL2, fabTLinf } from './fab.js';
import { fgsm } from './fgsm.js';
import { fmn, fmnL2 } from './fmn.js';
import { pgd, pgdL2 } from './pgd.js';
import { spsa } from './spsa.js';
import { square } from './square.js';
import { squareL2 } from './squareL2.js';
import type { AnyAttack } from './types.js';

/** Every attack the harness knows, by name. Adding an attack = one module (a defineAttack call, attacks/define.ts) + one line here. */
const ATTACKS: readonly AnyAttack[] = [fgsm, pgd, pgdL2, apgdCe, apgdCeL2, apgdDlr, apgdDlrL2, apgdT, apgdTL2, fabTLinf, fabTL2, square, squareL2, spsa, fmn, fmnL2];

export function listAttacks(): readonly AnyAttack[] {
  return ATTACKS;
}

/** The attack called `name`; an InputError naming the closest valid name otherwise. */
export function getAttack(name: string, where = 'attack'): AnyAttack {
  const found = ATTACKS.find((a) => a.name === name);
  if (found) return found;
  const names = ATTACKS.map((a) => a.name);
  throw inputError(where, `unknown attack ${showValue(name)}${didYouMean(name, names)}`, names.join(', '));
}
