"""nngraph's thread helpers: parallel_map runs every job once, in order, caller included."""

import threading

import pytest

from nngraph.utils._threads import parallel_map


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
@pytest.mark.parametrize("n_jobs", [0, 1, 2, 7, 50])
def test_parallel_map_equals_the_serial_map(workers, n_jobs):
    calls = []
    lock = threading.Lock()

    def fn(j):
        with lock:
            calls.append(j)
        return (j, j * j)

    assert parallel_map(fn, range(n_jobs), workers) == [(j, j * j) for j in range(n_jobs)]
    assert sorted(calls) == list(range(n_jobs))  # every job exactly once


def test_parallel_map_uses_the_caller_and_the_pool():
    """With two workers and jobs that wait for each other, both threads must run."""
    barrier = threading.Barrier(2, timeout=10)
    names = []

    def fn(j):
        names.append(threading.current_thread().name)
        barrier.wait()  # deadlocks (BrokenBarrierError after 10 s) on one thread
        return j

    assert parallel_map(fn, [0, 1], 2) == [0, 1]
    assert threading.current_thread().name in names
    assert any(name.startswith("nngraph") for name in names)


def test_parallel_map_raises_the_first_error_and_stops_taking_jobs():
    done = []

    def fn(j):
        if j == 3:
            raise ValueError("job 3 failed")
        done.append(j)
        return j

    with pytest.raises(ValueError, match="job 3 failed"):
        parallel_map(fn, range(1000), 2)
    assert len(done) < 999  # the others stopped soon after, not all 999 run
    # The pool still works afterwards.
    assert parallel_map(lambda j: j + 1, range(4), 2) == [1, 2, 3, 4]


@pytest.mark.timeout(60)
def test_parallel_map_can_be_nested():
    """A job calling parallel_map from a pool thread does not wait on its own pool."""

    def outer(i):
        return sum(parallel_map(lambda j: i * j, range(5), 2))

    assert parallel_map(outer, range(6), 2) == [10 * i for i in range(6)]
