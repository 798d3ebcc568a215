"""APGD under L2 of the original AutoAttack on a small tanh MLP, printed as JSON (the fixture of
tests/attacks/apgdL2.test.ts, tests/fixtures/apgd-l2-reference.json).

Run with Debian's python and PyTorch (apt-get install -y python3-torch), AUTOATTACK_DIR as for apgd_t.py:
    /usr/bin/python3 scripts/reference/apgd_l2.py AUTOATTACK_DIR > tests/fixtures/apgd-l2-reference.json

What it runs: autoattack/autopgd_base.py APGDAttack(norm='L2', loss='ce') and APGDAttack_targeted(norm='L2'),
one attack_single_run per attack (APGD-T: per target class, each run only on the samples no earlier run
broke, as apgd_t.py does), on the samples the model classifies correctly. As in apgd_t.py, every run starts
at the clean image (x_init = x, bench's randomStart: false) and a never-broken sample reports its best-loss
point (x_best). The images sit partly at the box edges, so the [0,1] clip after the L2 projection acts.
Recorded per run: the per-step losses and step sizes (loss_steps, step_size) of the reference, whether each
sample was broken, and the best-loss points of the others.
"""
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apgd_t import C, D, H, attack_case, f32, f32_text, images, labels_for, load_reference  # noqa: E402

N = 16
STEPS = 30
EPS = 0.15
TARGETS = 3


def ce_case(ref, model, x, y, eps, steps):
    """APGD-CE L2 at randomStart: false: one attack_single_run on the clean-correct samples."""
    n = x.shape[0]
    apgd = ref.APGDAttack(model, n_iter=steps, norm='L2', n_restarts=1, eps=eps, seed=0, loss='ce', device='cpu')
    apgd.init_hyperparam(x)
    clean = model(x).detach()
    idx = (clean.max(1)[1] == y).nonzero().squeeze(1)
    x_best, acc_curr, _loss_best, _x_best_adv = apgd.attack_single_run(x[idx], y[idx], x_init=x[idx].clone())
    broken = [False] * n
    smallest_gap = [math.inf] * n
    x_unbroken = {}
    for k, row in enumerate(idx.tolist()):
        trace = [apgd.trace['initial'][k]] + [step[k] for step in apgd.trace['losses']]
        best = trace[0]
        for i in range(1, len(trace)):
            for gap in (abs(trace[i] - trace[i - 1]), abs(trace[i] - best)):
                if gap > 0:
                    smallest_gap[row] = min(smallest_gap[row], gap)
            best = max(best, trace[i])
        if bool(acc_curr[k]):
            x_unbroken[str(row)] = f32(x_best[k].detach())
        else:
            broken[row] = True
    return {
        'eps': eps,
        'steps': steps,
        'x': f32(x),
        'labels': y.tolist(),
        'attacked': idx.tolist(),
        'broken': broken,
        'smallestLossGap': [g if math.isfinite(g) else None for g in smallest_gap],
        'xAdvUnbroken': x_unbroken,
        'schedule': {
            'rows': idx.tolist(),
            'initialLoss': [f32_text(v) for v in apgd.trace['initial']],
            'losses': [[f32_text(v) for v in step] for step in apgd.trace['losses']],
            'eta': [[f32_text(v) for v in step] for step in apgd.trace['eta']],
        },
    }


def main():
    root = sys.argv[1]
    ref = load_reference(root)
    torch.set_default_dtype(torch.float32)
    # The MLP of apgd_t.py (same weights), at an L2 radius.
    W1 = torch.tensor([[3 * math.sin(2 * i + 5 * h + 0.5) for h in range(H)] for i in range(D)], dtype=torch.float32)
    b1 = torch.tensor([0.2 * math.cos(3 * h) for h in range(H)], dtype=torch.float32)
    W2 = torch.tensor([[math.sin(4 * h + 3 * j + 2) for j in range(C)] for h in range(H)], dtype=torch.float32)
    b2 = torch.tensor([0.1 * math.cos(j) for j in range(C)], dtype=torch.float32)
    mlp = lambda v: torch.tanh(v.view(v.shape[0], -1) @ W1 + b1) @ W2 + b2
    x = images(N)
    y = labels_for(mlp, x)
    ce = ce_case(ref, mlp, x, y, EPS, STEPS)
    t = attack_case(ref, mlp, x, y, EPS, STEPS, TARGETS, norm='L2')
    commit = subprocess.run(['git', '-C', root, 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip() or os.environ.get('AUTOATTACK_COMMIT')
    print(json.dumps({
        'source': 'fra31/auto-attack autoattack/autopgd_base.py APGDAttack and APGDAttack_targeted, norm L2 (scripts/reference/apgd_l2.py)',
        'autoattackCommit': commit,
        'torch': torch.__version__,
        'inputShape': [1, D, 1],
        'classes': C,
        'mlp': {'W1': f32(W1), 'b1': f32(b1), 'W2': f32(W2), 'b2': f32(b2), 'hidden': H},
        'ce': ce,
        'targeted': t,
    }, separators=(',', ':')))


if __name__ == '__main__':
    main()
