#!/usr/bin/env python3
"""The DARTS 1st-order search step in PyTorch (CPU), the baseline of `npm run bench -- --only oneshot`.

The same network as examples/darts.ts builds (bench/darts-net.ts walks it the same way): stem conv 3x3 + BN
(affine), cells over the two previous outputs (ReLU-conv1x1-BN preprocessing, FactorizedReduce after a
reduction cell), per node one mixed edge per predecessor (softmax over the 8 DARTS ops, "none" included, as our
`extraZero`) and a softmax over the node's predecessors (our input choice `..._switch`), cell output = the nodes
concatenated, global average pool + linear. BatchNorms in cells have no affine parameters. Like darts-net.ts, the
ReLU that starts every sep/dil conv and FactorizedReduce of an edge is computed once per cell state.

One step is what our DARTS driver does: the architecture step (Adam lr 3e-4, betas (0.5, 0.999), weight decay
1e-3 on the alphas) on a valid batch, then the weight step (SGD lr 0.025, momentum 0.9, weight decay 3e-4,
gradient norm clipped at 5) on a train batch; BatchNorm in training mode throughout.

Usage: darts_step.py --cells 5 --channels 8 --batch 32 --threads 1 --steps 3
Prints one JSON object: parameter count, first-step and timed step seconds, median, peak RSS.
Needs Debian's python3-torch (1.13); not part of CI.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ['max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5', 'none']


def bn(c):
    return nn.BatchNorm2d(c, affine=False)


class FactorizedReduce(nn.Module):
    """Takes x already rectified: two stride-2 1x1 convs on x and x[:, :, 1:, 1:], concatenated, BN."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out)

    def forward(self, h):
        return self.bn(torch.cat([self.conv1(h), self.conv2(h[:, :, 1:, 1:])], dim=1))


class DilConv(nn.Module):
    """Takes x already rectified: depthwise (dilated) conv, pointwise conv, BN."""

    def __init__(self, c, k, stride, pad, dil):
        super().__init__()
        self.dw = nn.Conv2d(c, c, k, stride=stride, padding=pad, dilation=dil, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = bn(c)

    def forward(self, h):
        return self.bn(self.pw(self.dw(h)))


class SepConv(nn.Module):
    def __init__(self, c, k, stride, pad):
        super().__init__()
        self.a = DilConv(c, k, stride, pad, 1)
        self.b = DilConv(c, k, 1, pad, 1)

    def forward(self, h):
        return self.b(F.relu(self.a(h)))


class PoolBN(nn.Module):
    def __init__(self, kind, c, stride):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride, 1) if kind == 'max' else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        self.bn = bn(c)

    def forward(self, x):
        return self.bn(self.pool(x))


class MixedEdge(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.stride = stride
        self.ops = nn.ModuleDict({
            'max_pool_3x3': PoolBN('max', c, stride),
            'avg_pool_3x3': PoolBN('avg', c, stride),
            'sep_conv_3x3': SepConv(c, 3, stride, 1),
            'sep_conv_5x5': SepConv(c, 5, stride, 2),
            'dil_conv_3x3': DilConv(c, 3, stride, 2, 2),
            'dil_conv_5x5': DilConv(c, 5, stride, 4, 2),
        })
        if stride != 1:
            self.ops['skip_connect'] = FactorizedReduce(c, c)

    def forward(self, x, h, w):
        """x: the edge's input, h: its ReLU; w: softmax weights over OPS ("none" adds w * 0: left out)."""
        out = 0
        for i, op in enumerate(OPS):
            if op == 'none':
                continue
            if op == 'skip_connect' and self.stride == 1:
                y = x
            elif op in ('max_pool_3x3', 'avg_pool_3x3'):
                y = self.ops[op](x)
            else:
                y = self.ops[op](h)
            out = out + w[i] * y
        return out


class StdConv(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = bn(c_out)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class Cell(nn.Module):
    def __init__(self, nodes, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.nodes = nodes
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else StdConv(c_pp, c)
        self.reduction_prev = reduction_prev
        self.pre1 = StdConv(c_p, c)
        self.edges = nn.ModuleList()
        for d in range(2, nodes + 2):
            self.edges.append(nn.ModuleList([MixedEdge(c, 2 if reduction and j < 2 else 1) for j in range(d)]))

    def forward(self, s0, s1, alphas, betas):
        states = [self.pre0(F.relu(s0)) if self.reduction_prev else self.pre0(s0), self.pre1(s1)]
        relus = {}
        for n, d in enumerate(range(2, self.nodes + 2)):
            edges = []
            for j in range(d):
                if j not in relus:
                    relus[j] = F.relu(states[j])
                edges.append(self.edges[n][j](states[j], relus[j], F.softmax(alphas[n][j], dim=-1)))
            wb = F.softmax(betas[n], dim=-1)
            states.append(sum(wb[j] * e for j, e in enumerate(edges)))
        return torch.cat(states[2:], dim=1)


class Network(nn.Module):
    def __init__(self, cells, nodes, c, classes=10, stem_mult=3, c_in=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(c_in, stem_mult * c, 3, padding=1, bias=False), nn.BatchNorm2d(stem_mult * c))
        reductions = sorted({cells // 3, (2 * cells) // 3})
        self.cells = nn.ModuleList()
        c_pp, c_p, cur, rprev = stem_mult * c, stem_mult * c, c, False
        self.kinds = []
        for i in range(cells):
            red = i in reductions
            if red:
                cur *= 2
            self.cells.append(Cell(nodes, c_pp, c_p, cur, red, rprev))
            self.kinds.append('reduce' if red else 'normal')
            c_pp, c_p, rprev = c_p, nodes * cur, red
        self.classifier = nn.Linear(c_p, classes)
        # Architecture parameters, one set per cell type (shared by every cell of that type, as the keys are).
        self.alpha = nn.ParameterDict()
        self.beta = nn.ParameterDict()
        for kind in ('normal', 'reduce'):
            for n, d in enumerate(range(2, nodes + 2)):
                for j in range(d):
                    self.alpha[f'{kind}_n{d}_p{j}'] = nn.Parameter(1e-3 * torch.randn(len(OPS)))
                self.beta[f'{kind}_n{d}_switch'] = nn.Parameter(1e-3 * torch.randn(d))
        self.nodes = nodes

    def arch_parameters(self):
        return list(self.alpha.values()) + list(self.beta.values())

    def weight_parameters(self):
        ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell, kind in zip(self.cells, self.kinds):
            alphas = [[self.alpha[f'{kind}_n{d}_p{j}'] for j in range(d)] for d in range(2, self.nodes + 2)]
            betas = [self.beta[f'{kind}_n{d}_switch'] for d in range(2, self.nodes + 2)]
            s0, s1 = s1, cell(s0, s1, alphas, betas)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cells', type=int, default=5)
    ap.add_argument('--nodes', type=int, default=4)
    ap.add_argument('--channels', type=int, default=8)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=3, help='timed steps after one warm-up step')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Network(a.cells, a.nodes, a.channels)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(a.batch, 1, 28, 28, generator=g), torch.randint(0, 10, (a.batch,), generator=g)) for _ in range(2)]
    net.train()

    def step():
        (xv, yv), (xt, yt) = batches
        a_opt.zero_grad()
        F.cross_entropy(net(xv), yv).backward()
        a_opt.step()
        w_opt.zero_grad()
        loss = F.cross_entropy(net(xt), yt)
        loss.backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        w_opt.step()
        return float(loss)

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    s = sorted(times)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 == 1 else (s[mid - 1] + s[mid]) / 2
    print(json.dumps({
        'torch': torch.__version__,
        'threads': a.threads,
        'params': sum(p.numel() for p in net.weight_parameters()),
        'firstS': first,
        'stepsS': times,
        'medianS': median,
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
