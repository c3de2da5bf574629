"""Stage 4: what do the parts do? Importance and coherence of sub-clusters.

* :func:`importance` -- silencing a sub-cluster against silencing random same-size sets
  of its layer (docs/method.md, section 4).
* :class:`ProxyResult` -- one row per sub-cluster with p-values, effects and
  significance, and the combined p-values.
"""

from ._importance import importance, lesion_statistics
from ._result import ProxyResult, Statistic

__all__ = ["ProxyResult", "Statistic", "importance", "lesion_statistics"]
