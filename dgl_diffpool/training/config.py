"""Everything that defines a run, validated in one place."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Optional

from .. import defaults
from ..errors import ConfigError
from ..names import (DEFAULT_DATASET, CONV_TYPES, LR_SCHEDULES, MODELS, MONITORS, PROTOCOLS, READOUTS,
                     canonical_dataset, resolved_protocol)

# Options a resumed run may change: where it runs, where data live, how long it may go on.
RESUMABLE_FIELDS = ("device", "data_dir", "mirror", "epochs", "loader_workers")


@dataclass
class RunConfig:
    """Hyper-parameters and settings of one training run (defaults: the CLI's defaults).

    ``protocol="holdout"`` trains on one stratified train / valid / test split
    (``val_fraction``, ``test_fraction``); ``"cv"`` runs ``folds``-fold stratified
    cross-validation with a ``val_fraction`` validation split inside each training fold;
    ``"official"`` uses the dataset's own split (OGB); ``"auto"`` is ``official`` where
    the dataset has one and ``holdout`` elsewhere. ``seeds`` repeats a run (hold-out,
    official split, or a whole cross-validation) with seeds ``seed, seed + 1, ...``;
    ``data_seed`` seeds the built-in dataset's generator, so that runs with other seeds
    train on the same graphs.
    """

    dataset: str = DEFAULT_DATASET
    data_dir: str = "data"
    mirror: Optional[str] = None
    features: str = "auto"
    model: str = "diffpool"
    pool_levels: int = defaults.POOL_LEVELS
    ratio: float = defaults.RATIO
    adaptive_clusters: bool = defaults.ADAPTIVE_CLUSTERS
    gnn_layers: int = defaults.GNN_LAYERS
    hidden: int = defaults.HIDDEN
    mlp_hidden: int = defaults.MLP_HIDDEN
    conv: str = defaults.CONV
    batch_norm: bool = defaults.BATCH_NORM
    input_norm: bool = False
    dropout: float = defaults.DROPOUT
    readout: str = defaults.READOUT
    sort_k: int = defaults.SORT_K
    patchy_width: int = defaults.PATCHY_WIDTH
    patchy_field: int = defaults.PATCHY_FIELD
    link_loss: bool = defaults.LINK_LOSS
    entropy_loss: bool = defaults.ENTROPY_LOSS
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    batch_size: int = 20
    bucket: bool = True
    max_padded_nodes: int = 4000
    loader_workers: int = defaults.LOADER_WORKERS
    # Up to 150 epochs, patience 50: early stopping ends a training where more epochs do not help,
    # and 60 / 20 cut ENZYMES short (3 seeds of selection: 66.17 against 63.00; README "Results").
    epochs: int = 150
    patience: int = 50
    monitor: str = "score"
    clip: float = 2.0
    protocol: str = "auto"
    folds: int = 10
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    seeds: int = 1
    data_seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first option whose value cannot work."""
        checks = [
            (self.model in MODELS, f"model must be one of {', '.join(MODELS)}, got {self.model!r}"),
            (self.pool_levels >= 1, f"pool levels must be >= 1, got {self.pool_levels}"),
            (0.0 < self.ratio <= 1.0, f"assignment ratio must be in (0, 1], got {self.ratio}"),
            (self.gnn_layers >= 1, f"GNN layers must be >= 1, got {self.gnn_layers}"),
            (self.hidden >= 1 and self.mlp_hidden >= 1, "hidden sizes must be >= 1"),
            (self.conv in CONV_TYPES, f"conv must be one of {', '.join(CONV_TYPES)}, got {self.conv!r}"),
            (self.readout in READOUTS, f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}"),
            (self.sort_k >= 1, f"SortPool k must be >= 1, got {self.sort_k}"),
            (self.patchy_width >= 1 and self.patchy_field >= 1,
             f"PATCHY-SAN width and field size must be >= 1, got {self.patchy_width} and {self.patchy_field}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (0 < self.lr < math.inf, f"learning rate must be a finite number > 0, got {self.lr}"),
            (self.lr_schedule in LR_SCHEDULES,
             f"learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"),
            (0 <= self.weight_decay < math.inf, f"weight decay must be a finite number >= 0, got {self.weight_decay}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.loader_workers >= 0, f"loader workers must be >= 0, got {self.loader_workers}"),
            (self.max_padded_nodes >= 0, f"max padded nodes must be >= 0 (0: no cap), got {self.max_padded_nodes}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (self.monitor in MONITORS, f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}"),
            (self.protocol in PROTOCOLS, f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"),
            (self.folds >= 2, f"cross-validation needs at least 2 folds, got {self.folds}"),
            (self.seeds >= 1, f"seeds must be >= 1, got {self.seeds}"),
            (0 < self.clip < math.inf, f"gradient clipping norm must be a finite number > 0, got {self.clip}"),
            (
                self.val_fraction > 0 and self.test_fraction > 0 and self.val_fraction + self.test_fraction < 1,
                "validation and test fractions must be > 0 and sum to < 1, "
                f"got {self.val_fraction} and {self.test_fraction}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        for name, value in self.to_dict().items():  # torch sizes and seeds are 64-bit
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise ConfigError(f"{name.replace('_', ' ')} {value} is too large")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        if "data_seed" not in values:  # runs from before data_seed generated their data with their seed
            values = {**values, "data_seed": values.get("seed", 0)}
        return cls(**values)

    def resolved(self) -> "RunConfig":
        """This configuration as a run records it: the dataset's official name, the protocol
        ``auto`` stands for, and absolute data paths (so that a run can be evaluated or resumed
        from any directory)."""
        return dataclasses.replace(
            self,
            dataset=canonical_dataset(self.dataset),
            protocol=resolved_protocol(self.dataset, self.protocol),
            data_dir=os.path.abspath(self.data_dir),
            mirror=None if self.mirror is None else os.path.abspath(self.mirror),
        )

    def differences(self, other: "RunConfig") -> list[str]:
        """Fields (other than :data:`RESUMABLE_FIELDS`) whose values differ, as ``name: a != b``,
        compared as runs record them (see :meth:`resolved`)."""
        mine, theirs = self.resolved().to_dict(), other.resolved().to_dict()
        return [
            f"{k}: {mine[k]!r} != {theirs[k]!r}"
            for k in mine
            if k not in RESUMABLE_FIELDS and mine[k] != theirs[k]
        ]

    def batching(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~dgl_diffpool.training.run_epoch` that say how batches are made."""
        return dict(bucket=self.bucket, max_padded_nodes=self.max_padded_nodes, workers=self.loader_workers)

    def model_kwargs(self) -> dict[str, Any]:
        return dict(
            pool_levels=self.pool_levels,
            ratio=self.ratio,
            adaptive_clusters=self.adaptive_clusters,
            gnn_layers=self.gnn_layers,
            hidden_feats=self.hidden,
            mlp_hidden=self.mlp_hidden,
            conv=self.conv,
            batch_norm=self.batch_norm,
            input_norm=self.input_norm,
            dropout=self.dropout,
            readout=self.readout,
            sort_k=self.sort_k,
            patchy_width=self.patchy_width,
            patchy_field=self.patchy_field,
            link_loss=self.link_loss,
            entropy_loss=self.entropy_loss,
        )
