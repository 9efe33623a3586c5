"""Input encoders: raw node / edge features to the first layer's input."""
from __future__ import annotations

from typing import Optional

import dgl
from torch import Tensor, nn

from ..nn.norm import NodeBatchNorm
from .output import ClassifierOutput


def _ogb_encoder(kind: str, dim: int) -> nn.Module:
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

    return AtomEncoder(dim) if kind == "atom" else BondEncoder(dim)


class EncodedClassifier(nn.Module):
    """A graph classifier behind OGB's ``AtomEncoder`` (and ``BondEncoder``).

    Molecule datasets store atoms and bonds as integer columns; each column has its
    own embedding table and the embeddings are summed (Hu et al., OGB, 2020). The
    node embedding of size ``dim`` is the classifier's input; the bond embedding,
    of the same size, reaches its ``gine`` layers as ``edge_feat``.

    Parameters
    ----------
    classifier : nn.Module
        A classifier built for ``in_feats=dim``.
    dim : int
        Embedding size.
    edge_encoder : bool
        Embed bonds too (for a classifier with ``conv="gine"``).
    """

    def __init__(self, classifier: nn.Module, dim: int, edge_encoder: bool) -> None:
        super().__init__()
        self.atom_encoder = _ogb_encoder("atom", dim)
        self.bond_encoder = _ogb_encoder("bond", dim) if edge_encoder else None
        self.classifier = classifier

    def reset_parameters(self) -> None:
        for encoder in (self.atom_encoder, self.bond_encoder):
            for emb in encoder.modules() if encoder is not None else ():
                if isinstance(emb, nn.Embedding):
                    nn.init.xavier_uniform_(emb.weight)
        self.classifier.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        h = self.atom_encoder(feat)
        e = self.bond_encoder(edge_feat) if self.bond_encoder is not None else None
        return self.classifier(graph, h, edge_weight, e)


class InputNorm(nn.Module):
    r"""A graph classifier behind a BatchNorm of its raw node features.

    .. math::
        x_v' = \frac{x_v - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta

    with :math:`\mu, \sigma^2` per feature over the nodes of each training batch (running
    statistics in evaluation), by :class:`~dgl_diffpool.nn.NodeBatchNorm`. Node attributes
    of TU datasets come in their own units (ENZYMES: means from 0.8 to 60, standard
    deviations from 0.9 to 46); normalised, every feature starts on the same scale, learnt
    from training graphs only, so nothing about the test graphs enters.

    Parameters
    ----------
    classifier : nn.Module
        A classifier built for ``in_feats`` inputs.
    in_feats : int
        Node feature size.
    """

    def __init__(self, classifier: nn.Module, in_feats: int) -> None:
        super().__init__()
        self.norm = NodeBatchNorm(in_feats)
        self.classifier = classifier

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.classifier.reset_parameters()

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: Tensor,
        edge_weight: Optional[Tensor] = None,
        edge_feat: Optional[Tensor] = None,
    ) -> ClassifierOutput:
        return self.classifier(graph, self.norm(feat), edge_weight, edge_feat)
