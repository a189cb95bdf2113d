#!/usr/bin/python3
"""Parity fixtures for the C++ networks: RepUX-Net and 3D UX-Net re-stated in PyTorch from
the published architecture (the RepUX-Net paper and its official code; not from the C++ code), in reduced configurations, with random weights
(BatchNorm running statistics randomised too), a random input and the resulting logits.
Writes tests/data/networks/{repuxnet,uxnet}_{state.pth,input.npy,logits.npy}.
Run with Debian's python3-torch: /usr/bin/python3 tools/make_network_fixtures.py"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "networks")
os.makedirs(OUT, exist_ok=True)


class LayerNormCF(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class RepBlock(nn.Module):  # deploy form: the conv holds effective weights
    def __init__(self, c, k):
        super().__init__()
        self.dwconv = nn.Conv3d(c, c, k, padding=k // 2, groups=c)
        self.norm = nn.BatchNorm3d(c)

    def forward(self, x):
        return F.gelu(self.norm(self.dwconv(x)))


class UxBlock(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.dwconv = nn.Conv3d(c, c, k, padding=k // 2, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pwconv1 = nn.Conv3d(c, 4 * c, 1, groups=c)
        self.pwconv2 = nn.Conv3d(4 * c, c, 1, groups=c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x):
        y = self.dwconv(x)
        y = self.norm(y.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        y = self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + self.gamma[:, None, None, None] * y


class Encoder(nn.Module):
    def __init__(self, block, cin, dims, depths, k):
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv3d(cin, dims[0], 7, stride=2, padding=3), LayerNormCF(dims[0]))])
        for i in range(1, 4):
            self.downsample_layers.append(nn.Sequential(LayerNormCF(dims[i - 1]), nn.Conv3d(dims[i - 1], dims[i], 2, stride=2)))
        self.stages = nn.ModuleList([nn.Sequential(*[block(dims[i], k) for _ in range(depths[i])]) for i in range(4)])
        for i in range(4):
            self.add_module(f"norm{i}", LayerNormCF(dims[i]))

    def forward(self, x):
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            outs.append(getattr(self, f"norm{i}")(x))
        return outs


class Conv(nn.Module):  # MONAI's Convolution wrapper: the layer sits under `.conv`
    def __init__(self, cin, cout, k, bias=False, transposed=False):
        super().__init__()
        self.conv = (nn.ConvTranspose3d(cin, cout, k, stride=k, bias=bias) if transposed
                     else nn.Conv3d(cin, cout, k, padding=k // 2, bias=bias))

    def forward(self, x):
        return self.conv(x)


class ResBlock(nn.Module):  # MONAI UnetResBlock
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1, self.conv2 = Conv(cin, cout, 3), Conv(cout, cout, 3)
        self.conv3 = Conv(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        inorm = lambda t: F.instance_norm(t, eps=1e-5)
        h = inorm(self.conv2(F.leaky_relu(inorm(self.conv1(x)), 0.01)))
        r = inorm(self.conv3(x)) if self.conv3 is not None else x
        return F.leaky_relu(h + r, 0.01)


class Basic(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.layer = ResBlock(cin, cout)

    def forward(self, x):
        return self.layer(x)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.transp_conv = Conv(cin, cout, 2, transposed=True)
        self.conv_block = ResBlock(2 * cout, cout)

    def forward(self, x, skip):
        return self.conv_block(torch.cat([self.transp_conv(x), skip], 1))


class Out(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.conv = Conv(cin, classes, 1, bias=True)

    def forward(self, x):
        return self.conv(x)


class Net(nn.Module):
    def __init__(self, prefix, block, cin, classes, dims, depths, k, hidden):
        super().__init__()
        self.prefix = prefix
        self.add_module(prefix, Encoder(block, cin, dims, depths, k))
        self.encoder1, self.encoder2 = Basic(cin, dims[0]), Basic(dims[0], dims[1])
        self.encoder3, self.encoder4 = Basic(dims[1], dims[2]), Basic(dims[2], dims[3])
        self.encoder5 = Basic(dims[3], hidden)
        self.decoder5, self.decoder4 = Up(hidden, dims[3]), Up(dims[3], dims[2])
        self.decoder3, self.decoder2 = Up(dims[2], dims[1]), Up(dims[1], dims[0])
        self.decoder1 = Basic(dims[0], dims[0])
        self.out = Out(dims[0], classes)

    def forward(self, x):
        o = getattr(self, self.prefix)(x)
        enc1, enc2, enc3, enc4 = self.encoder1(x), self.encoder2(o[0]), self.encoder3(o[1]), self.encoder4(o[2])
        d = self.decoder5(self.encoder5(o[3]), enc4)
        d = self.decoder2(self.decoder3(self.decoder4(d, enc3), enc2), enc1)
        return self.out(self.decoder1(d))


def make(name, prefix, block, dims, depths, k, hidden, wrap):
    torch.manual_seed(11)
    net = Net(prefix, block, 1, 3, dims, depths, k, hidden)
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith("gamma") or "norm" in n:  # make the tiny default gammas/affines matter
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if n.endswith("weight") or n.endswith("gamma") else 0.0))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.num_batches_tracked.fill_(7)
    net.eval()
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        y = net(x)
    state = net.state_dict()  # an OrderedDict, as the official checkpoints are
    torch.save({"state_dict": state, "epoch": 3} if wrap else state, os.path.join(OUT, f"{name}_state.pth"))
    np.save(os.path.join(OUT, f"{name}_input.npy"), x.numpy())
    np.save(os.path.join(OUT, f"{name}_logits.npy"), y.numpy())
    print(name, sum(p.numel() for p in net.parameters()), "parameters,", len(state), "keys")


make("repuxnet", "repuxnet_3d", RepBlock, [4, 8, 16, 32], [1, 1, 1, 1], 21, 32, wrap=False)
make("uxnet", "uxnet_3d", UxBlock, [8, 16, 32, 64], [2, 2, 2, 2], 7, 64, wrap=True)

# Full-size key lists and parameter counts, for the C++ tests of names and shapes.
for prefix, block, k in (("repuxnet_3d", RepBlock, 21), ("uxnet_3d", UxBlock, 7)):
    net = Net(prefix, block, 1, 14, [48, 96, 192, 384], [2, 2, 2, 2], k, 768)
    with open(os.path.join(OUT, f"{prefix}_full_keys.txt"), "w") as f:
        for key, t in net.state_dict().items():
            f.write(f"{key} {'x'.join(map(str, t.shape)) or 'scalar'}\n")
    print(prefix, "full size:", sum(p.numel() for p in net.parameters()))
