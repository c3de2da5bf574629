"""Stage 3: is the partition more than chance? Null models and clusterability.

* :func:`clusterability` -- the n-cut of a network's partition against those of
  shuffled copies of the network (``docs/method.md``, section 3); :func:`worker_pool`,
  the kept pool of worker processes that runs its shuffles in parallel (``n_jobs``).
* :func:`empirical_pvalues`, :func:`combine_pvalues`, :func:`combine_across_networks`,
  :func:`benjamini_hochberg` -- a true set's statistic against random controls, and
  the combination of such p-values over sub-clusters, networks and tables (section 4).

Names load on first use (:func:`~nngraph.utils.lazy_exports`): ``from nngraph.stats
import worker_pool`` imports neither numba nor scikit-learn, so a command can start the
workers before anything heavy loads.
"""

from typing import TYPE_CHECKING

from ..utils._lazy import lazy_exports as _lazy_exports
from ..utils._lazy import type_checking_exports as _type_checking_exports

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
    "shutdown_worker_pool",
    "worker_pool",
]

# The imports below are what type checkers see, and (read by type_checking_exports)
# where each name is loaded from on first use.
__getattr__, __dir__ = _lazy_exports(__name__, _type_checking_exports(__file__), globals())

if TYPE_CHECKING:  # pragma: no cover - read by type checkers, and at run time as above
    from ._clusterability import ClusterabilityResult, clusterability
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
    from ._shuffles import ShuffleFailedError
    from ._worker_pool import shutdown_worker_pool, worker_pool

del TYPE_CHECKING  # kept out of the namespace users tab through
