"""Running a traced network with some of its units silenced, many lesions at once.

:class:`LesionRunner` runs the traced graph once on a batch, keeping every value. For
the lesions of one layer it then runs only the *suffix* of the graph -- the nodes that
depend on the layer's site, plus the shape computations they use -- on ``m`` copies of
the batch stacked along the batch dimension, each copy multiplied by its own mask at the
site. Every value the suffix reads from before the cut (a skip connection) is stacked
the same way, so residual networks get the same answer as a full forward pass per
lesion, at the cost of the part after the cut only.

Re-running a part of the graph from kept values needs every value to stay as it was
computed, which in-place operations (``relu_``, ``ReLU(inplace=True)``, ``+=``) would
break. In the traced graph the readers of a tensor after an in-place operation read that
operation's result (what PyTorch's aliasing gives them: see
:mod:`nngraph.graphs._inplace`), so the runner lets every in-place operation write into
a copy of its argument; a view or an alias of the tensor still read afterwards is
refused with a clear error.

:func:`lesioned_forward` is the plain reference: one full forward pass with one mask.
The user's model is only run, in eval mode, without gradients; no weight is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..graphs._inplace import in_place
from ..graphs._sites import UnitSite

__all__ = ["LesionRunner", "batch_statistics", "lesioned_forward", "mask_shape"]


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


class _Functional(fx.Interpreter):
    """Runs a traced graph with each in-place op writing into a copy of its argument.

    The trace already has the readers after an in-place op read its result
    (:func:`~nngraph.graphs._inplace.read_in_place_results`), so the copy changes no
    result and every kept value stays as it was computed.

    With ``keep``, every value is kept (the intact pass, from which the lesions re-run
    parts of the graph), and an in-place op is refused when an earlier view or alias of
    its argument (``v = h.view(...)``, an ``nn.Identity``) is read after it: PyTorch
    would show that reader the change, the copy cannot.
    """

    def __init__(self, gm: fx.GraphModule, modules: dict[str, Any], keep: bool = False) -> None:
        super().__init__(gm, garbage_collect_values=False)
        self.extra_traceback = False  # fx's node dump and log-parser link: not for users
        self._modules = modules
        self._keep = keep
        self._order = {node: i for i, node in enumerate(gm.graph.nodes)} if keep else {}

    def run_node(self, n: fx.Node) -> Any:
        if in_place(n, self._modules):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            if args and isinstance(args[0], torch.Tensor):
                if self._keep:
                    self._check_aliases(n, args[0])
                args = (args[0].clone(), *args[1:])
            return getattr(self, n.op)(n.target, args, kwargs)
        return super().run_node(n)

    def _check_aliases(self, n: fx.Node, value: torch.Tensor) -> None:
        if value.layout != torch.strided:
            return
        storage = value.untyped_storage().data_ptr()
        first = n.args[0]
        for other, kept in self.env.items():
            if other is first or not isinstance(kept, torch.Tensor):
                continue
            if kept.layout != torch.strided or kept.untyped_storage().data_ptr() != storage:
                continue
            later = [u for u in other.users if self._order[u] > self._order[n]]
            if later:
                raise ValueError(
                    f"the in-place operation {n.name!r} ({n.format_node()}) writes into a "
                    f"tensor that {other.name!r}, a view or alias of it made earlier, "
                    f"still passes on to {later[0].name!r}: nngraph cannot re-run this "
                    "network in parts. Make that operation out of place (for example "
                    "ReLU(inplace=False), or x = x + y instead of x += y)."
                )


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
        interp = _Functional(self.gm, self.modules, keep=True)
        out = interp.run(x)
        self.env = interp.env
        self.batch = int(x.shape[0])
        return _first_tensor(out)

    def kept_bytes(self) -> int:
        """Bytes of the values of the last :meth:`run` that grow with its batch.

        A tensor kept under several names (the output node's value is its producer's)
        counts once.
        """
        seen = {
            v.data_ptr(): v.numel() * v.element_size()
            for v in self.env.values()
            if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == self.batch
        }
        return sum(seen.values())

    # ------------------------------------------------------------------ the cut
    def direct_reader(self, site: UnitSite) -> fx.Node | None:
        """Return the site's only reader, if it is a layer a lesion can be subtracted from.

        Only torch's own ``Linear`` and ``Conv1d/2d/3d`` classes without hooks (a
        subclass, a quantisation-aware layer or a hook computes something else than
        ``F.linear`` / ``F.conv``), on float32 or float64 values (in 16 bits, ``W x``
        minus most of itself loses the digits the full pass keeps).
        """
        users = list(site.node.users)
        if site.flat_input or len(users) != 1:
            return None
        user = users[0]
        if user.op != "call_module" or len(user.all_input_nodes) != 1:
            return None
        mod = self.modules.get(str(user.target))
        value = self.env.get(site.node)
        if not isinstance(value, torch.Tensor) or value.dtype not in (torch.float32, torch.float64):
            return None
        if type(mod) not in _READERS or _hooked(mod):
            return None
        if type(mod) is nn.Linear:
            ok = site.unit_dim % value.dim() == value.dim() - 1
        else:
            ok = mod.groups == 1 and site.unit_dim == 1 and mod.padding_mode == "zeros"
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

    def bytes_per_lesion(self, site: UnitSite, set_size: int = 1) -> int:
        """Count the bytes one lesion of ``set_size`` units takes on the current batch.

        The values after the cut, and for a direct reader (:meth:`direct_reader`) the
        silenced units' inputs and weights that :meth:`lesioned` gathers per lesion.
        """
        reader = self.direct_reader(site)
        root = reader if reader is not None else site.node
        total = 0
        for node in [root, *self.suffix(root)]:
            value = self.env.get(node)
            if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == self.batch:
                total += value.numel() * value.element_size()
        if reader is not None:
            h = self.env[site.node]
            weight = self.modules[str(reader.target)].weight
            per_unit = h.numel() // site.n_units * h.element_size()
            per_unit += weight.numel() // site.n_units * weight.element_size()
            total += int(set_size) * per_unit
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
            conv = _CONV_FUNCTIONS[type(mod)]
            out = conv(chosen, w, None, mod.stride, mod.padding, mod.dilation, m)
            delta = out.reshape(h.shape[0], m, *z.shape[1:]).movedim(1, 0)
        return (z.unsqueeze(0) - delta).reshape(m * z.shape[0], *z.shape[1:])

    def _run_after(self, root: fx.Node, env: dict[fx.Node, Any], m: int) -> torch.Tensor:
        batch = self.batch
        nodes = self.suffix(root)
        inside = set(nodes)
        interp = _Functional(self.gm, self.modules)
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


_CONV_FUNCTIONS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
#: The layers a lesion is subtracted from: exactly these classes (see ``direct_reader``).
_READERS = (nn.Linear, *_CONV_FUNCTIONS)


def _hooked(mod: nn.Module) -> bool:
    """Whether a forward hook (the module's own or a global one) may change its output."""
    from torch.nn.modules import module as _module

    return bool(
        mod._forward_hooks
        or mod._forward_pre_hooks
        or _module._global_forward_hooks
        or _module._global_forward_pre_hooks
    )


def batch_statistics(gm: fx.GraphModule) -> str | None:
    """Name the first layer that normalises with its batch's statistics even in eval mode.

    A batch norm without running statistics (``track_running_stats=False``) does: the
    rows of one batch then change each other's outputs, so lesions (or inputs being
    optimised) stacked in one batch would not give what each gives alone. None if the
    graph has no such layer.
    """
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module":
            mod = modules.get(str(node.target))
            if isinstance(mod, nn.modules.batchnorm._NormBase) and mod.running_mean is None:
                if not isinstance(mod, nn.modules.instancenorm._InstanceNorm):
                    return f"{node.target} ({type(mod).__name__}, track_running_stats=False)"
        elif node.op == "call_function" and node.target is F.batch_norm:
            training = node.kwargs.get("training", node.args[5] if len(node.args) > 5 else False)
            running = node.kwargs.get("running_mean", node.args[1] if len(node.args) > 1 else None)
            if training is True or running is None:
                return f"{node.name} (F.batch_norm with the batch's statistics)"
    return None


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

    The reference the batched path is tested against. Like :class:`LesionRunner`, it
    runs the graph as it is: call it inside :func:`~nngraph.graphs._fx.frozen` (eval
    mode) and ``torch.inference_mode()``, as :func:`~._importance.importance` does.
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
