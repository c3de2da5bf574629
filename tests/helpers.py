"""Helpers shared by the tests (the toy graphs themselves are :mod:`nngraph.datasets`)."""

from __future__ import annotations

import numpy as np

__all__ = ["same_partition"]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings are equal up to renaming (-1 must match exactly)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    keep = a >= 0
    pairs = np.unique(np.stack([a[keep], b[keep]]), axis=1)
    return np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size
