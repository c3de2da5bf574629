"""Numba kernels for :mod:`nngraph.graphs._igraph_convert`."""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def _n_digits(x):
    n = 1
    while x >= 10:
        x //= 10
        n += 1
    return n


@numba.njit(cache=True)
def edgelist_text_size(sources, targets):
    r"""Bytes needed to write ``"s t\n"`` for every edge."""
    total = 0
    for e in range(sources.shape[0]):
        total += _n_digits(sources[e]) + _n_digits(targets[e]) + 2
    return total


@numba.njit(cache=True)
def _write_int(buf, pos, x):
    n = _n_digits(x)
    for k in range(n - 1, -1, -1):
        buf[pos + k] = 48 + x % 10
        x //= 10
    return pos + n


@numba.njit(cache=True)
def write_edgelist_text(sources, targets, buf):
    r"""Write ``"s t\n"`` lines for every edge into ``buf`` (uint8); return bytes used."""
    pos = 0
    for e in range(sources.shape[0]):
        pos = _write_int(buf, pos, sources[e])
        buf[pos] = 32
        pos = _write_int(buf, pos + 1, targets[e])
        buf[pos] = 10
        pos += 1
    return pos
