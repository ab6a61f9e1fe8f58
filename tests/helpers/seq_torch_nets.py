"""Small PyTorch modules with the sequence-model plumbing of a keyword transformer and a ViT, for the
end-to-end tests of rank-3/4 tensors (`tests/end_to_end/test_ops_sequence.py`): Linear on [N, T, F],
heads reshaped and transposed, K^T, a class token and a positional embedding, the class-token select,
nn.MultiheadAttention's packed QKV select (seq-first inside), a patch-embedding Conv2d read as a sequence,
and a Conv1d next to a Linear over time. Attention's two-activation MatMul, Softmax and LayerNorm are
left out (other parts of issue 14)."""

from __future__ import annotations

import torch
from torch import nn


class SequenceMlp(nn.Module):
    """Linear -> ReLU -> Linear on every time step: [N, T, 10] -> [N, T, 12]."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(10, 16), nn.Linear(16, 12)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class ClassToken(nn.Module):
    """KWT's front and head: embed, prepend a learned class token, add a positional embedding, read x[:, 0]."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(10, 16)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.pos = nn.Parameter(torch.randn(1, 13, 16))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.emb(x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(torch.relu(x)[:, 0])


class Heads(nn.Module):
    """A fused QKV projection split on the last axis, heads [N, H, T, d] and back: transposes that cancel."""

    def __init__(self):
        super().__init__()
        self.qkv, self.out = nn.Linear(10, 48), nn.Linear(16, 10)

    def forward(self, x):
        n, t, _ = x.shape
        q, _, v = self.qkv(x).split(16, dim=-1)
        q = q.reshape(n, t, 4, 4).transpose(1, 2)
        v = v.reshape(n, t, 4, 4).transpose(1, 2)
        return self.out((q + v).transpose(1, 2).reshape(n, t, 16))


class KeysTransposed(nn.Module):
    """K^T of rank 4, [N, H, T, d] -> [N, H, d, T], read by a Linear over T: a transpose that stays."""

    def __init__(self):
        super().__init__()
        self.k, self.out = nn.Linear(10, 16), nn.Linear(12, 5)

    def forward(self, x):
        n, t, _ = x.shape
        keys = self.k(x).reshape(n, t, 4, 4).transpose(1, 2)
        return self.out(torch.relu(keys.transpose(-2, -1)))


class PackedProjection(nn.Module):
    """nn.MultiheadAttention's packed in-projection: seq-first [T, N, F], the [3, T, N, E] select of q and v."""

    def __init__(self):
        super().__init__()
        self.proj, self.out = nn.Linear(10, 24), nn.Linear(8, 6)

    def forward(self, x):
        packed = self.proj(x.transpose(0, 1)).unflatten(-1, (3, 8)).unsqueeze(0).transpose(0, -2).squeeze(-2)
        q, v = packed[0], packed[2]
        return self.out((q * 0.5 + v).transpose(0, 1))


class PatchEmbedding(nn.Module):
    """The ViT's front: Conv2d 4x4/4 patches -> flatten(2) -> transpose(1, 2) -> + positions -> Linear."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.pos = nn.Parameter(torch.randn(1, 16, 16))
        self.out = nn.Linear(16, 8)

    def forward(self, x):
        return self.out(self.patch(x).flatten(2).transpose(1, 2) + self.pos)


class Conv1dThenLinear(nn.Module):
    """Rank 3 both ways: Conv1d reads [N, C, W] (channels-last inside), a Linear then reads [N, W, C]."""

    def __init__(self):
        super().__init__()
        self.conv, self.out = nn.Conv1d(10, 16, 3, padding=1), nn.Linear(16, 12)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x)).transpose(1, 2))


class LinearThenConv1d(nn.Module):
    """A sequence [N, T, F] embedded by a Linear, then transposed to [N, F, T] for a Conv1d over time."""

    def __init__(self):
        super().__init__()
        self.emb, self.conv = nn.Linear(10, 16), nn.Conv1d(16, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.emb(x)).transpose(1, 2))
