"""Bundled data: scikit-learn's digits (nothing downloaded) and small toy graphs.

* :func:`load_digits`, :func:`load_two_digits` -- data sets to train the bundled
  networks on (:mod:`nngraph.models`).
* :func:`layered_graph`, :func:`planted_partition`, :func:`two_cliques`, ... -- small
  graphs with known structure, used by the examples in the documentation.
"""

from ._digits import Dataset, load_digits, load_two_digits
from ._toy_graphs import (
    clique,
    disconnected_cliques,
    empty_graph,
    layered_graph,
    layered_modules,
    path,
    planted_partition,
    star,
    tiny_graphs,
    two_cliques,
    with_isolated,
)

__all__ = [
    "Dataset",
    "clique",
    "disconnected_cliques",
    "empty_graph",
    "layered_graph",
    "layered_modules",
    "load_digits",
    "load_two_digits",
    "path",
    "planted_partition",
    "star",
    "tiny_graphs",
    "two_cliques",
    "with_isolated",
]
