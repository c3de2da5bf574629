"""Small pieces of English for messages, summaries and reports."""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """Return ``n`` and ``noun``, in the singular for exactly one.

    Parameters
    ----------
    n : int
        The count.
    noun : str
        The noun in the singular.
    plural : str, optional
        The plural where it is not ``noun + "s"``.

    Examples
    --------
    >>> counted(1, "sub-cluster"), counted(3, "sub-cluster"), counted(0, "class", "classes")
    ('1 sub-cluster', '3 sub-clusters', '0 classes')
    """
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
