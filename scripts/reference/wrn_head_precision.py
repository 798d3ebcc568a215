"""Float32 error of the WRN CNN-F's head alone (8x8 average pool, then the 128 -> 10 linear layer), by summation order.

Usage (python3 with torch and numpy):
    python3 scripts/reference/wrn_head_precision.py REF64.npz STATE_DICT.pt

REF64.npz: scripts/reference/wrn_parity_trace.py --dtype 64 on a fixture (its p0.top.z, the first pass's
final AdaReLU input); STATE_DICT.pt: the fixture's weights. The first pass's pooled features are formed
from relu(z) in float64 and then, from the same float32-rounded inputs, in float32: our two-pass
spatialSum (8 sequential adds per column, then 8 over the row; src/models/cnnfWrn/insNorm.ts), its
pairwise variant, and PyTorch's avg_pool2d; the logits from the float64 pooled features rounded to
float32, as one sequential float32 sum over the 128 products rounded before each add (XNNPACK's dense
layer on wasm) and as PyTorch's matmul. Prints the median over images of the per-image relative error
against float64 (README, "Where the remaining WRN outliers come from").
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

r64 = np.load(sys.argv[1])
state = torch.load(sys.argv[2], map_location='cpu')
weight = state['fc.linear.weight'].numpy()
bias = state['fc_bias.bias'].numpy().reshape(-1)
active = np.maximum(r64['p0.top.z'], 0)  # [N, 8, 8, C] NHWC
n = active.shape[0]
pooled64 = active.mean(axis=(1, 2))
logits64 = pooled64 @ weight.astype(np.float64).T + bias


def median_rel(got, ref):
    return np.median(np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1))


def sequential(x, axis):
    acc = np.zeros_like(np.take(x, 0, axis=axis))
    for i in range(x.shape[axis]):
        acc = (acc + np.take(x, i, axis=axis)).astype(np.float32)
    return acc


def pairwise(x):
    while x.shape[1] > 1:
        x = (x[:, :x.shape[1] // 2] + x[:, x.shape[1] // 2:]).astype(np.float32)
    while x.shape[2] > 1:
        x = (x[:, :, :x.shape[2] // 2] + x[:, :, x.shape[2] // 2:]).astype(np.float32)
    return x[:, 0, 0]


a32 = active.astype(np.float32)
area = np.float32(active.shape[1] * active.shape[2])
two_pass = sequential(sequential(a32, 1)[:, None], 2)[:, 0] / area
torch_pool = F.avg_pool2d(torch.tensor(a32).permute(0, 3, 1, 2), active.shape[1]).reshape(n, -1).numpy()
print(f'average pool: ours two-pass {median_rel(two_pass, pooled64):.2e}, pairwise {median_rel(pairwise(a32) / area, pooled64):.2e}, '
      f'PyTorch avg_pool2d {median_rel(torch_pool, pooled64):.2e} (float32 rounding of the input alone '
      f'{median_rel(a32.astype(np.float64).mean(axis=(1, 2)), pooled64):.2e})')

p32 = pooled64.astype(np.float32)
acc = np.zeros((n, weight.shape[0]), np.float32)
for k in range(weight.shape[1]):
    acc = acc + (p32[:, k:k + 1] * weight[None, :, k]).astype(np.float32)
ours_fc = acc + bias.astype(np.float32)
torch_fc = (torch.tensor(p32) @ torch.tensor(weight).T + torch.tensor(bias)).numpy()
print(f'linear layer: one sequential sum, products rounded {median_rel(ours_fc, logits64):.2e}, PyTorch {median_rel(torch_fc, logits64):.2e}')
