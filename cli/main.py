"""The ``dgl-diffpool`` command line: thin wrappers over :mod:`dgl_diffpool`.

torch, DGL and ogb are imported inside the commands that use them: ``--help`` answers at once.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from typing import Any, Callable

import click
import cloup
from click.core import ParameterSource

from dgl_diffpool import __version__
from dgl_diffpool.errors import DiffPoolError
from dgl_diffpool.names import (BENCH_MODELS, CONV_TYPES, DEFAULT_DATASET, LR_SCHEDULES, METRIC_LABELS, MIRROR_ENV,
                                MODELS, MONITORS, OGB_DATASETS, PROTOCOLS, READOUTS, TU_DATASETS, resolve_dataset_name)
from dgl_diffpool.training.config import RunConfig

DEFAULTS = RunConfig()
SPLITS = ("test", "valid", "train")

# `train` options by group: (option, RunConfig field, click type, help); defaults come from RunConfig.
TRAIN_OPTIONS: dict[str, list[tuple[str, str, Any, str]]] = {
    "Data": [
        ("--dataset", "dataset", str,
         "Dataset: synthetic (built in), a TU dataset (ENZYMES, PROTEINS, DD, ...) or an OGB one (ogbg-molhiv, ...); "
         "`dgl-diffpool prep --help` lists them."),
        ("--features", "features", str, "TU node features: auto, attr, label, degree, or a '+' combination."),
        ("--data-dir", "data_dir", click.Path(file_okay=False), "Dataset cache directory."),
        ("--mirror", "mirror", click.Path(file_okay=False),
         f"Offline dataset mirror (layout tu/NAME.zip, ogb/ogbg_NAME/); default ${MIRROR_ENV}."),
        ("--data-seed", "data_seed", int,
         "Seed of the built-in dataset's generator (the same graphs whatever --seed)."),
    ],
    "Model": [
        ("--model", "model", click.Choice(MODELS),
         "Model: DiffPool, DiffPool-NoLP (no link loss), DiffPool-Det (Graclus assignments), DiffPool on "
         "Structure2Vec, GraphSAGE with a mean, Set2Set or SortPool readout, Structure2Vec, ECC (edge labels), "
         "PATCHY-SAN, or the structure-blind MLP on summed node features."),
        ("--conv", "conv", click.Choice(CONV_TYPES), "GNN layer type."),
        ("--gnn-layers", "gnn_layers", click.IntRange(min=1), "Layers in each embedding / assignment GNN."),
        ("--hidden", "hidden", click.IntRange(min=1), "Hidden size of each GNN layer."),
        ("--mlp-hidden", "mlp_hidden", click.IntRange(min=1), "Hidden size of the classifier MLP."),
        ("--batch-norm/--no-batch-norm", "batch_norm", bool, "BatchNorm after each GNN layer."),
        ("--input-norm/--no-input-norm", "input_norm", bool,
         "BatchNorm of the raw node features before the first layer (statistics of training batches)."),
        ("--dropout", "dropout", click.FloatRange(0, 1, max_open=True), "Dropout probability."),
        ("--readout", "readout", click.Choice(READOUTS), "Readout over the nodes of each DiffPool level."),
        ("--sort-k", "sort_k", click.IntRange(min=1), "sage-sort: nodes kept by the SortPool readout."),
        ("--patchy-width", "patchy_width", click.IntRange(min=1), "patchy-san: receptive fields per graph."),
        ("--patchy-field", "patchy_field", click.IntRange(min=1), "patchy-san: nodes per receptive field."),
    ],
    "Pooling": [
        ("--pool-levels", "pool_levels", click.IntRange(min=1), "Number of DiffPool layers."),
        ("--ratio", "ratio", click.FloatRange(0, 1, min_open=True), "Assignment ratio: clusters per node."),
        ("--adaptive-clusters/--fixed-clusters", "adaptive_clusters", bool,
         "Per-graph cluster counts ceil(ratio * n_b) instead of one K per level."),
        ("--link-loss/--no-link-loss", "link_loss", bool, "Link-prediction loss (off: DiffPool-NoLP)."),
        ("--entropy-loss/--no-entropy-loss", "entropy_loss", bool, "Assignment-entropy loss."),
    ],
    "Optimisation": [
        ("--lr", "lr", click.FloatRange(0, min_open=True), "Adam learning rate."),
        ("--lr-schedule", "lr_schedule", click.Choice(LR_SCHEDULES),
         "constant: --lr throughout; cosine: from --lr at the first epoch down towards 0 at --epochs."),
        ("--weight-decay", "weight_decay", click.FloatRange(0), "Adam weight decay."),
        ("--batch-size", "batch_size", click.IntRange(min=1), "Graphs per batch."),
        ("--bucket/--no-bucket", "bucket", bool,
         "Batch graphs of similar size together (members and order still shuffled each epoch)."),
        ("--max-padded-nodes", "max_padded_nodes", click.IntRange(min=0),
         "Cap graphs x largest graph per batch, the padded size of a dense level (0: no cap)."),
        ("--loader-workers", "loader_workers", click.IntRange(min=0),
         "Processes that prepare batches while the model trains (0: the training process itself)."),
        ("--epochs", "epochs", click.IntRange(min=1), "Maximum number of epochs."),
        ("--patience", "patience", click.IntRange(min=1), "Early stopping: epochs without validation gain."),
        ("--monitor", "monitor", click.Choice(MONITORS),
         "What picks the best epoch and stops early: the validation score (ties: lower loss), or the "
         "validation task loss (smoother, but it stopped ENZYMES too early)."),
        ("--clip", "clip", click.FloatRange(0, min_open=True), "Gradient norm clipping threshold."),
        ("--device", "device", str, "cpu, cuda or cuda:N."),
    ],
    "Protocol": [
        ("--protocol", "protocol", click.Choice(PROTOCOLS),
         "holdout: one stratified split; cv: stratified k-fold cross-validation; official: the dataset's own "
         "split (OGB); auto: official where there is one, else holdout."),
        ("--folds", "folds", click.IntRange(min=2), "Number of cross-validation folds."),
        ("--val-fraction", "val_fraction", click.FloatRange(0, 1, min_open=True, max_open=True),
         "Stratified validation fraction."),
        ("--test-fraction", "test_fraction", click.FloatRange(0, 1, min_open=True, max_open=True),
         "Stratified test fraction (holdout protocol)."),
        ("--seed", "seed", int, "Seed of data generation, splits, initialisation and shuffling."),
        ("--seeds", "seeds", click.IntRange(min=1),
         "Repeat the run with seeds SEED, SEED+1, ... (with --protocol cv: the whole cross-validation, "
         "selection included, each seed drawing its own folds unless --folds-file)."),
    ],
}


def _config_option(flag: str, field: str, kind: Any, help_text: str) -> Callable:
    default = getattr(DEFAULTS, field)
    if kind is bool:
        return cloup.option(flag, field, default=default, help=help_text)
    if field == "mirror":
        return cloup.option(flag, field, type=kind, default=None, envvar=MIRROR_ENV, help=help_text)
    return cloup.option(flag, field, type=kind, default=default, help=help_text)


def _train_options(extra: dict[str, list[Callable]] | None = None, skip: tuple[str, ...] = ()) -> Callable:
    """The option groups of :data:`TRAIN_OPTIONS` (without the fields in ``skip``), each followed
    by ``extra``'s options of the same group title; ``extra``'s other groups come after."""
    extra = dict(extra or {})

    def decorate(fn: Callable) -> Callable:
        groups = []
        for title, rows in TRAIN_OPTIONS.items():
            options = [_config_option(*row) for row in rows if row[1] not in skip] + extra.pop(title, [])
            if options:
                groups.append((title, options))
        groups += list(extra.items())
        for title, options in reversed(groups):
            fn = cloup.option_group(title, *options)(fn)
        return fn

    return decorate


def _selection_options() -> list[Callable]:
    return [
        cloup.option("--select", default=None, metavar="SPACE",
                     help="Model selection inside every fold: a YAML search space, or 'default' for the model's own."),
        cloup.option("--final-runs", type=click.IntRange(min=1), default=3,
                     help="With --select: trainings of the chosen configuration per fold; the fold's score is "
                          "their mean."),
        cloup.option("--jobs", type=click.IntRange(min=1), default=1,
                     help="With --select: worker processes (one thread each) sharing the trainings."),
        cloup.option("--prune", is_flag=True,
                     help="With --select: stop candidates that trail the others' median from epoch 10 on "
                          "(Optuna's median pruner; with --jobs > 1 its decisions depend on timing)."),
        cloup.option("--storage", default=None, metavar="URL",
                     help="With --select: Optuna storage (default RUN_DIR/selection.db); a database URL lets "
                          "commands on several machines share the work."),
    ]


def _progress_options() -> list[Callable]:
    return [
        cloup.option("--progress/--no-progress", default=True,
                     help="A progress bar on a terminal; without one (or when output is not a terminal: a log "
                          "file, CI) plain lines, see --log-every."),
        cloup.option("--log-every", type=click.IntRange(min=0), default=1, metavar="N",
                     help="Without a progress bar: one line every N epochs (0: none)."),
    ]


def _progress(show: bool, log_every: int) -> Any:
    """A bar where stderr is a terminal and the user wants one, plain lines otherwise; bars that
    other libraries draw (ogb's preparation) are turned off with ours."""
    from dgl_diffpool.training.progress import Progress

    bar = show and sys.stderr.isatty()
    if not bar:
        os.environ.setdefault("TQDM_DISABLE", "1")
    return Progress(bar=bar, every=0 if bar else log_every, echo=click.echo)


class Interrupted(click.ClickException):
    """Ctrl-C or SIGTERM: one line, and the shell's exit code for the signal (130, 143)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it stops as Ctrl-C does."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


def _library_errors(fn: Callable) -> Callable:
    """Turn the library's user-facing errors and the operating system's (permissions, a full
    disk) into one ``Error: ...`` line and exit code 1; SIGTERM interrupts like Ctrl-C."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return fn(*args, **kwargs)
        except DiffPoolError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def _interrupted(exc: KeyboardInterrupt, hint: str) -> Interrupted:
    signum = signal.SIGTERM if isinstance(exc, _Terminated) else signal.SIGINT
    return Interrupted(f"interrupted; {hint}", signum)


def _release_if_empty(path: str) -> None:
    """Remove a run directory reserved by :func:`_new_run_dir` for a run that never started
    (and ``runs/`` if that leaves it empty)."""
    for folder in (path, os.path.dirname(path)):
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


SELECTION_OPTIONS = ("final_runs", "jobs", "prune", "storage")


def _check_selection_options(ctx: click.Context) -> None:
    """--final-runs, --jobs, --prune and --storage shape a selection: refused without one."""
    given = [f"--{k.replace('_', '-')}" for k in SELECTION_OPTIONS
             if ctx.get_parameter_source(k) != ParameterSource.DEFAULT]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise click.UsageError(f"{', '.join(given)} {verb} to a selection: add --select")


def _refuse_flags_the_space_sets(ctx: click.Context, options: dict[str, list[Any]], whose: str = "") -> None:
    """A flag for an option the space selects would be overridden by every candidate: refused."""
    given = [k for k in options if k in ctx.params and ctx.get_parameter_source(k) != ParameterSource.DEFAULT]
    if given:
        flag, name = f"--{given[0].replace('_', '-')}", given[0]
        values = ", ".join(str(v) for v in options[name])
        raise click.UsageError(f"{flag} would do nothing: the search space{whose} selects {name} among {values}; "
                               "drop the flag or take the option out of the space")


def _print_community(community: dict[str, float] | None) -> None:
    if community:
        click.echo(f"planted communities recovered by the level-1 clusters (argmax S), mean over test graphs: "
                   f"ARI {community['community_ari']:.3f}, NMI {community['community_nmi']:.3f}")


def _print_selection(summary: dict[str, Any], config: RunConfig, seconds: float) -> None:
    label = METRIC_LABELS[summary["metric"]]
    for row in summary["per_fold"]:
        chosen = ", ".join(f"{k}={v}" for k, v in row["chosen"].items())
        tests = " ".join(f"{t:.4f}" for t in row["final_test_scores"])
        click.echo(f"fold {row['fold']}: chose {chosen}; final runs' test {label} {tests}, "
                   f"mean {row['test_score']:.4f}")
    ensemble = "" if summary["ensemble_mean"] is None else (
        f"; ensemble of the final runs, averaged probabilities: {100 * summary['ensemble_mean']:.2f} +- "
        f"{100 * summary['ensemble_std']:.2f}")
    click.echo(f"{config.model} on {config.dataset}, {summary['folds']} folds with selection, "
               f"{summary['final_runs']} final runs each: test {label} {100 * summary['test_score_mean']:.2f} +- "
               f"{100 * summary['test_score_std']:.2f} (one final run: {100 * summary['single_run_mean']:.2f} +- "
               f"{100 * summary['single_run_std']:.2f}{ensemble}), {seconds:.0f} s")


def _print_seeds(summary: dict[str, Any], seconds: float) -> None:
    label = METRIC_LABELS[summary["metric"]]
    what = "cross-validations with selection" if summary["selection"] else "cross-validations"
    means = ", ".join(f"{100 * row['test_score_mean']:.2f}" for row in summary["per_seed"])
    extra = "".join(f"; {name}, mean over seeds: {100 * summary[key]:.2f}"
                    for key, name in (("single_run_mean", "one final run"), ("ensemble_mean", "ensemble"))
                    if key in summary)
    click.echo(f"{summary['model']} on {summary['dataset']}, {summary['finished']} {summary['folds']}-fold {what}: "
               f"test {label} {100 * summary['test_score_mean']:.2f} +- {100 * summary['test_score_std']:.2f} over "
               f"seeds (their means {means}; spread {100 * summary['spread']:.2f}){extra}, {seconds:.0f} s")


def _new_run_dir(config: RunConfig) -> str:
    """``runs/DATASET-MODEL-TIME``, with ``-2``, ``-3``, ... if another run took that name in the
    same second; created empty here (exclusively) so that no other process gets it."""
    os.makedirs("runs", exist_ok=True)
    base = os.path.join("runs", f"{config.resolved().dataset}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    for n in range(1, 1000):
        path = base if n == 1 else f"{base}-{n}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise click.ClickException(f"cannot find a free run directory name beside {base}; give --out")


def _dataset_help() -> str:
    return (f"NAME is the built-in {DEFAULT_DATASET} set (the default), a TU dataset ({', '.join(TU_DATASETS)}) "
            f"or an OGB one ({', '.join(OGB_DATASETS)}); names are matched whatever their case.")


@cloup.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="dgl-diffpool")
def cli() -> None:
    """DiffPool for DGL: prepare datasets, train and evaluate hierarchical graph classifiers."""


def main() -> None:
    """The console script: :func:`cli`, then a process of a distributed run ends at once
    (see :func:`dgl_diffpool.training.distributed.exit_if_distributed`)."""
    try:
        cli(prog_name="dgl-diffpool")
    except SystemExit as exc:
        if "torch.distributed" in sys.modules:  # only a command that imported it can have started a run
            from dgl_diffpool.training.distributed import exit_if_distributed

            exit_if_distributed(exc.code)
        raise


@cli.command(help=f"""Prepare dataset NAME in the data directory (later runs reuse it).

{_dataset_help()}""")
@cloup.argument("name", default=DEFAULT_DATASET)
@cloup.option("--data-dir", default=DEFAULTS.data_dir, type=click.Path(file_okay=False), help="Dataset cache.")
@cloup.option("--mirror", type=click.Path(file_okay=False), default=None, envvar=MIRROR_ENV,
              help=f"Offline dataset mirror (layout tu/NAME.zip, ogb/ogbg_NAME/); default ${MIRROR_ENV}.")
@cloup.option("--features", default=DEFAULTS.features,
              help="TU node features: auto, attr, label, degree, or a '+' combination.")
@cloup.option("--data-seed", default=DEFAULTS.data_seed, help="Seed of the built-in dataset's generator.")
@_library_errors
def prep(name: str, data_dir: str, mirror: str | None, features: str, data_seed: int) -> None:
    from dgl_diffpool.data import load_dataset

    data = load_dataset(name, data_dir, seed=data_seed, mirror=mirror, features=features)
    nodes = data.num_nodes.double()
    target = (f"{data.num_classes} classes" if data.task.kind == "multiclass"
              else f"{data.task.num_outputs} binary target(s)")
    split = "" if data.split is None else ", official split " + " / ".join(
        f"{len(data.split[k])}" for k in ("train", "valid", "test"))
    click.echo(
        f"{data.name}: {len(data)} graphs, {target}, {data.num_features} node features, "
        f"{float(nodes.mean()):.2f} nodes on average (max {int(nodes.max())}){split}, cached in {data_dir}"
    )


@cli.command()
@_train_options({
    "Protocol": [
        cloup.option("--fold", type=click.IntRange(min=0), default=None, help="Cross-validation: run only this fold."),
        cloup.option("--folds-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Cross-validation: reuse these folds (a folds.json of an earlier run)."),
    ],
    "Model selection": _selection_options(),
    "Output": [
        cloup.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Run directory (default: runs/DATASET-MODEL-TIME)."),
        cloup.option("--resume", is_flag=True, help="Continue the interrupted run in --out."),
        *_progress_options(),
        cloup.option("--tensorboard", is_flag=True,
                     help="Also write metrics (and test scores) for TensorBoard into RUN_DIR/.../tensorboard."),
        cloup.option("--plot/--no-plot", default=True,
                     help="Write the training curves to RUN_DIR/curves.png at the end."),
    ],
})
@click.pass_context
@_library_errors
def train(ctx: click.Context, out: str | None, resume: bool, fold: int | None, folds_file: str | None,
          progress: bool, log_every: int, tensorboard: bool, plot: bool, select: str | None, final_runs: int,
          jobs: int, prune: bool, storage: str | None, **options: Any) -> None:
    """Train a model; select it on the validation split and test it once.

    With --protocol cv --select SPACE, a configuration of SPACE is selected inside every
    outer fold on an inner hold-out split of its training graphs, then trained --final-runs
    times; the fold's score is their mean (Errica et al., ICLR 2020).

    Under torchrun (torchrun --nproc_per_node=N -m dgl_diffpool_cli train ...) the processes
    train one model data-parallel: each takes its share of every batch, gradients are averaged,
    rank 0 writes the run directory and prints."""
    from dgl_diffpool.plotting import plot_run
    from dgl_diffpool.training import Assessment, cross_validate, repeat_assessment, repeat_seeds, train as train_run
    from dgl_diffpool.training.distributed import is_main_process, launched_by_torchrun
    from dgl_diffpool.training.rundir import holds_run, saved_config
    from dgl_diffpool.training.selection import saved_selection, select_and_assess
    from dgl_diffpool.training.space import load_space

    if resume and out is None:
        raise click.UsageError("--resume needs --out, the directory of the run to continue")
    if resume:
        saved = saved_config(out) if holds_run(out) else None
        if saved is None:
            raise click.ClickException(f"no run to resume in {out}")
        given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) != ParameterSource.DEFAULT}
        options = {**saved.to_dict(), **given}
    config = RunConfig(**options)
    resolved = config.resolved()
    if resolved.protocol != "cv" and (fold is not None or folds_file is not None or select is not None):
        raise click.UsageError("--fold, --folds-file and --select need --protocol cv")
    space = load_space(select, config.model) if select is not None else None
    saved_plan = saved_selection(out) if resume else None
    if saved_plan is not None:  # a selection continues as recorded unless told otherwise (and checked)
        space = space or saved_plan.space
        if ctx.get_parameter_source("final_runs") == ParameterSource.DEFAULT:
            final_runs = saved_plan.final_runs
        if ctx.get_parameter_source("prune") == ParameterSource.DEFAULT:
            prune = saved_plan.prune
        if storage is None and saved_plan.storage is not None:
            raise click.UsageError(f"this selection's studies are in {saved_plan.storage}: give --storage again")
    if space is None:
        _check_selection_options(ctx)
    else:
        _refuse_flags_the_space_sets(ctx, space.options)
    if space is not None and fold is not None:
        raise click.UsageError("a selection runs every fold (its trainings spread over --jobs); drop --fold")
    repeated_cv = resolved.protocol == "cv" and config.seeds > 1
    if repeated_cv and fold is not None:
        raise click.UsageError("--fold runs one fold of one cross-validation; drop --seeds or --fold")
    if space is not None and launched_by_torchrun():
        raise click.UsageError("a selection spreads whole trainings over --jobs workers; run it without torchrun")
    reserved = out is None
    if reserved:
        if launched_by_torchrun():  # every process must write and read the same folder
            raise click.UsageError("under torchrun, name the run directory with --out")
        out = _new_run_dir(config)
    report = _progress(progress, log_every)
    tick = time.perf_counter()
    try:
        if repeated_cv:
            assessment = Assessment(space, final_runs, jobs, storage, prune, folds_file)
            summary = repeat_assessment(config, out, assessment, resume=resume, progress=report, echo=click.echo,
                                        tensorboard=tensorboard)
            if is_main_process():
                _print_seeds(summary, time.perf_counter() - tick)
                click.echo(f"run directory: {out}")
                if plot and space is None:  # a selection's trainings are its candidates' and final runs'
                    click.echo(f"training curves: {plot_run(out)}")
            return
        if space is not None:
            summary = select_and_assess(config, space, out, final_runs, jobs, storage, folds_file, resume=resume,
                                        progress=report if jobs == 1 else False, echo=click.echo, prune=prune)
            _print_selection(summary, config, time.perf_counter() - tick)
            click.echo(f"run directory: {out}")
            return
        if resolved.protocol == "cv":
            runs = cross_validate(config, out, folds_file, fold, resume=resume, progress=report,
                                  tensorboard=tensorboard)
        elif config.seeds > 1:
            runs = repeat_seeds(config, out, resume=resume, progress=report, tensorboard=tensorboard)
        else:
            result = train_run(config, out, resume=resume, progress=report, tensorboard=tensorboard)
    except KeyboardInterrupt as exc:
        if holds_run(out):
            raise _interrupted(exc, f"continue with: dgl-diffpool train --out {out} --resume") from None
        raise _interrupted(exc, "the run had not started") from None
    finally:
        if reserved:
            _release_if_empty(out)
    if not is_main_process():  # rank 0 of a torchrun job reports
        return
    if resolved.protocol == "cv" or config.seeds > 1:  # each fold or seed was reported as it finished
        unit = "fold" if resolved.protocol == "cv" else "seed"
        summary = json.load(open(os.path.join(out, "summary.json")))
        click.echo(f"{config.model} on {resolved.dataset}, {summary['finished']} of {summary['total']} "
                   f"{unit}s: test {METRIC_LABELS[runs.metric]} {100 * runs.mean:.2f} +- {100 * runs.std:.2f}, "
                   f"{time.perf_counter() - tick:.1f} s")
        _print_community(summary.get("community"))
    else:
        label = METRIC_LABELS[result.metric]
        click.echo(
            f"{config.model} on {resolved.dataset}: best epoch {result.best_epoch + 1} of "
            f"{result.epochs_run}{' (early stop)' if result.stopped_early else ''}, validation {label} "
            f"{result.val_score:.4f}, test {label} {result.test_score:.4f}, {time.perf_counter() - tick:.1f} s"
        )
        _print_community(result.community)
    click.echo(f"run directory: {out}")
    if plot:
        click.echo(f"training curves: {plot_run(out)}")


@cli.command()
@cloup.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@cloup.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Picture to write, its format from the extension: .png, .pdf, .svg (default RUN_DIR/curves.png).")
@_library_errors
def plot(run_dir: str, out: str | None) -> None:
    """Plot loss, metric, link and entropy losses per epoch of RUN_DIR (train and validation;
    every fold or seed of a repeated run, and their mean)."""
    from dgl_diffpool.plotting import plot_run

    click.echo(plot_run(run_dir, out))


def _data_options() -> list[Callable]:
    return [
        cloup.option("--dataset", default=None,
                     help="The dataset the checkpoint was trained on (checked; default: its own)."),
        cloup.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Dataset cache (default: the one the run used)."),
        cloup.option("--mirror", type=click.Path(file_okay=False), default=None,
                     help="Offline dataset mirror (default: the one the run used)."),
    ]


@cli.command()
@cloup.argument("checkpoint", type=click.Path(exists=True))
@cloup.option("--split", type=click.Choice(SPLITS), default="test", help="The run's split to score.")
@cloup.option("--fold", type=click.IntRange(min=0), default=None,
              help="A cross-validation run: score this fold only (default: every fold, and their mean).")
@cloup.option_group("Data", *_data_options())
@cloup.option("--device", default="cpu", help="cpu, cuda or cuda:N.")
@_library_errors
def evaluate(checkpoint: str, split: str, fold: int | None, dataset: str | None, data_dir: str | None,
             mirror: str | None, device: str) -> None:
    """Score CHECKPOINT (a .pt file or a run directory) on a split of the run that trained it,
    with the dataset's metric (accuracy, or OGB's ROC-AUC / average precision).

    A directory of folds or seeds scores each one (a fold of a model selection: the mean of
    its final runs) and prints their mean and standard deviation."""
    import statistics

    from dgl_diffpool.training.scoring import run_checkpoints, score_checkpoints

    groups = run_checkpoints(checkpoint, fold)
    config, metric, scored = score_checkpoints(groups, split, device, data_dir, mirror, dataset)
    label = METRIC_LABELS[metric]
    for part in scored:
        runs = f", mean of {len(part.scores)} final runs" if len(part.scores) > 1 else ""
        where = "" if part.label == "run" else f"{part.label} "
        click.echo(f"{config.model} on {config.dataset} {where}[{split}, {part.graphs} graphs{runs}]: "
                   f"{label} {part.score:.4f}")
    if len(scored) > 1:
        values = [part.score for part in scored]
        unit = scored[0].label.split()[0]
        click.echo(f"mean over {len(values)} {unit}s: {label} {100 * statistics.fmean(values):.2f} +- "
                   f"{100 * statistics.pstdev(values):.2f}")


# A bench fixes the protocol (cross-validation) and takes datasets and models as lists.
_BENCH_SKIP = ("dataset", "model", "protocol", "test_fraction", "seeds")


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@cli.command()
@_train_options({
    "Data": [cloup.option("--datasets", default="ENZYMES,PROTEINS", help="Comma-separated datasets (TU or built-in).")],
    "Model": [cloup.option(
        "--models", default="diffpool,diffpool-nolp,diffpool-det,sage-mean,sage-set2set,sage-sort,wl-kernel",
        help=f"Comma-separated models, or all: {', '.join(BENCH_MODELS)}.")],
    "Model selection": _selection_options(),
    "Output": [
        cloup.option("--out", type=click.Path(file_okay=False), default=os.path.join("runs", "bench"),
                     help="Bench directory; finished pairs in it are not rerun."),
        *_progress_options(),
    ],
}, skip=_BENCH_SKIP)
@_library_errors
def bench(datasets: str, models: str, out: str, progress: bool, log_every: int, select: str | None, final_runs: int,
          jobs: int, prune: bool, storage: str | None, **options: Any) -> None:
    """Cross-validate every model on every dataset with the same folds and seeds, and print the
    paper-style table (models as rows, datasets as columns, test accuracy mean +- std over folds).

    With --select, every model selects its configuration inside every fold with the same
    inner splits and effort (the kernels: their C from the space's C values).

    Writes table.md, table.csv and results.json into --out; rerunning the command skips
    finished pairs and resumes an interrupted one."""
    from dgl_diffpool.training.bench import Selection, format_table, run_bench
    from dgl_diffpool.training.space import load_space

    config = RunConfig(**options, protocol="cv")
    names = [resolve_dataset_name(name) for name in _names(datasets)]
    model_names = list(BENCH_MODELS) if models == "all" else _names(models)
    if select is None:
        _check_selection_options(click.get_current_context())
    else:
        for model in (m for m in model_names if m in MODELS):
            _refuse_flags_the_space_sets(click.get_current_context(), load_space(select, model).options, f" of {model}")
    selection = None if select is None else Selection(select, final_runs, jobs, storage, prune)
    tick = time.perf_counter()
    try:
        pairs = run_bench(config, names, model_names, out, progress=_progress(progress, log_every), echo=click.echo,
                          selection=selection)
    except KeyboardInterrupt as exc:
        raise _interrupted(exc, f"rerun the same command to continue in {out}") from None
    click.echo(format_table(pairs, names, model_names))
    click.echo(f"{len(pairs)} pair(s), {time.perf_counter() - tick:.0f} s; tables in {out}")


@cli.command()
@cloup.argument("checkpoint", type=click.Path(exists=True))
@cloup.option("--graph", "graphs", type=click.IntRange(min=0), multiple=True, default=(0,),
              help="Index of a graph in the dataset; repeat for several graphs on one sheet.")
@cloup.option("--level", type=click.IntRange(min=1), default=None,
              help="Draw coarsened graphs up to this pooling level (default: all).")
@cloup.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Picture to write, its format from the extension: .png, .pdf, .svg "
                   "(default: assignments-G1-G2....png beside the checkpoint).")
@cloup.option_group("Data", *_data_options())
@_library_errors
def visualize(checkpoint: str, graphs: tuple[int, ...], level: int | None, out: str | None, dataset: str | None,
              data_dir: str | None, mirror: str | None) -> None:
    """Draw what the DiffPool model in CHECKPOINT (a .pt file or a run directory) learnt: each
    graph coloured by its hard level-1 clusters (argmax of S), then for each pooling level the
    coarsened graph (edge widths from A') and S as a heat map."""
    from dgl_diffpool.plotting import draw_assignments, figure_format
    from dgl_diffpool.training import load_checkpoint, model_from_checkpoint
    from dgl_diffpool.training.scoring import checkpoint_dataset, run_checkpoints

    if out is not None:
        figure_format(out)  # a name matplotlib cannot write stops before the model and data are loaded
    groups = run_checkpoints(checkpoint)
    if len(groups) > 1 or len(groups[0][1]) > 1:
        raise click.ClickException(f"{checkpoint} holds several runs ({', '.join(g[0] for g in groups)}): "
                                   "name one of their folders")
    path = groups[0][1][0]
    payload = load_checkpoint(path)
    model, config = model_from_checkpoint(payload, path)
    data = checkpoint_dataset(path, payload, config, dataset, data_dir, mirror)
    if out is None:
        out = os.path.join(os.path.dirname(os.path.abspath(path)),
                           "assignments-" + "-".join(str(g) for g in graphs) + ".png")
    draw_assignments(model, data, list(graphs), out, max_level=level)
    click.echo(out)
