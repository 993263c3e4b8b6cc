# Writes ssim_fixture.json: two random-ish 24x20 images and their PSNR/SSIM
# computed with an independent NumPy/PyTorch implementation of Wang et al.'s
# ssim_index.m (11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, L 1,
# 'valid' filtering), plus a bicubic x2 upscale of a 5x4 image computed
# with MATLAB's imresize weights as implemented in torch
# (antialias=False, a = -0.5, half-pixel centres).
# Run: /usr/bin/python3 make_ssim_fixture.py  (not run by go test)
import json
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(7)
h, w = 24, 20
yy, xx = np.mgrid[0:h, 0:w]
a = (0.5 + 0.3 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.float64)
b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)

def gauss():
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    return torch.tensor(np.outer(g, g))[None, None]

def ssim(x, y):
    x = torch.tensor(x)[None, None]
    y = torch.tensor(y)[None, None]
    k = gauss()
    mu1, mu2 = F.conv2d(x, k), F.conv2d(y, k)
    s11 = F.conv2d(x * x, k) - mu1 ** 2
    s22 = F.conv2d(y * y, k) - mu2 ** 2
    s12 = F.conv2d(x * y, k) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return float(m.mean())

psnr = float(10 * np.log10(1 / np.mean((a - b) ** 2)))
small = rng.uniform(0, 1, (4, 5))
# torch bicubic uses a = -0.75; MATLAB a = -0.5: compute the x2 weights by hand.
def cubic(x):
    x = abs(x)
    if x <= 1: return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2: return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0
def up(v, s):
    n = len(v); out = []
    for o in range(n * s):
        u = (o + 0.5) / s - 0.5
        left = int(np.floor(u)) - 1
        acc = 0.0; ws = 0.0
        for t in range(4):
            j = left + t
            wt = cubic(u - j)
            k = min(max(j, -j - 1), 2 * n - 1 - j) if (j < 0 or j >= n) else j
            acc += wt * v[k]; ws += wt
        out.append(acc / ws)
    return np.array(out)
tmp = np.stack([up(r, 2) for r in small])
big = np.stack([up(c, 2) for c in tmp.T]).T
json.dump({"h": h, "w": w, "a": a.ravel().tolist(), "b": b.ravel().tolist(), "psnr": psnr,
           "ssim": ssim(a, b), "ssim_self": ssim(a, a),
           "small": small.ravel().tolist(), "small_h": 4, "small_w": 5, "up2": big.ravel().tolist()},
          open("ssim_fixture.json", "w"))
print(psnr, ssim(a, b))
