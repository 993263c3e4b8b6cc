#!/usr/bin/env python3
"""PyTorch reference fixtures for bottleneck's nn and optim tests.

Run from the repository root (needs PyTorch and NumPy, CPU only; `go test`
never runs this, it only reads what it wrote):

    /usr/bin/python3 testdata/ref/make_fixtures.py

It writes, in float32 with fixed seeds:

  testdata/ref/layers.bin       Linear(5->3) forward and gradients; relu,
                                leaky_relu(0.01), sigmoid, tanh and exact gelu
                                forward/backward on a vector with values near 0
                                and large +-; MSE, L1, BCE, BCEWithLogits value
                                and gradient (reduction='mean').
  testdata/ref/dense_mnist.bin  the dense-mnist model of shared/bench/MODELS.md
                                (784-512-256-64-256-512-784, ReLU, Sigmoid
                                out) from formula weights (see formula_param),
                                on a formula batch of 4: output summary, MSE
                                loss, per-parameter gradient norm, first 32
                                values and 32 sampled values (sample32), the
                                losses of 3 Adam steps (lr 1e-3, betas
                                0.9/0.999, eps 1e-8) and, after them, the sum,
                                sum of squares, first 32 and sampled 32 values
                                of every parameter tensor.
  testdata/ref/conv.bin         Conv2d, ConvTranspose2d, Upsample, MaxPool2d,
                                AvgPool2d and BatchNorm2d (train mode, plus
                                eval after the step) on batches of 2 with
                                formula inputs, weights and output gradients
                                (formula_param, nothing but the results is
                                stored): output, input grad, weight and bias
                                grads, running statistics; see CONV_CASES.
  testdata/ref/optim.bin        4 steps of each optimizer in OPTIMIZERS (SGD
                                plain, momentum + weight decay, Nesterov; Adam
                                plain and L2; AdamW) on 11 parameters with
                                gradients from 1e-3 to 10, and
                                clip_grad_norm_(max_norm=1).

Together they are about 33 kB. The seed is SEED below; the torch version
used is in each file's metadata.

All files use the BNFX format read by nn/nntest.ReadFixture (little-endian):

    "BNFX", uint32 version (1), uint32 n + n bytes of JSON metadata,
    uint32 count, then per tensor: uint16 n + name, uint8 ndim,
    ndim x uint32 dims, prod(dims) x float32 row-major.

The formulas for the dense-mnist weights and inputs use only integer
arithmetic and single IEEE float64 operations (divide, multiply, sqrt), so
Go computes the same float32 values bit for bit; see formulaParam and
formulaInput in optim/parity_test.go.
"""
import json
import os
import struct

import numpy as np
import torch

SEED = 20240601
HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"BNFX"
VERSION = 1


def write(path, tensors, meta):
    meta = dict(meta, torch=torch.__version__, seed=SEED,
                script="testdata/ref/make_fixtures.py")
    mb = json.dumps(meta, sort_keys=True).encode()
    out = [MAGIC, struct.pack("<II", VERSION, len(mb)), mb, struct.pack("<I", len(tensors))]
    for name, t in tensors:
        a = np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t, dtype="<f4")
        nb = name.encode()
        out.append(struct.pack("<H", len(nb)) + nb + struct.pack("<B", a.ndim))
        out.append(struct.pack("<%dI" % a.ndim, *a.shape))
        out.append(np.ascontiguousarray(a).tobytes())
    with open(path, "wb") as f:
        f.write(b"".join(out))
    print("wrote %s (%d bytes, %d tensors)" % (path, os.path.getsize(path), len(tensors)))


def layers():
    torch.manual_seed(SEED)
    ts = []
    # Linear 5 -> 3 on a batch of 4.
    lin = torch.nn.Linear(5, 3)
    x = torch.randn(4, 5, requires_grad=True)
    dy = torch.randn(4, 3)
    y = lin(x)
    y.backward(dy)
    ts += [("linear.weight", lin.weight), ("linear.bias", lin.bias), ("linear.x", x),
           ("linear.dy", dy), ("linear.y", y), ("linear.dweight", lin.weight.grad),
           ("linear.dbias", lin.bias.grad), ("linear.dx", x.grad)]

    # Activations on values near 0 and large +-.
    special = [-100, -30, -20, -10, -5, -3, -1, -0.5, -1e-2, -1e-3, -1e-6, 0,
               1e-6, 1e-3, 1e-2, 0.5, 1, 3, 5, 10, 20, 30, 100]
    xa = torch.cat([torch.tensor(special, dtype=torch.float32), torch.randn(9) * 3])
    dya = torch.randn(xa.numel())
    ts += [("act.x", xa), ("act.dy", dya)]
    acts = {
        "relu": torch.relu,
        "leakyrelu": lambda v: torch.nn.functional.leaky_relu(v, 0.01),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": lambda v: torch.nn.functional.gelu(v),  # approximate='none'
    }
    for name, f in acts.items():
        xv = xa.clone().requires_grad_(True)
        yv = f(xv)
        yv.backward(dya)
        ts += [("act.%s.y" % name, yv), ("act.%s.dx" % name, xv.grad)]

    # Losses, reduction='mean', on a 3x4 batch.
    F = torch.nn.functional
    pred = torch.randn(3, 4)
    target = torch.randn(3, 4)
    prob = torch.rand(3, 4) * 0.9 + 0.05
    label = (torch.rand(3, 4) > 0.5).float()
    label[0] = torch.rand(4)  # soft labels in the first row
    logits = torch.randn(3, 4) * 3
    logits[2] = torch.tensor([-40.0, -12.0, 12.0, 40.0])
    ts += [("loss.pred", pred), ("loss.target", target), ("loss.prob", prob),
           ("loss.label", label), ("loss.logits", logits)]
    for name, f, p, t in [("mse", F.mse_loss, pred, target), ("l1", F.l1_loss, pred, target),
                          ("bce", F.binary_cross_entropy, prob, label),
                          ("bce-logits", F.binary_cross_entropy_with_logits, logits, label)]:
        pv = p.clone().requires_grad_(True)
        loss = f(pv, t)
        loss.backward()
        ts += [("loss.%s.value" % name, loss.reshape(1)), ("loss.%s.grad" % name, pv.grad)]
    write(os.path.join(HERE, "layers.bin"), ts, {"what": "per-layer forward/backward"})


DENSE_MNIST = [784, 512, 256, 64, 256, 512, 784]
ACTS = ["relu", "relu", None, "relu", "relu", "sigmoid"]


def formula_param(p, shape, fan_in):
    """Parameter tensor number p (0 = first weight, 1 = first bias, ...):
    v[i] = ((i*7919 + p*104729) % 2001 - 1000) / 1000 * (1/sqrt(fan_in)),
    in float64, rounded once to float32."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    k = (i * 7919 + p * 104729) % 2001 - 1000
    v = k.astype(np.float64) / 1000.0 * (1.0 / np.sqrt(np.float64(fan_in)))
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def formula_input(n):
    """x[j] = ((j*7927) % 1009) / 1008 in float64, rounded to float32: [0, 1]."""
    j = np.arange(n, dtype=np.int64)
    return torch.from_numpy((((j * 7927) % 1009).astype(np.float64) / 1008.0).astype(np.float32))


def sample32(t):
    """32 values spread over a tensor, rows and columns: flat indices
    (i*104729 + 17) % n for i < 32 (104729 is prime, so they are distinct)."""
    n = t.numel()
    idx = (torch.arange(32, dtype=torch.int64) * 104729 + 17) % n
    return t.detach().reshape(-1)[idx]


def dense_mnist():
    mods = []
    for k in range(6):
        mods.append(torch.nn.Linear(DENSE_MNIST[k], DENSE_MNIST[k + 1]))
        if ACTS[k] == "relu":
            mods.append(torch.nn.ReLU())
        elif ACTS[k] == "sigmoid":
            mods.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*mods)
    named = list(model.named_parameters())
    with torch.no_grad():
        for p, (name, t) in enumerate(named):
            layer = p // 2
            t.copy_(formula_param(p, tuple(t.shape), DENSE_MNIST[layer]))
    x = formula_input(4 * 784).reshape(4, 784)
    ts = [("x.first64", x.reshape(-1)[:64])]

    out = model(x)
    loss = torch.nn.functional.mse_loss(out, x)
    loss.backward()
    o64 = out.detach().double()
    ts += [("out.first64", out.reshape(-1)[:64]), ("out.sum", o64.sum().reshape(1)),
           ("out.sumsq", (o64 * o64).sum().reshape(1)), ("loss", loss.reshape(1))]
    for name, t in named:
        g = t.grad.detach().double()
        ts += [("grad.%s.norm" % name, g.norm().reshape(1)),
               ("grad.%s.first32" % name, t.grad.reshape(-1)[:32]),
               ("grad.%s.sample32" % name, sample32(t.grad))]

    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(x), x).item()
    ts += [("adam.losses", torch.tensor(losses)), ("adam.loss_after", torch.tensor([after]))]
    for name, t in named:
        w = t.detach().double()
        ts += [("adam.%s.sum" % name, w.sum().reshape(1)),
               ("adam.%s.sumsq" % name, (w * w).sum().reshape(1)),
               ("adam.%s.first32" % name, t.detach().reshape(-1)[:32]),
               ("adam.%s.sample32" % name, sample32(t))]
    write(os.path.join(HERE, "dense_mnist.bin"), ts,
          {"what": "dense-mnist formula weights, batch 4, MSE, 3 Adam steps",
           "layers": DENSE_MNIST, "adam": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8}})


OPTIMIZERS = {
    # name: constructor; mirrored by optim/parity_test.go
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd-momentum-wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd-nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "adam-wd": lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2),
    "adamw-wd": lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5),
}


def optimizers():
    torch.manual_seed(SEED + 1)
    p0 = torch.randn(11)
    grads = torch.randn(4, 11) * torch.logspace(-3, 1, 11)  # magnitudes 1e-3..10
    grads[:, 0] = 0  # a parameter that never gets a gradient
    ts = [("p0", p0), ("grads", grads)]
    for name, make in OPTIMIZERS.items():
        p = p0.clone().requires_grad_(True)
        opt = make([p])
        for s in range(grads.shape[0]):
            p.grad = grads[s].clone()
            opt.step()
        ts.append(("%s.p" % name, p))
    g = torch.randn(11) * 3
    clipped = g.clone().requires_grad_(True)
    clipped.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_([clipped], max_norm=1.0)
    ts += [("clip.g", g), ("clip.norm", norm.reshape(1)), ("clip.g_clipped", clipped.grad)]
    write(os.path.join(HERE, "optim.bin"), ts,
          {"what": "4 steps of each optimizer in OPTIMIZERS on 11 parameters; clip_grad_norm_(max_norm=1)"})


# Conv-family cases for conv(): name -> (module constructor, input shape).
# Parameter tensor number p of case number c is formula_param(100*c + p,
# shape, fan_in) with PyTorch's fan_in; the input is formula_param(100*c+50,
# x shape, 1) and the output gradient formula_param(100*c+51, y shape, 1),
# all in [-1, 1]. Mirrored by nn/conv_parity_test.go.
CONV_CASES = [
    ("conv_s2", lambda: torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 5)),
    ("conv_d2", lambda: torch.nn.Conv2d(3, 4, 3, padding=2, dilation=2), (2, 3, 7, 5)),
    ("conv_k1", lambda: torch.nn.Conv2d(3, 4, 1), (2, 3, 7, 5)),
    ("convt", lambda: torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), (2, 4, 4, 3)),
    ("up_nearest", lambda: torch.nn.Upsample(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
    ("up_bilinear", lambda: torch.nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
    ("maxpool", lambda: torch.nn.MaxPool2d(2), (2, 3, 7, 5)),
    ("avgpool", lambda: torch.nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 5)),
    ("batchnorm", lambda: torch.nn.BatchNorm2d(3), (2, 3, 7, 5)),
]


def conv():
    ts = []
    for c, (name, make, xshape) in enumerate(CONV_CASES):
        m = make()
        with torch.no_grad():
            for p, (pname, t) in enumerate(m.named_parameters()):
                if isinstance(m, torch.nn.BatchNorm2d):
                    fan_in = 1
                else:
                    fan_in = torch.nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
                t.copy_(formula_param(100 * c + p, tuple(t.shape), fan_in))
        x = formula_param(100 * c + 50, xshape, 1).requires_grad_(True)
        m.train()
        y = m(x)
        dy = formula_param(100 * c + 51, tuple(y.shape), 1)
        y.backward(dy)
        ts += [("%s.y" % name, y), ("%s.dx" % name, x.grad)]
        for pname, t in m.named_parameters():
            ts.append(("%s.d%s" % (name, pname), t.grad))
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            with torch.no_grad():
                ye = m(x)
            ts += [("%s.running_mean" % name, m.running_mean), ("%s.running_var" % name, m.running_var),
                   ("%s.y_eval" % name, ye)]
    write(os.path.join(HERE, "conv.bin"), ts,
          {"what": "conv-family layers from formula weights: see CONV_CASES",
           "cases": [(n, list(s)) for n, _, s in CONV_CASES]})


if __name__ == "__main__":
    torch.set_num_threads(1)
    layers()
    dense_mnist()
    optimizers()
    conv()
