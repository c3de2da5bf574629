"""Running a traced network with some of its units silenced, many lesions at once.

:class:`LesionRunner` runs the traced graph once on a batch, keeping every value. For
the lesions of one layer it then runs only the *suffix* of the graph -- the nodes that
depend on the layer's site, plus the shape computations they use -- on ``m`` copies of
the batch stacked along the batch dimension, each copy multiplied by its own mask at the
site. Every value the suffix reads from before the cut (a skip connection) is stacked
the same way, so residual networks get the same answer as a full forward pass per
lesion, at the cost of the part after the cut only.

:func:`lesioned_forward` is the plain reference: one full forward pass with one mask.
The user's model is only run, in eval mode, without gradients; no weight is written.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..graphs._sites import UnitSite

__all__ = ["LesionRunner", "lesioned_forward", "mask_shape"]


def mask_shape(value_shape: tuple[int, ...], site: UnitSite, n_masks: int) -> tuple[int, ...]:
    """How ``(n_masks, n_units)`` masks broadcast over ``n_masks`` stacked copies of a value.

    The result views the stacked value as ``(n_masks, batch, *rest)``.
    """
    rest = list(value_shape[1:])
    if site.flat_input:
        return (n_masks, 1, *rest)
    shape = [1] * len(rest)
    shape[site.unit_dim - 1] = site.n_units
    return (n_masks, 1, *shape)


def _apply_mask(value: torch.Tensor, masks: torch.Tensor, site: UnitSite) -> torch.Tensor:
    """``value`` (``m * batch`` rows) with copy ``j`` multiplied by ``masks[j]``."""
    m = masks.shape[0]
    batch = value.shape[0] // m
    stacked = value.reshape(m, batch, *value.shape[1:])
    shaped = masks.to(value.dtype).reshape(mask_shape(tuple(value.shape), site, m))
    return (stacked * shaped).reshape(value.shape)


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


def _in_place(node: fx.Node, modules: dict[str, Any]) -> bool:
    """Whether a call writes into its first argument (``+=``, ``relu_``, ``inplace=True``)."""
    if node.kwargs.get("inplace") is True:
        return True
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return node.target in _INPLACE_FUNCTIONS or (name.endswith("_") and not name.endswith("__"))
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.endswith("__")
    if node.op == "call_module":
        return getattr(modules.get(str(node.target)), "inplace", False) is True
    return False


class _Keep(fx.Interpreter):
    """Keeps every value, so the part after a cut can be re-run from them.

    An in-place op (``out += identity``, ``ReLU(inplace=True)``) would overwrite a value
    kept for later: it gets a copy of its first argument instead.
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm, garbage_collect_values=False)
        self._modules = dict(gm.named_modules())

    def run_node(self, n: fx.Node) -> Any:
        if n.op in ("call_function", "call_method", "call_module") and _in_place(n, self._modules):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            if args and isinstance(args[0], torch.Tensor):
                args = (args[0].clone(), *args[1:])
            return getattr(self, n.op)(n.target, args, kwargs)
        return super().run_node(n)


def _depends(graph: fx.Graph, roots: set[fx.Node]) -> set[fx.Node]:
    """Return the nodes that (transitively) use any of ``roots``, roots excluded."""
    out: set[fx.Node] = set()
    for node in graph.nodes:
        if node in roots:
            continue
        if any(isinstance(a, fx.Node) and (a in out or a in roots) for a in node.all_input_nodes):
            out.add(node)
    return out


class LesionRunner:
    """A traced network, run once per batch, then re-run after each site for many lesions.

    Parameters
    ----------
    gm : torch.fx.GraphModule
        The traced model (``Trace.graph_module``), whose modules are the user's.

    Notes
    -----
    When the site's only reader is a ``Linear`` layer or an ungrouped convolution, that
    layer's output for a lesion is its intact output minus the contribution of the
    silenced units alone (it is linear in its input): ``W x - W[:, S] x[S]``, computed
    for every lesion at once at the cost of ``|S|`` input units instead of all of them.
    Everything after that layer runs in full on the stacked lesions. The result equals
    a full forward pass up to float rounding (``W x`` and ``W x - W[:, S] x[S]`` round
    differently; predictions agree except on exact ties).
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.graph = gm.graph
        self.modules = dict(gm.named_modules())
        self.placeholder = next(n for n in self.graph.nodes if n.op == "placeholder")
        self.output = next(n for n in self.graph.nodes if n.op == "output")
        self.from_input = _depends(self.graph, {self.placeholder})
        self._suffix_cache: dict[fx.Node, list[fx.Node]] = {}
        self.env: dict[fx.Node, Any] = {}
        self.batch = 0

    # ------------------------------------------------------------------ base pass
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Run the intact network on ``x``, keeping every value; returns its output."""
        interp = _Keep(self.gm)
        out = interp.run(x)
        self.env = interp.env
        self.batch = int(x.shape[0])
        return _first_tensor(out)

    # ------------------------------------------------------------------ the cut
    def direct_reader(self, site: UnitSite) -> fx.Node | None:
        """Return the site's only reader, if it is a layer a lesion can be subtracted from."""
        users = list(site.node.users)
        if site.flat_input or len(users) != 1:
            return None
        user = users[0]
        if user.op != "call_module" or len(user.all_input_nodes) != 1:
            return None
        mod = self.modules.get(str(user.target))
        value = self.env.get(site.node)
        if isinstance(mod, nn.Linear):
            ok = isinstance(value, torch.Tensor) and site.unit_dim % value.dim() == value.dim() - 1
        else:
            ok = isinstance(mod, _CONVS) and mod.groups == 1 and site.unit_dim == 1
            ok = ok and getattr(mod, "padding_mode", "zeros") == "zeros"
        return user if ok else None

    def suffix(self, root: fx.Node) -> list[fx.Node]:
        """List the nodes to re-run after ``root``, in graph order.

        Those depending on it, and the shape computations (non-tensor values computed
        from the input) they use.
        """
        if root not in self._suffix_cache:
            after = _depends(self.graph, {root})
            needed: set[fx.Node] = set()
            stack = [a for n in after for a in n.all_input_nodes]
            while stack:
                n = stack.pop()
                if n in after or n in needed or n is root:
                    continue
                value = self.env.get(n)
                if n in self.from_input and not isinstance(value, torch.Tensor):
                    needed.add(n)
                    stack.extend(n.all_input_nodes)
            keep = after | needed
            self._suffix_cache[root] = [n for n in self.graph.nodes if n in keep]
        return self._suffix_cache[root]

    def bytes_per_lesion(self, site: UnitSite) -> int:
        """Count the bytes the values after the cut take for one lesion of the current batch."""
        reader = self.direct_reader(site)
        root = reader if reader is not None else site.node
        total = 0
        for node in [root, *self.suffix(root)]:
            value = self.env.get(node)
            if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == self.batch:
                total += value.numel() * value.element_size()
        return total

    def lesioned(self, site: UnitSite, sets: torch.Tensor) -> torch.Tensor:
        """Run the network with each row of ``sets`` (``(m, s)`` unit indices) silenced.

        Returns ``(m, batch, ...)``: row ``j`` is the network with units ``sets[j]`` of
        the site's layer set to zero there, on the batch of the last :meth:`run`.
        """
        m = int(sets.shape[0])
        reader = self.direct_reader(site)
        env: dict[fx.Node, Any] = {}
        if reader is not None:
            root = reader
            env[reader] = self._subtracted(site, reader, sets)
        else:
            root = site.node
            value = self.env[site.node]
            masks = torch.ones(m, site.n_units, dtype=value.dtype, device=value.device)
            masks.scatter_(1, sets, 0.0)
            env[site.node] = _apply_mask(_stack(value, m), masks, site)
        return self._run_after(root, env, m)

    def _subtracted(self, site: UnitSite, reader: fx.Node, sets: torch.Tensor) -> torch.Tensor:
        """Compute the reader's output for every lesion, stacked ``(m * batch, ...)``.

        The intact output minus the silenced units' contribution.
        """
        mod = self.modules[str(reader.target)]
        h = self.env[site.node]
        z = self.env[reader]
        m, s = sets.shape
        if isinstance(mod, nn.Linear):
            chosen = h[..., sets]  # (batch, *mid, m, s)
            chosen = chosen.movedim(-2, 0).reshape(m, -1, s)
            w = mod.weight.t()[sets]  # (m, s, out)
            delta = torch.bmm(chosen, w).reshape(m, *z.shape)
        else:
            chosen = h[:, sets]  # (batch, m, s, *spatial)
            chosen = chosen.reshape(h.shape[0], m * s, *h.shape[2:])
            w = mod.weight[:, sets]  # (out, m, s, *kernel)
            w = w.movedim(1, 0).reshape(m * mod.out_channels, s, *mod.weight.shape[2:])
            conv = _CONV_FUNCTIONS[type(mod)] if type(mod) in _CONV_FUNCTIONS else None
            conv = conv or _conv_for(mod)
            out = conv(chosen, w, None, mod.stride, mod.padding, mod.dilation, m)
            delta = out.reshape(h.shape[0], m, *z.shape[1:]).movedim(1, 0)
        return (z.unsqueeze(0) - delta).reshape(m * z.shape[0], *z.shape[1:])

    def _run_after(self, root: fx.Node, env: dict[fx.Node, Any], m: int) -> torch.Tensor:
        batch = self.batch
        nodes = self.suffix(root)
        inside = set(nodes)
        interp = fx.Interpreter(self.gm, garbage_collect_values=False)
        for node in nodes:
            for a in node.all_input_nodes:
                if a not in env and a not in inside:
                    value = self.env[a]
                    stackable = (a in self.from_input or a is self.placeholder) and isinstance(
                        value, torch.Tensor
                    )
                    if stackable and value.dim() and value.shape[0] == batch:
                        value = _stack(value, m)
                    env[a] = value
            interp.env = env
            if node.op == "output":
                value = _first_tensor(interp.run_node(node))
                return value.reshape(m, batch, *value.shape[1:])
            env[node] = interp.run_node(node)
        # The cut feeds nothing after it: every lesion leaves the output as it was.
        base = _first_tensor(self._output_value())
        return base.unsqueeze(0).expand(m, *base.shape)

    def _output_value(self) -> Any:
        interp = fx.Interpreter(self.gm, garbage_collect_values=False)
        interp.env = self.env
        return interp.run_node(self.output)


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_FUNCTIONS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def _conv_for(mod: nn.Module):
    for cls, fn in _CONV_FUNCTIONS.items():
        if isinstance(mod, cls):
            return fn
    raise TypeError(type(mod).__name__)


def _stack(value: torch.Tensor, m: int) -> torch.Tensor:
    """``m`` copies of a batch, stacked along the batch dimension."""
    return value.repeat(m, *([1] * (value.dim() - 1)))


def _first_tensor(out: Any) -> torch.Tensor:
    """Return the model's class scores: its output, or the first tensor of a tuple."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"the model must return class scores (a tensor), got {type(out).__name__}")


def lesioned_forward(
    gm: fx.GraphModule, site: UnitSite, mask: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """One full forward pass of ``x`` with ``mask`` (``(n_units,)``) applied at ``site``.

    The reference the batched path is tested against.
    """

    class _Masking(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            value = super().run_node(n)
            if n is site.node:
                value = _apply_mask(value, mask.reshape(1, -1), site)
            return value

    return _first_tensor(_Masking(gm).run(x))


def chunks(n: int, size: int) -> Iterator[slice]:
    """``slice`` objects covering ``range(n)`` in pieces of ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
