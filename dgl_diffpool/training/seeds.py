"""Repeating a hold-out or official-split run over seeds (OGB's protocol: mean and std over seeds)."""
from __future__ import annotations

import dataclasses
import os

from .config import RunConfig
from .cross_validation import RepeatedResult, finished_line, finished_run
from .distributed import init_from_env, is_main_process, run_on_main
from .engine import train
from .preflight import build_config_model, load_config_dataset, prepare_run
from .progress import Progress
from .rundir import run_folder


def repeat_seeds(config: RunConfig, run_dir: str, resume: bool = False, progress: bool | Progress = False,
                 tensorboard: bool = False) -> RepeatedResult:
    """Train ``config.seeds`` runs with seeds ``config.seed + i`` into ``run_dir/seed-S``.

    The dataset is loaded once (the built-in one with ``config.data_seed``, so every
    seed trains on the same graphs); on an official split every run sees the same
    split, on a hold-out split each seed draws its own. With ``resume`` finished seeds
    are kept and an interrupted one continued. ``summary.json`` holds each seed's test
    score and their mean and standard deviation. ``progress`` as in
    :func:`~dgl_diffpool.training.cross_validation.cross_validate`, per seed.
    """
    init_from_env(config.device)  # under torchrun, rank 0 alone writes the folder from here on
    data = load_config_dataset(config)
    runs = [dataclasses.replace(config, seed=config.seed + i, seeds=1) for i in range(config.seeds)]
    splits = [prepare_run(one, data)[1] for one in runs]  # protocol problems stop here
    build_config_model(config, data)
    results, report = [], Progress.of(progress)
    with run_folder(run_dir, config, resume):
        for i, (one, split) in enumerate(zip(runs, splits)):
            seed_dir = os.path.join(run_dir, f"seed-{one.seed}")
            step = report.within(f"seed {i + 1}/{len(runs)}")
            done = run_on_main(lambda: finished_run(seed_dir, one))  # one answer for every rank
            if done is None:
                done = train(one, seed_dir, resume=resume, progress=step, data=data, splits=split,
                             tensorboard=tensorboard)
            results.append(done)
            if is_main_process():
                step.say(finished_line(done, [r.test_score for r in results], "seed"))
        result = RepeatedResult(run_dir, results)
        result.write_summary(config, "seed", [one.seed for one in runs], len(runs))
    return result
