"""What every graph classifier of this package returns."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class ClassifierOutput(NamedTuple):
    """Logits and the auxiliary pooling losses, summed over pooling levels.

    ``aux_loss`` is the part of the training loss beyond cross-entropy (the
    enabled auxiliary losses); ``link_loss`` and ``entropy_loss`` are always
    reported, enabled or not, so runs can be compared.
    """

    logits: Tensor
    link_loss: Tensor
    entropy_loss: Tensor
    aux_loss: Tensor

    @classmethod
    def without_aux(cls, logits: Tensor) -> "ClassifierOutput":
        """The output of a model without auxiliary losses (all three are zero)."""
        zero = logits.new_zeros(())
        return cls(logits, zero, zero, zero)
