"""Float32 error of a 3x3 convolution by accumulation order, against float64 (src/engine/kernels/chunked-conv.ts).

Usage (python3 with torch and numpy):  python3 scripts/reference/conv_accumulation.py [CHANNELS ...]

For each width C (default 32 64 128): 16 images of 8x8 ReLU'd normal inputs with C channels, He-initialised
3x3 weights with C outputs, 'same' padding (torch seed 0). Prints the relative L2 error against the float64
convolution of: torch's float32 conv2d (oneDNN on CPU, as the reference CNN-F fixtures were made), one
sequential float32 sum over the 9*C terms of each output in the order of the wasm (XNNPACK) and cpu
kernels (taps, then channels; product rounded before the add, or not: fma), and that sum split into
chunks of 32, 16, 8 channels whose partial sums are added pairwise.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F


def measure(c):
    torch.manual_seed(0)
    n, h, w = 16, 8, 8
    x = torch.relu(torch.randn(n, c, h, w))
    k = torch.randn(c, c, 3, 3) * np.sqrt(2 / (9 * c))
    exact = F.conv2d(x.double(), k.double(), padding=1).numpy()
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    kn = k.numpy()

    def sequential(channels, fma):
        acc = np.zeros((n, c, h, w), np.float32)
        for ky in range(3):
            for kx in range(3):
                for ci in channels:
                    p = xp[:, None, ci, ky:ky + h, kx:kx + w].astype(np.float64) * kn[None, :, ci, ky, kx, None, None].astype(np.float64)
                    acc = (acc.astype(np.float64) + p).astype(np.float32) if fma else acc + p.astype(np.float32)
        return acc

    def chunked(size, fma):
        parts = [sequential(range(c0, min(c, c0 + size)), fma) for c0 in range(0, c, size)]
        while len(parts) > 1:
            paired = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
            parts = paired + ([parts[-1]] if len(parts) % 2 else [])
        return parts[0]

    def rel(y):
        return np.sqrt(((y.astype(np.float64) - exact) ** 2).mean() / (exact ** 2).mean())

    print(f'C={c}: torch float32 {rel(F.conv2d(x, k, padding=1).numpy()):.2e}; '
          f'one sequential sum {rel(sequential(range(c), False)):.2e} (fma {rel(sequential(range(c), True)):.2e})')
    for size in (32, 16, 8):
        if size < c:
            print(f'  chunks of {size}, pairwise: {rel(chunked(size, False)):.2e} (fma {rel(chunked(size, True)):.2e})')


for width in [int(a) for a in sys.argv[1:]] or [32, 64, 128]:
    measure(width)
