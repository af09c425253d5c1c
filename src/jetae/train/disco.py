"""Distance correlation (Szekely et al.), differentiable: DisCo mass decorrelation in training and the
sculpting metric in evaluation (the one implementation; numpy callers wrap their arrays in tensors)."""

from __future__ import annotations

import torch


def double_centred_distances(values: torch.Tensor) -> torch.Tensor:
    """``(n, n)`` matrix of ``|v_i - v_j|`` with row, column and grand means removed (1-d ``values``)."""
    distances = torch.abs(values[:, None] - values[None, :])
    return distances - distances.mean(dim=0, keepdim=True) - distances.mean(dim=1, keepdim=True) + distances.mean()


def distance_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared sample distance correlation dCor^2(x, y) in [0, 1] of two 1-d tensors of equal length.

    V-statistic (biased) estimator, as used by DisCo (Kasieczka & Shih, arXiv:2001.05310)
    and by ``dcor.distance_correlation_sqr``. Differentiable in ``x`` and ``y``; O(n^2)
    memory, so apply it per batch. Computed in the wider floating type of the two inputs,
    at least float32: float64 inputs give a float64 result, integer and half-precision
    inputs are computed in float32 (a bf16 DisCo term would be mostly rounding).
    """
    dtype = torch.float32
    for value in (x, y):
        if value.is_floating_point():
            dtype = torch.promote_types(dtype, value.dtype)
    x = x.reshape(-1).to(dtype)
    y = y.reshape(-1).to(dtype)
    a = double_centred_distances(x)
    b = double_centred_distances(y)
    dcov_xy = (a * b).mean()
    dcov_xx = (a * a).mean()
    dcov_yy = (b * b).mean()
    # Clamp before the sqrt: sqrt(0) has an infinite derivative (constant inputs give NaN grads).
    return dcov_xy / torch.sqrt((dcov_xx * dcov_yy).clamp_min(1e-24))
