"""Stage 3: is the partition more than chance? Null models and clusterability.

* :func:`clusterability` -- the n-cut of a network's partition against those of
  shuffled copies of the network (method.md section 3).
"""

from ._clusterability import ClusterabilityResult, ShuffleFailedError, clusterability
from ._null_models import NULL_METHODS, NullModel

__all__ = [
    "NULL_METHODS",
    "ClusterabilityResult",
    "NullModel",
    "ShuffleFailedError",
    "clusterability",
]
