"""1-D convolutional residual encoder and decoder (T2M-GPT style) for motion sequences.

Tensors are channels-last at the module boundary: (B, T, C). The encoder downsamples time by
2**`down` with strided convolutions; the decoder upsamples by nearest-neighbour repetition followed by
a convolution, so any length that is a multiple of 2**`down` maps back to itself.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """Pre-activation dilated residual block: x + conv1(relu(conv3_dilated(relu(x))))."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv1d(width, width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def res_stack(width: int, depth: int, growth: int = 3, reverse: bool = False) -> nn.Sequential:
    """`depth` residual blocks with dilations 1, growth, growth**2, ... (reversed in decoders)."""
    dilations = [growth**i for i in range(depth)]
    return nn.Sequential(*(ResBlock(width, d) for d in (reversed(dilations) if reverse else dilations)))


class Encoder(nn.Module):
    """(B, T, in_dim) -> (B, T / 2**down, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, down: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(in_dim, width, 3, padding=1), nn.ReLU()]
        for _ in range(down):
            layers += [nn.Conv1d(width, width, 4, stride=2, padding=1), res_stack(width, depth)]
        layers += [nn.Conv1d(width, out_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class Decoder(nn.Module):
    """(B, N, in_dim) -> (B, N * 2**down, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, down: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(in_dim, width, 3, padding=1), nn.ReLU()]
        for _ in range(down):
            layers += [res_stack(width, depth, reverse=True), nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv1d(width, width, 3, padding=1)]
        layers += [nn.Conv1d(width, width, 3, padding=1), nn.ReLU(), nn.Conv1d(width, out_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.transpose(1, 2)).transpose(1, 2)
