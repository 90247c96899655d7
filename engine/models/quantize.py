"""One interface over the two quantizers the tokenizer offers (vector-quantize-pytorch 1.32.0).

`vq`: EMA codebook (decay 0.99), k-means initialisation from the first batch, dead codes (EMA
cluster size < 2) re-seeded from the batch, commitment loss. `fsq`: finite scalar quantization, no
codebook to learn; the number of codes is the product of its levels.
Both map (B, N, dim) -> (quantized (B, N, dim), codes (B, N) long, aux loss scalar).
"""

from __future__ import annotations

import torch
from torch import nn
from vector_quantize_pytorch import FSQ, VectorQuantize

# FSQ level sets from Mentzer et al. (2023), keyed by their number of codes (the product of the levels).
FSQ_LEVELS = {240: (8, 6, 5), 512: (8, 8, 8), 1000: (8, 5, 5, 5), 1920: (8, 8, 6, 5), 4375: (7, 5, 5, 5, 5)}


class Quantizer(nn.Module):
    """`kind` "vq" or "fsq"; `size` codes of dimension `dim`."""

    def __init__(self, kind: str, dim: int, size: int, commitment: float = 0.02):
        super().__init__()
        self.kind, self.size = kind, size
        if kind == "vq":
            self.q = VectorQuantize(
                dim=dim, codebook_size=size, decay=0.99, kmeans_init=True, kmeans_iters=10,
                threshold_ema_dead_code=2, commitment_weight=commitment, rotation_trick=True,
                channel_last=True,
            )
        elif kind == "fsq":
            if size not in FSQ_LEVELS:
                raise ValueError(f"fsq codebook size must be one of {sorted(FSQ_LEVELS)}, got {size}")
            self.q = FSQ(levels=list(FSQ_LEVELS[size]), dim=dim)
        else:
            raise ValueError(f"quantizer must be 'vq' or 'fsq', got {kind!r}")

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, dim) -> (quantized (B, N, dim), codes (B, N), aux loss ())."""
        if self.kind == "vq":
            zq, codes, loss = self.q(z)
            return zq, codes.long(), loss.sum()
        zq, codes = self.q(z)
        return zq, codes.long(), z.new_zeros(())

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, N) codes -> (B, N, dim), exactly the quantized vectors `forward` returns."""
        if self.kind == "vq":
            return self.q.get_output_from_indices(codes)
        return self.q.indices_to_codes(codes)
