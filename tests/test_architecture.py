"""The layout is the pipeline: imports flow one way, without cycles; modules stay small.

The import graph is read from the source (every ``import`` statement, at module level or
inside a function, except under ``if TYPE_CHECKING:``), so a cycle is caught even when
it is hidden inside a function and would only show at run time.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nngraph

PACKAGE = Path(nngraph.__file__).parent
API = Path(__file__).resolve().parents[1].parent / "shared" / "api.md"

# The stages in pipeline order: a module may import its own stage and earlier ones.
RANK = {
    "utils": 0,
    "graphs": 1,
    "datasets": 2,
    "models": 2,
    "partition": 3,
    "stats": 4,
    "proxies": 5,
    "pipeline": 6,
    "report": 7,
    "cli": 8,
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """List the nngraph modules ``name`` imports (a ``from pkg import mod`` counts as ``mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nngraph"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("nngraph"):
                submodules = [f"{target}.{a.name}" for a in node.names]
                if all(s in known for s in submodules):
                    found.update(submodules)  # ``from pkg import module``
                else:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_every_module_is_in_a_stage():
    stray = [m for m in _modules() if m not in ("nngraph", "nngraph.__main__") and not _stage(m)]
    assert not stray, f"modules outside the stage subpackages: {stray}"


def test_no_import_cycles():
    graph = _graph()
    assert sum(map(len, graph.values())) > 50  # the graph was read at all
    assert _cycles(graph) == []


def test_a_planted_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_imports_flow_from_earlier_stages_only():
    backwards = []
    for module, targets in _graph().items():
        stage = _stage(module)
        if stage is None:
            continue
        for target in targets:
            other = _stage(target)
            if other is not None and RANK[other] > RANK[stage]:
                backwards.append(f"{module} -> {target}")
    assert not backwards, "imports from a later stage:\n" + "\n".join(sorted(backwards))


def test_the_command_line_is_imported_by_nothing():
    users = {
        m
        for m, targets in _graph().items()
        if any(t.startswith("nngraph.cli") for t in targets) and not m.startswith("nngraph.cli")
    }
    assert users == {"nngraph.__main__"}


def test_modules_stay_small():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items()}
    big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_kernels_sit_beside_their_caller():
    """Every ``*_kernels.py`` module is imported by a module of its own subpackage.

    ``nngraph.utils._kernels`` holds the kernels several stages share.
    """
    graph = _graph()
    for module in graph:
        if not module.endswith("_kernels") or module == "nngraph.utils._kernels":
            continue
        package = module.rpartition(".")[0]
        callers = [m for m, targets in graph.items() if module in targets]
        assert any(m.startswith(package) for m in callers), module


def _kernel_callees() -> dict[str, dict[str, str]]:
    """Each kernel module's imported kernel modules, with the start of their sha256."""
    graph, modules = _graph(), _modules()
    return {
        module: {
            callee: hashlib.sha256(modules[callee].read_bytes()).hexdigest()[:16]
            for callee in sorted(targets)
            if callee.endswith("_kernels")
        }
        for module, targets in graph.items()
        if module.endswith("_kernels")
    }


def test_kernel_modules_record_the_kernel_files_they_compile_in():
    """Numba's cache checks only the file of the kernel it loads (docs/architecture.md).

    A kernel module that calls kernels of another file records that file's hash in
    ``_COMPILED_IN``: a change to the callee fails here until the caller's line is
    updated, and that edit is what makes numba compile the caller again.
    """
    for module, callees in _kernel_callees().items():
        recorded = getattr(importlib.import_module(module), "_COMPILED_IN", {})
        assert recorded == callees, f"{module}: set _COMPILED_IN = {callees!r}"


def _api_names() -> list[str]:
    text = API.read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`ng\.([A-Za-z_]+)", text)))


@pytest.mark.skipif(not API.exists(), reason="../shared/api.md is not beside the repository")
def test_every_public_name_of_the_api_is_importable():
    names = _api_names()
    assert {"NeuronGraph", "weight_graph", "study", "importance", "coherence"} <= set(names)
    missing = [n for n in names if not hasattr(nngraph, n)]
    assert not missing, missing


def test_public_names_are_listed_and_load_lazily():
    from nngraph.utils import type_checking_exports

    subpackages = {"graphs", "partition", "pipeline", "proxies", "stats", "utils"}  # not in __all__
    exports = set(type_checking_exports(nngraph.__file__))
    assert set(nngraph.__all__) == exports - subpackages
    code = (
        "import sys, nngraph; assert 'torch' not in sys.modules, 'torch imported'; "
        "nngraph.ncut; assert 'torch' not in sys.modules; nngraph.weight_graph; "
        "assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "package", ["", ".graphs", ".partition", ".stats", ".proxies", ".pipeline", ".utils"]
)
def test_a_package_shows_its_public_names_only(package):
    """What a user tabs through: ``__all__`` (and, at the top, the subpackages)."""
    module = importlib.import_module("nngraph" + package)
    shown = {name for name in dir(module) if not name.startswith("_")}
    subpackages = {"cli", "graphs", "partition", "pipeline", "proxies", "stats", "utils"}
    assert shown - set(module.__all__) <= (subpackages if not package else set())


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from nngraph.cli._parser import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = {'torch', 'numba', 'sklearn', 'scipy', 'numpy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_options_agree_with_the_parser():
    from nngraph.cli._parser import TRAINING_OPTIONS
    from nngraph.pipeline import StudyConfig

    assert tuple(TRAINING_OPTIONS) == StudyConfig.TRAINING


def test_bundled_model_names_agree_with_the_parser():
    from nngraph.cli._parser import BUNDLED_MODELS
    from nngraph.models import PRETRAINED_NAMES

    assert tuple(BUNDLED_MODELS) == tuple(PRETRAINED_NAMES)


@pytest.mark.slow
def test_every_subpackage_imports_alone():
    for stage in RANK:
        if (PACKAGE / stage).is_dir():
            subprocess.run([sys.executable, "-c", f"import nngraph.{stage}"], check=True)
