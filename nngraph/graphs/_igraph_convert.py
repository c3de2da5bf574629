"""Fast conversion of a symmetric CSR matrix to a weighted ``igraph.Graph``.

python-igraph builds a graph from a Python sequence of edge pairs, which costs a Python
object per endpoint (seconds for ten million edges). Its C readers are far faster, so
the edge list is handed over in a binary or text file instead: igraph's GraphDB format
(16-bit little-endian words: the node count, then for each node its number of listed
neighbours and the neighbours) while node ids fit in 16 bits, and otherwise a plain
text edge list written by a numba kernel. On Linux the file is anonymous memory
(``memfd_create``): it has no name in any directory and the kernel frees it with the
process, however the process ends. Elsewhere it lives in a private temporary directory
whose name carries the process id; a later call removes any such directory left by a
process that no longer runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ._igraph_convert_kernels import edgelist_text_size, write_edgelist_text

if TYPE_CHECKING:
    import igraph

_GRAPHDB_MAX_NODES = 65535


_PREFIX = "nngraph-igraph-"


@contextlib.contextmanager
def _scratch_file(data: np.ndarray) -> Iterator[str]:
    """Yield a path igraph's C readers can open, holding ``data``'s bytes; gone afterwards."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("nngraph-edges")
        try:
            with os.fdopen(fd, "wb", closefd=False) as fh:
                data.tofile(fh)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    _remove_stale(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-") as tmp:
        path = os.path.join(tmp, "edges")
        data.tofile(path)
        yield path


def _remove_stale(directory: str) -> None:
    """Remove scratch directories of processes that ended before cleaning up."""
    for entry in Path(directory).glob(f"{_PREFIX}*"):
        pid = entry.name[len(_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass  # alive, or not ours to signal


def _upper_edges(a: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle edges (diagonal included) in CSR order, plus per-row counts."""
    n = a.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.indptr))
    keep = a.indices >= rows
    sources = rows[keep]
    counts = np.bincount(sources, minlength=n)
    return sources, a.indices[keep].astype(np.int64), a.data[keep], counts


def _graphdb_bytes(n: int, targets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    buf = np.empty(1 + n + targets.size, dtype="<u2")
    buf[0] = n
    # Position of each node's count word: 1 + node + (edges listed before it).
    starts = 1 + np.arange(n, dtype=np.int64)
    starts[1:] += np.cumsum(counts[:-1])
    buf[starts] = counts
    is_target = np.ones(buf.size, dtype=bool)
    is_target[0] = False
    is_target[starts] = False
    buf[is_target] = targets
    return buf


def csr_to_igraph(adjacency: sp.sparray | sp.spmatrix) -> igraph.Graph:
    """Convert a symmetric, non-negative sparse matrix to a weighted undirected graph.

    Parameters
    ----------
    adjacency : scipy sparse matrix or array, shape (n, n)
        Symmetric weights; only the upper triangle (diagonal included) is read.

    Returns
    -------
    igraph.Graph
        Undirected, one edge per stored upper-triangle entry, in CSR order, with the
        edge attribute ``weight``.

    Examples
    --------
    >>> from nngraph.datasets import two_cliques
    >>> a, _ = two_cliques(3, bridge=0.5)
    >>> g = csr_to_igraph(a)
    >>> g.vcount(), g.ecount(), sorted(set(g.es["weight"]))
    (6, 7, [0.5, 1.0])
    """
    import igraph

    a = sp.csr_array(adjacency)
    if not a.has_sorted_indices:
        a = a.sorted_indices()
    n = a.shape[0]
    sources, targets, weights, counts = _upper_edges(a)
    if n <= _GRAPHDB_MAX_NODES:
        with _scratch_file(_graphdb_bytes(n, targets, counts)) as path:
            graph = igraph.Graph.Read_GraphDB(path, directed=False)
    else:
        buf = np.empty(edgelist_text_size(sources, targets), dtype=np.uint8)
        used = write_edgelist_text(sources, targets, buf)
        with _scratch_file(buf[:used]) as path:
            graph = igraph.Graph.Read_Edgelist(path, directed=False)
        if graph.vcount() < n:  # trailing isolated nodes are not in the edge list
            graph.add_vertices(n - graph.vcount())
    graph.es["weight"] = weights.tolist()  # Python floats, as igraph users expect
    return graph


#: igraph's declaration of the ``unit`` attribute, and the same bytes declaring an integer.
_UNIT_DOUBLE = b'attr.name="unit" attr.type="double"/>'
_UNIT_LONG = b'attr.name="unit" attr.type="long"  />'


def unit_as_integer(path: str | os.PathLike) -> None:
    """Declare ``unit`` a ``long`` in igraph's GraphML header, in place.

    igraph writes every number as ``double`` (its values are written as integers,
    ``0``, ``1``, ...), so readers such as networkx read the units back as floats. The
    declaration is rewritten with as many bytes, so the file is not copied.
    """
    with open(path, "r+b") as fh:
        head = fh.read(4096)
        at = head.find(_UNIT_DOUBLE)
        if at >= 0:
            fh.seek(at)
            fh.write(_UNIT_LONG)
