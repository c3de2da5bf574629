"""Helpers shared by the tests (the toy graphs themselves are :mod:`nngraph.datasets`)."""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["python_with_ctrl_c", "same_partition"]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings are equal up to renaming (-1 must match exactly)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    keep = a >= 0
    pairs = np.unique(np.stack([a[keep], b[keep]]), axis=1)
    return np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size


#: Prepended to a child's code: Ctrl-C raises KeyboardInterrupt again.
_CTRL_C = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def python_with_ctrl_c(*args: str) -> list[str]:
    """Return the command for ``python *args`` in which Ctrl-C raises KeyboardInterrupt.

    A process started with SIGINT ignored (a background job of a non-interactive
    shell, as CI may run the suite) passes that on to its children, and Python then
    never raises KeyboardInterrupt: the tests of Ctrl-C would wait for nothing.
    ``args`` is a script and its arguments, or ``"-m", module`` and its arguments.
    """
    if args[0] == "-m":
        run = f"runpy.run_module({args[1]!r}, run_name='__main__', alter_sys=True)"
        rest = args[2:]
    else:
        run = f"sys.argv[0] = {args[0]!r}; runpy.run_path({args[0]!r}, run_name='__main__')"
        rest = args[1:]
    return [sys.executable, "-c", f"{_CTRL_C}import runpy, sys\n{run}", *rest]
