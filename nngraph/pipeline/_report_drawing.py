"""Draw the report's pictures once its document is built, on every core where it can.

Drawing is the report's slow part (about 9 s for the 19 pictures of the default study,
one core, matplotlib's Agg renderer). :class:`PictureQueue` collects what to draw while
the document is built; :meth:`PictureQueue.draw` then draws it in worker processes
forked from this one (they inherit the results: nothing is pickled), or in this process
where forking is not safe (not Linux) or would not pay (one core, a picture or two).
A picture that fails is replaced in the document by a paragraph saying so.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..utils._threads import cpu_count

__all__ = ["PictureQueue"]

#: The jobs of the queue being drawn, read by the forked workers (inherited, not sent).
_JOBS: list[tuple[Callable[[Path], Any], Path]] = []


def _draw_one(index: int) -> str | None:
    """Draw job ``index``; return None, or the error in words."""
    make, path = _JOBS[index]
    try:
        make(path)
    except Exception as exc:  # noqa: BLE001 - one picture must not lose the report
        return f"{type(exc).__name__}: {exc}"
    return None


class PictureQueue:
    """Pictures to draw after the document is built.

    Parameters
    ----------
    workers : int, optional
        Processes drawing at once (default: the cores this process may use, at most 4;
        ``NNGRAPH_REPORT_WORKERS`` overrides it). 1 draws here, one after the other.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is None:
            workers = _env_workers() or min(4, cpu_count())
        self.workers = max(1, workers)
        self.jobs: list[tuple[Any, Callable[[Path], Any], Path, str]] = []

    def add(self, figure: Any, make: Callable[[Path], Any], path: Path, relative: str) -> None:
        """Queue ``make(path)``, whose result the document shows as ``figure``."""
        self.jobs.append((figure, make, path, relative))

    def draw(self, document: Any, failures: list[str]) -> None:
        """Draw every queued picture; replace the failed ones in ``document`` by a paragraph."""
        from ._report_document import picture_failed

        errors = self._run([(make, path) for _, make, path, _ in self.jobs])
        failed = {}
        for (figure, _, _, relative), error in zip(self.jobs, errors, strict=True):
            if error is not None:
                failed[id(figure)] = picture_failed(relative, error, failures)
        if failed:
            for _, section in document.walk():
                section.blocks = [failed.get(id(b), b) for b in section.blocks]
        self.jobs = []

    def _run(self, jobs: list[tuple[Callable[[Path], Any], Path]]) -> list[str | None]:
        global _JOBS
        _JOBS = jobs
        try:
            workers = min(self.workers, len(jobs))
            if workers < 2 or not sys.platform.startswith("linux"):
                return [_draw_one(i) for i in range(len(jobs))]
            import concurrent.futures as cf
            import multiprocessing as mp

            _preload()  # once here, not once per worker
            with warnings.catch_warnings():
                # Python 3.12+ warns that forking a threaded process may deadlock; the
                # workers only draw (matplotlib, Pillow, numpy), taking no lock of torch's.
                warnings.simplefilter("ignore", DeprecationWarning)
                context = mp.get_context("fork")
                with cf.ProcessPoolExecutor(
                    workers, mp_context=context, initializer=_worker_start
                ) as pool:
                    return list(pool.map(_draw_one, range(len(jobs))))
        finally:
            _JOBS = []


def _env_workers() -> int:
    """``NNGRAPH_REPORT_WORKERS`` as a count (0: unset); a bad value warns, never fails.

    The report is drawn at the end of a study: a typo in the variable must not cost the
    results.
    """
    value = os.environ.get("NNGRAPH_REPORT_WORKERS", "").strip()
    if not value:
        return 0
    try:
        workers = int(value)
        if workers < 0:
            raise ValueError
    except ValueError:
        warnings.warn(
            f"NNGRAPH_REPORT_WORKERS={value!r} is not a number of processes (0 or more); "
            "using the default",
            RuntimeWarning,
            stacklevel=3,
        )
        return 0
    return workers


def _preload() -> None:
    """Import the drawing libraries in this process, so the forked workers have them."""
    import matplotlib.pyplot  # noqa: F401 - as drawing here would (the examples use it)
    from matplotlib.backends import backend_agg  # noqa: F401
    from PIL import Image  # noqa: F401


def _worker_start() -> None:
    """Draw with Agg in a worker, whatever the user's backend; leave Ctrl-C to the parent.

    The parent (in the terminal's process group too) ends the pool and reports the
    interrupt in one line; a worker that took the signal as well would print its own
    traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import matplotlib.pyplot as plt

    plt.switch_backend("Agg")
