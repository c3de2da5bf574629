"""Byte sizes: reading a memory budget (``"2GiB"``, ``5e8``) and writing one for people."""

from __future__ import annotations

import numbers
import re
from typing import Any

from ..utils._validation import InvalidParameterError

__all__ = ["human_bytes", "parse_bytes"]

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def human_bytes(n: float) -> str:
    """Format a byte count for messages, in binary units up to GiB.

    Parameters
    ----------
    n : float
        Number of bytes (non-negative).

    Returns
    -------
    str

    Examples
    --------
    >>> human_bytes(1536), human_bytes(100), human_bytes(3 * 2**40)
    ('1.5 KiB', '100 B', '3.07e+03 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} TiB"  # pragma: no cover


def parse_bytes(name: str, value: Any) -> float:
    """Parse a positive number of bytes from a number or a string such as ``"2GiB"``.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : int, float or str
        A number of bytes, or a number followed by a unit: ``B``, ``kB``, ``MB``,
        ``GB``, ``TB`` (powers of 1000) or ``KiB``, ``MiB``, ``GiB``, ``TiB`` (powers of
        1024), in any case, with optional spaces.

    Returns
    -------
    float

    Raises
    ------
    InvalidParameterError
        Not positive, or not a number or such a string.

    Examples
    --------
    >>> parse_bytes("max_memory", "1.5 KiB"), parse_bytes("max_memory", 2e9)
    (1536.0, 2000000000.0)
    >>> parse_bytes("max_memory", "lots")
    Traceback (most recent call last):
    ...
    nngraph.utils._validation.InvalidParameterError: max_memory must be a positive number of bytes or a string like '2GiB', got 'lots'
    """  # noqa: E501
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not value > 0:
            raise InvalidParameterError(f"{name} must be positive, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS:
            result = float(match.group(1)) * _UNITS[match.group(2).lower()]
            if result > 0:
                return result
    raise InvalidParameterError(
        f"{name} must be a positive number of bytes or a string like '2GiB', got {value!r}"
    )
