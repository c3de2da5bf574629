"""Stage 3: is the partition more than chance? Null models and clusterability.

* :func:`clusterability` -- the n-cut of a network's partition against those of
  shuffled copies of the network (``docs/method.md``, section 3).
* :func:`empirical_pvalues`, :func:`combine_pvalues`, :func:`combine_across_networks`,
  :func:`benjamini_hochberg` -- a true set's statistic against random controls, and
  the combination of such p-values over sub-clusters, networks and tables (section 4).
"""

from ._clusterability import ClusterabilityResult, ShuffleFailedError, clusterability
from ._null_models import NULL_METHODS, NullModel
from ._pvalues import (
    COMBINATIONS,
    CombinedPValue,
    EmpiricalPValues,
    benjamini_hochberg,
    combine_across_networks,
    combine_dependent,
    combine_pvalues,
    empirical_pvalues,
)

__all__ = [
    "COMBINATIONS",
    "NULL_METHODS",
    "ClusterabilityResult",
    "CombinedPValue",
    "EmpiricalPValues",
    "NullModel",
    "ShuffleFailedError",
    "benjamini_hochberg",
    "clusterability",
    "combine_across_networks",
    "combine_dependent",
    "combine_pvalues",
    "empirical_pvalues",
]
