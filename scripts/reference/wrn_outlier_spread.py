"""How many fixture images PyTorch's own float32 variants put beyond the README's tolerance (WRN CNN-F).

Usage (python3 with torch and numpy; CNNF_DIR is a checkout of yjhuangcd/CNNF):
    python3 scripts/reference/wrn_outlier_spread.py CNNF_DIR FIXTURE_DIR [CASES.safetensors]

CASES defaults to FIXTURE_DIR/cases.safetensors; another cases file of the same weights (e.g. made by
scripts/reference/wrn_cases.py on more images) is judged the same way, in batches of 16 images.

Runs the reference WideResNet of cnnf/model_cifar.py (configuration from FIXTURE_DIR/meta.json) on the
fixture's inputs under several settings that change only the order of float32 sums (oneDNN or the
im2col + BLAS convolutions, 1 or 2 threads, NCHW or channels-last memory), plus float64, and prints per
setting the images beyond tolerance against the fixture's float32 outputs, per image as `bench verify`
judges (relative L2 error: 1e-4 for logits, 1e-3 for input gradients) for the feedback cases
logits_last, logits_avg, grad_e2e_last, grad_e2e_avg. The spread of those counts is what any correct
float32 implementation at PyTorch's precision can expect on this fixture (README, "Where the remaining
WRN outliers come from").
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_env  # noqa: E402

cnnf_dir, fixture_dir = sys.argv[1:3]
cases_path = sys.argv[3] if len(sys.argv) > 3 else f'{fixture_dir}/cases.safetensors'
model_cifar = reference_env.import_cnnf(cnnf_dir)
meta, cases, state = reference_env.load_fixture(fixture_dir, cases_path)
x32 = reference_env.uint8_to_input(cases['x_uint8_nchw'])
y = torch.tensor(cases['y'], dtype=torch.int64)
cycles, res = meta['cycles'], meta['res_param']


def outputs(model, x):
    """Logits of every pass (first, then one per cycle), as wrn_cases.py's passes()."""
    model.reset()
    out, feature, _, _, _ = model(x, first=True, inter=True)
    outs, ff_prev = [out], feature
    for _ in range(cycles):
        recon = model(out, step='backward')
        ff = ff_prev + res * (recon - ff_prev)
        out = model(ff, first=False)
        ff_prev = ff
        outs.append(out)
    return outs


def run(dtype, memory):
    model = reference_env.wideresnet_from_meta(model_cifar, meta)
    model.load_state_dict(state)
    model = model.to(dtype).eval()
    if memory == 'channels_last':
        model = model.to(memory_format=torch.channels_last)
    got = {}
    for s in range(0, len(y), 16):
        x, yb = x32[s:s + 16].to(dtype), y[s:s + 16]
        if memory == 'channels_last':
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            outs = outputs(model, x)
        part = {'logits_last': outs[-1], 'logits_avg': sum(outs) / len(outs)}
        for name, pick in [('grad_e2e_last', lambda o: o[-1]), ('grad_e2e_avg', lambda o: sum(o) / len(o))]:
            xi = x.clone().requires_grad_(True)
            F.cross_entropy(pick(outputs(model, xi)), yb, reduction='sum').backward()
            part[name] = xi.grad
        for k, v in part.items():
            got.setdefault(k, []).append(v.detach().double().numpy())
    return {k: np.concatenate(v) for k, v in got.items()}


def beyond(name, got):
    n = len(cases['y'])
    ref = cases[name].astype(np.float64).reshape(n, -1)
    err = np.linalg.norm(got.reshape(n, -1) - ref, axis=1) / np.linalg.norm(ref, axis=1)
    tol = 1e-3 if name.startswith('grad') else 1e-4
    return [i for i in range(n) if not err[i] <= tol]


settings = [('float64', torch.float64, True, 1, 'contiguous')]
for mkldnn in (True, False):
    for threads in (1, 2):
        for memory in ('contiguous', 'channels_last'):
            settings.append((f'float32 {"oneDNN" if mkldnn else "im2col+BLAS"}, {threads} thread(s), {memory}', torch.float32, mkldnn, threads, memory))
names = ['logits_last', 'logits_avg', 'grad_e2e_last', 'grad_e2e_avg']
print(f'torch {torch.__version__}; images beyond tolerance against {cases_path} ({" / ".join(names)})')
for label, dtype, mkldnn, threads, memory in settings:
    torch.backends.mkldnn.enabled = mkldnn
    torch.set_num_threads(threads)
    got = run(dtype, memory)
    out = [beyond(n, got[n]) for n in names]
    print(f'{label:50s} {"/".join(str(len(o)) for o in out):9s} ' + '  '.join(f'{n}: {o}' for n, o in zip(names, out)), flush=True)
