"""One training step's loss and parameter gradients of the reference Wide-ResNet CNN-F, as a fixture.

Usage (Debian's python3 with python3-torch and python3-numpy; CNNF_DIR is a checkout of yjhuangcd/CNNF):
    /usr/bin/python3 scripts/reference/wrn_train_step.py CNNF_DIR OUT_DIR

Builds the reference `WideResNet(10, 10, 1, 0.0, ind=1, cycles=2, res_param=0.1)` (cnnf/model_cifar.py,
imported from CNNF_DIR; its unused imports of torchvision, tensorboardX and matplotlib are stubbed), with
He-initialised convolutions as the reference draws them and biases drawn N(0, 0.1) (the reference
zeroes them; random ones exercise every term). On 4 clean images and 4 "adversarial" images (the clean ones
plus a fixed perturbation of L-inf size 0.0315 in [0,1] pixels, clipped to [0,1]: the attack's random
start cannot be shared, so the adversarial batch is an input here) it computes the loss exactly as
train.py's train_adv does for CIFAR (clean 'supclean', clean_parameter 0.05, mse_parameter 0.1,
max_cycles 2) and backpropagates it. The gradient of a convolution is that of its Parameter, shared by
the tied transposed convolution; fc.linear_t is a separate Parameter refreshed by `.data`, so its gradient
is not the classifier's and is not written.

Writes to OUT_DIR:
    weights.safetensors  the state_dict's own tensors (no tied copies), float32
    grads.safetensors    d loss / d parameter under the same names, float32
    cases.safetensors    x_clean, x_adv [4, 32, 32, 3] NHWC float32 pixels in [0,1]; targets [4] int64
    meta.json            loss (float), hyperparameters
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_env  # noqa: E402

cnnf_dir, out_dir = sys.argv[1], sys.argv[2]
WideResNet = reference_env.import_cnnf(cnnf_dir).WideResNet

torch.manual_seed(7)
np.random.seed(7)
DEPTH, WIDEN, IND, CYCLES, RES = 10, 1, 1, 2, 0.1
MSE, CLEAN = 0.1, 0.05
N = 4
model = WideResNet(DEPTH, 10, WIDEN, 0.0, ind=IND, cycles=CYCLES, res_param=RES)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith('bias'):
            p.normal_(0, 0.1)

rng = np.random.default_rng(7)
x_clean = rng.integers(0, 256, (N, 32, 32, 3)).astype(np.float32) / 255
delta = rng.choice([-0.0315, 0.0315], size=(N, 32, 32, 3)).astype(np.float32)
x_adv = np.clip(x_clean + delta, 0, 1).astype(np.float32)
targets = torch.tensor(rng.integers(0, 10, N), dtype=torch.int64)


def to_input(x):
    # NHWC [0,1] -> NCHW, then the reference's Normalize(0.5, 0.5).
    return reference_env.normalize(torch.tensor(x).permute(0, 3, 1, 2).contiguous())


images = to_input(x_clean)
adv_images = to_input(x_adv)

# train_adv, CIFAR branch, one batch.
model.train()
model.zero_grad()
images_all = torch.cat((images, adv_images), 0)
model.reset()
logits, orig_feature_all, block1_all, block2_all, block3_all = model(images_all, first=True, inter=True)
ff_prev = orig_feature_all
orig_feature, _ = torch.split(orig_feature_all, N)
block1_clean, _ = torch.split(block1_all, N)
block2_clean, _ = torch.split(block2_all, N)
block3_clean, _ = torch.split(block3_all, N)
logits_clean, logits_adv = torch.split(logits, N)
loss = (CLEAN * F.cross_entropy(logits_clean, targets) + F.cross_entropy(logits_adv, targets)) / (2 * (CYCLES + 1))
for i_cycle in range(CYCLES):
    recon, block1_recon, block2_recon, block3_recon = model(logits, step='backward', inter_recon=True)
    recon_clean, recon_adv = torch.split(recon, N)
    _, recon_block1_adv = torch.split(block1_recon, N)
    _, recon_block2_adv = torch.split(block2_recon, N)
    _, recon_block3_adv = torch.split(block3_recon, N)
    loss += (F.mse_loss(recon_adv, orig_feature) + F.mse_loss(recon_block1_adv, block1_clean)
             + F.mse_loss(recon_block2_adv, block2_clean) + F.mse_loss(recon_block3_adv, block3_clean)) * MSE / (4 * CYCLES)
    ff_current = ff_prev + RES * (recon - ff_prev)
    logits = model(ff_current, first=False)
    ff_prev = ff_current
    logits_clean, logits_adv = torch.split(logits, N)
    loss += (CLEAN * F.cross_entropy(logits_clean, targets) + F.cross_entropy(logits_adv, targets)) / (2 * (CYCLES + 1))
loss.backward()

state = model.state_dict()


def param_of(key):
    # The Parameter object behind a state_dict key (named_parameters drops the shared aliases).
    obj = model
    for part in key.split('.'):
        obj = getattr(obj, part)
    return obj


own = [k for k in state if not k.endswith('conv_t.weight') and not k.endswith('linear_t.weight')]


os.makedirs(out_dir, exist_ok=True)
reference_env.save_safetensors(os.path.join(out_dir, 'weights.safetensors'),
                               {k: ('F32', state[k].detach().numpy().astype(np.float32)) for k in own})
reference_env.save_safetensors(os.path.join(out_dir, 'grads.safetensors'),
                               {k: ('F32', param_of(k).grad.detach().numpy().astype(np.float32)) for k in own})
reference_env.save_safetensors(os.path.join(out_dir, 'cases.safetensors'),
                               {'x_clean': ('F32', x_clean), 'x_adv': ('F32', x_adv), 'targets': ('I64', targets.numpy())})
with open(os.path.join(out_dir, 'meta.json'), 'w') as f:
    json.dump({'loss': float(loss.item()), 'depth': DEPTH, 'widen': WIDEN, 'ind': IND, 'cycles': CYCLES, 'res_param': RES,
               'mse_parameter': MSE, 'clean_parameter': CLEAN, 'batch': N, 'torch': torch.__version__}, f, indent=2)
print(json.dumps({'loss': float(loss.item())}))
