"""Pictures of what DiffPool learnt: hard clusters on the input graph, coarsened graphs, S as a heat map.

One definition of a *used* cluster holds in every panel: a cluster is used if it is the argmax
of S for at least one node. At level 1 the nodes are the input graph's; at level 2 and after
they are the used clusters of the level before, so that following the argmax level by level
sends each input node to exactly one used cluster of every level, and the nodes each cluster
holds (hard counts) sum to the graph's node count.
"""
from __future__ import annotations

from typing import Optional, Sequence

import dgl
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from ..data import GraphClassificationData  # noqa: E402
from ..errors import DiffPoolError  # noqa: E402
from ..models.communities import COMMUNITY_KEY, diffpool_core  # noqa: E402
from ..models.diffpool_classifier import CoarsenedLevel  # noqa: E402
from .curves import figure_format, save_figure  # noqa: E402

USED = "used cluster = argmax of S for at least one node (after level 1: for a used cluster of the level before)"
# Above this many rows the argmax dots of the heat map would run together into bars.
_MAX_DOTTED_ROWS = 80


def hard_clusters(levels: Sequence[CoarsenedLevel]) -> list[Tensor]:
    """The cluster of each input node at every level of one graph, following the argmax of S.

    Parameters
    ----------
    levels
        :meth:`~dgl_diffpool.models.DiffPoolClassifier.coarsen` of a batch of one graph.

    Returns
    -------
    list of Tensor
        One ``(n,)`` integer tensor per level: entry ``i`` is the cluster that input node
        ``i`` ends in, :math:`\\arg\\max_k S^{(1)}_{ik}` at level 1 and
        :math:`\\arg\\max_k S^{(l)}_{c k}` of its level-:math:`(l-1)` cluster :math:`c` after.
    """
    clusters = [levels[0].assign.argmax(-1)]
    for level in levels[1:]:
        clusters.append(level.assign[0].argmax(-1)[clusters[-1]])
    return clusters


def _coarse_graph(adj: Tensor, keep: list[int]) -> nx.Graph:
    """Undirected weighted graph of the clusters ``keep``; weight A'_uv + A'_vu, tiny weights dropped."""
    sym = (adj + adj.T)[keep][:, keep]
    g = nx.Graph()
    g.add_nodes_from(range(len(keep)))
    threshold = 1e-2 * float(sym.max()) if sym.numel() else 0.0
    for u in range(len(keep)):
        for v in range(u + 1, len(keep)):
            if float(sym[u, v]) > threshold:
                g.add_edge(u, v, weight=float(sym[u, v]))
    return g


def _heat_map(fig: Figure, ax: Axes, s: Tensor, row_ids: list[int], level: int, used: int) -> None:
    """S of one level as a heat map: a row per node (``row_ids`` name them), a column per real cluster."""
    heat = ax.imshow(s.numpy(), aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    if len(row_ids) <= _MAX_DOTTED_ROWS:
        ax.scatter(s.argmax(-1).tolist(), range(len(row_ids)), s=6, c="white", marker="o", linewidths=0)
    rows = "node" if level == 1 else f"used level-{level - 1} cluster"
    ax.set_title(f"S at level {level} ({rows}s x clusters):\n{used} of {s.shape[1]} clusters used "
                 "(dot: row's argmax)")
    ax.set_xlabel("cluster")
    ax.set_ylabel(rows)
    # Ticks at whole rows and columns only; rows after level 1 are named by their cluster's index.
    ax.xaxis.set_major_locator(MaxNLocator("auto", integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator("auto", integer=True, min_n_ticks=1))
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda y, _: str(row_ids[int(y)]) if float(y).is_integer() and 0 <= y < len(row_ids) else ""))
    fig.colorbar(heat, ax=ax, fraction=0.046)


def draw_assignments(
    model: nn.Module,
    data: GraphClassificationData,
    graph_ids: Sequence[int],
    out: str,
    max_level: Optional[int] = None,
    seed: int = 0,
) -> dict[int, list[int]]:
    """Draw, for each graph in ``graph_ids`` (one row each), the input graph with nodes coloured by
    their level-1 cluster, then for every pooling level up to ``max_level`` (default: all) its
    coarsened graph (the used clusters, labelled with the input nodes they hold, edge widths
    from :math:`A'`) and its :math:`S` as a heat map. See the module for what *used* means.

    Parameters
    ----------
    model
        A DiffPool classifier, possibly wrapped (encoders, input norm).
    data
        The dataset ``graph_ids`` index.
    graph_ids
        Graphs to draw, one row each.
    out
        Picture file; its extension chooses the format (``.png``, ``.pdf``, ``.svg``, ...).
    max_level
        Last pooling level to draw (1-based); ``None`` draws all.
    seed
        Seed of the input graph's spring layout.

    Returns
    -------
    dict
        ``{graph id: level-1 cluster of each node}``: the colouring used in the picture.

    Raises
    ------
    ConfigError
        If ``out``'s extension is not a picture format (checked before anything is computed).
    DiffPoolError
        If a graph id or ``max_level`` is out of range, or ``model`` is not a DiffPool model.
    """
    figure_format(out)
    model.eval()
    device = next(model.parameters()).device
    levels_wanted = 0
    rows: list[tuple[int, dgl.DGLGraph, list[CoarsenedLevel]]] = []
    for i in graph_ids:
        if not 0 <= i < len(data):
            raise DiffPoolError(f"graph {i} is not in {data.name} (it has {len(data)} graphs, 0..{len(data) - 1})")
        graph = data.graphs[i]
        on_device = graph.to(device)
        core, feat, edge_feat = diffpool_core(model, on_device)
        levels = core.coarsen(dgl.batch([on_device]), feat, edge_feat=edge_feat)
        if max_level is not None and not 1 <= max_level <= len(levels):
            raise DiffPoolError(f"--level must be in 1..{len(levels)} for this model, got {max_level}")
        levels_wanted = len(levels) if max_level is None else max_level
        levels = [CoarsenedLevel(*(t.cpu() for t in level)) for level in levels[:levels_wanted]]
        rows.append((i, graph, levels))

    columns = 1 + 2 * levels_wanted
    fig, axes = plt.subplots(len(rows), columns, figsize=(3.9 * columns, 4.0 * len(rows)), squeeze=False)
    colouring: dict[int, list[int]] = {}
    cmap = plt.get_cmap("tab20")
    for row, (i, graph, levels) in zip(axes, rows):
        n = graph.num_nodes()
        clusters = hard_clusters(levels)
        colouring[i] = clusters[0].tolist()
        # Real clusters are a prefix of each level's columns (the mask is k < count).
        real = [int(level.mask[0].sum()) for level in levels]
        counts = [torch.bincount(c, minlength=k) for c, k in zip(clusters, real)]
        used = [torch.nonzero(c).flatten().tolist() for c in counts]

        src, dst = graph.edges()
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from((u, v) for u, v in zip(src.tolist(), dst.tolist()) if u != v)
        label = int(data.labels[i]) if data.labels.dim() == 1 else data.labels[i].tolist()
        nx.draw_networkx(g, nx.spring_layout(g, seed=seed), ax=row[0], node_size=40, with_labels=False,
                         node_color=[cmap(c % 20) for c in colouring[i]], width=0.5, edge_color="0.6")
        recovery = ""
        if COMMUNITY_KEY in graph.ndata:  # planted communities (the built-in dataset)
            from sklearn.metrics import adjusted_rand_score

            ari = adjusted_rand_score(graph.ndata[COMMUNITY_KEY].tolist(), colouring[i])
            recovery = f"\nARI with planted communities {ari:.2f}"
        row[0].set_title(f"graph {i}, label {label}: {n} nodes,\n"
                         f"{len(used[0])} of {real[0]} clusters used at level 1 (colour){recovery}")
        row[0].set_axis_off()

        for level in range(1, len(levels) + 1):
            graph_ax, heat_ax = row[2 * level - 1], row[2 * level]
            keep, held = used[level - 1], counts[level - 1]
            cg = _coarse_graph(levels[level - 1].adj[0], keep)
            widths = [cg[u][v]["weight"] for u, v in cg.edges()]
            top = max(widths, default=1.0)
            colours = [cmap(k % 20) for k in keep] if level == 1 else "tab:gray"
            nx.draw_networkx(cg, nx.circular_layout(cg), ax=graph_ax, node_color=colours,
                             node_size=[60 + 440 * int(held[k]) / n for k in keep],
                             labels={j: str(int(held[k])) for j, k in enumerate(keep)}, font_size=7,
                             width=[0.5 + 5.0 * w / top for w in widths], edge_color="0.4")
            graph_ax.set_title(f"level {level}: {len(keep)} of {real[level - 1]} clusters used,\n"
                               f"holding {int(held.sum())} nodes (label); edge width ~ A'")
            graph_ax.set_axis_off()

            if level == 1:
                s, row_ids = levels[0].assign[:, :real[0]], list(range(n))
            else:
                # Only the used clusters of the level before are rows: the empty ones hold no node to follow.
                row_ids = used[level - 2]
                s = levels[level - 1].assign[0][row_ids, :real[level - 1]]
            _heat_map(fig, heat_ax, s, row_ids, level, len(keep))
    fig.suptitle(f"{USED}; label: input nodes held, summing to the graph's node count", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out, dpi=100)
    return colouring
