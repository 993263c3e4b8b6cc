"""Make the PyTorch fixtures of package onnx's import tests.

    /usr/bin/python3 onnx/testdata/make_torch_fixtures.py    # from the repository root

Needs Debian's python3-torch (1.13) and python3-onnx (1.12). Writes, for
each of three small autoencoders (seed 0, PyTorch's default init, BatchNorm
running statistics drawn at random so that they matter):

    torch_NAME.onnx         torch.onnx.export of the whole autoencoder (opset 17),
                            input "x", output "y" (the reconstruction only, as a
                            user would export it)
    torch_NAME_x.npy        fixed inputs (seed 1)
    torch_NAME_recon.npy    PyTorch's reconstruction of them
    torch_NAME_code.npy     PyTorch's encoder output (the code) for them

dense: 20 → 16 → 4 → 16 → 20 with ReLU, Tanh and LeakyReLU, dropout, sigmoid output.
conv:  1×16×16 → two stride-2 convolutions (BatchNorm, ReLU), max pooling, a dense
       code of 10, dense → view → nearest upsampling, a transposed convolution,
       bilinear upsampling, a convolution and a sigmoid.
fconv: fully convolutional, any image size (dynamic height and width): convolution,
       LeakyReLU, average pooling, convolution, Tanh, nearest upsampling, convolution.

Every model passes onnx.checker.check_model(full_check=True) before it is written.
"""
import os
import numpy as np
import onnx
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class View(nn.Module):
    """nn.Unflatten has no ONNX export in torch 1.13; a view does the same."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


class AE(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


def models():
    dense = AE(
        nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 4)),
        nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.01), nn.Linear(16, 20), nn.Sigmoid()),
    )
    conv = AE(
        nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10),
        ),
        nn.Sequential(
            nn.Linear(10, 64), nn.ReLU(), View(16, 2, 2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid(),
        ),
    )
    fconv = AE(
        nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(0.01), nn.AvgPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
        ),
        nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 1, 3, padding=1)),
    )
    return {
        "dense": (dense, (6, 20), False),
        "conv": (conv, (5, 1, 16, 16), False),
        "fconv": (fconv, (3, 1, 12, 20), True),
    }


def main():
    torch.manual_seed(0)
    built = models()
    gen = torch.Generator().manual_seed(1)
    for name, (model, shape, dynamic) in built.items():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2, generator=gen)
                m.weight.data.uniform_(0.5, 1.5, generator=gen)
                m.bias.data.uniform_(-0.2, 0.2, generator=gen)
        model.eval()
        x = torch.rand(*shape, generator=gen)
        with torch.no_grad():
            recon = model(x)
            code = model.encoder(x)
        path = os.path.join(HERE, "torch_%s.onnx" % name)
        axes = {"x": {0: "N"}, "y": {0: "N"}}
        if dynamic:
            axes = {"x": {0: "N", 2: "H", 3: "W"}, "y": {0: "N", 2: "H", 3: "W"}}
        torch.onnx.export(model, x, path, opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes=axes)
        onnx.checker.check_model(onnx.load(path), full_check=True)
        for suffix, t in (("x", x), ("recon", recon), ("code", code)):
            np.save(os.path.join(HERE, "torch_%s_%s.npy" % (name, suffix)), t.numpy().astype(np.float32))
        ops = [n.op_type for n in onnx.load(path).graph.node]
        print(path, os.path.getsize(path), "bytes:", " ".join(ops))


if __name__ == "__main__":
    main()
