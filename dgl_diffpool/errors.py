"""Errors that name the problem in one line; the CLI prints them without a traceback."""


class DiffPoolError(Exception):
    """Base class of this package's user-facing errors."""


class DatasetError(DiffPoolError):
    """A dataset name, file or graph is missing, unknown or invalid."""


class ConfigError(DiffPoolError, ValueError):
    """A hyper-parameter or option has a value that cannot work."""


class CheckpointError(DiffPoolError):
    """A checkpoint is missing, unreadable, or belongs to another model or run."""


class RunFolderError(DiffPoolError):
    """A run folder already holds another run, or another process is writing it."""


class TrainingError(DiffPoolError):
    """Training cannot go on: the loss is no longer a finite number."""
