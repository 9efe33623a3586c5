r"""BatchNorm over the nodes of a batch, for every batch a training loader can produce."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NodeBatchNorm(nn.BatchNorm1d):
    r"""BatchNorm1d over the nodes of a batch that also trains on a batch of one node.

    .. math::
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}\, \gamma + \beta

    With more than one node this is :class:`torch.nn.BatchNorm1d` exactly: in training
    mode :math:`\mu, \sigma^2` are the batch's statistics and update the running ones.
    A batch of one node has no variance, and ``nn.BatchNorm1d`` raises; it happens in
    ordinary training (a batch holding one one-node graph, or a dense level where every
    graph of the batch has one cluster). Such a batch is normalised with the running
    statistics, as in evaluation, and leaves them unchanged: a single sample would
    otherwise pull the mean towards itself and the variance towards 0. :math:`\gamma`
    and :math:`\beta` still train.

    Parameters
    ----------
    num_features : int
        Number of channels :math:`C`.
    eps : float
        :math:`\epsilon`, added to the variance.
    momentum : float, optional
        Weight of the batch statistics in the running ones (``None``: cumulative average).

    Notes
    -----
    Input: node features :math:`(N, C)`. Output: :math:`(N, C)`.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__(num_features, eps, momentum)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"node features must have shape (N, {self.num_features}), got {tuple(x.shape)}")
        if self.training and x.shape[0] <= 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class MaskedBatchNorm(nn.Module):
    r""":class:`NodeBatchNorm` over the real nodes of a padded batch only.

    Padded rows neither enter the statistics nor receive a value (they stay 0).
    Input: features :math:`(B, N, C)` and the node mask :math:`(B, N)`. Output:
    :math:`(B, N, C)`.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.norm = NodeBatchNorm(num_features)

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        return torch.zeros_like(h).index_put(torch.nonzero(mask, as_tuple=True), self.norm(h[mask]))


__all__ = ["MaskedBatchNorm", "NodeBatchNorm"]
