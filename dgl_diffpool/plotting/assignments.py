"""Pictures of what DiffPool learnt: hard clusters on the input graph, coarsened graphs, S as a heat map."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import dgl
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ..data import GraphClassificationData  # noqa: E402
from ..errors import DiffPoolError  # noqa: E402
from ..models.communities import COMMUNITY_KEY, diffpool_core  # noqa: E402


def _coarse_graph(adj: torch.Tensor, keep: list[int]) -> nx.Graph:
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


def draw_assignments(
    model: nn.Module,
    data: GraphClassificationData,
    graph_ids: Sequence[int],
    out: str,
    max_level: Optional[int] = None,
    seed: int = 0,
) -> dict[int, list[int]]:
    """Draw, for each graph in ``graph_ids`` (one row each): the input graph with nodes
    coloured by their hard cluster :math:`\\arg\\max_k S_{ik}` at level 1; the coarsened
    graph of each level up to ``max_level`` (default: all) with edge widths from
    :math:`A'`; and :math:`S` of level 1 as a heat map. Writes a PNG to ``out``.

    Returns ``{graph id: cluster of each node}``: the colouring used in the picture.
    """
    model.eval()
    levels_wanted = None
    rows: list[tuple[int, dgl.DGLGraph, list]] = []
    for i in graph_ids:
        if not 0 <= i < len(data):
            raise DiffPoolError(f"graph {i} is not in {data.name} (it has {len(data)} graphs, 0..{len(data) - 1})")
        graph = data.graphs[i]
        core, feat, edge_feat = diffpool_core(model, graph)
        levels = core.coarsen(dgl.batch([graph]), feat, edge_feat=edge_feat)
        if max_level is not None and not 1 <= max_level <= len(levels):
            raise DiffPoolError(f"--level must be in 1..{len(levels)} for this model, got {max_level}")
        levels_wanted = len(levels) if max_level is None else max_level
        rows.append((i, graph, levels[:levels_wanted]))

    columns = 2 + levels_wanted
    fig, axes = plt.subplots(len(rows), columns, figsize=(4.0 * columns, 3.8 * len(rows)), squeeze=False)
    colouring: dict[int, list[int]] = {}
    cmap = plt.get_cmap("tab20")
    for row, (i, graph, levels) in zip(axes, rows):
        assign = levels[0].assign  # (n, K)
        clusters = assign.argmax(-1).tolist()
        colouring[i] = clusters
        src, dst = graph.edges()
        g = nx.Graph()
        g.add_nodes_from(range(graph.num_nodes()))
        g.add_edges_from((u, v) for u, v in zip(src.tolist(), dst.tolist()) if u != v)
        pos = nx.spring_layout(g, seed=seed)
        label = int(data.labels[i]) if data.labels.dim() == 1 else data.labels[i].tolist()
        nx.draw_networkx(g, pos, ax=row[0], node_color=[cmap(c % 20) for c in clusters], node_size=40,
                         with_labels=False, width=0.5, edge_color="0.6")
        recovery = ""
        if COMMUNITY_KEY in graph.ndata:  # planted communities (the built-in dataset)
            from sklearn.metrics import adjusted_rand_score

            ari = adjusted_rand_score(graph.ndata[COMMUNITY_KEY].tolist(), clusters)
            recovery = f"; ARI with planted communities {ari:.2f}"
        row[0].set_title(f"graph {i}, label {label}: {graph.num_nodes()} nodes,\n"
                         f"{len(set(clusters))} clusters used (colour = argmax S){recovery}")
        # Expected number of input nodes in each cluster: S^T 1 at level 1, composed after.
        mass = assign.sum(0)
        for level, ax in enumerate(row[1:1 + len(levels)], start=1):
            coarse = levels[level - 1]
            if level > 1:
                mass = coarse.assign[0].T @ mass
            # Clusters holding less than half a node are empty in all but name: not drawn.
            keep = [k for k in torch.nonzero(coarse.mask[0]).flatten().tolist() if float(mass[k]) >= 0.5]
            cg = _coarse_graph(coarse.adj[0], keep)
            widths = [cg[u][v]["weight"] for u, v in cg.edges()]
            top = max(widths, default=1.0)
            colours = [cmap(k % 20) for k in keep] if level == 1 else "tab:gray"
            nx.draw_networkx(cg, nx.circular_layout(cg), ax=ax, node_color=colours,
                             node_size=[60 + 25 * float(mass[k]) for k in keep],
                             labels={j: f"{float(mass[k]):.0f}" for j, k in enumerate(keep)}, font_size=7,
                             width=[0.5 + 5.0 * w / top for w in widths], edge_color="0.4")
            ax.set_title(f"level {level}: {len(keep)} of {int(coarse.mask[0].sum())} clusters hold nodes\n"
                         "(size, label: nodes held; edge width ~ A')")
        heat = row[-1].imshow(assign.numpy(), aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        row[-1].set_title("S at level 1 (nodes x clusters)")
        row[-1].set_xlabel("cluster")
        row[-1].set_ylabel("node")
        fig.colorbar(heat, ax=row[-1], fraction=0.046)
        for ax in row[:-1]:
            ax.set_axis_off()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)
    return colouring
