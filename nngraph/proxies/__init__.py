"""Stage 4: what do the parts do? Importance and coherence of sub-clusters.

* :func:`importance` -- silencing a sub-cluster against silencing random same-size sets
  of its layer (docs/method.md, section 4).
* :func:`coherence` -- do a sub-cluster's units respond to the same features, more
  consistently than random same-size sets (data-set examples, feature visualisation)?
  (section 5)
* :class:`ProxyResult` -- one row per sub-cluster with p-values, effects and
  significance, and the combined p-values.
* :func:`judge_partitions` -- partitioners compared (:func:`nngraph.compare_partitioners`)
  and judged by the proxies: whose sub-clusters are more important and more coherent;
  :func:`random_relabel`, a partition drawn at random with the same sub-cluster sizes.
"""

from ._coherence import coherence
from ._importance import importance, lesion_statistics
from ._judge import judge_partitions, random_relabel
from ._pictures import coherence_figure
from ._result import ProxyResult, Statistic

__all__ = [
    "ProxyResult",
    "Statistic",
    "coherence",
    "coherence_figure",
    "importance",
    "judge_partitions",
    "lesion_statistics",
    "random_relabel",
]
