"""PyTorch losses netspec writes into generated PyTorch modules where torch.nn has none.

Copied into them when a loss takes probabilities (from_logits=false): each clips the
probabilities to [EPSILON, 1 - EPSILON] before the logarithm, as Keras does. The generated
module defines EPSILON itself (netspec.catalogue.losses.EPSILON).
"""

import torch
from torch import nn

EPSILON = 1e-7


def binary_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy of probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    losses = -(y_true * torch.log(y_pred) + (1.0 - y_true) * torch.log(1.0 - y_pred))
    return losses.mean() if reduction == "mean" else losses


def categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of one-hot targets and probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    losses = -(y_true * torch.log(y_pred)).sum(dim=-1)
    return losses.mean() if reduction == "mean" else losses


def sparse_categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of class indices and probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    y_pred = y_pred / y_pred.sum(dim=-1, keepdim=True)
    y_pred = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return nn.functional.nll_loss(torch.log(y_pred), y_true, reduction=reduction)
