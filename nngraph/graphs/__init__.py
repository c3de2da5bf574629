"""Stage 1: graphs of a network's units.

* :class:`NeuronGraph` -- a weighted, undirected graph whose nodes are units.
* :func:`weight_graph` -- edges from the absolute weights between units.
* :func:`activation_graph` -- edges from correlations of the units' activations over
  data.
* :func:`check_adjacency` -- the one canonicaliser every later stage applies to its
  graph input (a NeuronGraph, a scipy sparse matrix or a dense array).
"""

from typing import TYPE_CHECKING

from ..utils._lazy import lazy_exports as _lazy_exports

# Loaded on first use: the graph and its canonicaliser need no torch, the builders do.
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "NeuronGraph": "._neuron_graph",
        "NonSymmetricWarning": "._canonical",
        "UnsupportedModelError": "._tracing",
        "activation_graph": "._activation_graph",
        "as_neuron_graph": "._canonical",
        "check_adjacency": "._canonical",
        "weight_graph": "._weight_graph",
    },
    globals(),
)

__all__ = [
    "NeuronGraph",
    "NonSymmetricWarning",
    "UnsupportedModelError",
    "activation_graph",
    "as_neuron_graph",
    "check_adjacency",
    "weight_graph",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._activation_graph import activation_graph
    from ._canonical import NonSymmetricWarning, as_neuron_graph, check_adjacency
    from ._neuron_graph import NeuronGraph
    from ._tracing import UnsupportedModelError
    from ._weight_graph import weight_graph

del TYPE_CHECKING  # kept out of the namespace users tab through
