"""Stage 4: what do the parts do? Importance and coherence of sub-clusters.

* :func:`importance` -- silencing a sub-cluster against silencing random same-size sets
  of its layer (docs/method.md, section 4).
* :func:`coherence` -- do a sub-cluster's units respond to the same features, more
  consistently than random same-size sets (data-set examples, feature visualisation)?
  (section 5)
* :class:`ProxyResult` -- one row per sub-cluster with p-values, effects and
  significance, and the combined p-values.
"""

from ._coherence import coherence
from ._importance import importance, lesion_statistics
from ._pictures import coherence_figure
from ._result import ProxyResult, Statistic

__all__ = [
    "ProxyResult",
    "Statistic",
    "coherence",
    "coherence_figure",
    "importance",
    "lesion_statistics",
]
