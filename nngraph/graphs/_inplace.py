"""In-place operations in a traced graph, and the readers after them rewired to them.

``identity = h; h.relu_(); ... + identity`` reads the ReLU'd ``h`` in PyTorch: the same
tensor, changed in place. In the traced graph, the ``+`` node still names ``h``'s
producer, so whatever walks the graph instead of running it (the weight graph's
propagation; the lesion engine, which re-runs parts of the graph from kept values)
would see the value from before the change. :func:`read_in_place_results` rewires
every such reader to the in-place node itself, which changes nothing when the graph
is run (both name the same tensor) and makes the graph say what happens.
"""

from __future__ import annotations

import operator
from typing import Any

import torch.fx as fx

__all__ = ["in_place", "read_in_place_results"]

_INPLACE_FUNCTIONS = {
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    operator.ifloordiv,
    operator.ipow,
    operator.iand,
    operator.ior,
}


def in_place(node: fx.Node, modules: dict[str, Any]) -> bool:
    """Whether a call writes into its first argument (``+=``, ``relu_``, ``inplace=True``)."""
    if node.op not in ("call_function", "call_method", "call_module"):
        return False
    if node.kwargs.get("inplace") is True:
        return True
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return node.target in _INPLACE_FUNCTIONS or (name.endswith("_") and not name.endswith("__"))
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.endswith("__")
    return getattr(modules.get(str(node.target)), "inplace", False) is True


def read_in_place_results(graph: fx.Graph, modules: dict[str, Any]) -> int:
    """Make the readers of a tensor after an in-place op on it read the op (in place).

    Returns the number of inputs rewired. Views of the tensor made before the op are
    not followed (the lesion engine refuses them when they are read after it).

    Examples
    --------
    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         h = x * 2
    ...         h.relu_()
    ...         return h + 1
    >>> gm = fx.symbolic_trace(Net())
    >>> read_in_place_results(gm.graph, {})
    1
    >>> [n.name for n in gm.graph.find_nodes(op="call_function", target=operator.add)[0].args
    ...  if isinstance(n, fx.Node)]
    ['relu_']
    """
    order = {node: i for i, node in enumerate(graph.nodes)}
    rewired = 0
    for node in list(graph.nodes):
        if not in_place(node, modules):
            continue
        target = node.args[0] if node.args else None
        if not isinstance(target, fx.Node):
            continue
        for user in list(target.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(target, node)
                rewired += 1
    return rewired
