"""Data-parallel training with PyTorch's own engine (``torchrun`` + DistributedDataParallel).

Started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``), every process runs the same training loop: all ranks form the same
global batches from the same seeded generator and each trains on its share of every batch
(graphs ``rank, rank + W, ...``); DDP averages the gradients. Each rank's loss is scaled by
its share of the batch's graphs, so the averaged gradient is that of the global batch's mean
loss. Only rank 0 writes files; validation and test run on every rank on identical weights,
so every rank takes the same early-stopping decision.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional, TypeVar, Union

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True outside distributed runs and on rank 0: the process that writes files."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str) -> str:
    """Join the process group ``torchrun`` describes (once); returns the device this rank uses.

    ``gloo`` on CPU, ``nccl`` on CUDA, where rank ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``.
    """
    if not launched_by_torchrun():
        return device
    cuda = device.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else device


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when distributed (SyncBatchNorm on CUDA), else ``model``."""
    if world_size() == 1:
        return model
    # Buffers (BatchNorm running statistics) are not broadcast at every forward: training
    # uses batch statistics, and sync_buffers hands rank 0's to every rank after each epoch.
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index], broadcast_buffers=False)
    return nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) to every rank, so evaluation agrees."""
    if world_size() > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def sum_across_ranks(values: list[float]) -> list[float]:
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a small picklable object, such as a check's outcome)."""
    if world_size() == 1:
        return obj
    box = [obj if is_main_process() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def run_on_main(fn: Callable[[], T]) -> T:
    """``fn()`` run by rank 0 alone (checks and writes of the run folder); every rank gets its
    result, or raises its error, so that no rank goes on while another has stopped."""
    if world_size() == 1:
        return fn()
    if is_main_process():
        try:
            result = fn()
        except Exception as exc:
            broadcast_from_main(exc)
            raise
        return broadcast_from_main(result)
    result = broadcast_from_main(None)
    if isinstance(result, Exception):
        raise result
    return result


def exit_if_distributed(code: Optional[Union[int, str]]) -> None:
    """End this process now with exit status ``code`` (as ``sys.exit`` takes it) if it is part of a
    distributed run; return otherwise.

    Interpreter teardown is skipped on purpose: with torch 2.2, gloo's worker threads may still
    be releasing the last collective's tensors, which takes the GIL. Left to teardown, that
    aborts the process now and then (SIGABRT after a finished run), and ``destroy_process_group``
    can deadlock (it joins those threads while holding the GIL). Run files are closed by the
    time a command returns; the output streams are flushed here.
    """
    if world_size() == 1:
        return
    if isinstance(code, str):  # sys.exit("message"): the message, status 1
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def gather_across_ranks(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (small CPU objects such as logits of a shard)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


__all__ = [
    "barrier",
    "broadcast_from_main",
    "exit_if_distributed",
    "gather_across_ranks",
    "init_from_env",
    "is_main_process",
    "launched_by_torchrun",
    "rank",
    "run_on_main",
    "sum_across_ranks",
    "sync_buffers",
    "world_size",
    "wrap_model",
]
