"""The shared numba kernels against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.utils._kernels import weighted_degree


def _row_at_a_time(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    out = np.zeros(indptr.size - 1)
    for i in range(out.size):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            acc += float(data[p])
        out[i] = acc
    return out


@pytest.mark.parametrize("n_rows", [0, 1, 3, 4, 5, 11, 64])
def test_weighted_degree_sums_every_row_in_its_own_order(rng, n_rows):
    # Ragged rows (empty ones too) and values of very different sizes, so that another
    # order of addition would show in the last bits.
    lengths = rng.integers(0, 40, n_rows)
    lengths[rng.random(n_rows) < 0.2] = 0
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    data = rng.random(indptr[-1]) * 10.0 ** rng.integers(-8, 9, indptr[-1])
    np.testing.assert_array_equal(weighted_degree(indptr, data), _row_at_a_time(indptr, data))
