"""The provenance algebra: each op follows positions, checked against numpy on index arrays.

The oracle: a tensor whose entries are their own position index, put through the same
op with numpy, tells exactly where each position went; the provenance must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.graphs._provenance import (
    Plane,
    Provenance,
    UnsupportedOp,
    concatenated,
    merged,
    reshape_groups,
)


def _channels(shape, layer=0) -> Provenance:
    return Provenance.of_layer(shape, 1, layer)


def _units_at(p: Provenance, layer: int = 0) -> np.ndarray:
    """Return the unit of ``layer`` at every position of the full tensor (batch dropped)."""
    (plane,) = [q for q in p.planes if q.layer == layer]
    full = np.broadcast_to(
        plane.units.reshape([p.shape[d] if d in p.dims else 1 for d in range(1, p.ndim)]),
        p.shape[1:],
    )
    return np.asarray(full)


def test_reshape_groups():
    assert reshape_groups((2, 4, 3, 3), (2, 36)) == [([0], [0]), ([1, 2, 3], [1])]
    assert reshape_groups((2, 6, 5), (2, 2, 3, 5)) == [([0], [0]), ([1], [1, 2]), ([2], [3])]
    assert reshape_groups((2, 3, 1, 1), (2, 3)) == [([0], [0]), ([1, 2, 3], [1])]
    with pytest.raises(UnsupportedOp, match="different sizes"):
        reshape_groups((2, 3), (2, 4))


@pytest.mark.parametrize(
    ("shape", "new_shape"),
    [
        ((2, 4, 3, 3), (2, 36)),  # flatten after a conv
        ((2, 6, 4), (2, 2, 3, 4)),  # split channels in groups
        ((2, 4, 3, 5), (2, 4, 15)),  # merge the spatial dimensions only
        ((2, 4, 1, 1), (2, 4)),  # squeeze
    ],
)
def test_reshape_follows_memory_order(shape, new_shape):
    p = _channels(shape).reshaped(new_shape)
    position_channel = np.broadcast_to(
        np.arange(shape[1]).reshape([1, -1] + [1] * (len(shape) - 2)), shape
    )
    expected = position_channel.reshape(new_shape)[0]
    np.testing.assert_array_equal(_units_at(p), expected)


def test_channel_shuffle_is_a_permutation():
    n, c, h, w, g = 2, 6, 3, 3, 2
    p = _channels((n, c, h, w))
    p = p.reshaped((n, g, c // g, h, w)).permuted((0, 2, 1, 3, 4)).reshaped((n, c, h, w))
    assert p.dims == (1,)
    np.testing.assert_array_equal(p.planes[0].units, np.arange(c).reshape(g, c // g).T.ravel())


def test_permute_moves_the_unit_dimension():
    p = _channels((2, 5, 3, 4)).permuted((0, 2, 3, 1))
    assert p.dims == (3,) and p.shape == (2, 3, 4, 5)
    with pytest.raises(UnsupportedOp, match="batch must stay first"):
        _channels((2, 5, 3)).permuted((1, 0, 2))


def test_indexing_and_selection():
    p = _channels((2, 6, 3, 3))
    assert p.indexed((slice(None), slice(1, 5, 2)), (2, 2, 3, 3)).planes[0].units.tolist() == [1, 3]
    assert p.indexed((Ellipsis, 0), (2, 6, 3)).dims == (1,)  # a spatial index
    picked = p.selected(1, np.array([4, 0]), (2, 2, 3, 3))
    assert picked.planes[0].units.tolist() == [4, 0]
    with pytest.raises(UnsupportedOp, match="batch"):
        p.indexed((0,), (6, 3, 3))


def test_reductions_over_units_are_refused_and_over_space_allowed():
    p = _channels((2, 8, 8, 8))  # as many channels as rows: sizes decide nothing
    with pytest.raises(UnsupportedOp, match=r"dimension\(s\) \[1\]"):
        p.reduced([1], (2, 8, 8), keepdim=False)
    r = p.reduced([2, 3], (2, 8), keepdim=False)
    assert r.dims == (1,) and r.planes[0].units.tolist() == list(range(8))


def test_concatenation_and_merging():
    a, b = _channels((2, 3, 4), layer=1), _channels((2, 2, 4), layer=2)
    cat = concatenated([a, b], 1, (2, 5, 4))
    assert {q.layer: q.units.tolist() for q in cat.planes} == {
        1: [0, 1, 2, -1, -1],
        2: [-1, -1, -1, 0, 1],
    }
    added = merged([_channels((2, 3, 4), 1), _channels((2, 3, 4), 2)], (2, 3, 4))
    assert sorted(q.layer for q in added.planes) == [1, 2]
    same = merged([a, a], (2, 3, 4))
    assert len(same.planes) == 1  # x + x: one contribution
    spatial = concatenated([a, _channels((2, 3, 4), 5)], 2, (2, 3, 8))
    assert spatial.dims == (1, 2)  # the units now depend on the position along dim 2


def test_compress_drops_constant_dimensions():
    units = np.broadcast_to(np.arange(3)[:, None], (3, 4)).copy()
    p = Provenance((2, 3, 4), (1, 2), (Plane(0, units),)).compress()
    assert p.dims == (1,) and p.planes[0].units.tolist() == [0, 1, 2]


def test_along_requires_the_units_on_the_read_dimension():
    p = _channels((2, 3, 4))
    assert p.along(1)[0].units.tolist() == [0, 1, 2]
    with pytest.raises(UnsupportedOp, match="reads dimension 2"):
        p.along(2)
