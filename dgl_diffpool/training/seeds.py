"""Repeating a hold-out or official-split run over seeds (OGB's protocol: mean and std over seeds)."""
from __future__ import annotations

import dataclasses
import os

from .config import RunConfig
from .cross_validation import RepeatedResult, finished_run
from .engine import LAST, _write_json, load_config_dataset, prepare_run, train


def repeat_seeds(config: RunConfig, run_dir: str, resume: bool = False, progress: bool = False,
                 tensorboard: bool = False) -> RepeatedResult:
    """Train ``config.seeds`` runs with seeds ``config.seed + i`` into ``run_dir/seed-S``.

    The dataset is loaded once; on an official split every run sees the same
    split, on a hold-out split each seed draws its own. A finished seed is not
    rerun on ``resume``. ``summary.json`` holds each seed's test score and their
    mean and standard deviation.
    """
    data = load_config_dataset(config)
    os.makedirs(run_dir, exist_ok=True)
    _write_json(os.path.join(run_dir, "config.json"), config.to_dict())  # what --resume reads
    seeds = [config.seed + i for i in range(config.seeds)]
    results = []
    for seed in seeds:
        one = dataclasses.replace(config, seed=seed, seeds=1)
        seed_dir = os.path.join(run_dir, f"seed-{seed}")
        done = finished_run(seed_dir) if resume else None
        if done is None:
            _, splits = prepare_run(one, data)
            done = train(one, seed_dir, resume=resume and os.path.exists(os.path.join(seed_dir, LAST)),
                         progress=progress, data=data, splits=splits, tensorboard=tensorboard)
        results.append(done)
    result = RepeatedResult(run_dir, results)
    result.write_summary(config, "seed", seeds)
    return result
