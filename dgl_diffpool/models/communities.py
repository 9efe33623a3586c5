"""How well DiffPool's learnt clusters recover planted communities.

The seed paper claims DiffPool "captures hierarchical community structure even when
trained on just the graph classification loss". On a graph whose nodes carry their
planted community (``ndata["community"]``, as in the built-in dataset), the hard
clusters :math:`\\arg\\max_k S_{ik}` of the first pooling level are compared with it by
the adjusted Rand index (ARI: 0 for chance, 1 for the same partition up to names) and
the normalised mutual information (NMI).
"""
from __future__ import annotations

from typing import Optional, Sequence

import dgl
import torch
from torch import Tensor, nn

from ..errors import DiffPoolError
from .diffpool_classifier import DiffPoolClassifier
from .encoders import EncodedClassifier, InputNorm

COMMUNITY_KEY = "community"


def diffpool_core(model: nn.Module, graph: dgl.DGLGraph) -> tuple[DiffPoolClassifier, Tensor, Optional[Tensor]]:
    """The DiffPool classifier inside ``model`` and the node and edge inputs its first layer sees."""
    feat = graph.ndata["feat"]
    feat = feat.float() if feat.is_floating_point() else feat
    edge_feat = None
    if isinstance(model, EncodedClassifier):
        if model.bond_encoder is not None:
            edge_feat = model.bond_encoder(graph.edata["feat"])
        feat, model = model.atom_encoder(feat), model.classifier
    elif isinstance(model, InputNorm):
        feat, model = model.norm(feat), model.classifier
    if not isinstance(model, DiffPoolClassifier):
        raise DiffPoolError(f"only DiffPool models have learnt assignments, not {type(model).__name__}")
    return model, feat, edge_feat


@torch.no_grad()
def first_level_clusters(model: nn.Module, graph: dgl.DGLGraph) -> Tensor:
    """Hard cluster of each node of one graph at the first pooling level, :math:`\\arg\\max_k S_{ik}` (eval mode)."""
    model.eval()
    graph = graph.to(next(model.parameters()).device)
    core, feat, edge_feat = diffpool_core(model, graph)
    return core.first_pool.assignment(graph, feat, edge_feat=edge_feat).argmax(-1).cpu()


def learns_assignments(model: nn.Module) -> bool:
    """Whether ``model`` is (or wraps) a DiffPool classifier with learnt assignments."""
    return isinstance(model.classifier if isinstance(model, (EncodedClassifier, InputNorm)) else model,
                      DiffPoolClassifier)


def has_communities(graphs: Sequence[dgl.DGLGraph]) -> bool:
    return len(graphs) > 0 and COMMUNITY_KEY in graphs[0].ndata


def community_recovery(model: nn.Module, graphs: Sequence[dgl.DGLGraph]) -> dict[str, float]:
    """Mean over ``graphs`` of the ARI and NMI between the first level's hard clusters and
    the planted communities: ``{"community_ari": ..., "community_nmi": ...}``."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if not has_communities(graphs):
        raise DiffPoolError(f"these graphs have no planted communities (ndata[{COMMUNITY_KEY!r}])")
    ari, nmi = [], []
    for graph in graphs:
        truth = graph.ndata[COMMUNITY_KEY].tolist()
        found = first_level_clusters(model, graph).tolist()
        ari.append(adjusted_rand_score(truth, found))
        nmi.append(normalized_mutual_info_score(truth, found))
    return {"community_ari": sum(ari) / len(ari), "community_nmi": sum(nmi) / len(nmi)}
