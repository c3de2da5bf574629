"""Where a layer's units can be read or silenced in the traced graph: its *site*.

The proxies silence units (importance) and read their values (coherence) at explicit
points of the network, found from the trace:

- ``"read"`` (the default lesion point): the unit's value *as the next layer reads it*.
  From the layer's own output, follow the operations that act on each unit alone and
  that only this layer's value flows through: a batch norm belonging to the layer,
  element-wise activations, dropout, pooling, padding, resizing. Stop before anything
  else reads or mixes it: a weighted layer, a residual add (so that the skip path
  still carries its input), a concatenation, a reshape, a second reader.
- ``"pre"``: the unit's value before its nonlinearity: the layer's output, or the
  output of a batch norm belonging to the layer.

Zeroing a convolution's weights is not a lesion at ``"read"``: a batch norm after it
passes on its constant ``beta - gamma * mean / sqrt(var + eps)``, and a sigmoid turns 0
into 0.5. A site is a node of the traced ``torch.fx`` graph and the dimension of its
value that carries the units, so the value can be masked there exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.fx as fx

from ._operations import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PASS_MODULES,
)
from ._recording import _is_identity
from ._trace import Trace

__all__ = ["SITES", "UnitSite", "unit_sites"]

SITES = ("read", "pre")

# Per-unit operations (no softmax: it mixes the units it normalises over).
_MIXING = {"softmax", "log_softmax", "Softmax", "LogSoftmax"}


@dataclass(frozen=True)
class UnitSite:
    """The point of the traced graph where a layer's units are read or silenced.

    Attributes
    ----------
    layer : str
        The layer's name.
    index : int
        Its index in ``Trace.layers``.
    n_units : int
        Units of the layer.
    node : torch.fx.Node
        The node whose output holds the units there (the placeholder for the input).
    unit_dim : int
        The dimension of that output carrying the units.
    flat_input : bool
        The input's units are its flattened features (an MLP on images): a mask covers
        every position of the input.
    description : str
        Where that is, in words (for reports and errors).
    """

    layer: str
    index: int
    n_units: int
    node: fx.Node
    unit_dim: int
    flat_input: bool = False
    description: str = ""


def _name(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _is(node: fx.Node, modules: dict, mods: tuple, functions, methods) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(str(node.target)), mods)
    if node.op == "call_function":
        return node.target in functions
    if node.op == "call_method":
        return node.target in methods
    return False


def _unit_wise(node: fx.Node, modules: dict) -> bool:
    if node.op == "call_module":
        mod = modules.get(str(node.target))
        return isinstance(mod, PASS_MODULES) and type(mod).__name__ not in _MIXING
    return _is(node, modules, (), PASS_FUNCTIONS, PASS_METHODS) and _name(node) not in _MIXING


def _activation(node: fx.Node, modules: dict) -> bool:
    return _is(node, modules, ACTIVATION_MODULES, ACTIVATION_FUNCTIONS, ACTIVATION_METHODS)


def unit_sites(trace: Trace, stage: str = "read") -> dict[str, UnitSite]:
    """Find the site of every layer of a trace.

    Parameters
    ----------
    trace : Trace
        From :func:`nngraph.graphs._tracing.trace_model`.
    stage : {"read", "pre"}, default="read"
        See the module's description.

    Returns
    -------
    dict of str to UnitSite
        By layer name, in trace order.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> from nngraph.graphs._tracing import trace_model
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    >>> sites = unit_sites(trace_model(model, torch.zeros(2, 3)))
    >>> sites["0"].description
    "after module '1' (batch norm), module '2'"
    >>> unit_sites(trace_model(model, torch.zeros(2, 3)), "pre")["0"].description
    "after module '1' (batch norm)"
    """
    if stage not in SITES:
        raise ValueError(f"stage must be one of {SITES}, got {stage!r}")
    modules = dict(trace.model.named_modules())
    own_norm = {norm.node: norm for norm in trace.norms if norm.layer is not None}
    sites: dict[str, UnitSite] = {}
    for index, layer in enumerate(trace.layers):
        node = layer.node
        steps: list[str] = []
        while True:
            users = list(node.users)
            if len(users) != 1 or not users[0].args or users[0].args[0] is not node:
                break
            user = users[0]
            norm = own_norm.get(user)
            if norm is not None and norm.layer == index:
                steps.append(f"module {user.target!r} (batch norm)")
            elif _is_identity(user, modules):
                pass
            elif stage == "read" and (_activation(user, modules) or _unit_wise(user, modules)):
                steps.append(f"module {user.target!r}" if user.op == "call_module" else _name(user))
            else:
                break
            node = user
        if layer.kind == "input":
            where = "the input"
        else:
            where = "after " + ", ".join(steps) if steps else f"the output of {layer.name!r}"
        sites[layer.name] = UnitSite(
            layer.name,
            index,
            layer.n_units,
            node,
            layer.unit_dim,
            flat_input=layer.kind == "input" and trace.input_features,
            description=where,
        )
    return sites
