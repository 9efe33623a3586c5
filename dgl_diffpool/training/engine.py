"""The training loop: early stopping on validation, atomic checkpoints, exact resume."""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import dgl
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import GraphClassificationData, iterate_batches, load_dataset, stratified_split
from ..data.clustering import attach_cluster_hierarchy
from ..data.patchy import attach_receptive_fields
from ..errors import CheckpointError, ConfigError
from ..models import build_model
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import RunConfig
from .device import resolve_device
from .distributed import barrier, gather_across_ranks, init_from_env, is_main_process
from .distributed import rank as dist_rank
from .distributed import sum_across_ranks, sync_buffers, world_size, wrap_model
from .metrics import score, task_loss

LAST, BEST = "last.pt", "best.pt"


@dataclass
class RunResult:
    """The outcome of one run: ``metric`` (``acc``, ``rocauc`` or ``ap``) of the model
    selected on validation, on the validation and test graphs."""

    run_dir: str
    best_epoch: int
    metric: str
    val_score: float
    test_score: float
    epochs_run: int
    stopped_early: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)


def run_epoch(
    model: nn.Module,
    data: GraphClassificationData,
    indices: torch.Tensor,
    batch_size: int,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    clip: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
    bucket: bool = False,
    max_padded_nodes: int = 0,
    distributed: bool = False,
) -> dict[str, float]:
    """One pass over ``indices``: trains if an ``optimizer`` is given, else evaluates.

    Batches are formed by :func:`~dgl_diffpool.data.batching.batch_indices`
    (``bucket``, ``max_padded_nodes``), shuffled by ``generator`` if given.
    With ``distributed`` (a DistributedDataParallel ``model``) each process takes
    its shard of every batch and the returned numbers cover all processes' graphs.

    Returns graph-weighted means of the loss (the task's cross-entropy plus the
    model's enabled auxiliary losses) and its parts, and the task's metric (key
    ``acc``, ``rocauc`` or ``ap``) over all graphs seen.
    """
    training = optimizer is not None
    model.train(training)
    totals = dict(loss=0.0, ce=0.0, link=0.0, entropy=0.0)
    seen = 0
    all_logits, all_labels = [], []
    shard = (dist_rank(), world_size()) if distributed else (0, 1)
    with torch.set_grad_enabled(training):
        for batch in iterate_batches(data, indices, batch_size, generator, device, bucket, max_padded_nodes, shard):
            out = model(batch.graph, batch.feat, edge_feat=batch.edge_feat)
            ce = task_loss(data.task, out.logits, batch.labels)
            loss = ce + out.aux_loss
            if training:
                optimizer.zero_grad()
                (loss * batch.share).backward()
                nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            if batch.share == 0:  # a stand-in graph of an empty shard: trained with weight 0, not counted
                continue
            n = batch.labels.numel()
            seen += n
            totals["loss"] += loss.item() * n
            totals["ce"] += ce.item() * n
            totals["link"] += out.link_loss.item() * n
            totals["entropy"] += out.entropy_loss.item() * n
            all_logits.append(out.logits.detach().cpu())
            all_labels.append(batch.labels.cpu())
    if distributed:
        *sums, seen = sum_across_ranks(list(totals.values()) + [seen])
        totals = dict(zip(totals, sums))
        shards = gather_across_ranks((all_logits, all_labels))
        all_logits = [t for logits, _ in shards for t in logits]
        all_labels = [t for _, labels in shards for t in labels]
    result = {k: v / max(seen, 1) for k, v in totals.items()}
    if seen:
        result[data.task.metric] = score(data.task, torch.cat(all_logits), torch.cat(all_labels))
    return result


def evaluate(
    model: nn.Module,
    data: GraphClassificationData,
    indices: torch.Tensor,
    batch_size: int,
    device: torch.device,
    bucket: bool = False,
    max_padded_nodes: int = 0,
) -> dict[str, float]:
    """Loss and metric of ``model`` on the graphs at ``indices`` (eval mode, no gradients).

    In eval mode each graph's output does not depend on its batch, so the metric, the
    cross-entropy and the link loss do not depend on the batching either (the entropy
    loss, a mean over each batch's nodes, does slightly)."""
    return run_epoch(model, data, indices, batch_size, device, bucket=bucket, max_padded_nodes=max_padded_nodes)


def _write_json(path: str, value: Any, lines: bool = False) -> None:
    """Atomic JSON (or JSON lines) file; only the main process writes in a distributed run."""
    if not is_main_process():
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        if lines:
            fh.writelines(json.dumps(row) + "\n" for row in value)
        else:
            json.dump(value, fh, indent=2)
    os.replace(tmp, path)


TENSORBOARD_DIR = "tensorboard"
# Models whose graphs carry precomputed node data, and how load_config_dataset attaches it.
_PREPROCESS: dict[str, Callable[[GraphClassificationData, RunConfig], None]] = {
    "diffpool-det": lambda data, c: attach_cluster_hierarchy(data, c.ratio, c.pool_levels, c.data_dir),
    "patchy-san": lambda data, c: attach_receptive_fields(data, c.patchy_field, c.data_dir),
}
PREPROCESSED_MODELS = tuple(_PREPROCESS)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def load_config_dataset(config: RunConfig) -> GraphClassificationData:
    """The dataset ``config`` names, with its node features and data sources (and what
    :data:`PREPROCESSED_MODELS` precompute per graph: DiffPool-Det's cluster hierarchy,
    PATCHY-SAN's receptive fields)."""
    data = load_dataset(config.dataset, config.data_dir, seed=config.seed, mirror=config.mirror,
                        features=config.features)
    if config.model in _PREPROCESS:
        _PREPROCESS[config.model](data, config)
    return data


def resolve_protocol(config: RunConfig, data: GraphClassificationData) -> str:
    """``auto`` is the dataset's official split where it has one (OGB), else ``holdout``."""
    protocol = config.protocol
    if protocol == "auto":
        protocol = "official" if data.split is not None else "holdout"
    if protocol == "official" and data.split is None:
        raise ConfigError(f"{data.name} has no official split; use --protocol holdout or cv")
    if protocol != "official" and data.task.kind != "multiclass":
        raise ConfigError(f"{data.name} has binary targets that may be missing: only its official split "
                          "(--protocol official) is supported")
    return protocol


def prepare_run(
    config: RunConfig, data: Optional[GraphClassificationData] = None
) -> tuple[GraphClassificationData, dict[str, torch.Tensor]]:
    """The dataset (loaded unless given) and its train / valid / test split for ``config``
    (official, or stratified hold-out drawn with ``config.seed``)."""
    data = data if data is not None else load_config_dataset(config)
    if resolve_protocol(config, data) == "official":
        return data, data.split
    splits = stratified_split(data.labels, config.val_fraction, config.test_fraction, config.seed)
    return data, splits


def train(
    config: RunConfig,
    run_dir: str,
    resume: bool = False,
    progress: bool = False,
    on_epoch_end: Optional[Callable[[dict[str, Any]], None]] = None,
    data: Optional[GraphClassificationData] = None,
    splits: Optional[dict[str, torch.Tensor]] = None,
    tensorboard: bool = False,
) -> RunResult:
    """Train ``config`` into ``run_dir`` and test the model selected on validation once.

    ``run_dir`` receives ``config.json``, ``metrics.jsonl`` (one row per epoch),
    ``last.pt`` (everything needed to resume, rewritten atomically each epoch),
    ``best.pt`` (the selected model) and ``summary.json``. With ``resume`` the run
    continues from ``last.pt`` and ends exactly as an uninterrupted run would.
    ``on_epoch_end`` is called with each epoch's metrics after its checkpoint is written.
    ``data`` and ``splits`` default to the dataset and hold-out split of ``config``.
    With ``tensorboard`` every epoch's metrics also go to ``run_dir/tensorboard``
    (TensorBoard's event format, one scalar per metric, step = epoch).
    """
    device = resolve_device(init_from_env(config.device))
    distributed = world_size() > 1
    last_path, best_path = os.path.join(run_dir, LAST), os.path.join(run_dir, BEST)
    state: Optional[dict[str, Any]] = None
    if resume:
        state = load_checkpoint(last_path)
        saved = RunConfig.from_dict(state["config"])
        diff = saved.differences(config)
        if diff:
            raise CheckpointError(
                f"{last_path} was trained with another configuration ({'; '.join(diff)})"
            )
    elif os.path.exists(last_path):
        raise CheckpointError(
            f"run directory {run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    os.makedirs(run_dir, exist_ok=True)

    seed_everything(config.seed)
    if data is None or splits is None:
        data, splits = prepare_run(config)
    # Stored in checkpoints so `evaluate` scores exactly the graphs of this run's split.
    split_lists = {k: v.tolist() for k, v in splits.items()}
    shape = data.model_shape()
    try:
        model = build_model(config.model, **shape, **config.model_kwargs()).to(device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    metric = data.task.metric
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    trained = wrap_model(model, device)  # DistributedDataParallel under torchrun, else the model itself
    history: list[dict[str, Any]] = []
    best = dict(epoch=-1, val_score=-float("inf"), val_loss=float("inf"))
    bad_epochs, start = 0, 0
    if state is not None:
        if state["model_shape"] != shape:
            raise CheckpointError(f"{last_path} was trained on data of shape {state['model_shape']}, now {shape}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, best, bad_epochs = state["history"], state["best"], state["bad_epochs"]
        start = state["epoch"] + 1
    _write_json(os.path.join(run_dir, "config.json"), config.to_dict())

    writer = None
    if tensorboard and is_main_process():
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(run_dir, TENSORBOARD_DIR))
    stopped = bad_epochs >= config.patience
    bar = tqdm(range(start, config.epochs), initial=start, total=config.epochs,
               disable=not (progress and is_main_process()),
               desc="epochs", unit="ep", leave=False)
    for epoch in bar:
        if stopped:
            break
        tick = time.perf_counter()
        tr = run_epoch(trained, data, splits["train"], config.batch_size, device, optimizer, config.clip,
                       _epoch_generator(config.seed, epoch), **config.batching(), distributed=distributed)
        sync_buffers(model)
        va = evaluate(model, data, splits["valid"], config.batch_size, device, **config.batching())
        row = {"epoch": epoch, **{f"train_{k}": v for k, v in tr.items()},
               **{f"val_{k}": v for k, v in va.items()}, "seconds": time.perf_counter() - tick}
        history.append(row)
        improved = va[metric] > best["val_score"] or (va[metric] == best["val_score"] and va["loss"] < best["val_loss"])
        if improved:
            best = dict(epoch=epoch, val_score=va[metric], val_loss=va["loss"])
            bad_epochs = 0
            save_checkpoint(best_path, dict(config=config.to_dict(), model_shape=shape, epoch=epoch,
                                            model=model.state_dict(), splits=split_lists))
        else:
            bad_epochs += 1
        stopped = bad_epochs >= config.patience
        save_checkpoint(last_path, dict(config=config.to_dict(), model_shape=shape, epoch=epoch,
                                        model=model.state_dict(), optimizer=optimizer.state_dict(),
                                        rng=torch.get_rng_state(), history=history, best=best,
                                        bad_epochs=bad_epochs, splits=split_lists))
        _write_json(os.path.join(run_dir, "metrics.jsonl"), history, lines=True)
        barrier()  # no rank reads a checkpoint before rank 0 has written it
        bar.set_postfix(loss=f"{tr['loss']:.3f}", **{f"val_{metric}": f"{va[metric]:.3f}"},
                        best=f"{best['val_score']:.3f}")
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    split, _, name = key.partition("_")
                    writer.add_scalar(f"{name}/{split}" if name else key, value, epoch)
            writer.flush()
        if on_epoch_end is not None:
            on_epoch_end(row)
    bar.close()
    if writer is not None:
        writer.close()

    best_model, _ = model_from_checkpoint(load_checkpoint(best_path), best_path)
    test = evaluate(best_model.to(device), data, splits["test"], config.batch_size, device, **config.batching())
    result = RunResult(run_dir=run_dir, best_epoch=best["epoch"], metric=metric, val_score=best["val_score"],
                       test_score=test[metric], epochs_run=len(history), stopped_early=stopped)
    _write_json(os.path.join(run_dir, "summary.json"), {**result.__dict__, "test_loss": test["loss"]})
    return result
