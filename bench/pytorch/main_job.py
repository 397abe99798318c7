#!/usr/bin/env python3
"""The main job (scripts/main-job.sh) in PyTorch CPU: DARTS 1st order on examples/fashion-cells.ts, then the retrain.

Same space (stem conv 3x3 1->8 + BN + ReLU; op1 at [8,28,28]; conv 1x1 8->16 + BN + max-pool 2; op2 at [16,14,14];
max-pool 2; op3 at [16,7,7]; flatten, linear 64, ReLU, linear 10; each opN a softmax-weighted sum of the seven
candidates conv3x3, conv5x5, sep3x3, dil3x3 (each ReLU-conv-BN, BN affine), maxpool3x3, avgpool3x3, skip), same
work: 3 epochs over 2,500 training images (weights: SGD lr 0.1, momentum 0.9, weight decay 3e-4, clip 5) with an
architecture step on one of 2,500 validation images' batches before each weight step (Adam 3e-4, betas (0.5, 0.999),
weight decay 1e-3), batch 32; then the argmax architecture retrained from scratch for 2 epochs on 10,000 images
(Adam 3e-3, batch 32) and tested on the 10,000 test images. Pixels x/255 normalised with mean 0.286, std 0.353.

Usage: main_job.py [--threads 1] [--data /usr/share/datasets/fashion-mnist]
Prints one JSON object: search and retrain seconds, derived architecture, test accuracy, peak RSS.
A timing baseline for `npm run bench` (bench/pytorch.ts); needs Debian's python3-torch; not part of CI.
"""
import argparse
import gzip
import json
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NAMES = ['conv3x3', 'conv5x5', 'sep3x3', 'dil3x3', 'maxpool3x3', 'avgpool3x3', 'skip']


def idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def rcb(c, k, p, d=1, g=1):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=p, dilation=d, groups=g, bias=False), nn.BatchNorm2d(c))


def candidates(c):
    return nn.ModuleList([
        rcb(c, 3, 1), rcb(c, 5, 2), nn.Sequential(rcb(c, 3, 1, 1, c), rcb(c, 1, 0)), rcb(c, 3, 2, 2),
        nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1), nn.Identity(),
    ])


class Net(nn.Module):
    """The supernet (arch=None: every candidate, softmax-weighted) or one architecture (arch: indices per layer)."""

    def __init__(self, arch=None):
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.ops = nn.ModuleList([candidates(8), candidates(16), candidates(16)])
        self.down1 = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))
        self.alpha = nn.Parameter(1e-3 * torch.randn(3, len(NAMES))) if arch is None else None

    def layer(self, i, x):
        if self.arch is not None:
            return self.ops[i][self.arch[i]](x)
        w = F.softmax(self.alpha[i], dim=-1)
        return sum(w[k] * op(x) for k, op in enumerate(self.ops[i]))

    def forward(self, x):
        h = self.layer(0, self.stem(x))
        h = self.layer(1, self.down1(h))
        h = self.layer(2, F.max_pool2d(h, 2))
        return self.head(h)

    def weights(self):
        return [p for n, p in self.named_parameters() if n != 'alpha']


def accuracy(net, x, y, batch=256):
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    net.train()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    norm = lambda im: torch.from_numpy(((im.astype(np.float32) / 255 - 0.286) / 0.353)[:, None])
    xtr, ytr = idx(f'{a.data}/train-images-idx3-ubyte.gz'), idx(f'{a.data}/train-labels-idx1-ubyte.gz')
    xte, yte = norm(idx(f'{a.data}/t10k-images-idx3-ubyte.gz')), torch.from_numpy(idx(f'{a.data}/t10k-labels-idx1-ubyte.gz').astype(np.int64))
    perm = rng.permutation(len(xtr))
    take = lambda ix: (norm(xtr[ix]), torch.from_numpy(ytr[ix].astype(np.int64)))
    (xt, yt), (xv, yv), (xr, yr) = take(perm[:2500]), take(perm[2500:5000]), take(perm[:10000])

    t0 = time.perf_counter()
    net = Net()
    w_opt = torch.optim.SGD(net.weights(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([net.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    steps = 0
    for _ in range(3):
        pt, pv = torch.randperm(2500), torch.randperm(2500)
        for i in range(0, 2500 - 31, 32):
            bv = pv[i:i + 32]
            a_opt.zero_grad()
            F.cross_entropy(net(xv[bv]), yv[bv]).backward()
            a_opt.step()
            bt = pt[i:i + 32]
            w_opt.zero_grad()
            F.cross_entropy(net(xt[bt]), yt[bt]).backward()
            nn.utils.clip_grad_norm_(net.weights(), 5.0)
            w_opt.step()
            steps += 1
        accuracy(net, xv, yv)  # the per-epoch validation of the supernet, as ours reports
    arch = [int(i) for i in net.alpha.argmax(1)]
    search_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    fixed = Net(arch)
    opt = torch.optim.Adam(fixed.parameters(), lr=3e-3)
    for _ in range(2):
        p = torch.randperm(10000)
        for i in range(0, 10000, 32):
            b = p[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(fixed(xr[b]), yr[b]).backward()
            opt.step()
    test = accuracy(fixed, xte, yte)
    retrain_s = time.perf_counter() - t1
    print(json.dumps({
        'torch': torch.__version__, 'threads': a.threads, 'searchSteps': steps, 'searchS': search_s, 'retrainS': retrain_s,
        'totalS': search_s + retrain_s, 'arch': {f'op{i + 1}': NAMES[k] for i, k in enumerate(arch)}, 'testAccuracy': test,
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
