"""Small hand-written PyTorch nets of the kinds people put on microcontrollers (issue 13's "Must show"):
a U-Net, a conv autoencoder, a Conv1d keyword-spotting net, a net of common activations and a net that
normalizes its own input. Needs torch; `torch_export` imports this module only when it builds one."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class UNet(nn.Module):
    """Two levels down, two up: nearest upsampling on one, bilinear on the other, Concat skips."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.enc1, self.enc2 = conv_bn_relu(3, 8), conv_bn_relu(8, 16, stride=2)
        self.bottom = conv_bn_relu(16, 16, stride=2)
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec2, self.dec1 = conv_bn_relu(32, 8), conv_bn_relu(16, 8)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d2 = self.dec2(torch.cat([self.up_nearest(self.bottom(e2)), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up_bilinear(d2), e1], dim=1))
        return self.head(d1)


class ConvAutoencoder(nn.Module):
    """Strided convolutions down, ConvTranspose (stride 2, padding 1, output_padding 1) back up."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), nn.ReLU(),
                                     nn.ConvTranspose2d(8, 1, 3, 2, 1, output_padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class KwsConv1d(nn.Module):
    """Keyword spotting on 10 MFCC coefficients x 49 frames, convolved over time (Conv1d)."""

    def __init__(self, keywords: int = 12):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(10, 16, 3, padding=1, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 24, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2),
            nn.Conv1d(24, 24, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
        self.classifier = nn.Linear(24, keywords)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Activations(nn.Module):
    """One convolution before each of PReLU (per-channel slopes), HardSwish, HardSigmoid, ELU, GELU, SiLU."""

    def __init__(self, classes: int = 5):
        super().__init__()
        acts = [nn.PReLU(8), nn.Hardswish(), nn.Hardsigmoid(), nn.ELU(), nn.GELU(), nn.SiLU()]
        self.body = nn.Sequential(*[nn.Sequential(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), act)
                                    for i, act in enumerate(acts)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.body(x)), 1))


class InputNormalization(nn.Module):
    """`(x - mean) / std` on the raw [0, 1] image inside the graph, as many exported classifiers do."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))
        self.features = nn.Sequential(conv_bn_relu(3, 8, stride=2), conv_bn_relu(8, 16, stride=2),
                                      nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features((x - self.mean) / self.std), 1))


# Sequence models (issue 14): keyword spotting on 49 frames x 10 MFCC coefficients, batch first, as
# users write them, and a tiny vision transformer on 32x32 images.


class GruKws(nn.Module):
    """One GRU layer over the 49 frames; the classifier reads the last step's output."""

    def __init__(self, keywords: int = 12, hidden: int = 32):
        super().__init__()
        self.rnn = nn.GRU(10, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, keywords)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class LstmKws(nn.Module):
    """One LSTM layer over the 49 frames; the classifier reads the last hidden state h[-1]."""

    def __init__(self, keywords: int = 12, hidden: int = 32):
        super().__init__()
        self.rnn = nn.LSTM(10, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, keywords)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.fc(h[-1])


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block written out by hand: one fused QKV projection split three
    ways, multi-head attention with MatMul + Softmax, and a GELU MLP."""

    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in self.qkv(self.ln1(x)).split(d, dim=-1))
        attention = ((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5).softmax(-1)
        x = x + self.proj((attention @ v).transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.ln2(x))


class KeywordTransformer(nn.Module):
    """A 2-layer keyword transformer (KWT): each MFCC frame embedded by a Linear, a class token, a learned
    positional embedding, 4 heads; the classifier reads the class token."""

    def __init__(self, keywords: int = 12, dim: int = 32, frames: int = 49):
        super().__init__()
        self.embed = nn.Linear(10, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, frames + 1, dim) * 0.5)
        self.blocks = nn.Sequential(EncoderBlock(dim), EncoderBlock(dim))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, keywords)

    def forward(self, x):
        x = self.embed(x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


class TinyViT(nn.Module):
    """A 2-layer vision transformer on 32x32 images with 4x4 patches (64 tokens and a class token), using
    torch's own nn.MultiheadAttention (4 heads)."""

    def __init__(self, classes: int = 10, dim: int = 32):
        super().__init__()
        self.patches = nn.Conv2d(3, dim, 4, 4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 65, dim) * 0.5)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "ln1": nn.LayerNorm(dim), "attention": nn.MultiheadAttention(dim, 4, batch_first=True),
            "ln2": nn.LayerNorm(dim), "mlp": nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)),
        }) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patches(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            h = layer["ln1"](x)
            x = x + layer["attention"](h, h, h, need_weights=False)[0]
            x = x + layer["mlp"](layer["ln2"](x))
        return self.head(self.norm(x)[:, 0])
