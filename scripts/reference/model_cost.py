"""PyTorch's cost per image of a bench checkpoint as the reference network (bench_model.py): a forward pass
(no_grad) and a forward pass with the input gradient of the summed cross entropy (through the whole
feedback loop for CNN-F, bench's e2e path), on a batch of --batch random images in [0,1].

    /usr/bin/python3 scripts/reference/model_cost.py --checkpoint checkpoints/cnn-fmnist --batch 250 \
        [--output last] [--reps 8] [--threads 1]

Prints one JSON line: {forward: {cpuSeconds, systemSeconds, images}, gradient: {...}, threadpools} over --reps
calls each, after 2 warm-up calls; --threads pins torch's and the BLAS library's threads
(reference_env.limit_threads). scripts/model-cost.ts runs it beside bench.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_model import BenchModel  # noqa: E402
import reference_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def timed(fn, reps, images):
    for _ in range(2):
        fn()
    before = os.times()
    for _ in range(reps):
        fn()
    after = os.times()
    user = after.user - before.user
    system = after.system - before.system
    return {'cpuSeconds': user + system, 'systemSeconds': system, 'images': reps * images}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', default=os.path.join(ROOT, 'checkpoints', 'cnn-fmnist'))
    ap.add_argument('--output', default='last', choices=['first', 'last', 'average'])
    ap.add_argument('--batch', type=int, default=250)
    ap.add_argument('--reps', type=int, default=8)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    threadpools = reference_env.limit_threads(args.threads)
    torch.manual_seed(0)
    model = BenchModel(args.checkpoint, output=args.output)
    h, w, c = model.manifest['architecture']['inputShape']
    x = torch.rand(args.batch, c, h, w)
    y = torch.arange(args.batch) % model.manifest['architecture']['numClasses']

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        xi = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xi), y, reduction='sum')
        torch.autograd.grad(loss, xi)

    print(json.dumps({'forward': timed(forward, args.reps, args.batch), 'gradient': timed(gradient, args.reps, args.batch),
                      'threadpools': threadpools}))


if __name__ == '__main__':
    main()
