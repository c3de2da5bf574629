"""Warnings that point at the user's line, however deep inside nngraph they are raised."""

from __future__ import annotations

import sys

__all__ = ["user_stacklevel"]


def _inside(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    return name == "nngraph" or name.startswith("nngraph.")


def user_stacklevel() -> int:
    r"""Return the ``stacklevel`` of the first caller outside nngraph.

    For ``warnings.warn(..., stacklevel=user_stacklevel())`` in the function that calls
    this: the warning then names the user's line whichever public function (or chain
    of them, such as ``judge_partitions`` calling ``importance``) led there. A frame is
    nngraph's when its module is ``nngraph`` or below it (by module name, not by path:
    ``sys.path`` entries such as ``dir/..`` or links do not fool it).

    Returns
    -------
    int
        1 for the calling function itself, 2 for its caller, and so on.

    Examples
    --------
    >>> namespace = {"__name__": "user_script", "user_stacklevel": user_stacklevel}
    >>> exec("def outside_nngraph():\n    return user_stacklevel()", namespace)
    >>> namespace["outside_nngraph"]()  # a function outside nngraph is its own user
    1
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _inside(frame):
        frame = frame.f_back
        level += 1
    return level
