"""Fashion-MNIST test images as CIFAR-10 binary records, made as the WRN fixtures' inputs were.

Usage (python3 with numpy):
    python3 scripts/reference/fmnist_as_cifar.py FMNIST_DIR FIRST COUNT OUT_DIR

Reads FMNIST_DIR/t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz and writes OUT_DIR/test_batch.bin
with test images FIRST .. FIRST+COUNT-1 as 32x32 RGB records (label byte, then R, G, B planes), as the
README of the cnnf-reference fixtures describes their inputs: padded by 2 px, R = the image, G = the
image shifted one pixel right, B = 255 - image/2 (rounded). scripts/reference/wrn_cases.py --cifar OUT_DIR
--count COUNT then makes reference cases for more images than the fixtures' 16.
"""
import gzip
import os
import sys

import numpy as np

src, first, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
images = np.frombuffer(gzip.open(f'{src}/t10k-images-idx3-ubyte.gz').read()[16:], np.uint8).reshape(-1, 28, 28)
labels = np.frombuffer(gzip.open(f'{src}/t10k-labels-idx1-ubyte.gz').read()[8:], np.uint8)
records = []
for i in range(first, first + count):
    p = np.pad(images[i], 2).astype(np.float64)
    g = np.roll(p, 1, axis=1)
    g[:, 0] = 0
    rgb = np.stack([p, g, 255 - p / 2]).round().clip(0, 255).astype(np.uint8)
    records.append(np.concatenate([[labels[i]], rgb.ravel()]).astype(np.uint8))
os.makedirs(out, exist_ok=True)
np.stack(records).tofile(f'{out}/test_batch.bin')
print(f'{out}/test_batch.bin: Fashion-MNIST test images {first}..{first + count - 1}')
