"""Search spaces for model selection: which configurations a fold's selection compares.

A space is a YAML mapping from ``train`` option names (``lr`` or ``batch-size``) to lists
of values: every combination is a candidate (a grid), or, with a ``samples: K`` key, K
combinations drawn at random (seeded). The graph kernels take one option, ``C``,
the SVM's regularisation. Default spaces for every model ship in ``spaces.yaml``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from ..errors import ConfigError
from .config import RunConfig
from .preflight import PREPROCESS_FIELDS

DEFAULT_SPACES = os.path.join(os.path.dirname(__file__), "spaces.yaml")
KERNEL_OPTION = "C"
# What a selection may not vary: the data, the protocol, where and how often it runs.
_FIXED = ("dataset", "data_dir", "mirror", "features", "model", "protocol", "folds", "val_fraction",
          "test_fraction", "seed", "seeds", "data_seed", "device")


@dataclass(frozen=True)
class SearchSpace:
    """``options``: option name -> the values to try, in order; ``samples``: ``None`` for the
    full grid, else the number of combinations to draw."""

    options: dict[str, list[Any]]
    samples: Optional[int] = None

    def candidates(self, seed: int = 0) -> list[dict[str, Any]]:
        """The configurations to compare, in a fixed order: the grid, or ``samples`` distinct
        combinations drawn uniformly with a generator seeded with ``seed`` (all of the grid if it
        is no larger), without listing the grid. Drawn up front, before any score exists, the list
        does not depend on which worker finishes first, so neither do the results; an adaptive
        sampler (TPE) would."""
        names, sizes = list(self.options), [len(v) for v in self.options.values()]
        total = math.prod(sizes)
        picks = range(total)
        if self.samples is not None and self.samples < total:  # distinct grid positions, sorted
            picks = sorted(random.Random(seed).sample(range(total), self.samples))
        draws = []
        for pick in picks:  # position -> one value per option, the last option varying fastest
            values = []
            for size in reversed(sizes):
                pick, index = divmod(pick, size)
                values.append(index)
            draws.append({k: self.options[k][i] for k, i in zip(names, reversed(values))})
        return draws

    def to_dict(self) -> dict[str, Any]:
        return {"options": self.options, "samples": self.samples}


def _parse(values: Any, where: str, kernel: bool, model: str) -> SearchSpace:
    if not isinstance(values, dict) or not values:
        raise ConfigError(f"{where}: a search space is a mapping from option names to lists of values")
    values = dict(values)
    samples = values.pop("samples", None)
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ConfigError(f"{where}: samples must be a whole number >= 1, got {samples!r}")
    defaults = RunConfig().to_dict()
    options: dict[str, list[Any]] = {}
    for raw, choices in values.items():
        name = str(raw).replace("-", "_") if not kernel else str(raw)
        if kernel and name != KERNEL_OPTION:
            raise ConfigError(f"{where}: a graph kernel's space has one option, {KERNEL_OPTION}, not {raw!r}")
        if not kernel and (name not in defaults or name in _FIXED):
            kind = "cannot be selected" if name in _FIXED else "is not a train option"
            raise ConfigError(f"{where}: {raw!r} {kind}")
        if name in PREPROCESS_FIELDS.get(model, ()):
            raise ConfigError(f"{where}: {raw!r} cannot be selected for {model}: the dataset is prepared "
                              "for it once, before the selection")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {raw} needs a non-empty list of values, got {choices!r}")
        expected = float if kernel else type(defaults[name]) if defaults[name] is not None else str
        for value in choices:
            ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
            if isinstance(value, bool) and expected is not bool:
                ok = False
            if not ok:
                raise ConfigError(f"{where}: {raw} takes {expected.__name__} values, got {value!r}")
            if kernel and not value > 0:
                raise ConfigError(f"{where}: {KERNEL_OPTION} must be > 0, got {value!r}")
            if not kernel:  # each value must make a valid configuration
                try:
                    RunConfig(**{**defaults, name: value})
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
        options[name] = list(choices)
    return SearchSpace(options, samples)


def _read(path: str) -> Any:
    try:
        with open(path) as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read search space {path} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({str(exc).splitlines()[0]})") from None


def load_space(spec: str, model: str, kernel: bool = False) -> SearchSpace:
    """The space of ``model``: ``spec`` is ``default`` (the shipped spaces), or a YAML file
    holding one space, or, like the shipped file, a mapping from model names to spaces.
    A model that a file does not cover (a graph kernel, for a file of one GNN space) keeps
    its default space."""
    from ..models import MODELS
    from .kernel_svm import KERNELS

    values = _read(DEFAULT_SPACES if spec == "default" else spec)
    per_model = isinstance(values, dict) and values and all(k in MODELS + KERNELS for k in values)
    if spec == "default" or per_model:
        if model in values:
            return _parse(values[model], f"{DEFAULT_SPACES if spec == 'default' else spec} [{model}]", kernel, model)
        if spec == "default":
            raise ConfigError(f"no default search space for model {model}")
        return load_space("default", model, kernel)
    return load_space("default", model, kernel) if kernel else _parse(values, spec, kernel, model)


def apply(config: RunConfig, candidate: dict[str, Any]) -> RunConfig:
    """``config`` with a candidate's options."""
    return dataclasses.replace(config, **candidate)


__all__ = ["DEFAULT_SPACES", "KERNEL_OPTION", "SearchSpace", "apply", "load_space"]
