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
