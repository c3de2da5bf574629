"""The kept worker pool of clusterability: same null as serial, no torch, clean stops.

This module imports no torch: the workers unpickle its helpers by importing it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp

import nngraph as ng
from nngraph.graphs import NeuronGraph
from nngraph.stats import shutdown_worker_pool, worker_pool
from nngraph.utils._threads import cpu_count
from tests.helpers import python_with_ctrl_c

#: The checkout's root, from which the scripts below import ``tests``.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _layered(rng: np.random.Generator, sizes=(12, 16, 16, 8), n_modules: int = 4) -> NeuronGraph:
    """Build a weight graph with planted modules, without torch."""
    starts = np.cumsum((0, *sizes))
    a = np.zeros((starts[-1], starts[-1]))
    for i in range(len(sizes) - 1):
        rows = np.arange(sizes[i]) * n_modules // sizes[i]
        cols = np.arange(sizes[i + 1]) * n_modules // sizes[i + 1]
        block = np.where(rows[:, None] == cols[None, :], 1.0, 0.05)
        block *= rng.uniform(0.5, 1.5, block.shape)
        a[starts[i] : starts[i + 1], starts[i + 1] : starts[i + 2]] = block
    node_layer = np.repeat(np.arange(len(sizes)), sizes)
    return NeuronGraph(
        sp.csr_array(a + a.T),
        [f"l{i}" for i in range(len(sizes))],
        node_layer,
        np.arange(starts[-1]) - starts[node_layer],
        layer_pairs=[(i, i + 1) for i in range(len(sizes) - 1)],
    )


def _worker_state() -> tuple[bool, int, object, int]:
    """Report, in a worker: torch loaded?, its cores, its SIGINT handler, its pid."""
    from nngraph.utils._threads import cpu_count

    return "torch" in sys.modules, cpu_count(), signal.getsignal(signal.SIGINT), os.getpid()


def _reuse_faults(rounds: int = 3) -> list[int]:
    """Page faults of each round of making and freeing eight 2 MiB arrays, in this process."""
    import resource

    faults = []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones(1 << 18) for _ in range(8)]
        del arrays
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults


@pytest.fixture(autouse=True, scope="module")
def _no_pool_left():
    yield
    shutdown_worker_pool()


@pytest.fixture
def graphs(rng):
    return _layered(rng), _layered(rng, sizes=(10, 14, 12))


def test_same_null_as_serial_and_the_pool_is_kept(graphs):
    shutdown_worker_pool()
    part = ng.SpectralClustering(4, random_state=0, n_init=3)
    pool = worker_pool(2)
    assert worker_pool(2) is pool
    for graph in (*graphs, graphs[0]):  # a new graph, then the first again, on one pool
        serial = ng.clusterability(graph, part, n_shuffles=7, random_state=3)
        parallel = ng.clusterability(graph, part, n_shuffles=7, random_state=3, n_jobs=2)
        np.testing.assert_array_equal(parallel.null, serial.null)
        assert parallel.ncut == serial.ncut and parallel.n_units == serial.n_units
    assert worker_pool(2) is pool
    louvain = ng.Louvain(random_state=1)  # a numba partitioner, random_state given
    np.testing.assert_array_equal(
        ng.clusterability(graphs[0], louvain, n_shuffles=5, random_state=0, n_jobs=2).null,
        ng.clusterability(graphs[0], louvain, n_shuffles=5, random_state=0).null,
    )
    seedless = ng.SpectralClustering(4, n_init=3)  # each clone seeded from its shuffle
    np.testing.assert_array_equal(
        ng.clusterability(graphs[1], seedless, n_shuffles=5, random_state=2, executor=pool).null,
        ng.clusterability(graphs[1], seedless, n_shuffles=5, random_state=2).null,
    )


def test_workers_load_no_torch_and_share_the_cores(graphs):
    shutdown_worker_pool()  # fresh workers: none has unpickled anything else yet
    ng.clusterability(graphs[0], ng.SpectralClustering(4, random_state=0), n_shuffles=4, n_jobs=2)
    pool = worker_pool(2)
    states = [pool.submit(_worker_state) for _ in range(4)]
    for state in states:
        has_torch, cores, sigint, _ = state.result()
        assert not has_torch
        assert cores == max(1, cpu_count() // 2)
        assert sigint == signal.SIG_IGN  # Ctrl-C is the parent's to handle


_REUSE = """
import sys
from nngraph.stats._worker_pool import keep_freed_memory
from tests.stats.test_worker_pool import _reuse_faults
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
print(kept, *_reuse_faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_workers_keep_freed_memory_for_the_next_shuffle():
    def run(mode):
        out = subprocess.run(
            [sys.executable, "-c", _REUSE, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=_ROOT,  # where "tests" imports from
        )
        kept, *faults = out.stdout.split()
        return kept, [int(f) for f in faults]

    _, default = run("default")
    if min(default[1:]) < 1000:
        pytest.skip(f"this C library keeps freed memory already (page faults {default})")
    kept, faults = run("keep")
    if kept != "True":
        pytest.skip("this C library has no mallopt that takes the settings (not glibc)")
    assert max(faults[1:]) < 100, faults  # 16 MiB again, without faulting it in afresh
    # And so do the pool's workers, from their start.
    pool = worker_pool(2)
    assert max(pool.submit(_reuse_faults).result()[1:]) < 100


_ELSEWHERE = """
import multiprocessing as mp
import os
import sys

sys.path.insert(1, {root!r})  # this checkout's nngraph and tests (after the script's folder)
import numpy as np
import nngraph as ng
from nngraph.stats import worker_pool


def where():
    import nngraph
    return nngraph.__file__, os.environ.get("PYTHONSAFEPATH"), os.environ.get("PYTHONPATH")


def other_child(queue):
    queue.put((os.environ.get("PYTHONSAFEPATH"), os.environ.get("PYTHONPATH")))


if __name__ == "__main__":
    from tests.stats.test_worker_pool import _layered

    before = dict(os.environ)
    pool = worker_pool(2)
    assert dict(os.environ) == before  # the parent's environment, as it was
    res = ng.clusterability(
        _layered(np.random.default_rng(0)), ng.SpectralClustering(4, random_state=0),
        n_shuffles=3, random_state=0, n_jobs=2,
    )
    # Another process of the same fork server (not a pool worker) has a clean environment.
    ctx = mp.get_context("forkserver")
    queue = ctx.Queue()
    child = ctx.Process(target=other_child, args=(queue,))
    child.start()
    other = queue.get(timeout=60)
    child.join()
    for line in (ng.__file__, *pool.submit(where).result(), *other, len(res.null)):
        print(line)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no fork server")
@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH is Python 3.11's")
def test_workers_import_the_parents_nngraph_from_any_directory(tmp_path):
    # Run from a directory holding another "nngraph": the fork server starts with the
    # current directory first on its path, and its workers imported that one.
    (tmp_path / "work" / "nngraph").mkdir(parents=True)
    (tmp_path / "work" / "nngraph" / "__init__.py").write_text("OTHER = True\n")
    (tmp_path / "script").mkdir()
    script = tmp_path / "script" / "run.py"
    script.write_text(_ELSEWHERE.format(root=_ROOT))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    parent, worker, safepath, pythonpath, *other, n_null = out.stdout.splitlines()
    assert worker == parent and not worker.startswith(str(tmp_path))
    assert (safepath, pythonpath) == ("None", "None")  # the worker's environment as it was
    assert other == ["None", "None"]  # and the fork server's, for every process it forks
    assert n_null == "3"


def test_a_worker_with_another_nngraph_refuses_to_start():
    from nngraph.stats._worker_pool import _init_worker

    with pytest.raises(RuntimeError, match="imported nngraph from .* this process from /elsewhere"):
        _init_worker(1, "/elsewhere/nngraph")  # checked before anything is set


def test_another_size_replaces_the_pool(graphs):
    first = worker_pool(2)
    other = worker_pool(1)
    assert other is not first and worker_pool(1) is other
    with pytest.raises(RuntimeError):  # the old one was shut down
        first.submit(abs, 1)
    part = ng.SpectralClustering(4, random_state=0, n_init=3)
    np.testing.assert_array_equal(
        ng.clusterability(graphs[0], part, n_shuffles=3, random_state=1, executor=other).null,
        ng.clusterability(graphs[0], part, n_shuffles=3, random_state=1).null,
    )


class _FailsOnShuffles:
    """Fits the true graph, fails on any shuffled one."""

    def __init__(self, target: sp.csr_array) -> None:
        self.target = target

    def fit(self, graph):
        if (graph.adjacency != self.target).nnz:
            raise RuntimeError("boom")
        self.labels_ = np.arange(graph.n_nodes) % 2
        return self


def test_a_failing_shuffle_is_named_across_processes(graphs):
    g = graphs[0]
    with pytest.raises(ng.ShuffleFailedError, match="boom") as info:
        ng.clusterability(g, _FailsOnShuffles(g.adjacency), n_shuffles=4, n_jobs=2)
    assert info.value.shuffle in range(4)
    assert "failed on shuffle" in str(info.value)
    # The pool survives a failed call.
    part = ng.SpectralClustering(4, random_state=0, n_init=3)
    ng.clusterability(g, part, n_shuffles=2, n_jobs=2)


def test_bad_n_jobs(graphs):
    part = ng.SpectralClustering(4, random_state=0)
    with pytest.raises(ValueError, match="n_jobs"):
        ng.clusterability(graphs[0], part, n_shuffles=2, n_jobs=0)
    with pytest.raises(ValueError, match="not both"):
        ng.clusterability(graphs[0], part, n_shuffles=2, n_jobs=2, executor=worker_pool(2))
    with pytest.raises(TypeError, match="n_jobs"):
        worker_pool(1.5)


# ------------------------------------------------------------ Ctrl-C and exit, end to end
_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    import numpy as np
    import nngraph as ng
    from nngraph.stats import worker_pool
    sys.path.insert(0, {root!r})
    from tests.stats.test_worker_pool import _layered


    class SlowInWorkers:
        \"\"\"Quick on the true graph (in the parent), a minute per shuffle in a worker.\"\"\"

        def get_params(self, deep=True):
            return {{}}

        def fit(self, graph):
            if mp.current_process().name != "MainProcess":
                time.sleep(60)
            self.labels_ = np.arange(graph.n_nodes) % 2
            return self


    if __name__ == "__main__":
        g = _layered(np.random.default_rng(0))
        pool = worker_pool(2)
        list(pool.map(abs, [1, 2]))  # start the workers
        print(" ".join(str(p) for p in pool._processes), flush=True)
        if sys.argv[1] == "exit":
            ng.clusterability(g, ng.SpectralClustering(4), n_shuffles=4, n_jobs=2)
            print("done", flush=True)
            sys.exit(0)
        try:
            ng.clusterability(g, SlowInWorkers(), n_shuffles=8, n_jobs=2, random_state=0)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        again = ng.clusterability(g, ng.SpectralClustering(4), n_shuffles=2, n_jobs=2)
        print("again", len(again.null), flush=True)
        sys.exit(3)
    """
)


def _run_script(tmp_path, mode: str) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(root=_ROOT))
    proc = subprocess.Popen(
        python_with_ctrl_c(str(script), mode),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    return proc, pids


def _gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is dead for our purpose
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_ends_the_workers_and_a_new_pool_follows(tmp_path):
    proc, pids = _run_script(tmp_path, "interrupt")
    try:
        time.sleep(3)  # the shuffles are running (sleeping) in the workers
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal: the whole group
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "interrupted" in out and "again 2" in out
    assert _gone(pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_pool_ends_with_the_interpreter(tmp_path):
    proc, pids = _run_script(tmp_path, "exit")
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "done" in out
    assert _gone(pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_fork_server_ignores_ctrl_c_from_its_start(tmp_path):
    # A Ctrl-C while the fork server still imports its preload used to print the
    # server's traceback: it now starts with SIGINT ignored (the parent's is put back).
    script = textwrap.dedent(
        """
        import signal
        from multiprocessing import forkserver
        from nngraph.stats import worker_pool
        # Python's default handler, even where this runs as a background job (started
        # with SIGINT ignored, which the server would inherit anyway).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        before = signal.getsignal(signal.SIGINT)
        worker_pool(2)
        pid = forkserver._forkserver._forkserver_pid
        with open(f"/proc/{pid}/status") as f:
            ignored = int([l for l in f if l.startswith("SigIgn")][0].split()[1], 16)
        print(bool(ignored & (1 << (signal.SIGINT - 1))))
        print(signal.getsignal(signal.SIGINT) is before)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_start_workers_early_only_when_shuffles_run_in_parallel(graphs):
    from nngraph.stats import _worker_pool as wp

    shutdown_worker_pool()
    for jobs, shuffles in ((1, 50), (2, 0), (-1, 0)):
        wp.start_workers_early(jobs, shuffles)
        assert wp._POOL is None, (jobs, shuffles)
    wp.start_workers_early(2, 3)
    pool = wp._POOL
    assert pool is not None and pool._max_workers == 2
    assert worker_pool(2) is pool  # clusterability(n_jobs=2) then finds it ready
