"""Numba kernel for :mod:`nngraph.graphs._weight_blocks`: kernel slices reduced.

A convolution's kernel slices are reduced to one number each, in one pass and without a
float64 copy of the weights.

Flag policy as everywhere in nngraph: arrays and scalars only, ``cache=True``, no
``fastmath`` (the sums must be the same on every machine).
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def reduce_slices(w, squared, out):
    """``out[o, i] = sum_k |w[o, i, k]|`` (or ``sum_k w[o, i, k]**2`` when ``squared``).

    ``w`` is ``(out, in, k)`` float32 or float64 (a convolution's weight with its
    spatial dimensions flattened); the sums are accumulated in float64, in order.
    """
    n_out, n_in, n_k = w.shape
    for o in range(n_out):
        for i in range(n_in):
            acc = 0.0
            for k in range(n_k):
                v = numba.float64(w[o, i, k])
                acc += v * v if squared else abs(v)
            out[o, i] = acc
