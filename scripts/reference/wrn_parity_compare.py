"""Per-layer float32 error of our WRN CNN-F and of PyTorch's, both against the reference run in float64.

Usage (python3 with numpy):
    python3 scripts/reference/wrn_parity_compare.py REF64.npz REF32.npz OURS_PREFIX [OURS_PREFIX ...]
        [--image K] [--all] [--clean] [--fixture FIXTURE_DIR]

REF64/REF32: scripts/reference/wrn_parity_trace.py --dtype 64 / 32 on a fixture; OURS_PREFIX: the .bin/.json
of scripts/parity/wrn-trace.ts on the same fixture (e.g. one per backend). For every recorded tensor in
pass order (forward values, then the gradients in backward order) prints the median over images of the
per-image relative L2 error against float64, for torch float32 and for each of ours, and for the
AdaReLU inputs the number of units whose mask differs from float64's (sign of z in the first pass, of
m * h after feedback). --image K: that image's errors instead of the median (the traces may hold a subset of the images, the
same one; the float64/float32 runs are cut to it). Without --all only every
layer where an error ratio changes by more than 1.5x, and the first/last layer of each pass, is printed.
--fixture: first, per run, the images beyond `bench verify`'s tolerance against the fixture's outputs
(logits_last, logits_avg, grad_e2e_last).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_env import load_safetensors  # noqa: E402

argv = [a for a in sys.argv[1:]]
image = None
if '--image' in argv:
    i = argv.index('--image')
    image = int(argv[i + 1])
    del argv[i:i + 2]
show_all = '--all' in argv
clean = '--clean' in argv
argv = [a for a in argv if a not in ('--all', '--clean')]
fixture = None
if '--fixture' in argv:
    i = argv.index('--fixture')
    fixture = argv[i + 1]
    del argv[i:i + 2]
r64, r32 = np.load(argv[0]), np.load(argv[1])
ours, picked = [], None
for prefix in argv[2:]:
    index = json.load(open(prefix + '.json'))
    if picked is not None and index['images'] != picked:
        sys.exit(f'{prefix}: images {index["images"]}, the first trace has {picked}')
    picked = index['images']
    buf = np.fromfile(prefix + '.bin', dtype=np.float32)
    arrays, off = {}, 0
    for name, shape in index['arrays']:
        size = int(np.prod(shape))
        arrays[name] = buf[off:off + size].reshape(shape).astype(np.float64)
        off += size
    ours.append((prefix.rsplit('/', 1)[-1], arrays))
# The reference runs hold all images; keep those the traces computed (logits: [passes, N, 10]).
pick = lambda arrs: {k: (arrs[k][:, picked] if k == 'logits' else arrs[k][picked]) for k in arrs.files}
r64, r32 = pick(r64), pick(r32)
if image is not None:
    image = picked.index(image)


if fixture is not None:
    # As `bench verify` judges: per image relative L2 error against the fixture's float32 outputs.
    cases = load_safetensors(f'{fixture}/cases.safetensors')
    print(f'images beyond tolerance against {fixture} (logits 1e-4, gradients 1e-3):')
    for label, arrs in [('float64', r64), ('torch32', r32)] + ours:
        got = {'logits_last': arrs['logits'][-1], 'logits_avg': arrs['logits'].mean(0), 'grad_e2e_last': arrs['grad_x'].transpose(0, 3, 1, 2)}
        parts = []
        for name, g in got.items():
            ref = cases[name][picked].astype(np.float64).reshape(len(picked), -1)
            err = np.linalg.norm(g.reshape(len(picked), -1) - ref, axis=1) / np.linalg.norm(ref, axis=1)
            tol = 1e-3 if name.startswith('grad') else 1e-4
            parts.append(f'{name} {[picked[i] for i in range(len(picked)) if not err[i] <= tol]}')
        print(f'  {label:10s} ' + '  '.join(parts))


def per_image(a, ref):
    d = (a.astype(np.float64) - ref).reshape(ref.shape[0], -1)
    return np.linalg.norm(d, axis=1) / np.linalg.norm(ref.reshape(ref.shape[0], -1), axis=1)


if clean:
    # Images on which no run took another branch that matters: every pass's logits within 1e-5 and the
    # input gradient within 1e-4 of float64's, for torch float32 and each of ours. There the errors
    # measure arithmetic precision alone.
    ok = np.ones(len(picked), bool)
    for arrs in [r32] + [o for _, o in ours]:
        ok &= per_image(arrs['grad_x'], r64['grad_x']) < 1e-4
        for p in range(r64['logits'].shape[0]):
            ok &= per_image(arrs['logits'][p], r64['logits'][p]) < 1e-5
    keep = np.nonzero(ok)[0]
    print(f'clean images: {[picked[i] for i in keep]}')
    r64 = {k: (v[:, keep] if k == 'logits' else v[keep]) for k, v in r64.items()}
    r32 = {k: (v[:, keep] if k == 'logits' else v[keep]) for k, v in r32.items()}
    ours = [(name, {k: (v[:, keep] if k == 'logits' else v[keep]) for k, v in o.items()}) for name, o in ours]


def rel(a, ref):
    d = (a.astype(np.float64) - ref).reshape(ref.shape[0], -1)
    n = np.linalg.norm(ref.reshape(ref.shape[0], -1), axis=1)
    e = np.linalg.norm(d, axis=1) / np.where(n > 0, n, 1)
    return e[image] if image is not None else np.median(e)


def mask(arrs, name):
    """The AdaReLU mask of a z record (first pass: z > 0; later: m * h > 0), or None."""
    if not name.endswith('.z'):
        return None
    p, layer = name.split('.', 1)[0], name[len(name.split('.', 1)[0]) + 1:-2]
    if p == 'p0':
        return arrs[name] > 0
    h = arrs.get(f'c{int(p[1:]) - 1}.{layer}.h')
    return None if h is None else arrs[name[:-1] + 'm'] * h > 0


def flips(m, m64):
    f = (m != m64).reshape(m64.shape[0], -1).sum(1)
    return int(f[image]) if image is not None else int(f.sum())


names = [n for n, _ in json.load(open(argv[2] + '.json'))['arrays']]
forward = [n for n in names if not n.split('.')[-1].startswith('g') and n not in ('logits', 'grad_x') and not n.endswith('.m')]
backward = [n for n in names if n.split('.')[-1].startswith('g')]
rows = []
for n in forward + ['logits'] + backward + ['grad_x']:
    if n not in r64 or any(n not in o for _, o in ours):
        continue
    ref = r64[n]
    if n == 'logits':
        for p in range(ref.shape[0]):
            rows.append((f'logits pass {p}', rel(r32[n][p], ref[p]), [rel(o[n][p], ref[p]) for _, o in ours], None))
        continue
    m64 = mask(r64, n)
    fl = None if m64 is None else [flips(mask(r32, n), m64)] + [flips(mask(o, n), m64) for _, o in ours]
    rows.append((n, rel(r32[n], ref), [rel(o[n], ref) for _, o in ours], fl))

head = f'{"tensor":22s} {"torch32":>9s} ' + ' '.join(f'{name:>9s} {"ratio":>5s}' for name, _ in ours) + '   mask flips vs float64 (torch32, ours...)'
print(head)
last_ratio = None
for k, (n, e32, es, fl) in enumerate(rows):
    ratios = [e / e32 if e32 > 0 else float('inf') for e in es]
    boundary = k == 0 or k == len(rows) - 1 or rows[k - 1][0].split('.')[0] != n.split('.')[0] or n.startswith('logits') or n == 'grad_x'
    jump = last_ratio is not None and any(abs(np.log(max(r, 1e-30) / max(q, 1e-30))) > np.log(1.5) for r, q in zip(ratios, last_ratio))
    if show_all or boundary or jump:
        print(f'{n:22s} {e32:9.2e} ' + ' '.join(f'{e:9.2e} {r:5.1f}' for e, r in zip(es, ratios)) + ('   ' + ' '.join(map(str, fl)) if fl else ''))
        last_ratio = ratios
