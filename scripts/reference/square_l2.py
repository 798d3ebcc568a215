"""Reference values for `square-l2` from AutoAttack's autoattack/square.py (fra31/auto-attack), the L2
branch of SquareAttack, printed as JSON (tests/fixtures/square-l2-reference/square_l2.json).

    scripts/reference/checkout.sh            (extracts the reference sources into /tmp/t16-aa)
    /usr/bin/python3 scripts/reference/square_l2.py > tests/fixtures/square-l2-reference/square_l2.json

Nothing is re-implemented here: the values come from the reference's own methods, in float32 on CPU.
- `eta`: SquareAttack.eta(s) (the pseudo-gaussian window: two stacked eta_rectangles of opposite sign,
  unit L2 norm; the original code's meta_pseudo_gaussian_pert) for s = 1..9, untransposed (torch.rand
  patched to 0 for the call, so the random transposition is not taken).
- `runs`: attack_single_run on one image with a scripted model, recording every uniform draw torch.rand
  makes (in order: the window offsets of random_int, the signs of random_choice, eta's transposition
  draw) and every image the model is shown (the initial stripes, then one proposal per iteration).
  The model returns logits [m_k, 0] for label 0 at its k-th call (k = 0: the stripes): m_0 = 100,
  m_k = 100 - k, or 1000 when k % 3 == 0, so proposals 3, 6, 9, ... are rejected and the others are
  accepted; the sample is never fooled, so every iteration runs. Images are written NHWC, flattened.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.environ.get('AUTOATTACK_SRC', '/tmp/t16-aa'))
from autoattack.square import SquareAttack  # noqa: E402

real_rand = torch.rand


def eta_table():
    att = SquareAttack(lambda x: x, norm='L2', eps=1.0)
    att.device = 'cpu'
    out = {}
    torch.rand = lambda *a, **k: torch.zeros(1)
    try:
        for s in range(1, 10):
            out[s] = [float(v) for v in att.eta(s).flatten()]
    finally:
        torch.rand = real_rand
    return out


def run(h, w, c, eps, n_queries, p_init, resc, seed):
    torch.manual_seed(seed)
    x = real_rand([1, c, h, w]) * 0.8 + 0.1
    flat = x.view(-1)
    flat[::5] = 0.0  # pixels at the box's edges, where the clip acts
    flat[2::7] = 1.0
    draws, shown = [], []

    def recording_rand(*a, **k):
        t = real_rand(*a, **k)
        draws.extend(float(v) for v in t.flatten())
        return t

    def predict(xs):
        k = len(shown)
        shown.append([float(v) for v in xs.permute(0, 2, 3, 1).flatten()])
        m = 100.0 if k == 0 else (1000.0 if k % 3 == 0 else 100.0 - k)
        return torch.tensor([[m, 0.0]]).repeat(xs.shape[0], 1)

    att = SquareAttack(predict, norm='L2', eps=eps, n_queries=n_queries, p_init=p_init, resc_schedule=resc)
    att.init_hyperparam(x)
    torch.manual_seed(seed + 1)
    torch.rand = recording_rand
    try:
        att.attack_single_run(x, torch.tensor([0]))
    finally:
        torch.rand = real_rand
    return {
        'shape': [h, w, c], 'eps': eps, 'queries': n_queries, 'pInit': p_init, 'rescaleSchedule': resc,
        'x': [float(v) for v in x.permute(0, 2, 3, 1).flatten()],
        'draws': draws, 'shown': shown,
    }


out = {
    'eta': eta_table(),
    'runs': [
        run(10, 10, 2, 1.0, 12, 0.8, True, 1),
        run(10, 10, 2, 0.5, 14, 0.8, False, 2),
        run(7, 7, 1, 0.7, 6, 0.8, True, 3),
    ],
}
json.dump(out, sys.stdout)
