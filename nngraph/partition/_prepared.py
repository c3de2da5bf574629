"""One prepared graph for every partitioner: the canonical adjacency and what derives from it.

Spectral clustering and the community detectors (Louvain, Leiden, label propagation)
canonicalise their input once and then ask the same questions of it: the CSR arrays
the numba kernels take, the degrees, which units are isolated, the connected
components. :class:`PreparedGraph` answers each on first use and keeps the answer.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..graphs._canonical import check_adjacency
from ..graphs._neuron_graph import NeuronGraph
from ..utils._kernels import weighted_degree
from ..utils._sparse import kernel_csr_arrays
from . import _prepared_kernels as _k

__all__ = ["PreparedGraph"]


class PreparedGraph:
    """A canonical graph and the facts the partitioners derive from it, each computed once.

    Every attribute but ``adjacency`` and ``layer`` is computed on first access.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_array
        A canonical adjacency: the output of
        :func:`~nngraph.graphs._canonical.check_adjacency` (float64, symmetric,
        non-negative, sorted indices, no explicit zeros). :meth:`from_graph` builds one
        from any graph input.
    layer : ndarray of int, optional
        The layer of every unit (``node_layer`` of a :class:`~nngraph.NeuronGraph`).

    Attributes
    ----------
    adjacency : scipy.sparse.csr_array
        The canonical adjacency.
    layer : ndarray of int or None
        The layer of every unit, for :class:`~nngraph.NeuronGraph` inputs.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques, with_isolated
    >>> a, labels = with_isolated(*two_cliques(3), where=[0])
    >>> prep = PreparedGraph.from_graph(a)
    >>> prep.n_nodes, prep.kept.tolist(), prep.n_components
    (7, [1, 2, 3, 4, 5, 6], 1)
    >>> prep.isolated.tolist()
    [True, False, False, False, False, False, False]
    """

    def __init__(self, adjacency: sp.csr_array, layer: np.ndarray | None = None) -> None:
        self.adjacency = adjacency
        self.layer = layer

    @classmethod
    def from_graph(cls, graph: Any) -> PreparedGraph:
        """Canonicalise any graph input (:func:`~nngraph.graphs._canonical.check_adjacency`).

        Parameters
        ----------
        graph : NeuronGraph, scipy sparse matrix or array, or array-like
            Symmetric, non-negative weights (a non-symmetric matrix is symmetrised with
            a :class:`~nngraph.NonSymmetricWarning`).

        Returns
        -------
        PreparedGraph
            With ``layer`` set for a :class:`~nngraph.NeuronGraph`.

        Examples
        --------
        >>> from nngraph.datasets import layered_graph
        >>> g, _ = layered_graph()
        >>> PreparedGraph.from_graph(g).layer[[0, 24]].tolist()
        [0, 1]
        """
        layer = graph.node_layer if isinstance(graph, NeuronGraph) else None
        return cls(check_adjacency(graph), layer)

    @property
    def n_nodes(self) -> int:
        """Number of units."""
        return int(self.adjacency.shape[0])

    # ------------------------------------------------------------------ arrays
    @cached_property
    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr int64, indices int32, data float64)`` for the numba kernels.

        Contiguous and writeable (a read-only array is copied, so the kernels compile
        one signature only).
        """
        arrays = kernel_csr_arrays(self.adjacency)
        return tuple(x if x.flags.writeable else x.copy() for x in arrays)

    @cached_property
    def degree(self) -> np.ndarray:
        """Weighted degree of every unit (a self-loop counts once)."""
        indptr, _, data = self.csr
        return weighted_degree(indptr, data)

    @cached_property
    def scale(self) -> np.ndarray:
        """``1 / sqrt(degree)``, 0 for isolated units (``D^-1/2``, pseudo-inverse)."""
        return _k.inverse_sqrt(self.degree)

    @cached_property
    def isolated(self) -> np.ndarray:
        """Units without an edge (weights are positive, so degree 0)."""
        return np.diff(self.adjacency.indptr) == 0

    @cached_property
    def kept(self) -> np.ndarray:
        """Indices of the units with an edge, ascending (the ones partitioners cluster)."""
        return np.flatnonzero(~self.isolated)

    # ------------------------------------------------------------------ components
    @cached_property
    def _components(self) -> tuple[np.ndarray, np.ndarray, int, bool]:
        indptr, indices, _ = self.csr
        kept, degree = self.kept, self.degree
        comp, colour, bip = _k.components_and_colouring(indptr, indices, ~self.isolated)
        n_comp = int(bip.shape[0])
        if n_comp:
            # Order components by decreasing volume (ties: smallest unit first).
            vol = np.bincount(comp[kept], weights=degree[kept], minlength=n_comp)
            order = np.argsort(-vol, kind="stable")
            rank = np.empty(n_comp, dtype=np.int64)
            rank[order] = np.arange(n_comp)
            comp = np.where(comp >= 0, rank[np.maximum(comp, 0)], -1)
            bip = bip[order]
            # Per component, colour 0 is the side with fewer units.
            count = np.zeros((n_comp, 2), dtype=np.int64)
            np.add.at(count, (comp[kept], colour[kept]), 1)
            flip = count[:, 1] < count[:, 0]
            colour = colour.astype(np.int8)
            colour[kept] = np.where(flip[comp[kept]], 1 - colour[kept], colour[kept])
        return comp, colour, n_comp, bool(n_comp) and bool(np.all(bip))

    @property
    def component(self) -> np.ndarray:
        """Component of every unit, numbered by decreasing volume; -1 if isolated."""
        return self._components[0]

    @property
    def n_components(self) -> int:
        """Connected components of the units with an edge (isolated units not counted)."""
        return self._components[2]

    @property
    def colour(self) -> np.ndarray:
        """Side of every unit in its component: 0 (the side with fewer units) or 1.

        A proper 2-colouring where the component is bipartite, a failed attempt
        otherwise; -1 for isolated units.
        """
        return self._components[1]

    @property
    def bipartite(self) -> bool:
        """Whether every component is bipartite (False for a graph without edges)."""
        return self._components[3]

    # ------------------------------------------------------------------ conversions
    @cached_property
    def graph(self) -> NeuronGraph:
        """The adjacency as a one-layer :class:`~nngraph.NeuronGraph` (layer ``"nodes"``)."""
        n = self.n_nodes
        return NeuronGraph(
            self.adjacency,
            ["nodes"],
            np.zeros(n, dtype=np.int64),
            np.arange(n),
            kind="custom",
            validate=False,
        )

    @cached_property
    def _largest_weight(self) -> float:
        """The largest weight (0 for a graph without edges): read once for both units."""
        data = self.adjacency.data
        return float(np.max(data)) if data.size else 0.0

    @cached_property
    def weight_scale(self) -> float:
        """The power of two ``2**e`` with the largest weight in ``[2**(e-1), 2**e)``.

        1 for a graph without edges; at most ``2**1023`` (subnormal where the largest
        weight is subnormal: ``2**-1039`` for ``2**-1040``). Leiden's CPM
        searches its resolution (in units of edge weight) in this unit, so the search
        does not depend on the scale of the weights.
        """
        top = self._largest_weight
        if top == 0.0:
            return 1.0
        return float(np.ldexp(1.0, min(int(np.frexp(top)[1]), 1023)))

    @cached_property
    def weight_unit(self) -> float:
        """:attr:`weight_scale` where the largest weight lies beyond ``2**±100``, else 1.

        The inverse of :attr:`igraph_scale`: the weights igraph gets are divided by it.
        """
        top = self._largest_weight
        return 1.0 if top == 0.0 or 2.0**-100 <= top <= 2.0**100 else self.weight_scale

    @cached_property
    def igraph_scale(self) -> float:
        """The power of two :attr:`igraph`'s weights are multiplied by (exactly).

        ``1 / weight_unit``: 1 while the largest weight lies in ``[2**-100, 2**100]``;
        else the power that brings it into ``[0.5, 1)``, kept a normal number (at most
        ``2**1021`` for subnormal weights). igraph's Louvain and Leiden fail silently on
        weights near 1e±160 and beyond (one cluster, or one per unit: strengths
        multiplied together overflow or underflow); modularity does not depend on the
        scale, and a power of two changes no rounding.
        """
        return float(np.clip(1.0 / self.weight_unit, 2.0**-1021, 2.0**1021))

    @cached_property
    def igraph(self) -> Any:
        """The graph as a weighted ``igraph.Graph`` (:meth:`NeuronGraph.to_igraph`).

        Its weights are the adjacency's times :attr:`igraph_scale`.
        """
        graph = self.graph.to_igraph()
        if self.igraph_scale != 1.0:
            graph.es["weight"] = (np.asarray(graph.es["weight"]) * self.igraph_scale).tolist()
        return graph
