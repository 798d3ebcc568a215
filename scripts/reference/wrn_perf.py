"""Throughput of the original PyTorch CNN-F Wide-ResNet (yjhuangcd/CNNF, cnnf/model_cifar.py) on the CPU,
for the side-by-side comparison of `npm run perf` (WRN cases) and scripts/wrn-perf.ts. Prints one JSON
object on stdout.

Run with Debian's python3-torch (apt-get install -y python3-torch python3-numpy):
    git --git-dir=<CNNF clone> archive HEAD | tar -x -C /tmp/cnnf      (any checkout of yjhuangcd/CNNF)
    /usr/bin/python3 scripts/reference/wrn_perf.py --cnnf /tmp/cnnf --threads 1 --batch 32 --reps 3 \
        [--state tests/fixtures/cnnf-reference/cnnf_wrn40-2_ind5_cycles2/state_dict.pt]

What is timed, per batch (best and median of --reps after one untimed warm-up):
- first:   the first feedforward pass, `forward_adv`, under torch.no_grad();
- forward: the full CNN-F inference, `run_cycles` (first pass + `cycles` generative feedback and
           feedforward passes), under torch.no_grad(): what an evaluation does;
- e2e:     one end-to-end PGD step as the reference's eval.py attacks with `ete=True`: advertorch's
           LinfPGDAttack calls `run_cycles_adv` (the same loop with autograd on), cross entropy with
           reduction 'sum', backward to the input, then delta += eps_iter * sign(grad), clamped to eps
           and to the pixel range. Rates are images/s (first, forward) and images x steps/s (e2e).
Wall time (time.perf_counter) and CPU time of the process (time.process_time, all threads) are both
recorded. The reference calls `.cuda()` on its inputs; here that is the identity (CPU run). Its module
imports torchvision, tensorboardX and matplotlib, which the model does not use: empty stand-ins are
registered in their place (scripts/reference/reference_env.py, import_cnnf).
"""
import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_env  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--cnnf', required=True, help='directory of a checkout of yjhuangcd/CNNF (holds cnnf/model_cifar.py)')
    p.add_argument('--state', default=None, help='state_dict.pt of a WideResNet with the same config (default: random weights)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--depth', type=int, default=40)
    p.add_argument('--widen', type=int, default=2)
    p.add_argument('--ind', type=int, default=5)
    p.add_argument('--cycles', type=int, default=2)
    p.add_argument('--res-param', type=float, default=0.1)
    p.add_argument('--only', default='first,forward,e2e')
    args = p.parse_args()

    import torch
    import torch.nn.functional as F

    reference_env.limit_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    torch.Tensor.cuda = lambda self, *a, **k: self  # CPU run: the reference's data.cuda() is the identity
    WideResNet = reference_env.import_cnnf(args.cnnf).WideResNet

    model = WideResNet(args.depth, 10, args.widen, 0.0, args.ind, args.cycles, args.res_param)
    if args.state:
        model.load_state_dict(torch.load(args.state, map_location='cpu'))
    model.eval()
    for q in model.parameters():
        q.requires_grad_(False)  # an attack differentiates with respect to the input only

    g = torch.Generator().manual_seed(7)
    x = torch.rand(args.batch, 3, 32, 32, generator=g) * 2 - 1  # the reference's [-1, 1] input space
    y = torch.arange(args.batch) % 10
    eps = 2 * 8 / 255  # 8/255 in [0,1] pixels is 16/255 in [-1, 1]
    eps_iter = 2 * 2 / 255

    def first():
        with torch.no_grad():
            return model.forward_adv(x)

    def forward():
        with torch.no_grad():
            return model.run_cycles(x)

    delta = torch.zeros_like(x)

    def e2e():
        d = delta.clone().requires_grad_(True)
        out = model.run_cycles_adv(x + d)
        loss = F.cross_entropy(out, y, reduction='sum')
        loss.backward()
        with torch.no_grad():
            step = d + eps_iter * d.grad.sign()
            step = torch.clamp(step, -eps, eps)
            step = torch.clamp(x + step, -1, 1) - x
        return step

    def time_it(fn):
        fn()  # warm-up
        walls, cpus = [], []
        for _ in range(args.reps):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        order = sorted(range(len(walls)), key=lambda i: walls[i])
        med = order[len(order) // 2]
        return {
            'wall_s': walls,
            'cpu_s': cpus,
            'best_rate': args.batch / walls[order[0]],
            'median_rate': args.batch / walls[med],
            'cpu_rate': args.batch / sorted(cpus)[len(cpus) // 2],
        }

    cases = {'first': first, 'forward': forward, 'e2e': e2e}
    load0 = os.getloadavg()
    results = {name: time_it(cases[name]) for name in args.only.split(',')}
    record = {
        'reference': 'yjhuangcd/CNNF cnnf/model_cifar.py WideResNet',
        'config': {'depth': args.depth, 'widen': args.widen, 'ind': args.ind, 'cycles': args.cycles, 'res_param': args.res_param},
        'weights': args.state or 'random (the reference initialisation)',
        'batch': args.batch,
        'reps': args.reps,
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'python': platform.python_version(),
        'loadavg_start': load0,
        'loadavg_end': os.getloadavg(),
        'results': results,
    }
    json.dump(record, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
