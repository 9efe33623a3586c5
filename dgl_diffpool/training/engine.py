"""The training loop: early stopping on validation, atomic checkpoints, exact resume."""
from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import dgl
import numpy as np
import torch
from torch import nn

from ..data import GraphClassificationData, iterate_batches
from ..errors import CheckpointError, TrainingError
from ..models.communities import community_recovery, has_communities, learns_assignments
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .config import RunConfig
from .device import resolve_device
from .distributed import barrier, gather_across_ranks, init_from_env, is_main_process
from .distributed import rank as dist_rank
from .distributed import sum_across_ranks, sync_buffers, world_size, wrap_model
from .metrics import probabilities, score, task_loss
from .preflight import build_config_model, check_splits, prepare_run, resolve_protocol
from .progress import Progress
from .rundir import BEST, LAST, SUMMARY_FILE, run_folder, write_json


@dataclass
class RunResult:
    """The outcome of one run: ``metric`` (``acc``, ``rocauc`` or ``ap``) of the model
    selected on validation, on the validation and test graphs (``None`` for a run
    without a test split: a candidate of model selection). ``community``: on a dataset with
    planted communities, how well a DiffPool model's first-level clusters recover them on
    the test graphs (:func:`~dgl_diffpool.models.communities.community_recovery`)."""

    run_dir: str
    best_epoch: int
    metric: str
    val_score: float
    test_score: Optional[float]
    epochs_run: int
    stopped_early: bool
    community: Optional[dict[str, float]] = None  # test graphs' planted communities recovered (ARI, NMI)


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
    workers: int = 0,
) -> dict[str, float]:
    """One pass over ``indices``: trains if an ``optimizer`` is given, else evaluates.

    Batches are formed by :func:`~dgl_diffpool.data.batching.batch_indices`
    (``bucket``, ``max_padded_nodes``), shuffled by ``generator`` if given.
    With ``distributed`` (a DistributedDataParallel ``model``) each process takes
    its shard of every batch and the returned numbers cover all processes' graphs.
    ``workers`` processes prepare the batches beside training (0: this process).

    A loss that is not finite raises :class:`~dgl_diffpool.errors.TrainingError`.

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
        for batch in iterate_batches(data, indices, batch_size, generator, device, bucket, max_padded_nodes, shard,
                                     workers):
            out = model(batch.graph, batch.feat, edge_feat=batch.edge_feat)
            ce = task_loss(data.task, out.logits, batch.labels)
            loss = ce + out.aux_loss
            if not torch.isfinite(loss):  # stop before a NaN reaches the weights or the selection
                raise TrainingError(
                    f"the {'training' if training else 'evaluation'} loss is {loss.item()}: the run diverged "
                    "(try a lower --lr or --clip)"
                )
            if training:
                optimizer.zero_grad()
                (loss * batch.share).backward()
                if clip is not None:
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
    workers: int = 0,
) -> dict[str, float]:
    """Loss and metric of ``model`` on the graphs at ``indices`` (eval mode, no gradients).

    In eval mode each graph's output does not depend on its batch, so the metric, the
    cross-entropy and the link loss do not depend on the batching either (the entropy
    loss, a mean over each batch's nodes, does slightly)."""
    return run_epoch(model, data, indices, batch_size, device, bucket=bucket, max_padded_nodes=max_padded_nodes,
                     workers=workers)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: GraphClassificationData,
    indices: torch.Tensor,
    batch_size: int,
    device: torch.device,
    max_padded_nodes: int = 0,
) -> torch.Tensor:
    """Probabilities (see :func:`~dgl_diffpool.training.metrics.probabilities`) of the graphs at
    ``indices``, in that order (eval mode; batches capped at ``max_padded_nodes`` as in training)."""
    model.eval()
    outputs = [model(b.graph, b.feat, edge_feat=b.edge_feat).logits.cpu()
               for b in iterate_batches(data, indices, batch_size, None, device, max_padded_nodes=max_padded_nodes)]
    return probabilities(data.task, torch.cat(outputs))


def epoch_lr(config: RunConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (from 0): ``config.lr``, or under the cosine schedule
    ``lr (1 + cos(pi epoch / epochs)) / 2``. A function of the epoch, so a resumed run needs no
    scheduler state (a cosine run resumes with its own ``epochs`` only, see :func:`train`)."""
    if config.lr_schedule == "cosine":
        return config.lr * (1 + math.cos(math.pi * epoch / config.epochs)) / 2
    return config.lr


def improves(monitor: str, valid: dict[str, float], metric: str, best: dict[str, Any]) -> bool:
    """Whether an epoch's validation numbers ``valid`` beat ``best`` (which keeps the best epoch's
    ``val_score``, ``val_loss`` and ``val_ce``).

    ``monitor="score"``: a higher ``metric``, ties going to the lower loss. ``"loss"``: a lower
    task loss (``ce``, without the auxiliary losses, which say how the graph was pooled, not how
    well it was classified). The loss moves smoothly where a score over a small validation split
    moves in steps of one graph, but it can bottom out while the score still climbs (ENZYMES:
    6.5 points worse over 10 folds, README "Which options move the numbers").
    """
    if monitor == "loss":
        return valid["ce"] < best.get("val_ce", math.inf)
    score, best_score = valid[metric], best["val_score"]
    return score > best_score or (score == best_score and valid["loss"] < best["val_loss"])


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """Adam with the run's learning rate and weight decay."""
    # foreach: multi-tensor kernels instead of a Python loop over the parameters (not the default on
    # CPU; the same numbers; 100 molhiv steps took 6-10% less time)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True)


TENSORBOARD_DIR = "tensorboard"
PREDICTIONS_FILE = "test_predictions.json"


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _rng_state() -> dict[str, Any]:
    """Every generator training draws from: torch's CPU and CUDA generators (dropout) and,
    for code that uses them, Python's and NumPy's."""
    return dict(cpu=torch.get_rng_state(), python=random.getstate(), numpy=np.random.get_state(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [])


def _set_rng_state(state: Any) -> None:
    if isinstance(state, torch.Tensor):  # checkpoints from before every generator was saved
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state["cpu"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def train(
    config: RunConfig,
    run_dir: str,
    resume: bool = False,
    progress: bool | Progress = False,
    on_epoch_end: Optional[Callable[[dict[str, Any]], None]] = None,
    data: Optional[GraphClassificationData] = None,
    splits: Optional[dict[str, torch.Tensor]] = None,
    tensorboard: bool = False,
) -> RunResult:
    """Train ``config`` into ``run_dir`` and test the model selected on validation once.

    ``run_dir`` receives ``config.json``, ``metrics.jsonl`` (one row per epoch),
    ``last.pt`` (everything needed to resume, rewritten atomically each epoch),
    ``best.pt`` (the model of the best validation epoch, by ``config.monitor``: see
    :func:`improves`; ``config.patience`` epochs without a better one stop the run) and
    ``summary.json``. A folder that already holds
    a run is refused unless ``resume``, which continues it from ``last.pt`` (or from the
    start if it was interrupted before its first epoch) and ends exactly as an
    uninterrupted run would; see :func:`~dgl_diffpool.training.rundir.run_folder`. A resume
    may raise ``epochs`` (more epochs), except under the cosine schedule, whose past epochs
    were decayed over the old number.
    ``on_epoch_end`` is called with each epoch's metrics after its checkpoint is written; a
    resumed run first calls it with each epoch it restored, so it sees the whole curve (a
    pruner in a new process needs the earlier epochs too).
    ``data`` and ``splits`` default to the dataset and hold-out split of ``config``;
    ``splits`` without ``"test"`` train and select only (no test score).
    With ``tensorboard`` every epoch's metrics also go to ``run_dir/tensorboard``
    (TensorBoard's event format, one scalar per metric, step = epoch), and the test scores
    (step = the selected epoch). ``progress``: ``True`` for a bar of the epochs, or a
    :class:`~dgl_diffpool.training.progress.Progress` (plain lines for log files). The run
    records ``config.resolved()``: absolute data paths, the protocol ``auto`` stood for.
    A loss that is not finite stops the run with a :class:`TrainingError`.
    """
    device = resolve_device(init_from_env(config.device))
    seed_everything(config.seed)
    if splits is None:
        data, splits = prepare_run(config, data)
    check_splits(splits, data)
    recorded = config.resolved()
    if config.protocol == "auto":  # what the data say: a dataset given in Python may have its own split
        recorded = dataclasses.replace(recorded, protocol=resolve_protocol(config, data))
    config = recorded
    model = build_config_model(config, data).to(device)
    with run_folder(run_dir, config, resume):
        last_path = os.path.join(run_dir, LAST)
        state = load_checkpoint(last_path) if resume and os.path.exists(last_path) else None
        return _fit(config, run_dir, model, data, splits, device, state, Progress.of(progress), on_epoch_end,
                    tensorboard)


def _fit(
    config: RunConfig,
    run_dir: str,
    model: nn.Module,
    data: GraphClassificationData,
    splits: dict[str, torch.Tensor],
    device: torch.device,
    state: Optional[dict[str, Any]],
    progress: Progress,
    on_epoch_end: Optional[Callable[[dict[str, Any]], None]],
    tensorboard: bool,
) -> RunResult:
    """The epochs of :func:`train` from ``state`` (a ``last.pt`` payload, or ``None`` to start)."""
    last_path, best_path = os.path.join(run_dir, LAST), os.path.join(run_dir, BEST)
    # Stored in checkpoints so `evaluate` scores exactly the graphs of this run's split.
    split_lists = {k: v.tolist() for k, v in splits.items()}
    shape = data.model_shape()
    metric = data.task.metric
    optimizer = make_optimizer(model, config)
    trained = wrap_model(model, device)  # DistributedDataParallel under torchrun, else the model itself
    history: list[dict[str, Any]] = []
    best = dict(epoch=-1, val_score=-float("inf"), val_loss=float("inf"), val_ce=float("inf"))
    bad_epochs, start = 0, 0
    if state is not None:
        saved = RunConfig.from_dict(state["config"])
        diff = saved.differences(config)
        if diff:
            raise CheckpointError(f"{last_path} was trained with another configuration ({'; '.join(diff)})")
        if config.lr_schedule == "cosine" and saved.epochs != config.epochs:  # its past epochs had other rates
            raise CheckpointError(f"{last_path} decays its learning rate over {saved.epochs} epochs "
                                  f"(--lr-schedule cosine): resume it with --epochs {saved.epochs}")
        if state["model_shape"] != shape:
            raise CheckpointError(f"{last_path} was trained on data of shape {state['model_shape']}, now {shape}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        history, best, bad_epochs = state["history"], state["best"], state["bad_epochs"]
        start = state["epoch"] + 1
        # A run killed between writing last.pt and metrics.jsonl left the curve an epoch short.
        write_json(os.path.join(run_dir, "metrics.jsonl"), history, lines=True)
        if on_epoch_end is not None:
            for row in history:
                on_epoch_end(row)

    writer = None
    if tensorboard and is_main_process():
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(run_dir, TENSORBOARD_DIR))
    stopped = bad_epochs >= config.patience
    report = progress.epochs(start, config.epochs, metric, enabled=is_main_process())
    try:  # the progress report and the TensorBoard writer are closed however the run ends
        for epoch in range(start, config.epochs):
            if stopped:
                break
            tick = time.perf_counter()
            lr = epoch_lr(config, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            try:
                tr = run_epoch(trained, data, splits["train"], config.batch_size, device, optimizer, config.clip,
                               _epoch_generator(config.seed, epoch), **config.batching(), distributed=world_size() > 1)
                sync_buffers(model)
                va = evaluate(model, data, splits["valid"], config.batch_size, device, **config.batching())
            except TrainingError as exc:
                raise TrainingError(f"epoch {epoch + 1}: {exc}") from None
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in tr.items()},
                   **{f"val_{k}": v for k, v in va.items()}, "lr": lr, "seconds": time.perf_counter() - tick}
            history.append(row)
            if improves(config.monitor, va, metric, best):
                best = dict(epoch=epoch, val_score=va[metric], val_loss=va["loss"], val_ce=va["ce"])
                bad_epochs = 0
                save_checkpoint(best_path, dict(config=config.to_dict(), model_shape=shape, epoch=epoch,
                                                model=model.state_dict(), splits=split_lists))
            else:
                bad_epochs += 1
            stopped = bad_epochs >= config.patience
            save_checkpoint(last_path, dict(config=config.to_dict(), model_shape=shape, epoch=epoch,
                                            model=model.state_dict(), optimizer=optimizer.state_dict(),
                                            rng=_rng_state(), history=history, best=best,
                                            bad_epochs=bad_epochs, splits=split_lists))
            write_json(os.path.join(run_dir, "metrics.jsonl"), history, lines=True)
            barrier()  # no rank reads a checkpoint before rank 0 has written it
            report.update(epoch, tr, va, best, row["seconds"])
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch":
                        split, _, name = key.partition("_")
                        writer.add_scalar(f"{name}/{split}" if name else key, value, epoch)
                writer.flush()
            if on_epoch_end is not None:
                on_epoch_end(row)
        test, community = {metric: None, "loss": None}, None
        if "test" in splits:
            test, community = _test(config, run_dir, data, splits["test"], device)
            if writer is not None:
                for name in (metric, "loss"):
                    writer.add_scalar(f"{name}/test", test[name], best["epoch"])
    finally:
        report.close()
        if writer is not None:
            writer.close()
    result = RunResult(run_dir=run_dir, best_epoch=best["epoch"], metric=metric, val_score=best["val_score"],
                       test_score=test[metric], epochs_run=len(history), stopped_early=stopped,
                       community=community)
    write_json(os.path.join(run_dir, SUMMARY_FILE), {**result.__dict__, "test_loss": test["loss"]})
    return result


def _test(config: RunConfig, run_dir: str, data: GraphClassificationData, indices: torch.Tensor,
          device: torch.device) -> tuple[dict[str, float], Optional[dict[str, float]]]:
    """The selected model's scores on the test graphs (once), its class probabilities for
    ensembles of runs (model selection's final runs) and, on planted communities, their recovery."""
    best_path = os.path.join(run_dir, BEST)
    best_model, _ = model_from_checkpoint(load_checkpoint(best_path), best_path)
    test = evaluate(best_model.to(device), data, indices, config.batch_size, device, **config.batching())
    if is_main_process():
        probs = predict(best_model, data, indices, config.batch_size, device, config.max_padded_nodes)
        write_json(os.path.join(run_dir, PREDICTIONS_FILE),
                   {"indices": indices.tolist(), "probabilities": probs.tolist()})
    community = None
    if has_communities(data.graphs) and learns_assignments(best_model):
        community = community_recovery(best_model, [data.graphs[i] for i in indices.tolist()])
    return test, community
