"""Which units every position of a traced tensor carries, through the ops between layers.

A :class:`Provenance` describes a tensor of the traced network: its shape, the
dimensions that carry units (``dims``; usually the channel dimension 1, the last one
for a token-wise ``Linear``, several after a channel shuffle's ``view``) and one
:class:`Plane` per layer contributing to it. A plane holds, for every position along
``dims``, the unit of its layer found there (``-1`` for none), and the batch norms that
scaled that position on its way (:attr:`Plane.norms`). Dimensions along which no plane
changes are dropped from ``dims`` (:meth:`Provenance.compress`), so spatial positions
never carry units unless a reshape really moved units onto them.

The operations here are the algebra of the tracer: selections, permutations,
reshapes, reductions, concatenation and merging (residual adds), each following what
the op does to *positions*, never guessing from sizes. An op that would mix units
along a dimension raises :class:`UnsupportedOp`, which the tracer turns into an
error naming the module and the op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Plane", "Provenance", "UnsupportedOp", "reshape_groups"]


class UnsupportedOp(Exception):
    """An op cannot be read as a map of units (the message says why)."""


@dataclass(frozen=True, eq=False)
class Plane:
    """The units of one layer at each position of a tensor's unit dimensions.

    Attributes
    ----------
    layer : int
        Index of the layer in ``Trace.layers``.
    units : ndarray of int64
        Unit index at each position (shape: the sizes of ``Provenance.dims``); -1 where
        this layer contributes nothing.
    norms : tuple of (int, ndarray)
        Batch norms applied downstream of the layer (index into ``Trace.norms``) with
        the channel of the batch norm each position went through (same shape as
        ``units``).
    """

    layer: int
    units: np.ndarray
    norms: tuple[tuple[int, np.ndarray], ...] = ()

    def apply(self, fn) -> Plane:
        """Return the plane with ``fn`` applied to every per-position array."""
        return Plane(self.layer, fn(self.units), tuple((i, fn(c)) for i, c in self.norms))

    def same(self, other: Plane) -> bool:
        """Whether two planes carry the same units with the same batch norms."""
        return (
            self.layer == other.layer
            and np.array_equal(self.units, other.units)
            and len(self.norms) == len(other.norms)
            and all(
                i == j and np.array_equal(a, b)
                for (i, a), (j, b) in zip(self.norms, other.norms, strict=True)
            )
        )


@dataclass(frozen=True, eq=False)
class Provenance:
    """Where the units at each position of a tensor come from.

    Attributes
    ----------
    shape : tuple of int
        The tensor's shape (batch dimension first).
    dims : tuple of int
        The dimensions that carry units, increasing (never 0, the batch).
    planes : tuple of Plane
        One per contribution (a residual add has several); arrays shaped
        ``[shape[d] for d in dims]``.
    """

    shape: tuple[int, ...]
    dims: tuple[int, ...]
    planes: tuple[Plane, ...]

    # ------------------------------------------------------------------ construction
    @classmethod
    def of_layer(cls, shape: Sequence[int], dim: int, layer: int) -> Provenance:
        """Make the units of one layer along ``dim`` (``shape[dim]`` of them, in order)."""
        shape = tuple(int(s) for s in shape)
        units = np.arange(shape[dim], dtype=np.int64)
        return cls(shape, (dim,), (Plane(layer, units),)).compress()

    @property
    def ndim(self) -> int:
        """Rank of the tensor."""
        return len(self.shape)

    @property
    def unit_shape(self) -> tuple[int, ...]:
        """The sizes of the unit dimensions."""
        return tuple(self.shape[d] for d in self.dims)

    def layers(self) -> set[int]:
        """Return the layers contributing units."""
        return {p.layer for p in self.planes}

    def compress(self) -> Provenance:
        """Drop unit dimensions along which no array changes; merge same-layer planes."""
        keep = []
        for axis, _ in enumerate(self.dims):
            if any(
                not _constant_along(a, axis)
                for p in self.planes
                for a in (p.units, *(c for _, c in p.norms))
            ):
                keep.append(axis)
        if len(keep) == len(self.dims):
            return Provenance(self.shape, self.dims, _merge_planes(self.planes))
        drop = tuple(a for a in range(len(self.dims)) if a not in keep)
        index = tuple(0 if a in drop else slice(None) for a in range(len(self.dims)))
        planes = tuple(p.apply(lambda a: np.ascontiguousarray(a[index])) for p in self.planes)
        dims = tuple(self.dims[a] for a in keep)
        return Provenance(self.shape, dims, _merge_planes(planes))

    # ------------------------------------------------------------------ views
    def expanded(self, dims: Sequence[int]) -> Provenance:
        """Return the same provenance, arrays spanning ``dims`` (a superset of ``self.dims``)."""
        dims = tuple(sorted(set(dims) | set(self.dims)))
        if dims == self.dims:
            return self
        sizes = [self.shape[d] for d in dims]
        where = [dims.index(d) for d in self.dims]

        def grow(a: np.ndarray) -> np.ndarray:
            view = a.reshape(
                [a.shape[where.index(i)] if i in where else 1 for i in range(len(dims))]
            )
            return np.broadcast_to(view, sizes)

        return Provenance(self.shape, dims, tuple(p.apply(grow) for p in self.planes))

    def along(self, dim: int) -> tuple[Plane, ...]:
        """Return the planes as 1-D arrays along ``dim``, the only dimension allowed to carry units.

        Raises
        ------
        UnsupportedOp
            Units also vary along another dimension.
        """
        dim = dim % self.ndim
        if any(d != dim for d in self.dims):
            raise UnsupportedOp(
                f"it reads dimension {dim} of a tensor whose units lie along dimensions "
                f"{list(self.dims)}"
            )
        full = self.expanded((dim,))
        return tuple(p.apply(np.ascontiguousarray) for p in full.planes)

    # ------------------------------------------------------------------ ops
    def with_shape(self, shape: Sequence[int]) -> Provenance:
        """Apply an op that changes only dimensions without units (pooling, resizing, padding).

        Raises
        ------
        UnsupportedOp
            The rank or the size of a unit dimension changes.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.ndim or any(shape[d] != self.shape[d] for d in self.dims):
            raise UnsupportedOp(
                f"it changes the shape {self.shape} to {shape}, including a dimension that "
                f"carries units ({list(self.dims)})"
            )
        return Provenance(shape, self.dims, self.planes)

    def permuted(self, order: Sequence[int]) -> Provenance:
        """``tensor.permute(order)``: the unit dimensions move with their data."""
        order = [int(o) % self.ndim for o in order]
        if sorted(order) != list(range(self.ndim)) or order[0] != 0:
            raise UnsupportedOp(f"it permutes dimensions {order} (the batch must stay first)")
        new_pos = {old: new for new, old in enumerate(order)}
        new_dims = sorted(new_pos[d] for d in self.dims)
        # Array axes follow the dims in increasing order, before and after.
        axes = [self.dims.index(order[d]) for d in new_dims]
        shape = tuple(self.shape[o] for o in order)
        planes = tuple(
            p.apply(lambda a: np.ascontiguousarray(np.transpose(a, axes))) for p in self.planes
        )
        return Provenance(shape, tuple(new_dims), planes)

    def indexed(self, index: tuple, shape: Sequence[int]) -> Provenance:
        """``tensor[index]`` for basic indexing: ints, slices, None and Ellipsis.

        ``shape`` is the result's shape (as the tracer ran it).
        """
        shape = tuple(int(s) for s in shape)
        items = list(index)
        if sum(1 for it in items if it is Ellipsis) > 1:
            raise UnsupportedOp("it indexes with more than one Ellipsis")
        consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
        if any(it is Ellipsis for it in items):
            at = next(k for k, it in enumerate(items) if it is Ellipsis)
            items[at : at + 1] = [slice(None)] * (self.ndim - consumed)
        items += [slice(None)] * (self.ndim - sum(1 for it in items if it is not None))
        out_dim, in_dim = 0, 0
        mapping: dict[int, int] = {}  # in dim -> out dim (for dims kept)
        selectors: dict[int, object] = {}
        for it in items:
            if it is None:
                out_dim += 1
                continue
            if isinstance(it, (int, np.integer)):
                if in_dim == 0:
                    raise UnsupportedOp("it selects one example of the batch")
                selectors[in_dim] = int(it)
                in_dim += 1
                continue
            if isinstance(it, slice):
                if in_dim == 0 and it != slice(None):
                    raise UnsupportedOp("it slices the batch dimension")
                selectors[in_dim] = it
                mapping[in_dim] = out_dim
                in_dim += 1
                out_dim += 1
                continue
            if isinstance(it, (list, tuple, np.ndarray)) and all(
                isinstance(v, (int, np.integer)) for v in np.asarray(it).ravel()
            ):
                if in_dim == 0:
                    raise UnsupportedOp("it selects examples of the batch")
                selectors[in_dim] = np.asarray(it, dtype=np.int64)
                mapping[in_dim] = out_dim
                in_dim += 1
                out_dim += 1
                continue
            raise UnsupportedOp(f"it indexes with {type(it).__name__} {it!r}")
        axis_index = tuple(selectors.get(d, slice(None)) for d in self.dims)
        fancy = sum(1 for s in axis_index if isinstance(s, np.ndarray))
        if fancy > 1:
            raise UnsupportedOp("it indexes two dimensions with index arrays")
        planes = tuple(p.apply(lambda a: np.ascontiguousarray(a[axis_index])) for p in self.planes)
        dims = tuple(mapping[d] for d in self.dims if d in mapping)
        return Provenance(shape, dims, planes).compress()

    def selected(self, dim: int, index: np.ndarray, shape: Sequence[int]) -> Provenance:
        """``index_select``-like: positions ``index`` along ``dim`` (narrow, split, chunk)."""
        dim = dim % self.ndim
        items = [slice(None)] * self.ndim
        items[dim] = np.asarray(index, dtype=np.int64)
        return self.indexed(tuple(items), shape)

    def reshaped(self, shape: Sequence[int]) -> Provenance:
        """``view``/``reshape``/``flatten``: units follow their positions in memory order.

        The dimensions are matched in groups whose sizes multiply to the same number
        (:func:`reshape_groups`). A group holding a unit dimension moves its units onto
        every output dimension of the group (a flatten of ``(C, H, W)`` gives each of
        the ``C*H*W`` features its channel's unit; a ``view`` splitting ``C`` into
        ``(g, C/g)`` spreads the units over both).

        Raises
        ------
        UnsupportedOp
            The batch dimension is merged with another.
        """
        shape = tuple(int(s) for s in shape)
        groups = reshape_groups(self.shape, shape)
        if groups[0] != ([0], [0]):
            raise UnsupportedOp(
                f"it reshapes {self.shape} to {shape}, mixing the batch dimension with others"
            )
        unit_groups = [(gi, go) for gi, go in groups if set(gi) & set(self.dims)]
        full = self.expanded([d for gi, _ in unit_groups for d in gi])
        # full.dims is exactly the union of the unit groups' input dims, in order, so the
        # array axes of each group are contiguous and in group order.
        new_shape = [s for _, go in unit_groups for s in (shape[o] for o in go)]
        planes = tuple(
            p.apply(lambda a: np.ascontiguousarray(a.reshape(new_shape))) for p in full.planes
        )
        dims = tuple(o for _, go in unit_groups for o in go)
        return Provenance(shape, dims, planes).compress()

    def reduced(self, dims: Sequence[int], shape: Sequence[int], keepdim: bool) -> Provenance:
        """Apply a reduction (mean, sum, amax, ...) over ``dims``, which must carry no units."""
        reduce = sorted({int(d) % self.ndim for d in dims})
        if 0 in reduce:
            raise UnsupportedOp("it reduces over the batch dimension")
        if set(reduce) & set(self.dims):
            raise UnsupportedOp(
                f"it reduces over dimension(s) {reduce}, which carry units (dimensions "
                f"{list(self.dims)})"
            )
        if keepdim:
            return Provenance(tuple(shape), self.dims, self.planes)
        new_dims = tuple(d - sum(1 for r in reduce if r < d) for d in self.dims)
        return Provenance(tuple(int(s) for s in shape), new_dims, self.planes)


def merged(provs: Sequence[Provenance], shape: Sequence[int]) -> Provenance:
    """Element-wise combination (residual add, broadcasting included): union of planes.

    Raises
    ------
    UnsupportedOp
        An operand is not broadcast along the output's dimensions in place.
    """
    shape = tuple(int(s) for s in shape)
    aligned = []
    for p in provs:
        pad = len(shape) - p.ndim
        if pad < 0:
            raise UnsupportedOp(f"it broadcasts {p.shape} to the smaller shape {shape}")
        if pad:
            if p.shape and p.shape[0] != shape[pad]:
                raise UnsupportedOp(f"it broadcasts {p.shape} into {shape} across the batch")
        p = Provenance(tuple([1] * pad) + p.shape, tuple(d + pad for d in p.dims), p.planes)
        for d in p.dims:
            if p.shape[d] != shape[d]:
                raise UnsupportedOp(
                    f"it broadcasts units along dimension {d} ({p.shape} -> {shape})"
                )
        aligned.append(Provenance(shape, p.dims, p.planes))
    dims = sorted({d for p in aligned for d in p.dims})
    planes: list[Plane] = []
    for p in aligned:
        for plane in p.expanded(dims).planes:
            if not any(plane.same(q) for q in planes):
                planes.append(plane)
    return Provenance(shape, tuple(dims), tuple(planes)).compress()


def concatenated(provs: Sequence[Provenance], dim: int, shape: Sequence[int]) -> Provenance:
    """``torch.cat`` along ``dim``: each operand's units fill its part of the dimension."""
    shape = tuple(int(s) for s in shape)
    dim = dim % len(shape)
    if dim == 0:
        raise UnsupportedOp("it concatenates along the batch dimension")
    dims = sorted({d for p in provs for d in p.dims} | {dim})
    parts = [p.expanded(dims) for p in provs]
    axis = dims.index(dim)
    sizes = [p.shape[dim] for p in parts]
    planes: list[Plane] = []
    offset = 0
    total = sum(sizes)
    for p, size in zip(parts, sizes, strict=True):
        for plane in p.planes:

            def pad(a: np.ndarray, fill: int, start: int = offset, n: int = size) -> np.ndarray:
                out_shape = list(a.shape)
                out_shape[axis] = total
                out = np.full(out_shape, fill, dtype=a.dtype)
                where = [slice(None)] * a.ndim
                where[axis] = slice(start, start + n)
                out[tuple(where)] = a
                return out

            units = pad(plane.units, -1)
            norms = tuple((i, pad(c, 0)) for i, c in plane.norms)
            planes.append(Plane(plane.layer, units, norms))
        offset += size
    return Provenance(shape, tuple(dims), tuple(planes)).compress()


def reshape_groups(
    in_shape: Sequence[int], out_shape: Sequence[int]
) -> list[tuple[list[int], list[int]]]:
    """Match the dimensions of a reshape into groups of equal size products.

    Each group is ``(input dims, output dims)``: contiguous runs whose sizes multiply to
    the same number, so memory order maps the group's positions one to one. Size-1
    dimensions left over at the end join the last group.

    Examples
    --------
    >>> reshape_groups((2, 4, 3, 3), (2, 36))
    [([0], [0]), ([1, 2, 3], [1])]
    >>> reshape_groups((2, 6, 5), (2, 2, 3, 5))
    [([0], [0]), ([1], [1, 2]), ([2], [3])]
    """
    a, b = list(in_shape), list(out_shape)
    if math.prod(a) != math.prod(b):
        raise UnsupportedOp(f"it reshapes {tuple(a)} to {tuple(b)} (different sizes)")
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        gi, go = [i], [j]
        pa, pb = a[i], b[j]
        i, j = i + 1, j + 1
        while pa != pb:
            if pa < pb:
                pa *= a[i]
                gi.append(i)
                i += 1
            else:
                pb *= b[j]
                go.append(j)
                j += 1
        groups.append((gi, go))
    if groups:
        groups[-1][0].extend(range(i, len(a)))
        groups[-1][1].extend(range(j, len(b)))
    return groups


def _constant_along(a: np.ndarray, axis: int) -> bool:
    if a.shape[axis] <= 1:
        return True
    first = np.take(a, [0], axis=axis)
    return bool(np.all(a == first))


def _merge_planes(planes: Sequence[Plane]) -> tuple[Plane, ...]:
    """Merge planes of one layer with the same batch norms whose positions do not overlap."""
    out: list[Plane] = []
    for plane in planes:
        for k, other in enumerate(out):
            if (
                other.layer == plane.layer
                and [i for i, _ in other.norms] == [i for i, _ in plane.norms]
                and not np.any((other.units >= 0) & (plane.units >= 0))
            ):
                here = plane.units >= 0
                units = np.where(here, plane.units, other.units)
                norms = tuple(
                    (i, np.where(here, c, oc))
                    for (i, c), (_, oc) in zip(plane.norms, other.norms, strict=True)
                )
                out[k] = Plane(plane.layer, units, norms)
                break
        else:
            out.append(plane)
    return tuple(out)
