"""Stage 5: the whole pipeline (the study) as one library function, and its result.

The subpackage is not called ``study`` so that it cannot shadow :func:`nngraph.study`.

* :func:`study` -- graphs, partitions, comparison and clusterability of a network (the
  bundled default or your own), returned as one :class:`StudyResult`.
"""

from ._study import GraphStudy, StudyConfig, StudyResult, study

__all__ = ["GraphStudy", "StudyConfig", "StudyResult", "study"]
