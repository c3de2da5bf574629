"""Warnings that point at the user's line, however deep inside nngraph they are raised."""

from __future__ import annotations

import os
import sys

__all__ = ["user_stacklevel"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stacklevel() -> int:
    """Return the ``stacklevel`` of the first caller outside nngraph.

    For ``warnings.warn(..., stacklevel=user_stacklevel())`` in the function that calls
    this: the warning then names the user's line whichever public function (or chain
    of them, such as ``judge_partitions`` calling ``importance``) led there.

    Returns
    -------
    int
        1 for the calling function itself, 2 for its caller, and so on.

    Examples
    --------
    >>> def outside_nngraph():
    ...     return user_stacklevel()
    >>> outside_nngraph()  # a function outside nngraph is its own user: level 1
    1
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
