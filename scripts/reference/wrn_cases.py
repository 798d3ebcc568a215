"""Reference outputs of a Wide-ResNet CNN-F state_dict, for `bench verify` of its import.

Usage (python3 with torch and numpy; CNNF_DIR is a checkout of yjhuangcd/CNNF):
    python3 scripts/reference/wrn_cases.py CNNF_DIR STATE_DICT.pt OUT.safetensors \
        --depth 40 --widen 2 --ind 5 --cycles 2 --res-param 0.1 [--cifar DIR] [--count 16]

Loads STATE_DICT.pt (either torch.save format) into the reference `WideResNet(depth, 10, widen, 0.0, ind,
cycles, res_param)` of cnnf/model_cifar.py (its unused imports of torchvision, tensorboardX and
matplotlib are stubbed) and runs it on CPU on `count` images: the first records of DIR/test_batch.bin
(the CIFAR-10 binary version) when --cifar is given, else random pixels (numpy seed 0). Writes the cases
`bench verify` reads, with the names and conventions of tests/fixtures/cnnf-reference:
    x_uint8_nchw [N,3,32,32] uint8 pixels; y [N] int32 labels (0 for random pixels)
    logits_first, logits_last, logits_avg [N,10]: forward_adv, run_cycles, run_average
    feature_ind, recon_ind_cycle1: the activation at ind in the first pass and its first reconstruction
    grad_first, grad_e2e_last, grad_e2e_avg [N,3,32,32]: d sum-CE / d x in the [-1,1] input space
The loops of run_cycles / run_average are written out here because the reference's methods move the
data to CUDA.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_env  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument('cnnf_dir')
parser.add_argument('state_dict')
parser.add_argument('out')
parser.add_argument('--depth', type=int, required=True)
parser.add_argument('--widen', type=int, required=True)
parser.add_argument('--ind', type=int, default=0)
parser.add_argument('--cycles', type=int, default=0)
parser.add_argument('--res-param', type=float, default=0.0)
parser.add_argument('--cifar', default=None)
parser.add_argument('--count', type=int, default=16)
args = parser.parse_args()

model = reference_env.import_cnnf(args.cnnf_dir).WideResNet(args.depth, 10, args.widen, 0.0, ind=args.ind, cycles=args.cycles, res_param=args.res_param)
model.load_state_dict(torch.load(args.state_dict, map_location='cpu'))
model.eval()

n = args.count
if args.cifar:
    raw = np.fromfile(f'{args.cifar}/test_batch.bin', dtype=np.uint8)[: n * 3073].reshape(n, 3073)
    labels = raw[:, 0].astype(np.int32)
    pixels = raw[:, 1:].reshape(n, 3, 32, 32)
else:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    labels = np.zeros(n, dtype=np.int32)
x = reference_env.uint8_to_input(pixels)
y = torch.tensor(labels, dtype=torch.int64)


def passes(data):
    """Every pass's logits (first, then one per cycle), the activation at ind and the first reconstruction."""
    model.reset()
    output, orig_feature, _, _, _ = model(data, first=True, inter=True)
    outputs, recon1 = [output], None
    ff_prev = orig_feature
    for i in range(args.cycles):
        recon = model(output, step='backward')
        recon1 = recon if recon1 is None else recon1
        ff_current = ff_prev + args.res_param * (recon - ff_prev)
        output = model(ff_current, first=False)
        ff_prev = ff_current
        outputs.append(output)
    return outputs, orig_feature, recon1


def first_pass(data):
    model.reset()
    return model(data)


def grad(logits_of):
    xi = x.clone().requires_grad_(True)
    F.cross_entropy(logits_of(xi), y, reduction='sum').backward()
    return xi.grad.detach().numpy()


with torch.no_grad():
    outputs, feature, recon1 = passes(x)
    cases = {
        'x_uint8_nchw': ('U8', pixels),
        'y': ('I32', labels),
        'logits_first': ('F32', first_pass(x).numpy()),
        'logits_last': ('F32', outputs[-1].numpy()),
        'logits_avg': ('F32', (sum(outputs) / len(outputs)).numpy()),
        'feature_ind': ('F32', feature.numpy()),
    }
    if recon1 is not None:
        cases['recon_ind_cycle1'] = ('F32', recon1.numpy())
cases['grad_first'] = ('F32', grad(first_pass))
cases['grad_e2e_last'] = ('F32', grad(lambda d: passes(d)[0][-1]))
cases['grad_e2e_avg'] = ('F32', grad(lambda d: sum(passes(d)[0]) / (args.cycles + 1)))
reference_env.save_safetensors(args.out, cases)
print(f'{args.out}: {", ".join(cases)} on {n} images')
