"""The one family of checks for options, labels and seeds, shared by every stage.

Every check takes the option's name first (for the message) and the value second, and
returns the value in its canonical type. A failure raises
:class:`InvalidParameterError`, which is both a ``ValueError`` and a ``TypeError`` (as
scikit-learn's is): callers may catch either, whatever was wrong with the value.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "InvalidParameterError",
    "canonical_labels",
    "check_alpha",
    "check_bool",
    "check_choice",
    "check_int",
    "check_int_sequence",
    "check_labels",
    "check_real",
    "check_seed",
    "seed_from",
]


class InvalidParameterError(ValueError, TypeError):
    """An option of the wrong type or out of its range (a ``ValueError`` and a ``TypeError``)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def seed_from(random_state: Any) -> int:
    """Draw a 31-bit integer seed from ``random_state``.

    Parameters
    ----------
    random_state : None, int, numpy Generator, SeedSequence or RandomState
        The same int always gives the same seed; None gives a fresh one.

    Returns
    -------
    int
        In ``[0, 2**31 - 1)``.

    Examples
    --------
    >>> seed_from(0) == seed_from(0)
    True
    """
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(
        random_state, (numbers.Integral, np.random.Generator, np.random.SeedSequence)
    ):
        return int(np.random.default_rng(random_state).integers(0, 2**31 - 1))
    raise InvalidParameterError(
        f"random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {type(random_state).__name__}"
    )


def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    *,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """``value`` as an int in ``[minimum, maximum]`` (None passes when ``allow_none``).

    Examples
    --------
    >>> check_int("k", 3, 1)
    3
    >>> check_int("k", 0, 1)
    Traceback (most recent call last):
    ...
    nngraph.utils._validation.InvalidParameterError: k must be an integer >= 1, got 0
    """
    if value is None and allow_none:
        return None
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    if (
        not _is_int(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        what = "an integer" + (" " + " and ".join(bounds) if bounds else "")
        raise InvalidParameterError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    maximum: float | None = None,
    below_maximum: bool = False,
) -> float:
    """Check a finite float ``>= 0`` (``> 0`` if ``positive``), at most ``maximum``.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : Any
        The value to check (a bool is not a number).
    positive : bool, default=False
        Refuse 0.
    maximum : float, optional
        Upper bound, included unless ``below_maximum``.
    below_maximum : bool, default=False
        Make the upper bound strict.

    Returns
    -------
    float

    Examples
    --------
    >>> check_real("dropout", 0.5, maximum=1.0, below_maximum=True)
    0.5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_big = maximum is not None and (value >= maximum if below_maximum else value > maximum)
    if not np.isfinite(value) or value < 0 or (positive and value == 0) or too_big:
        kind = "positive" if positive else "non-negative"
        if maximum is not None:
            kind += f" number {'<' if below_maximum else '<='} {maximum:g}"
        else:
            kind += " number"
        raise InvalidParameterError(f"{name} must be a finite {kind}, got {value}")
    return value


def check_alpha(alpha: Any) -> float:
    """Check a significance level (a false discovery rate): a finite number in ``(0, 1)``.

    Examples
    --------
    >>> check_alpha(0.05)
    0.05
    """
    return check_real("alpha", alpha, positive=True, maximum=1.0, below_maximum=True)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (numpy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_seed(name: str, value: Any) -> int:
    """Check a plain integer seed in ``[0, 2**32 - 1]`` (for seeds recorded in files and keys)."""
    if not _is_int(value) or not 0 <= int(value) < 2**32:
        raise InvalidParameterError(f"{name} must be an integer in [0, 2**32 - 1], got {value!r}")
    return int(value)


def check_int_sequence(name: str, value: Any, minimum: int = 1) -> tuple[int, ...]:
    """Check a sequence (or 1-D array) of integers ``>= minimum``; return it as a tuple."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidParameterError(
            f"{name} must be a sequence of integers >= {minimum}, got {value!r}"
        )
    return tuple(int(check_int(f"each entry of {name}", v, minimum)) for v in value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidParameterError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... in order of their first unit; -1 stays -1.

    Examples
    --------
    >>> canonical_labels(np.array([5, -1, 2, 5, 2]))
    array([ 0, -1,  1,  0,  1])
    """
    out = np.full(labels.shape, -1, dtype=np.int64)
    mask = labels >= 0
    if not mask.any():
        return out
    uniq, first, inverse = np.unique(labels[mask], return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    out[mask] = rank[inverse]
    return out


_INT64_MAX = np.iinfo(np.int64).max


def check_labels(labels: Any, n: int | None = None, name: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D int64 array with values ``>= -1`` (and length ``n``).

    Parameters
    ----------
    labels : array-like of int
        One cluster label per unit; ``-1`` marks units left out.
    n : int, optional
        The number of units the labels must cover.
    name : str, default="labels"
        What to call the labels in messages.

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> check_labels([0, 1, -1])
    array([ 0,  1, -1])
    """
    if isinstance(labels, (list, tuple)) and any(
        _is_int(v) and abs(v) > _INT64_MAX for v in labels
    ):
        bad = next(v for v in labels if _is_int(v) and abs(v) > _INT64_MAX)
        raise ValueError(f"{name} must hold integers from -1 to {_INT64_MAX}, got {bad}")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must hold integers, got complex values")
    if arr.dtype.kind == "u" and arr.size and arr.max() > _INT64_MAX:
        raise ValueError(f"{name} must hold integers up to {_INT64_MAX}, got {arr.max()}")
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":
        if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
            raise ValueError(f"{name} must hold integers (got non-integral or NaN values)")
        if arr.size and np.abs(arr).max() > 2**53:
            raise ValueError(
                f"{name} must hold integers of at most 2**53 in a float array, "
                f"got {np.abs(arr).max():g}"
            )
        out = arr.astype(np.int64)
    elif arr.size == 0:
        out = arr.astype(np.int64)
    else:
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if out.size and out.min() < -1:
        raise ValueError(f"{name} must be >= -1 (-1 marks unclustered units), got {out.min()}")
    if n is not None and out.shape[0] != n:
        raise ValueError(f"{name} has {out.shape[0]} entries but the graph has {n} units")
    return out
