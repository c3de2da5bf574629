"""Stage 6: the whole study as one library function, its result, and its report.

The subpackage is not called ``study`` so that it cannot shadow :func:`nngraph.study`.

* :func:`study` -- graphs, partitions, comparison, clusterability, importance and
  coherence of a network (the bundled default or your own), as one :class:`StudyResult`
  that answers in plain words (:meth:`StudyResult.verdict`) and saves a report.
* :class:`StudyConfig` -- every option; :func:`load_config` reads one from TOML.
* :func:`load_source` / :func:`as_dataset` -- a network of yours, from
  ``"package.module:function"``, and the data forms accepted.
"""

from typing import TYPE_CHECKING

from ..utils._lazy import lazy_exports as _lazy_exports
from ..utils._lazy import type_checking_exports as _type_checking_exports

__all__ = [
    "GraphStudy",
    "GraphVerdict",
    "StudyConfig",
    "StudyResult",
    "Verdict",
    "as_dataset",
    "check_output",
    "load_config",
    "load_source",
    "study",
    "write_folder",
]

__getattr__, __dir__ = _lazy_exports(__name__, _type_checking_exports(__file__), globals())

if TYPE_CHECKING:  # pragma: no cover - read by type checkers, and at run time as above
    from ._config import StudyConfig, load_config
    from ._output import check_output, write_folder
    from ._result import GraphStudy, StudyResult
    from ._source import as_dataset, load_source
    from ._study import study
    from ._verdict import GraphVerdict, Verdict

del TYPE_CHECKING  # kept out of the namespace users tab through
