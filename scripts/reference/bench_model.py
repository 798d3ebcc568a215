"""A bench checkpoint (checkpoints/<name>/model.json + weights.safetensors) as the reference PyTorch CNN-F.

The network is the class CNNF of yjhuangcd/CNNF cnnf/model_mnist.py, used unchanged; this module only
maps our weights back to its state_dict (the inverse of src/models/importReference.ts) and wraps it so
that it takes images NCHW in [0,1] pixel space, as AutoAttack expects:
  conv{k}.kernel [kh, kw, I, O] (HWIO)  -> conv{k}.conv.weight [O, I, kh, kw] (and its tied conv_t)
  conv{k}.bias   [C]                    -> ins{k}_bias.bias [1, C, 1, 1]
  fc{j}.kernel   [in, out]              -> fc{j}.linear.weight [out, in] (and linear_t = its transpose);
                                           fc1's rows go from our H,W,C flattening to PyTorch's C,H,W
  fc{j}.bias     [out]                  -> fc{j}_bias.bias [1, out]
The wrapper normalises with the manifest's mean/std ((x - mean) / std, the reference's
transforms.Normalize((0.5,), (0.5,))) and, for cycles > 0, runs the reference's feedback loop
(run_cycles_adv, gradients through the whole loop, i.e. bench's e2e path); output 'last' returns the
logits after the last cycle, 'first' those of the first feedforward pass, 'average' their mean over
all passes.

Usage as a script:  python3 scripts/reference/bench_model.py CHECKPOINT_DIR OUT.pt
writes the reference state_dict (torch.save), which `bench import` reads back.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_env  # noqa: E402

CNNF_SRC = os.environ.get('CNNF_SRC', '/tmp/t16-cnnf')


def _import_reference_cnnf():
    """Imports cnnf.model_mnist from a checkout of yjhuangcd/CNNF (CNNF_SRC, default /tmp/t16-cnnf).
    Its training-only imports (torchvision, tensorboardX, matplotlib) are stubbed: the class needs none."""
    return reference_env.import_cnnf(CNNF_SRC, 'model_mnist').CNNF


def read_safetensors(path):
    """{name: float32 numpy array (a writable copy)} from a .safetensors file (reference_env.load_safetensors);
    every tensor must be F32."""
    out = {}
    for name, array in reference_env.load_safetensors(path).items():
        assert array.dtype == np.float32, f'{path}: tensor {name} has dtype {array.dtype}, expected F32'
        out[name] = array.copy()
    return out


def reference_state_dict(checkpoint_dir):
    """(state_dict for model_mnist.CNNF, manifest) from a bench checkpoint directory."""
    with open(os.path.join(checkpoint_dir, 'model.json')) as f:
        manifest = json.load(f)
    arch = manifest['architecture']
    w = read_safetensors(os.path.join(checkpoint_dir, manifest['weights']['file']))
    sd = {}
    h, wd, _ = arch['inputShape']
    for k, conv in enumerate(arch['convs'], start=1):
        kernel = w[f'conv{k}.kernel']  # [kh, kw, I, O]
        oihw = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        sd[f'conv{k}.conv.weight'] = oihw
        sd[f'conv{k}.conv_t.weight'] = oihw
        sd[f'ins{k}_bias.bias'] = torch.from_numpy(w[f'conv{k}.bias'].reshape(1, -1, 1, 1))
        if conv['pool']:
            h, wd = h // 2, wd // 2
    channels = arch['convs'][-1]['filters']
    n_fc = len(arch['dense']) + 1
    for j in range(1, n_fc + 1):
        kernel = w[f'fc{j}.kernel']  # [in, out], rows in our order
        if j == 1:
            # our row hw * C + c  ->  PyTorch column c * H * W + hw
            out_dim = kernel.shape[1]
            kernel = kernel.reshape(h * wd, channels, out_dim).transpose(1, 0, 2).reshape(channels * h * wd, out_dim)
        weight = torch.from_numpy(np.ascontiguousarray(kernel.T))  # [out, in]
        sd[f'fc{j}.linear.weight'] = weight
        sd[f'fc{j}.weight'] = weight  # the reference's public alias of linear.weight
        sd[f'fc{j}.linear_t.weight'] = weight.t().contiguous()
        sd[f'fc{j}_bias.bias'] = torch.from_numpy(w[f'fc{j}.bias'].reshape(1, -1))
    return sd, manifest


class BenchModel(nn.Module):
    """Reference CNN-F with bench's checkpoint weights; forward(x NCHW in [0,1]) -> logits [N, classes]."""

    def __init__(self, checkpoint_dir, output='last'):
        super().__init__()
        CNNF = _import_reference_cnnf()
        sd, manifest = reference_state_dict(checkpoint_dir)
        arch = manifest['architecture']
        assert [c['filters'] for c in arch['convs']] == [16, 32, 32, 64] and arch['dense'] == [1000, 128], \
            'model_mnist.CNNF has convs 16,32,32,64 and fc 1000,128'
        self.net = CNNF(arch['numClasses'], ind=arch['ind'], cycles=arch['cycles'], res_param=arch['resParam'])
        self.net.load_state_dict(sd, strict=True)
        self.net.eval()
        norm = manifest.get('normalization') or {'mean': [0.0], 'std': [1.0]}
        self.register_buffer('mean', torch.tensor(norm['mean'], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(norm['std'], dtype=torch.float32).view(1, -1, 1, 1))
        self.output = output
        self.cycles = arch['cycles']
        self.manifest = manifest

    def forward(self, x):
        z = (x - self.mean) / self.std
        net = self.net
        if self.cycles == 0:
            net.reset()
            return net(z, first=True)
        # The reference's run_cycles_adv (cnnf/model_mnist.py) with the logits of every pass kept.
        net.reset()
        out, orig_feature, _, _ = net(z, first=True, inter=True)
        outs = [out]
        ff_prev = orig_feature
        for _ in range(net.cycles):
            recon = net(out, step='backward')
            ff_current = ff_prev + net.res_param * (recon - ff_prev)
            out = net(ff_current, first=False)
            outs.append(out)
            ff_prev = ff_current
        if self.output == 'first':
            return outs[0]
        if self.output == 'average':
            return torch.stack(outs).mean(0)
        return outs[-1]


def load_fashion_mnist_test(data_dir, n):
    """First n images (N, 1, 28, 28 float32 in [0,1], pixel / 255) and labels of the vendored test set."""
    import gzip
    with gzip.open(os.path.join(data_dir, 't10k-images-idx3-ubyte.gz')) as f:
        raw = f.read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(os.path.join(data_dir, 't10k-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n]
    return torch.from_numpy(imgs.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: bench_model.py CHECKPOINT_DIR OUT.pt')
    sd, _ = reference_state_dict(sys.argv[1])
    torch.save(sd, sys.argv[2])
    print(f'wrote {sys.argv[2]} ({len(sd)} tensors)')
