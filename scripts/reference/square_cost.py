"""The cost of AutoAttack's Square (fra31/auto-attack, autoattack/square.py) on a bench checkpoint: one
run of SquareAttack (L-inf, p_init 0.8, resc_schedule False as in the standard ensemble) on the first --n
vendored Fashion-MNIST test images, counting the images its model calls see.

    /usr/bin/python3 scripts/reference/square_cost.py --checkpoint checkpoints/cnn-fmnist --n 250 \
        --queries 100 --eps 0.03 [--threads 1]

Prints one JSON line: {forwardImages, calls, userSeconds, systemSeconds, fooled, threadpools} (fooled: samples
correct clean that the returned images misclassify). scripts/square-cost.ts runs it beside bench's
`square` on the same images. Needs what autoattack_run.py needs (AUTOATTACK_SRC, CNNF_SRC).
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.environ.get('AUTOATTACK_SRC', '/tmp/t16-aa'))

from bench_model import BenchModel, load_fashion_mnist_test  # noqa: E402
from autoattack.square import SquareAttack  # noqa: E402
import reference_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


class CountingModel(torch.nn.Module):
    """The model, counting its calls and the images they carry."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = 0
        self.images = 0

    def forward(self, x):
        self.calls += 1
        self.images += x.shape[0]
        return self.model(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', default=os.path.join(ROOT, 'checkpoints', 'cnn-fmnist'))
    ap.add_argument('--output', default='last', choices=['first', 'last', 'average'])
    ap.add_argument('--n', type=int, default=250)
    ap.add_argument('--queries', type=int, default=100)
    ap.add_argument('--eps', type=float, default=0.03)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    threadpools = reference_env.limit_threads(args.threads)
    x, y = load_fashion_mnist_test(os.path.join(ROOT, 'data', 'fashion-mnist'), args.n)
    x = torch.as_tensor(x)
    y = torch.as_tensor(y).long()
    model = BenchModel(args.checkpoint, output=args.output)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    counting = CountingModel(model)
    attack = SquareAttack(counting, p_init=0.8, n_queries=args.queries, eps=args.eps, norm='Linf', n_restarts=1,
                          seed=args.seed, verbose=False, device='cpu', resc_schedule=False)
    before = os.times()
    adv = attack.perturb(x, y)
    after = os.times()
    with torch.no_grad():
        fooled = int(((model(adv).argmax(1) != y) & clean).sum())
    print(json.dumps({'forwardImages': counting.images, 'calls': counting.calls,
                      'userSeconds': after.user - before.user, 'systemSeconds': after.system - before.system,
                      'fooled': fooled, 'threadpools': threadpools}))


if __name__ == '__main__':
    main()
