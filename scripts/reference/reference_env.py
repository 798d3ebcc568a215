"""Set-up shared by the Python reference drivers of scripts/reference/.

- import_cnnf: a module of the CNN-F reference (github:yjhuangcd/CNNF, cnnf/model_cifar.py or
  cnnf/model_mnist.py) without its training-only dependencies installed;
- load_safetensors / save_safetensors: the .safetensors format (8-byte little-endian header length, a
  JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian tensor bytes);
- load_fixture, wideresnet_from_meta, uint8_to_input, normalize: a CNN-F reference fixture
  (tests/fixtures/cnnf-reference/<name>: meta.json, cases.safetensors, state_dict.pt) and the
  reference's [-1,1] input space;
- limit_threads: torch's and the BLAS library's thread pools pinned to --threads (needs threadpoolctl).

The drivers are run as `/usr/bin/python3 scripts/reference/X.py ...`; they import this module with
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference_env
Importing it needs numpy only; torch is imported by the functions that return tensors.
"""
import importlib
import json
import os
import struct
import sys
import types

import numpy as np

# Imported at module level by cnnf/model_cifar.py and cnnf/model_mnist.py for data loading, logging and
# plotting in training; the networks use none of them.
TRAINING_ONLY_IMPORTS = ('torchvision', 'tensorboardX', 'matplotlib', 'matplotlib.pyplot')

# safetensors dtype name -> numpy dtype (the format stores little-endian values).
SAFETENSORS_DTYPES = {'F32': np.dtype('<f4'), 'I32': np.dtype('<i4'), 'I64': np.dtype('<i8'), 'U8': np.dtype('u1')}


def import_cnnf(cnnf_dir, module='model_cifar'):
    """The module cnnf.<module> of a checkout of yjhuangcd/CNNF at cnnf_dir ('model_cifar' holds the
    WideResNet, 'model_mnist' the CNNF of the MNIST/Fashion-MNIST experiments), imported unchanged.

    Every name of TRAINING_ONLY_IMPORTS not yet imported is registered as an empty stand-in module
    (attributes datasets, transforms, SummaryWriter = None; matplotlib.pyplot also reachable as an
    attribute of matplotlib), so none of them need be installed; cnnf_dir (made absolute) is put first
    on sys.path. The module's own `layers` attribute is cnnf/layers.py. Raises ImportError
    (ModuleNotFoundError) when cnnf_dir has no cnnf/<module>.py.
    """
    for name in TRAINING_ONLY_IMPORTS:
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.datasets = stub.transforms = stub.SummaryWriter = None
            sys.modules[name] = stub
    if not hasattr(sys.modules['matplotlib'], 'pyplot'):
        sys.modules['matplotlib'].pyplot = sys.modules['matplotlib.pyplot']
    path = os.path.abspath(cnnf_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(f'cnnf.{module}')


def limit_threads(n):
    """Pin every thread pool doing the reference's arithmetic to n threads, and return a description of
    the pools for the run's record (threadpoolctl's threadpool_info(): a list of dicts with user_api,
    internal_api, filepath, num_threads).

    Why: Debian's python3-torch has no MKL; its matrix products (Linear layers, and the convolutions oneDNN
    does not take) call the system BLAS, OpenBLAS, whose own pthread pool starts one thread per core and
    ignores torch.set_num_threads. A run asked for one thread then computes some products on two cores and
    busy-waits (sched_yield) between them, which counts as CPU time. This sets torch's intra-op pool
    (torch.set_num_threads) and, through threadpoolctl, every BLAS and OpenMP library already loaded.
    Call it after importing torch. Exits with code 2 and one line on stderr when threadpoolctl is missing
    (Debian: apt-get install python3-threadpoolctl) or n < 1; prints one warning line (warn_reference_blas)
    when no optimised BLAS is loaded.
    """
    import torch
    if n < 1:
        print(f'--threads must be at least 1 (got {n})', file=sys.stderr)
        sys.exit(2)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        print('threadpoolctl is missing: it pins the BLAS library\'s threads (apt-get install python3-threadpoolctl)',
              file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(n)
    threadpool_limits(limits=n)
    pools = [{k: pool.get(k) for k in ('user_api', 'internal_api', 'filepath', 'num_threads')} for pool in threadpool_info()]
    if not any(pool['user_api'] == 'blas' for pool in pools):
        print(warn_reference_blas(), file=sys.stderr)
    return pools


SIGNATURE_FLAGS = ('avx', 'avx2', 'fma', 'avx512f')


def cpu_signature():
    """One line naming this machine's processor for timing records: the CPU model and which of
    SIGNATURE_FLAGS /proc/cpuinfo lists, e.g. 'AMD EPYC (avx avx2 fma avx512f)', the format of bench's
    src/engine/cpuSignature.ts. Why: long runs resume on machines that are not all alike, and oneDNN
    uses AVX-512 where it exists (PyTorch's CNN-F gradient pass took 4.1 ms per image on such a machine
    against 7.2 on another; docs/autoattack.md), so CPU seconds from two machines must not be summed
    unmarked. '(flags unknown)' without /proc/cpuinfo. Never raises."""
    model, flags = None, None
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if model is None and line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                elif flags is None and line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    model = model or 'unknown CPU'
    if flags is None:
        return f'{model} (flags unknown)'
    return f"{model} ({' '.join(f for f in SIGNATURE_FLAGS if f in flags)})"


def warn_reference_blas():
    """The warning limit_threads prints when threadpoolctl finds no optimised BLAS (OpenBLAS, MKL, BLIS).
    Why: python3-torch depends on any libblas.so.3, and on a machine without OpenBLAS apt satisfies that with
    Debian's reference BLAS (libblas3, plain Fortran loops). PyTorch's results differ at most by float rounding, but its matrix
    products (Linear layers, transposed convolutions) become several times slower: AutoAttack's APGD-CE on
    100 CNN-F images took 234 CPU-s with it against 42 with OpenBLAS on the same machine (docs/autoattack.md), so any timing
    taken that way is unfair to the reference."""
    return ('warning: no optimised BLAS loaded (threadpoolctl sees no OpenBLAS, MKL or BLIS; Debian then uses its '
            'reference BLAS, libblas3): PyTorch\'s times will be several times too slow; '
            'apt-get install libopenblas0-pthread')


def load_safetensors(path):
    """{name: numpy array} of every tensor in the .safetensors file at path (the '__metadata__' entry is
    skipped), with the shape and dtype its header gives (F32, I32, I64 or U8: SAFETENSORS_DTYPES).
    The arrays are read-only views of the file's bytes; copy one to write to it (or to hand it to
    torch.from_numpy). Raises ValueError naming the file and tensor for any other dtype.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        if entry['dtype'] not in SAFETENSORS_DTYPES:
            raise ValueError(f'{path}: tensor {name} has dtype {entry["dtype"]}; allowed: {", ".join(SAFETENSORS_DTYPES)}')
        start, end = entry['data_offsets']
        out[name] = np.frombuffer(raw[base + start:base + end], dtype=SAFETENSORS_DTYPES[entry['dtype']]).reshape(entry['shape'])
    return out


def save_safetensors(path, tensors):
    """Writes {name: (dtype, array)} to a .safetensors file at path, in the dict's order: each array
    (numpy, any layout) converted to dtype (a key of SAFETENSORS_DTYPES) and stored C-contiguous; the
    JSON header is padded with spaces to a multiple of 8 bytes. No '__metadata__' entry.
    """
    header, offset, blobs = {}, 0, []
    for name, (dtype, arr) in tensors.items():
        data = np.ascontiguousarray(arr).astype(SAFETENSORS_DTYPES[dtype]).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_fixture(fixture_dir, cases_path=None):
    """(meta, cases, state_dict) of a CNN-F reference fixture directory: meta.json as a dict (depth,
    widen_factor, num_classes, ind, cycles, res_param, ...), the tensors of cases.safetensors (or of
    cases_path, another cases file of the same weights) from load_safetensors (x_uint8_nchw
    [N,3,H,W] uint8 pixels, y [N] labels, the reference outputs), and state_dict.pt loaded by torch on
    the CPU.
    """
    import torch
    with open(os.path.join(fixture_dir, 'meta.json')) as f:
        meta = json.load(f)
    cases = load_safetensors(cases_path or os.path.join(fixture_dir, 'cases.safetensors'))
    state = torch.load(os.path.join(fixture_dir, 'state_dict.pt'), map_location='cpu')
    return meta, cases, state


def wideresnet_from_meta(model_cifar, meta):
    """A new WideResNet of the module model_cifar (from import_cnnf) configured as a fixture's meta.json
    says: WideResNet(depth, num_classes, widen_factor, 0.0, ind, cycles, res_param), untrained.
    """
    return model_cifar.WideResNet(meta['depth'], meta['num_classes'], meta['widen_factor'], 0.0, ind=meta['ind'],
                                  cycles=meta['cycles'], res_param=meta['res_param'])


def normalize(x):
    """Pixels in [0,1] (a torch tensor, any layout) to the reference's input space [-1,1]:
    (x - 0.5) / 0.5, its transforms.Normalize with mean 0.5 and std 0.5 per channel."""
    return (x - 0.5) / 0.5


def uint8_to_input(pixels):
    """uint8 pixels [N,C,H,W] (numpy) as the reference's input: a float32 torch tensor, same layout,
    normalize(p / 255) in [-1,1]."""
    import torch
    return normalize(torch.tensor(pixels, dtype=torch.float32) / 255)
