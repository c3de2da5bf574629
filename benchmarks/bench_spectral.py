"""Benchmark normalised-cut spectral clustering against scikit-learn (issues 3 and 15).

Run: ``python benchmarks/bench_spectral.py [--quick]``

Measured side by side in one run; every measurement runs in a fresh process (spawned),
which loads the graph from a temporary ``.npz`` written once by the parent:

1. **Random-init MLP** 784-2048-2048-2048-2048-10 (PyTorch default init; the graph is
   ``nngraph.weight_graph(model, torch.zeros(1, 784))``: 8,986 units, 14.2 million
   edges), k = 12. ``nngraph.SpectralClustering`` against
   ``sklearn.cluster.SpectralClustering(12, affinity="precomputed",
   eigen_solver="arpack", random_state=0)`` (k-means n_init 10, scikit-learn's
   default). Ours: with n_init = 10; at its defaults (n_init = 100 above 2,000 units,
   else 25; the eigen-solver ``"auto"``: ARPACK, measured faster than the block
   solver); at its defaults but with the block solver (``eigen_solver="block"``) and
   with the block solver on float32 blocks; with two threads (scikit-learn's thread
   count on this machine) and with the CSR operator.
2. **Trained digits MLP** 64-256-256-256-256-10 (``nngraph.models.pretrained("mlp")``),
   the same comparison.
3. **k-means restarts side by side** (issue 15, item 1), in one process on our
   embedding, interleaved, best of 3: scikit-learn's ``KMeans(12, n_init=10)`` as
   nngraph ran it until now (one thread, its thread policy) and with scikit-learn's
   own threads, against ours with n_init 10 and at the default n_init (100 / 25).
4. **Eigen-solvers side by side** (issue 15, item 2), in one process on the same
   problem (``B B^T`` from dense blocks): ARPACK, the block solver, the block solver
   with float32 blocks; time, operator applications, and the embedding subspace
   against ARPACK's (``sin`` of the largest principal angle, and the projector
   distance of item 5, which is ``sin^2``).
5. **numba compile time**: the first fit in a fresh process with an empty numba cache
   (everything compiles), with the cache filled (kernels load), and warm.
6. **Operator cost**: one application of ``B B^T`` to 1 and to 16 vectors, float64 and
   float32 blocks, against the eigen-solve.
7. **The problem's matrix dense against blocks** (``operator="dense"`` / ``"blocks"``):
   the eigen-solve (``spectral_embedding(graph, 13)``) of the weight graphs of the
   digits MLP and of random MLPs 784-h-h-h-h-10, h = 512, 768, 1,024 and 1,536
   (``B B^T``), and of the activation graphs of the digits MLP and of a random MLP
   784-512x3-10 (``N``); the two operators interleaved in one process per graph (best
   of 3), with the cost ratio that decides (``gram_pays``: forming ``M`` against the
   entries it saves per product, dense up to 1,200; ``dense_pays``: ``n^2`` against 4
   times the entries of the dense blocks, dense up to 1) and the operator ``"auto"``
   picks.

The fast path is checked against the reference before it is timed: the span of our
12-column embedding must equal scikit-learn's (projector distance < 1e-3) and
scikit-learn's own k-means call (same random state) on our embedding must reproduce
scikit-learn's labels (ARI >= 0.99). The n-cut of our full pipeline (its own seed) is
then compared with scikit-learn's. scikit-learn's fit is run as its two calls
(``_spectral_embedding`` then ``k_means``, checked to give the same labels as
``SpectralClustering.fit`` on the digits graph) to split its time.

Peak memory: each side runs in its own process, which loads the same graph arrays.
Just before the fit, the child resets the kernel's resident-set high-water mark
(``echo 5 > /proc/self/clear_refs``) and reads its resident set (``VmRSS``); the
reported peak is ``VmHWM`` after the fit minus that resident set: the largest growth of
resident memory during the fit alone, whatever allocated it (numpy, SuperLU, ARPACK,
BLAS, numba), the graph both sides share not counted. ``slack`` is how far the
high-water mark still was above the resident set at the start (0 when the reset works).
Thread counts: ours runs with its default policy (BLAS on one thread for graphs of at
most 20,000 units; the k-means restarts and the block products on nngraph's worker
threads, one per core), scikit-learn with its defaults (two threads on this machine);
"2 threads" forces ours to scikit-learn's.

The machine may be shared: the tables report ratios measured side by side, and each
timing is the best of 3 (1 with ``--quick``).

Results: a table on stdout and ``benchmarks/results/spectral.json``
(``spectral_quick.json`` with ``--quick``, which uses 512-unit hidden layers and
finishes in a few minutes; it skips the 2-thread and CSR variants).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolated, random_mlp, table, write_results  # noqa: E402

K = 12
N_INIT = 10


# ----------------------------------------------------------------------------- helpers
def _status_mib(field: str) -> float:
    """Read a ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset the kernel's resident-set high-water mark (``VmHWM``); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _save_graph(graph, path: Path) -> None:
    a = graph.adjacency
    np.savez(
        path,
        indptr=a.indptr,
        indices=a.indices.astype(np.int32),
        data=a.data,
        shape=np.array(a.shape),
        node_layer=graph.node_layer,
        node_unit=graph.node_unit,
        layer_names=np.array(graph.layer_names),
    )


def _load_graph(path: str):
    """Load the saved graph, without validation or copies (both sides load the same arrays)."""
    import scipy.sparse as sp

    import nngraph as ng

    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    a = sp.csr_array(
        (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
    )
    return ng.NeuronGraph(
        a,
        [str(x) for x in arrays["layer_names"]],
        arrays["node_layer"],
        arrays["node_unit"],
        validate=False,
    )


def _warm_up() -> None:
    """Load every kernel (from numba's cache) and touch both solvers on a tiny graph."""
    from nngraph.partition._spectral_clustering import SpectralClustering

    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(size=(60, 60)))
    a = a + a.T
    np.fill_diagonal(a, 0)
    SpectralClustering(3, random_state=0, n_init=1).fit(a)
    SpectralClustering(3, random_state=0, n_init=1, eigen_solver="arpack", dense_threshold=0).fit(a)


def _measure(fn):
    """Run ``fn()``: its wall time, and its peak resident memory above what was resident.

    The high-water mark ``VmHWM`` is reset just before the call (``/proc/self/clear_refs``),
    so ``peak_mib = VmHWM after - VmRSS before`` is exactly the largest growth of the
    resident set during the call. ``slack_mib`` is how far the high-water mark still
    was above the resident set at the start (0 when the reset works): a peak below it
    could not be seen.
    """
    import gc

    gc.collect()
    _reset_peak()
    current, peak_before = _status_mib("VmRSS"), _status_mib("VmHWM")
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    return out, {
        "seconds": seconds,
        "peak_mib": max(_status_mib("VmHWM") - current, 0.0),
        "slack_mib": max(peak_before - current, 0.0),
    }


# ----------------------------------------------------------------------------- children
def child_ours(path: str, params: dict, repeat: int) -> dict:
    from nngraph.partition._metrics import ncut
    from nngraph.partition._spectral_clustering import SpectralClustering

    graph = _load_graph(path)
    _warm_up()
    best = None
    for _ in range(repeat):
        model, m = _measure(lambda: SpectralClustering(K, random_state=0, **params).fit(graph))
        if best is None:
            best = m
        best["seconds"] = min(best["seconds"], m["seconds"])
        best["peak_mib"] = max(best["peak_mib"], m["peak_mib"])
        best["slack_mib"] = max(best["slack_mib"], m["slack_mib"])
    # Embedding alone (same solver path), to split the time into eigen-solve and k-means.
    from nngraph.partition._spectral_embedding import spectral_embedding

    kw = {
        k: v
        for k, v in params.items()
        if k in ("n_threads", "operator", "eigen_solver", "block_dtype")
    }
    embed_seconds = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        spectral_embedding(graph, K + 1, random_state=0, **kw)
        embed_seconds = min(embed_seconds, time.perf_counter() - t0)
    return {
        **best,
        "embed_seconds": embed_seconds,
        "ncut": float(ncut(graph, model.labels_)),
        "eigen_solver": model.eigen_solver_,
        "eigen_problem": model.eigen_problem_,
        "n_matvec": model.n_matvec_,
        "n_init": model.n_init_,
        "max_residual": float(model.eigen_residuals_.max()),
    }


def child_check(path: str) -> dict:
    """Our embedding and full-pipeline labels (k-means n_init 10), untimed."""
    from nngraph.partition._metrics import ncut
    from nngraph.partition._spectral_clustering import SpectralClustering

    graph = _load_graph(path)
    model = SpectralClustering(K, random_state=0, n_init=N_INIT).fit(graph)
    return {
        "labels": model.labels_,
        "embedding": model.embedding_,
        "degree": graph.degree,
        "ncut": float(ncut(graph, model.labels_)),
    }


def child_sklearn(path: str, check_fit: bool) -> dict:
    """scikit-learn's SpectralClustering.fit, as its two calls (embedding, k-means)."""
    from sklearn.cluster import SpectralClustering as SkSpectralClustering
    from sklearn.cluster._kmeans import k_means
    from sklearn.manifold._spectral_embedding import _spectral_embedding
    from sklearn.utils import check_random_state

    from nngraph.partition._metrics import ncut

    graph = _load_graph(path)
    a = graph.adjacency
    _warm_up()

    def run():
        rs = check_random_state(0)
        t0 = time.perf_counter()
        maps = _spectral_embedding(
            a, n_components=K, eigen_solver="arpack", random_state=rs, drop_first=False
        )
        t1 = time.perf_counter()
        state = rs.get_state()
        _, labels, _ = k_means(maps, K, random_state=rs, n_init=N_INIT)
        return maps, state, labels, t1 - t0

    (maps, state, labels, embed_seconds), m = _measure(run)
    out = {
        **m,
        "embed_seconds": embed_seconds,
        "ncut": float(ncut(graph, labels)),
        "labels": labels,
        "embedding": maps,
        "kmeans_state": state,
    }
    if check_fit:  # the two calls are exactly what SpectralClustering.fit does
        ref = SkSpectralClustering(
            K, affinity="precomputed", eigen_solver="arpack", random_state=0
        ).fit(a)
        out["fit_equal"] = bool(np.array_equal(ref.labels_, labels))
    return out


def child_kmeans(path: str, repeat: int) -> dict:
    """k-means restarts side by side on our embedding: scikit-learn's against ours."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from nngraph.partition._kmeans import kmeans
    from nngraph.partition._spectral_clustering import SpectralClustering
    from nngraph.utils._threads import thread_policy

    graph = _load_graph(path)
    _warm_up()
    model = SpectralClustering(K, random_state=0, n_init=1).fit(graph)
    x = model.embedding_[model.labels_ >= 0]
    default_n_init = 100 if x.shape[0] > 2000 else 25
    workers = thread_policy(None, x.shape[0]).workers
    kmeans(x, K, n_init=2, rng=np.random.default_rng(0), workers=workers)  # compiled

    def sk(threads):
        def run(seed):
            if threads == 1:
                with threadpool_limits(1):
                    return KMeans(K, n_init=N_INIT, random_state=seed).fit(x).inertia_
            return KMeans(K, n_init=N_INIT, random_state=seed).fit(x).inertia_

        return run

    def ours(n_init):
        def run(seed):
            rng = np.random.default_rng(seed)
            return kmeans(x, K, n_init=n_init, rng=rng, workers=workers).inertia

        return run

    variants = {
        "sklearn n_init 10, 1 thread (nngraph until now)": sk(1),
        "sklearn n_init 10, its threads": sk(None),
        "nngraph n_init 10": ours(N_INIT),
        f"nngraph n_init {default_n_init} (default)": ours(default_n_init),
    }
    times = {name: np.inf for name in variants}
    inertia = {name: [] for name in variants}
    for seed in range(repeat):  # interleaved, so a busy machine slows every variant
        for name, run in variants.items():
            t0 = time.perf_counter()
            inertia[name].append(float(run(seed)))
            times[name] = min(times[name], time.perf_counter() - t0)
    return {
        "n_points": int(x.shape[0]),
        "workers": workers,
        "default_n_init": default_n_init,
        "seconds": times,
        "mean_inertia": {name: float(np.mean(v)) for name, v in inertia.items()},
    }


def child_solvers(path: str, repeat: int) -> dict:
    """Eigen-solvers side by side on the same problem: ARPACK, block, block float32."""
    from nngraph.partition._prepared import PreparedGraph
    from nngraph.partition._spectral_problems import BipartiteProblem, FullProblem, known_vectors
    from nngraph.partition._spectral_solvers import solve
    from nngraph.utils._threads import thread_policy

    graph = _load_graph(path)
    _warm_up()
    prep = PreparedGraph.from_graph(graph)
    threads = thread_policy(None, prep.kept.size)
    out = {}
    with threads.context:
        known = known_vectors(prep, K + 1)
        n_wanted = K + 1 - known.shape[1]
        build = BipartiteProblem if prep.bipartite else FullProblem
        problem = build(prep, known, "blocks", threads)
        x = np.ones((problem.dim, 1))
        problem.matmat(x)
        problem.matmat(x, single=True)  # both copies of the blocks built up front
        cases = {
            "arpack": ("arpack", "float64"),
            "block": ("block", "float64"),
            "block float32": ("block", "float32"),
        }
        vectors = {}
        for name, (solver, dtype) in cases.items():
            best = np.inf
            for _ in range(repeat):
                problem.n_matvec = 0
                t0 = time.perf_counter()
                w, u, info = solve(
                    problem,
                    n_wanted,
                    solver,
                    1e-8,
                    None,
                    np.random.default_rng(0),
                    0,
                    block_dtype=dtype,
                )
                best = min(best, time.perf_counter() - t0)
            vectors[name] = u
            res = np.linalg.norm(problem.matmat(u) - u * w, axis=0)
            out[name] = {
                "seconds": best,
                "n_matvec": problem.n_matvec,
                "solver": info.solver,
                "max_relative_residual": float(np.max(res / np.abs(w))),
            }
        # The embedding's subspace (the first K - 1 solved vectors) against ARPACK's.
        ref = np.linalg.qr(vectors["arpack"][:, : K - known.shape[1]])[0]
        for name, u in vectors.items():
            q = np.linalg.qr(u[:, : K - known.shape[1]])[0]
            sin = float(np.linalg.norm(q - ref @ (ref.T @ q), 2))
            out[name]["subspace_sin_vs_arpack"] = sin
            out[name]["subspace_sin2_vs_arpack"] = sin**2
    out["problem"] = problem.kind
    out["dim"] = problem.dim
    return out


def child_operators(case: str, repeat: int) -> dict:
    """Eigen-solve with the problem's matrix dense against blocks, interleaved.

    ``case``: ``"digits"`` (the trained digits MLP's weight graph), ``"mlp-<h>"`` (a random
    MLP 784-h-h-h-h-10's), ``"digits-act"`` (the digits MLP's activation graph on the
    training set) or ``"act-<h>"`` (a random MLP 784-h-h-h-10's on 2,000 Gaussian inputs).
    """
    import torch

    import nngraph as ng
    from nngraph.datasets import load_digits
    from nngraph.models import pretrained
    from nngraph.partition._prepared import PreparedGraph
    from nngraph.partition._spectral_dense import dense_ratio, gram_ratio
    from nngraph.partition._spectral_embedding import spectral_embedding
    from nngraph.partition._spectral_problems import (
        BipartiteProblem,
        FullProblem,
        known_vectors,
    )

    kind, _, hidden = case.partition("-")
    if case == "digits":
        label, graph = "digits MLP", ng.weight_graph(pretrained("mlp"), torch.zeros(1, 64))
    elif case == "digits-act":
        label = "digits MLP, activations"
        graph = ng.activation_graph(pretrained("mlp"), load_digits().x_train)
    elif kind == "mlp":
        label = f"MLP 784-{hidden}x4-10"
        sizes = [784] + [int(hidden)] * 4 + [10]
        graph = ng.weight_graph(random_mlp(sizes), torch.zeros(1, 784))
    else:
        label = f"MLP 784-{hidden}x3-10, activations"
        sizes = [784] + [int(hidden)] * 3 + [10]
        x = torch.randn(2000, 784, generator=torch.Generator().manual_seed(0))
        graph = ng.activation_graph(random_mlp(sizes), x)
    _warm_up()
    prep = PreparedGraph.from_graph(graph)
    known = known_vectors(prep, 1)
    if prep.bipartite:
        problem = BipartiteProblem(prep, known)
        dim = problem.dim
        ratio = gram_ratio(dim, problem.side_q.size, prep.csr[2].shape[0] // 2)
    else:
        problem = FullProblem(prep, known)
        dim = problem.dim
        ratio = dense_ratio(dim, FullProblem(prep, known, "blocks").dense_entries)
    seconds = {"dense": np.inf, "blocks": np.inf}
    for _ in range(repeat):
        for operator in seconds:
            t0 = time.perf_counter()
            spectral_embedding(graph, K + 1, random_state=0, operator=operator)
            seconds[operator] = min(seconds[operator], time.perf_counter() - t0)
    return {
        "graph": label,
        "dim": dim,
        "cost_ratio": ratio,
        "auto": problem.kind,
        "dense_seconds": seconds["dense"],
        "blocks_seconds": seconds["blocks"],
        "dense_vs_blocks": seconds["dense"] / seconds["blocks"],
    }


def child_compile(path: str) -> dict:
    """First fit in this process (numba cache as configured by the parent), then warm."""
    t0 = time.perf_counter()
    from nngraph.partition._spectral_clustering import SpectralClustering

    import_seconds = time.perf_counter() - t0
    graph = _load_graph(path)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        SpectralClustering(K, random_state=0, n_init=1, eigen_solver="arpack").fit(graph)
        times.append(time.perf_counter() - t0)
    return {"import_seconds": import_seconds, "first": times[0], "warm": times[1]}


def child_compile_all() -> dict:
    """Compile every kernel, serial and parallel twins (numba cache as set by the parent)."""
    t0 = time.perf_counter()
    from nngraph.partition import _spectral_kernels as k

    import_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    k.warm_up(parallel=True)
    return {"import_seconds": import_seconds, "all_kernels": time.perf_counter() - t0}


def child_solve_analysis(path: str, quick: bool) -> dict:
    """Eigen-solve time against (operator applications x cost of one application)."""
    from nngraph.partition._prepared import PreparedGraph
    from nngraph.partition._spectral_problems import BipartiteProblem, FullProblem, known_vectors
    from nngraph.partition._spectral_solvers import solve
    from nngraph.utils._threads import thread_policy

    graph = _load_graph(path)
    _warm_up()
    t0 = time.perf_counter()
    prep = PreparedGraph.from_graph(graph)
    _ = prep.scale, prep.component  # what the spectral path computes up front
    prepare_seconds = time.perf_counter() - t0
    threads = thread_policy(None, prep.kept.size)
    out = {"prepare_seconds": prepare_seconds, "workers": threads.workers}
    with threads.context:
        known = known_vectors(prep, K + 1)
        n_wanted = K + 1 - known.shape[1]
        cases = (
            ("bipartite", BipartiteProblem, "auto"),
            ("bipartite_csr", BipartiteProblem, "csr"),
            ("full", FullProblem, "auto"),
        )
        for name, build, operator in cases[:1] if quick else cases:
            if name.startswith("bipartite") and not prep.bipartite:
                continue
            problem = build(prep, known, operator, threads)
            x = np.random.default_rng(0).standard_normal((problem.dim, 1))
            t0 = time.perf_counter()
            problem.matmat(x)  # builds the dense blocks
            setup = time.perf_counter() - t0
            reps = []
            for _ in range(15):
                t0 = time.perf_counter()
                problem.matmat(x)
                reps.append(time.perf_counter() - t0)
            apply_seconds = float(np.median(reps))
            blocks = {}
            for b, single in ((16, False), (16, True), (1, True)):
                xb = np.random.default_rng(0).standard_normal((problem.dim, b))
                problem.matmat(xb, single=single)
                reps_b = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    problem.matmat(xb, single=single)
                    reps_b.append(time.perf_counter() - t0)
                key = f"{b} vectors, {'float32' if single else 'float64'}"
                blocks[key] = float(np.median(reps_b)) / apply_seconds
            problem.n_matvec = 0
            t0 = time.perf_counter()
            solve(problem, n_wanted, "arpack", 1e-8, None, np.random.default_rng(0), 0)
            solve_seconds = time.perf_counter() - t0
            n_matvec = problem.n_matvec
            out[name] = {
                "problem": problem.kind,
                "dim": problem.dim,
                "setup_seconds": setup,
                "apply_seconds": apply_seconds,
                "n_matvec": n_matvec,
                "solve_seconds": solve_seconds,
                "matvec_share": n_matvec * apply_seconds / solve_seconds,
                "block_cost_in_applications": blocks,
            }
    return out


# ----------------------------------------------------------------------------- comparison
def _subspace_distance(e1, e2, degree):
    """Spectral-norm distance between the projectors on the D-weighted column spans."""
    s = np.sqrt(degree)[:, None]
    q1 = np.linalg.qr(e1 * s)[0]
    q2 = np.linalg.qr(e2 * s)[0]
    return float(np.linalg.norm(q1.T @ q2 @ q2.T @ q1 - np.eye(q1.shape[1]), 2))


def _check_equal(ours: dict, ref: dict, name: str) -> dict:
    """Check that the fast path equals the reference: same embedding span, same k-means labels."""
    from sklearn.cluster._kmeans import k_means
    from sklearn.metrics import adjusted_rand_score
    from sklearn.utils import check_random_state

    dist = _subspace_distance(ours["embedding"], ref["embedding"], ours["degree"])
    rs = check_random_state(0)
    rs.set_state(ref["kmeans_state"])
    _, labels, _ = k_means(ours["embedding"], K, random_state=rs, n_init=N_INIT)
    ari_same_kmeans = float(adjusted_rand_score(ref["labels"], labels))
    ari_pipelines = float(adjusted_rand_score(ref["labels"], ours["labels"]))
    print(
        f"[{name}] check: embedding span distance {dist:.2e}; scikit-learn's k-means on our "
        f"embedding vs its labels ARI {ari_same_kmeans:.4f}; our pipeline vs scikit-learn "
        f"ARI {ari_pipelines:.3f}; n-cut ours {ours['ncut']:.4f} vs {ref['ncut']:.4f}"
    )
    assert dist < 1e-3, f"{name}: embedding spans differ ({dist:.2e})"
    assert ari_same_kmeans >= 0.99, f"{name}: k-means on our embedding gives other labels"
    return {
        "subspace_distance": dist,
        "ari_same_kmeans": ari_same_kmeans,
        "ari_pipelines": ari_pipelines,
    }


def _row(name, side, r, ref=None):
    row = {
        "graph": name,
        "method": side,
        "n_init": r.get("n_init", N_INIT),
        "seconds": r["seconds"],
        "embed_s": r["embed_seconds"],
        "peak_mib": r["peak_mib"],
        "slack_mib": r["slack_mib"],
        "ncut": r["ncut"],
    }
    if ref is not None:
        row["speedup"] = ref["seconds"] / r["seconds"]
        row["ncut_ratio"] = r["ncut"] / ref["ncut"]
    return row


def _strip(r: dict) -> dict:
    return {
        k: v for k, v in r.items() if k not in ("labels", "embedding", "degree", "kmeans_state")
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="512-unit hidden layers")
    args = parser.parse_args(argv)

    import torch

    import nngraph as ng
    from nngraph.models import pretrained

    hidden = 512 if args.quick else 2048
    sizes = [784, hidden, hidden, hidden, hidden, 10]
    repeat = 1 if args.quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench_spectral_"))
    graphs = {}
    graphs[f"mlp-{hidden}"] = ng.weight_graph(random_mlp(sizes), torch.zeros(1, 784))
    graphs["digits-mlp"] = ng.weight_graph(pretrained("mlp"), torch.zeros(1, 64))
    paths = {}
    for name, g in graphs.items():
        paths[name] = str(tmp / f"{name}.npz")
        _save_graph(g, Path(paths[name]))
        print(f"{name}: {g.n_nodes} units, {g.n_edges} edges")
    del graphs

    rows, results = [], {"k": K, "n_init_compared": N_INIT, "quick": args.quick, "graphs": {}}
    # Issue 15: at the defaults, 30x scikit-learn on the big graph and 10x on the digits
    # MLP, with an n-cut within 1% of scikit-learn's or lower.
    targets = {f"mlp-{hidden}": 30.0, "digits-mlp": 10.0}
    kmeans_rows, solver_rows = [], []
    for name, path in paths.items():
        # The reference (scikit-learn's fit, timed as it runs), then the check of our fast
        # path against it, and only then our timings.
        ref = isolated(child_sklearn, path, name == "digits-mlp")["result"]
        check = _check_equal(isolated(child_check, path)["result"], ref, name)
        variants = [("nngraph n_init 10", {"n_init": N_INIT}, repeat)]
        variants.append(("nngraph default", {}, repeat))
        variants.append(("nngraph default, blocks operator", {"operator": "blocks"}, repeat))
        # Item 2's block solver works on the dense layer blocks.
        block = {"eigen_solver": "block", "operator": "blocks"}
        variants.append(("nngraph default, block solver", block, repeat))
        float32 = {**block, "block_dtype": "float32"}
        variants.append(("nngraph default, block solver float32", float32, repeat))
        if not args.quick:
            variants.append(("nngraph 2 threads", {"n_threads": 2}, repeat))
            variants.append(("nngraph csr operator", {"operator": "csr"}, 1))
        rows.append(_row(name, "scikit-learn", ref))
        entry = {"sklearn": _strip(ref), "check": check, "sklearn_fit_equal": ref.get("fit_equal")}
        for label, params, reps in variants:
            r = isolated(child_ours, path, params, reps)["result"]
            rows.append(_row(name, label, r, ref))
            entry[label] = _strip(r)
        ours = entry["nngraph default"]
        entry["speedup"] = ref["seconds"] / ours["seconds"]
        entry["speedup_n_init_10"] = ref["seconds"] / entry["nngraph n_init 10"]["seconds"]
        entry["embed_speedup"] = ref["embed_seconds"] / ours["embed_seconds"]
        entry["speedup_target"] = targets[name]
        entry["ncut_ratio"] = ours["ncut"] / ref["ncut"]
        # k-means and eigen-solvers side by side (issue 15, items 1 and 2).
        km = isolated(child_kmeans, path, repeat)["result"]
        entry["kmeans"] = km
        base = km["seconds"]["sklearn n_init 10, 1 thread (nngraph until now)"]
        for label, sec in km["seconds"].items():
            kmeans_rows.append(
                {
                    "graph": name,
                    "k-means": label,
                    "seconds": sec,
                    "vs sklearn 10 (1 thread)": sec / base,
                    "mean inertia": km["mean_inertia"][label],
                }
            )
        sv = isolated(child_solvers, path, repeat)["result"]
        entry["solvers"] = sv
        for label in ("arpack", "block", "block float32"):
            r = sv[label]
            solver_rows.append(
                {
                    "graph": name,
                    "solver": label,
                    "seconds": r["seconds"],
                    "vs arpack": r["seconds"] / sv["arpack"]["seconds"],
                    "n_matvec": r["n_matvec"],
                    "sin vs arpack": r["subspace_sin_vs_arpack"],
                    "sin^2": r["subspace_sin2_vs_arpack"],
                    "max rel res": r["max_relative_residual"],
                }
            )
        results["graphs"][name] = entry

    # numba compile time: empty cache in a fresh process, then a filled cache, then warm.
    mlp_path = paths[f"mlp-{hidden}"]
    small = str(tmp / "small.npz")
    _save_graph(ng.weight_graph(random_mlp([64, 128, 128, 10]), torch.zeros(1, 64)), Path(small))
    old = os.environ.get("NUMBA_CACHE_DIR")
    os.environ["NUMBA_CACHE_DIR"] = str(tmp / "numba-cache")
    try:
        cold = isolated(child_compile, small)["result"]
        cached = isolated(child_compile, small)["result"]
        os.environ["NUMBA_CACHE_DIR"] = str(tmp / "numba-cache-all")
        cold_all = isolated(child_compile_all)["result"]
        cached_all = isolated(child_compile_all)["result"]
    finally:
        if old is None:
            del os.environ["NUMBA_CACHE_DIR"]
        else:
            os.environ["NUMBA_CACHE_DIR"] = old
    results["compile"] = {
        "fit_empty_cache": cold,
        "fit_filled_cache": cached,
        "all_kernels_empty_cache": cold_all,
        "all_kernels_filled_cache": cached_all,
    }

    analysis = isolated(child_solve_analysis, mlp_path, args.quick)["result"]
    results["solve_analysis"] = analysis

    sweep = ["digits", "mlp-512", "digits-act"]
    if not args.quick:
        sweep[2:2] = ["mlp-768", "mlp-1024", "mlp-1536"]
        sweep.append("act-512")
    operator_rows = [isolated(child_operators, case, repeat)["result"] for case in sweep]
    results["operators"] = operator_rows

    print()
    print(f"k = {K}; scikit-learn with k-means n_init {N_INIT}; ours as labelled; best of {repeat}")
    cols = ["graph", "method", "n_init", "seconds", "embed_s", "peak_mib", "slack_mib", "ncut"]
    print(table(rows, cols + ["speedup", "ncut_ratio"]))
    print()
    print("k-means restarts side by side on our embedding (one process, interleaved):")
    print(table(kmeans_rows, list(kmeans_rows[0])))
    print()
    print("eigen-solvers side by side on the same problem (one process):")
    print(table(solver_rows, list(solver_rows[0])))
    print()
    print("dense matrix against blocks, eigen-solve (one process per graph, interleaved):")
    print(table(operator_rows, list(operator_rows[0])))
    print()
    print(
        f"numba compile: first fit with an empty cache {cold['first']:.2f} s (import "
        f"{cold['import_seconds']:.2f} s), with the cache filled {cached['first']:.2f} s, "
        f"warm {cached['warm']:.3f} s; every kernel incl. parallel twins: compile "
        f"{cold_all['all_kernels']:.2f} s, load from cache {cached_all['all_kernels']:.2f} s"
    )
    for key in ("bipartite", "bipartite_csr", "full"):
        if key in analysis:
            a = analysis[key]
            costs = ", ".join(
                f"{k}: {v:.2f}" for k, v in a.get("block_cost_in_applications", {}).items()
            )
            print(
                f"eigen-solve on {a['problem']} (dim {a['dim']}): {a['n_matvec']} applications"
                f" x {1e3 * a['apply_seconds']:.2f} ms = "
                f"{a['n_matvec'] * a['apply_seconds']:.2f} s of {a['solve_seconds']:.2f} s "
                f"({100 * a['matvec_share']:.0f}% in the operator; block setup "
                f"{a['setup_seconds']:.2f} s); one product, in applications to 1 vector: "
                f"{costs}"
            )
    for name, r in results["graphs"].items():
        ok = r["speedup"] >= r["speedup_target"] and r["ncut_ratio"] <= 1.01
        verdict = "met" if ok else "MISSED"
        if args.quick and name.startswith("mlp"):
            verdict = "the target is for the full-size graph"
        km = r["kmeans"]["seconds"]
        ours_default = km[f"nngraph n_init {r['kmeans']['default_n_init']} (default)"]
        sk10 = km["sklearn n_init 10, 1 thread (nngraph until now)"]
        print(
            f"{name}: at the defaults {r['speedup']:.1f}x faster than scikit-learn (target "
            f"{r['speedup_target']:.0f}x; n_init 10: {r['speedup_n_init_10']:.1f}x; eigen-"
            f"solve alone {r['embed_speedup']:.1f}x), n-cut ratio {r['ncut_ratio']:.4f} "
            f"(target <= 1.01): {verdict}; k-means at the default n_init "
            f"{ours_default / sk10:.2f}x the time of scikit-learn's 10 restarts (target < 1)"
        )
    path = write_results("spectral_quick" if args.quick else "spectral", results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
