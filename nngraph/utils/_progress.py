"""Progress a person can see: bars on a terminal, plain lines in a log.

:func:`progress_bar` gives a tqdm bar when standard error is a terminal, and otherwise
an object with the same ``update``/``close`` methods that writes a plain line at each
quarter of the work (a log piped to a file stays readable). :class:`Stages` times the
stages of a long job and announces each one the same way.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["PlainProgress", "Stages", "interrupted", "progress_bar"]


class PlainProgress:
    """A tqdm stand-in for logs: ``desc: 25% (5/20)`` lines, at most one per quarter.

    A line is written when the work reaches the next quarter, with the share actually
    done (``33% (1/3)`` for a third); one update that passes several quarters writes one
    line.
    """

    def __init__(self, total: int | None, desc: str, stream: IO[str]) -> None:
        self.total, self.desc, self.stream = total, desc, stream
        self.n = 0
        self._quarter = 1  # the next quarter to announce
        self._t0 = time.perf_counter()
        self._postfix = ""

    def update(self, n: int = 1) -> None:
        """Advance by ``n``; write a line when the next quarter is reached."""
        self.n += n
        if not self.total:
            return
        reached = min(4, 4 * self.n // self.total)  # quarters done
        if reached < self._quarter:
            return
        self._quarter = reached + 1
        print(
            f"{self.desc}: {min(self.n / self.total, 1.0):.0%} ({self.n}/{self.total}, "
            f"{time.perf_counter() - self._t0:.1f} s){self._postfix}",
            file=self.stream,
            flush=True,
        )

    def set_postfix(self, **values: Any) -> None:
        """Show ``values`` (e.g. the current loss) at the end of the next lines."""
        self._postfix = "".join(f", {k} {v}" for k, v in values.items())

    def close(self) -> None:
        """Nothing to tidy: every line is already written."""

    def __iter__(self) -> Iterator[Any]:  # pragma: no cover - parity with tqdm
        return iter(())


class _Silent(PlainProgress):
    def update(self, n: int = 1) -> None:
        self.n += n


def progress_bar(
    total: int | None, desc: str, *, enabled: bool = True, unit: str = "it", stream: Any = None
) -> Any:
    """Make a progress indicator: tqdm on a terminal, plain lines elsewhere, or nothing.

    Parameters
    ----------
    total : int, optional
        Units of work.
    desc : str
        What is being done.
    enabled : bool, default=True
        False gives an indicator that writes nothing.
    unit : str, default="it"
        The unit shown by the bar.
    stream : file, optional
        Where to write (default: standard error).

    Returns
    -------
    object
        With ``update(n)``, ``set_postfix(...)`` and ``close()``.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return _Silent(total, desc, stream)
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream, leave=False)
    return PlainProgress(total, desc, stream)


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C in disguise.

    Ctrl-C during a numba kernel surfaces as ``SystemError: CPUDispatcher(...) returned a
    result with an exception set``, the ``KeyboardInterrupt`` in its chain.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class Stages:
    """Times the stages of a job and says which one is running.

    A line when a stage starts and one when it ends (with its time), on a terminal and
    in a log alike; ``timings`` maps each stage to its seconds.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> stages = Stages(stream=log)
    >>> with stages("weight graph"):
    ...     pass
    >>> list(stages.timings), log.getvalue().splitlines()[0]
    (['weight graph'], '[nngraph] weight graph ...')
    """

    def __init__(self, *, enabled: bool = True, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Run a stage: announce it, time it."""
        if self.enabled:
            print(f"[nngraph] {name} ...", file=self.stream, flush=True)
        t0 = time.perf_counter()
        outcome = "done"
        try:
            yield
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        except SystemError as exc:
            if not interrupted(exc):
                outcome = "failed"
                raise
            outcome = "interrupted"
            raise KeyboardInterrupt from exc
        except BaseException:
            outcome = "failed"
            raise
        finally:
            seconds = time.perf_counter() - t0
            self.timings[name] = self.timings.get(name, 0.0) + seconds
            if self.enabled:
                how = "done in" if outcome == "done" else f"{outcome} after"
                print(f"[nngraph] {name} {how} {seconds:.1f} s", file=self.stream, flush=True)
