"""Intermediates of the reference WRN CNN-F on a fixture's inputs, for per-layer parity
(README, "Where the remaining WRN outliers come from").

Usage (python3 with torch and numpy; CNNF_DIR is a checkout of yjhuangcd/CNNF):
    python3 scripts/reference/wrn_parity_trace.py CNNF_DIR FIXTURE_DIR OUT.npz --dtype 64|32 [--threads 1]

Runs cnnf/model_cifar.py's WideResNet (depth, widen, ind, cycles, res_param from FIXTURE_DIR/meta.json,
weights from its state_dict.pt) in float64 or float32 on the fixture's 16 inputs, as
scripts/reference/wrn_cases.py does: the first pass, `cycles` feedback cycles, then the end-to-end
gradient of sum-CE(logits of the last pass, y). Every AdaReLU (resReLU) call is recorded, NHWC, under
its pass and layer (layers: b0.relu1 .. b17.relu2 for the BasicBlocks in order, top for the final one):
    p{P}.{layer}.z    the AdaReLU input (InsNorm + bias of the block's input or conv output), pass P
    p{P}.{layer}.m    for P > 0: the residual-updated value z + res (h - z) whose product with h sets the mask
    p{P}.{layer}.gz   d loss / d z (the e2e backward pass)
    c{C}.{layer}.h    the feedback signal ("hidden") left by cycle C, read by pass C+1
    c{C}.{layer}.gh   d loss / d h
    logits            [passes, N, 10];  grad_x  d loss / d x, NHWC, x in the reference's [-1,1] space
scripts/parity/wrn-trace.ts dumps the same names from our network (all but c{C}.{layer}.gh);
scripts/reference/wrn_parity_compare.py compares both with the float64 run.
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
parser.add_argument('fixture_dir')
parser.add_argument('out')
parser.add_argument('--dtype', choices=['32', '64'], required=True)
parser.add_argument('--threads', type=int, default=0, help="torch's and the BLAS library's threads (reference_env.limit_threads; 0: their defaults)")
args = parser.parse_args()
if args.threads:
    reference_env.limit_threads(args.threads)

model_cifar = reference_env.import_cnnf(args.cnnf_dir)
layers = model_cifar.layers
meta, cases, state = reference_env.load_fixture(args.fixture_dir)
dtype = torch.float64 if args.dtype == '64' else torch.float32
model = reference_env.wideresnet_from_meta(model_cifar, meta)
model.load_state_dict(state)
model = model.to(dtype).eval()

names = {model.relu: 'top'}
for g, group in enumerate([model.block1, model.block2, model.block3]):
    for i, block in enumerate(group.layer):
        k = g * len(group.layer) + i
        names[block.relu1] = f'b{k}.relu1'
        names[block.relu2] = f'b{k}.relu2'

record = {}
phase = {'pass': 0, 'cycle': 0}
nhwc = lambda t: t.detach().permute(0, 2, 3, 1).numpy().copy() if t.dim() == 4 else t.detach().numpy().copy()


def keep(key, t):
    record[key] = nhwc(t)
    if t.requires_grad:
        t.register_hook(lambda g: record.__setitem__(key.rsplit('.', 1)[0] + '.g' + key.rsplit('.', 1)[1], nhwc(g)))


original = layers.resReLU.forward


def traced(self, x, null_space=None, unit_space=None, step='forward'):
    layer = names[self]
    if 'forward' in step:
        keep(f'p{phase["pass"]}.{layer}.z', x)
        if self.hidden is not None:
            record[f'p{phase["pass"]}.{layer}.m'] = nhwc(x + self.res_param * (self.hidden - x))
    else:
        keep(f'c{phase["cycle"]}.{layer}.h', x)
    return original(self, x, null_space, unit_space, step)


layers.resReLU.forward = traced

x = reference_env.uint8_to_input(cases['x_uint8_nchw'])
x = x.to(dtype).requires_grad_(True)
y = torch.tensor(cases['y'], dtype=torch.int64)

model.reset()
output, feature, _, _, _ = model(x, first=True, inter=True)
outputs = [output]
ff_prev = feature
for cycle in range(meta['cycles']):
    phase['cycle'] = cycle
    recon = model(output, step='backward')
    ff_current = ff_prev + meta['res_param'] * (recon - ff_prev)
    phase['pass'] = cycle + 1
    output = model(ff_current, first=False)
    ff_prev = ff_current
    outputs.append(output)
F.cross_entropy(outputs[-1], y, reduction='sum').backward()
record['logits'] = np.stack([o.detach().numpy() for o in outputs])
record['grad_x'] = nhwc(x.grad)
np.savez(args.out, **record)
print(f'{args.out}: {len(record)} arrays, logits_last[0,:3] = {record["logits"][-1][0, :3]}')
