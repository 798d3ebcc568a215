"""APGD-T of the original AutoAttack on a small linear model, printed as JSON (the fixture of
tests/attacks/apgdT.test.ts, tests/fixtures/apgd-t-reference.json).

Run with Debian's python and PyTorch (apt-get install -y python3-torch):
    /usr/bin/python3 scripts/reference/apgd_t.py AUTOATTACK_DIR > tests/fixtures/apgd-t-reference.json
AUTOATTACK_DIR holds the package directory autoattack/ of fra31/auto-attack (only autopgd_base.py,
other_utils.py and checks.py are loaded; the package's __init__ is not run), e.g.
    G=<bare clone of fra31/auto-attack>; mkdir -p /tmp/aa/autoattack
    for f in autopgd_base.py other_utils.py checks.py; do git --git-dir=$G show HEAD:autoattack/$f > /tmp/aa/autoattack/$f; done

What it runs: autoattack/autopgd_base.py APGDAttack_targeted, L-inf, one attack_single_run per target
class, the targets ranked as its perturb ranks them (output.sort(dim=1)[1][:, -target_class] for
target_class = 2 .. n_target_classes + 1), each run only on the samples no earlier run broke, as perturb
does. Two things differ from perturb, both to make the runs comparable with bench's apgd-t at
randomStart: false: every run starts at the clean image (attack_single_run's x_init = x; perturb draws a
random start from torch's generator), and a sample never broken reports the best-loss point (x_best) of
the run whose point has the smallest margin z_y - max_{j != y} z_j (the first such run at ties; perturb
returns the clean image for it). Everything else (step size 2 eps, momentum 0.75, the checkpoints and
their conditions, the targeted DLR loss and the success test pred != y) is the reference's own code.

The model: logits = x W + b, x flattened [N, 12] in [0,1], 10 classes; W[i, j] = 0.5 sin(3 i + 7 j + 1),
b[j] = 0.1 cos(j), except
class 9 = class 6 with bias 0.001 lower (an unreachable runner-up for class 6); images x[r, i] = 0.5 + 0.5 sin(5 r + 2 i + 0.3) clipped to [0, 1] (some pixels sit at
the box edge). Labels: the clean prediction, except the last sample, given a wrong label (never attacked).
All float32, printed with repr of the float32 value, so JavaScript reads the same bits.
"""
import importlib
import json
import math
import os
import subprocess
import sys
import types

import numpy
import torch

D, C, N, H = 12, 10, 16, 8
EPS = 0.015
MLP_EPS = 0.03
STEPS = 30
TARGETS = 9
# Runs (targets) whose per-step losses and step sizes are recorded for the schedule replay test.
SCHEDULE_RUNS = 4


# Three recording lines added to APGDAttack.attack_single_run when the module is loaded (the computation is
# untouched): the loss at the start point, the step size each iteration uses, and the per-step losses.
RECORDING = [
    ('        loss_best = loss_indiv.detach().clone()\n',
     '        self.trace = {"initial": loss_best.tolist(), "eta": []}\n'),
    ('        for i in range(self.n_iter):\n',
     '            self.trace["eta"].append(step_size.view(-1).tolist())\n'),
    ('        return (x_best, acc, loss_best, x_best_adv)\n',
     '        self.trace["losses"] = loss_steps.tolist()\n'),
]


def load_reference(root):
    package = types.ModuleType('autoattack')
    package.__path__ = [f'{root}/autoattack']
    sys.modules['autoattack'] = package
    source = open(f'{root}/autoattack/autopgd_base.py').read()
    for anchor, line in RECORDING:
        assert source.count(anchor) == 1, f'anchor not found once: {anchor!r}'
        # Recording lines go after their anchor, except the last, which goes before the return.
        source = source.replace(anchor, line + anchor) if anchor.lstrip().startswith('return') else source.replace(anchor, anchor + line)
    module = types.ModuleType('autoattack.autopgd_base')
    module.__file__ = f'{root}/autoattack/autopgd_base.py'
    sys.modules['autoattack.autopgd_base'] = module
    exec(compile(source, module.__file__, 'exec'), module.__dict__)
    return module


def attack_case(ref, model, x, y, eps, steps, targets, norm='Linf'):
    """bench's apgd-t (norm 'L2': apgd-t-l2) at randomStart: false, done with the reference's own APGD run
    (see the docstring)."""
    n = x.shape[0]
    apgd = ref.APGDAttack_targeted(model, n_iter=steps, norm=norm, n_restarts=1, eps=eps, seed=0, n_target_classes=targets, device='cpu')
    apgd.init_hyperparam(x)
    schedules = []
    smallest_gap = [math.inf] * n
    clean = model(x).detach()
    acc = clean.max(1)[1] == y
    broken_by = [None] * n
    best_margin = [math.inf] * n
    x_out = x.clone()
    ranking = clean.sort(dim=1)[1]
    for target_class in range(2, targets + 2):
        idx = acc.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        apgd.y_target = ranking[idx, -target_class]
        x_best, acc_curr, _loss_best, _x_best_adv = apgd.attack_single_run(x[idx], y[idx], x_init=x[idx].clone())
        z = model(x_best).detach()
        if len(schedules) < SCHEDULE_RUNS:
            schedules.append({
                'rows': idx.tolist(),
                'initialLoss': [f32_text(v) for v in apgd.trace['initial']],
                'losses': [[f32_text(v) for v in step] for step in apgd.trace['losses']],
                'eta': [[f32_text(v) for v in step] for step in apgd.trace['eta']],
            })
        for k, row in enumerate(idx.tolist()):
            trace = [apgd.trace['initial'][k]] + [step[k] for step in apgd.trace['losses']]
            best = trace[0]
            for i in range(1, len(trace)):
                # Exact ties (an iterate projected back onto the same point) are exact in float32 too; the
                # nonzero gaps are where float32 noise of another implementation could flip a comparison.
                for gap in (abs(trace[i] - trace[i - 1]), abs(trace[i] - best)):
                    if gap > 0:
                        smallest_gap[row] = min(smallest_gap[row], gap)
                best = max(best, trace[i])
            if not bool(acc_curr[k]):
                acc[row] = False
                broken_by[row] = target_class - 1
                continue
            zr = z[k].tolist()
            m = zr[int(y[row])] - max(v for j, v in enumerate(zr) if j != int(y[row]))
            if m < best_margin[row]:
                best_margin[row] = m
                x_out[row] = x_best[k].detach()
    return {
        'eps': eps,
        'steps': steps,
        'targets': targets,
        'x': f32(x),
        'labels': y.tolist(),
        'targetRanking': ranking.flip(1).tolist(),
        'brokenByTarget': broken_by,
        'schedules': schedules,
        'smallestLossGap': [g if math.isfinite(g) else None for g in smallest_gap],  # None: no nonzero gap
        'xAdvUnbroken': {str(r): f32(x_out[r]) for r in range(n) if broken_by[r] is None and bool(acc[r])},
    }


def f32(t):
    return [repr(float(v)) for v in t.reshape(-1).tolist()]


def f32_text(v):
    """The shortest text that reads back (as float32, Math.fround in JavaScript) as the float32 value v."""
    return numpy.format_float_scientific(numpy.float32(v), unique=True, trim='-')


def images(n):
    return torch.tensor([[min(1.0, max(0.0, 0.5 + 0.5 * math.sin(5 * r + 2 * i + 0.3))) for i in range(D)] for r in range(n)], dtype=torch.float32)


def labels_for(model, x):
    y = model(x).max(1)[1].clone()
    y[-1] = (y[-1] + 1) % C
    return y


def main():
    root = sys.argv[1]
    ref = load_reference(root)
    torch.set_default_dtype(torch.float32)

    # Linear: class 9 copies class 6 a little lower, so for a sample of class 6 it is the runner-up that
    # no perturbation brings closer (z_9 - z_6 = -0.001 everywhere): its first target run cannot succeed.
    W = torch.tensor([[0.5 * math.sin(3 * i + 7 * j + 1) for j in range(C)] for i in range(D)], dtype=torch.float32)
    b = torch.tensor([0.1 * math.cos(j) for j in range(C)], dtype=torch.float32)
    W[:, 9] = W[:, 6]
    b[9] = b[6] - 0.001
    linear = lambda v: v.view(v.shape[0], -1) @ W + b
    x = images(N)
    linear_case = attack_case(ref, linear, x, labels_for(linear, x), EPS, STEPS, TARGETS)
    linear_case.update({'weights': f32(W), 'bias': f32(b)})

    # MLP: tanh hidden layer, curved enough inside the ball that the iterates do not sit on a vertex, so
    # the best-loss points depend on the step sizes, momentum and checkpoints.
    W1 = torch.tensor([[3 * math.sin(2 * i + 5 * h + 0.5) for h in range(H)] for i in range(D)], dtype=torch.float32)
    b1 = torch.tensor([0.2 * math.cos(3 * h) for h in range(H)], dtype=torch.float32)
    W2 = torch.tensor([[math.sin(4 * h + 3 * j + 2) for j in range(C)] for h in range(H)], dtype=torch.float32)
    b2 = torch.tensor([0.1 * math.cos(j) for j in range(C)], dtype=torch.float32)
    mlp = lambda v: torch.tanh(v.view(v.shape[0], -1) @ W1 + b1) @ W2 + b2
    mlp_case = attack_case(ref, mlp, x, labels_for(mlp, x), MLP_EPS, STEPS, TARGETS)
    mlp_case.update({'W1': f32(W1), 'b1': f32(b1), 'W2': f32(W2), 'b2': f32(b2), 'hidden': H})

    commit = subprocess.run(['git', '-C', root, 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip() or os.environ.get('AUTOATTACK_COMMIT')
    print(json.dumps({
        'source': 'fra31/auto-attack autoattack/autopgd_base.py APGDAttack_targeted (scripts/reference/apgd_t.py)',
        'autoattackCommit': commit,
        'torch': torch.__version__,
        'inputShape': [1, D, 1],
        'classes': C,
        'linear': linear_case,
        'mlp': mlp_case,
    }, separators=(',', ':')))


if __name__ == '__main__':
    main()
