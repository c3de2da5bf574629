"""Numba kernels for :mod:`nngraph.partition._kmeans`: k-means++ seeding and Lloyd's iteration.

The nearest centres of the points that Lloyd's bounds do not settle come from
:mod:`._kmeans_distance_kernels`.

Flag policy (as for the ``*_kernels.py`` of nngraph, with one exception in
:mod:`._kmeans_distance_kernels`): kernels take only arrays and scalars;
``cache=True``; no ``fastmath`` (the order of every sum is fixed, so a seed
gives the same centres on every machine and thread count). They also release the GIL
(``nogil=True``): :func:`~._kmeans.kmeans` runs them on its worker threads, each on its
own restarts, so the restarts of one fit run side by side without OpenMP.

The small helpers are ``inline="always"`` (inlined by numba, whatever LLVM would
decide): a helper already compiled on its own, as when loaded from numba's cache
before its caller compiles, is called instead of inlined, and k-means++ then took
1.5 to 1.8 times as long. So are the steps of Lloyd's kernel (:func:`_lloyd_one`,
:func:`_assign`, and :func:`._kmeans_distance_kernels.nearest_three`, a short
function called twice), to save compile time: numba compiles every other kernel into
a module of its own and, for each caller, optimises everything it calls once more, so
each level of calls cost about a second. With an empty cache, Lloyd's kernel
compiled in 8.3-8.6 s instead of 10.5-10.8, and k-means++ (its distances, sums and
draw compiled in once) in 2.5-2.6 s instead of 3.7-3.8; the same results, and the
same speed (100 restarts on the big MLP's embedding: Lloyd 166-169 ms against
168-171, two threads).

Every restart is independent: the kernels loop over a range ``[start, stop)`` of the
restarts, which share the data ``X`` and own their slice of the ``(restarts, k, dim)``
centres and of the ``(restarts, n)`` labels.
"""

from __future__ import annotations

import numba
import numpy as np

from ._kmeans_distance_kernels import _sq_dist, _sq_dists, _sq_dists_four, nearest_three

#: The kernel files compiled into this module's kernels, with the start of their sha256:
#: numba's cache checks only this file, so a change there has to change this line
#: (tests/test_architecture.py says when; docs/architecture.md).
_COMPILED_IN = {
    "nngraph.partition._kmeans_distance_kernels": "88fac8b5c5ac3cb6",
}


#: Points per block of the seeding's potential: the draw walks the blocks' sums, then
#: one block (instead of a cumulative sum over every point, one long chain of additions).
_SEED_BLOCK = 64


@numba.njit(cache=True, nogil=True, inline="always")
def _min_and_block_sums(closest, out, blocks):
    """``out[i] = min(out[i], closest[i])``; ``blocks[q]`` = the sum of block ``q`` of ``out``.

    Returns the sum of ``blocks``. Each block's sum (in float64) uses eight interleaved
    partial sums, added in a fixed order.
    """
    n = out.shape[0]
    total = 0.0
    for q in range(blocks.shape[0]):
        i = q * _SEED_BLOCK
        stop = min(n, i + _SEED_BLOCK)
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
        while i + 8 <= stop:
            a0 = min(out[i], closest[i])
            a1 = min(out[i + 1], closest[i + 1])
            a2 = min(out[i + 2], closest[i + 2])
            a3 = min(out[i + 3], closest[i + 3])
            a4 = min(out[i + 4], closest[i + 4])
            a5 = min(out[i + 5], closest[i + 5])
            a6 = min(out[i + 6], closest[i + 6])
            a7 = min(out[i + 7], closest[i + 7])
            out[i] = a0
            out[i + 1] = a1
            out[i + 2] = a2
            out[i + 3] = a3
            out[i + 4] = a4
            out[i + 5] = a5
            out[i + 6] = a6
            out[i + 7] = a7
            s0 += a0
            s1 += a1
            s2 += a2
            s3 += a3
            s4 += a4
            s5 += a5
            s6 += a6
            s7 += a7
            i += 8
        while i < stop:
            a0 = min(out[i], closest[i])
            out[i] = a0
            s0 += a0
            i += 1
        v = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        blocks[q] = v
        total += v
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def _draw(closest, blocks, value):
    """First point whose running sum of ``closest`` reaches ``value`` (the last if none).

    ``numpy.searchsorted(numpy.cumsum(closest), value)``, clipped to the last point:
    the running sum goes block by block (``blocks`` holds their sums), then point by
    point from the block that reaches ``value`` (on into the next blocks, should the
    points' sum round below the block's).
    """
    n = closest.shape[0]
    acc = 0.0
    q = 0
    while q < blocks.shape[0] - 1 and acc + blocks[q] < value:
        acc += blocks[q]
        q += 1
    for i in range(q * _SEED_BLOCK, n - 1):
        acc += closest[i]
        if acc >= value:
            return i
    return n - 1


@numba.njit(cache=True, nogil=True)
def kmeans_plusplus(x, xt, first, uniforms, centres, potentials, start, stop):
    """Greedy k-means++ seeding of the restarts ``start..stop-1``.

    Arthur and Vassilvitskii's seeding with scikit-learn's greedy local trials: the
    first centre is the point ``first[r]``; each next one is the best (lowest
    potential) of ``n_trials`` points drawn with probability proportional to the
    squared distance to the closest centre so far: the first point whose running sum
    of those squared distances reaches ``u * potential``, for the uniform ``u`` in
    ``[0, 1)``. The squared distances have the dtype of ``xt``; the sums are float64.
    The first centre takes the trials' path as a single trial (the closest distances
    start at infinity), so that the distances, their sums and the draw are each
    compiled in once.

    Parameters
    ----------
    x : float64 array, shape (n, dim)
        The points: the centres are copied from its rows.
    xt : float32 or float64 array, shape (dim, n)
        The points, centred, scaled and transposed, for the distances.
    first : int64 array, shape (restarts,)
        The first centre of every restart (a point index).
    uniforms : float64 array, shape (restarts, k - 1, n_trials)
        The uniforms that draw the trial points.
    centres : float64 array, shape (restarts, k, dim)
        Overwritten for the restarts ``start..stop-1``.
    potentials : float64 array, shape (restarts,)
        Overwritten for those restarts: the sum of the squared distances of the points
        to their closest centre (of ``xt``).
    start, stop : int
        The restarts to seed.
    """
    dim, n = xt.shape
    k = centres.shape[1]
    n_trials = uniforms.shape[2]
    n_blocks = (n + _SEED_BLOCK - 1) // _SEED_BLOCK
    closest = np.empty(n, dtype=xt.dtype)
    blocks = np.empty(n_blocks)
    trial = np.empty((n_trials, n), dtype=xt.dtype)
    trial_blocks = np.empty((n_trials, n_blocks))
    pots = np.empty(n_trials)
    ids = np.empty(n_trials, dtype=np.int64)
    four = np.empty((4, dim), dtype=xt.dtype)
    for r in range(start, stop):
        for i in range(n):
            closest[i] = np.inf
        pot = np.inf
        for c in range(k):
            if c == 0:
                m = 1
                ids[0] = first[r]
            else:
                m = n_trials
                for t in range(m):
                    ids[t] = _draw(closest, blocks, uniforms[r, c - 1, t] * pot)
            t0 = 0
            while t0 + 4 <= m:
                for q in range(4):
                    _copy(xt[:, ids[t0 + q]], four[q])
                o0, o1, o2, o3 = trial[t0], trial[t0 + 1], trial[t0 + 2], trial[t0 + 3]
                _sq_dists_four(xt, n, four, o0, o1, o2, o3)
                t0 += 4
            for t in range(t0, m):
                _sq_dists(xt, n, xt[:, ids[t]], trial[t])
            best = 0
            for t in range(m):
                pots[t] = _min_and_block_sums(closest, trial[t], trial_blocks[t])
                if pots[t] < pots[best]:
                    best = t
            _copy(trial[best], closest)
            _copy(trial_blocks[best], blocks)
            pot = pots[best]
            _copy(x[ids[best]], centres[r, c])
        potentials[r] = pot


@numba.njit(cache=True, nogil=True, inline="always")
def _copy(src, dst):
    """``dst[:] = src`` for 1-d arrays of one length, as a loop.

    A slice or row assignment makes numba compile its shape-mismatch error (string
    formatting included) into each kernel that has one: 2.4 s the first time in a
    process, with an empty cache.
    """
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@numba.njit(cache=True, nogil=True, inline="always")
def _farthest(dist):
    """Index of the largest of ``dist`` (squared distances), the first of equal ones.

    NaN counts as below every number; -1.0 marks a point already taken (any value up to
    -1.0 is passed over). With no number left, the first NaN; with nothing left, -1.
    On squared distances, what ``numpy.argsort(-dist, kind="mergesort")[0]`` gives,
    without compiling a sort.
    """
    best = -1
    top = -1.0
    first_nan = -1
    for i in range(dist.shape[0]):
        d = dist[i]
        if d > top:
            top = d
            best = i
        elif d != d and first_nan < 0:
            first_nan = i
    return best if best >= 0 else first_nan


@numba.njit(cache=True, nogil=True)
def _new_centres(x, labels, sums, counts, old, new):
    """Means of the clusters; an empty cluster takes the point farthest from its centre.

    scikit-learn's update (``lloyd_iter_chunked_dense``): each mean is the sum times
    ``1 / count``; the empty clusters (``_relocate_empty_clusters_dense``) take, in
    turn, the points farthest from their (old) centres, each leaving the cluster it
    was in, while the labels stay (the next assignment step moves the point).
    ``sums`` and ``counts``, consistent with ``labels``, are left unchanged.
    """
    k, dim = new.shape
    n_empty = 0
    for j in range(k):
        if counts[j] == 0:
            n_empty += 1
    if n_empty == 0:
        for j in range(k):
            alpha = 1.0 / counts[j]
            for t in range(dim):
                new[j, t] = sums[j, t] * alpha
        return
    for j in range(k):
        _copy(sums[j], new[j])
    w = counts.astype(np.float64)
    n = x.shape[0]
    dist = np.empty(n)
    for i in range(n):
        dist[i] = _sq_dist(x, i, old, labels[i])
    for j in range(k):
        if counts[j] != 0:
            continue
        p = _farthest(dist)
        dist[p] = -1.0  # taken
        o = labels[p]
        for t in range(dim):
            new[o, t] -= x[p, t]
            new[j, t] = x[p, t]
        w[j] = 1.0
        w[o] -= 1.0
    for j in range(k):
        if w[j] > 0:
            alpha = 1.0 / w[j]
            for t in range(dim):
                new[j, t] *= alpha


@numba.njit(cache=True, nogil=True, inline="always")
def _move(x, i, a, b, sums, counts):
    """Move point ``i`` from cluster ``a`` to cluster ``b`` in the clusters' sums."""
    counts[a] -= 1
    counts[b] += 1
    for t in range(x.shape[1]):
        sums[a, t] -= x[i, t]
        sums[b, t] += x[i, t]


@numba.njit(cache=True, nogil=True)
def _follow_moves(labels, state, shift, half, cand):
    """Move every point's bounds by the centres' last moves; list the unsettled points.

    Each point keeps its label ``a``, its runner-up centre ``b`` and three bounds
    (Hamerly's, with a second lower bound): ``upper`` on its distance to ``a``, ``low2``
    on that to ``b`` and ``low3`` on that to every other centre. ``upper`` grows by
    ``a``'s move, ``low2`` shrinks by ``b``'s and ``low3`` by the largest move among the
    other centres. A label stands when ``upper`` is below both lower bounds, or below
    half the distance from ``a`` to the nearest other centre (``half``): strictly, so
    that a point exactly as far from a lower-numbered centre is measured again and goes
    to that centre, as in plain Lloyd. The other points are written to ``cand``;
    returns their number.

    The largest move among the centres other than ``a`` and ``b`` is looked up in a
    ``(k, k)`` table made once per call from the three largest moves, and the indices
    are unsigned (no test for a negative index): with those tests in the loop instead,
    and ``labels[i]`` as a signed index, the loop took about 3.5 ns per point in a fit
    (its share of a ``perf`` profile), 1.6-1.9 ns now.
    """
    n = labels.shape[0]
    k = shift.shape[0]
    upper = state[0]
    low2 = state[1]
    low3 = state[2]
    runner = state[3]
    # The three largest moves and the centres of the first two (the first of equal ones).
    s1 = s2 = s3 = 0.0
    i1 = i2 = -1
    for j in range(k):
        s = shift[j]
        if s > s1:
            s3 = s2
            s2 = s1
            i2 = i1
            s1 = s
            i1 = j
        elif s > s2:
            s3 = s2
            s2 = s
            i2 = j
        elif s > s3:
            s3 = s
    other = np.empty(k * k)
    for a in range(k):
        for b in range(k):
            if i1 != a and i1 != b:
                other[a * k + b] = s1
            elif i2 != a and i2 != b:
                other[a * k + b] = s2
            else:
                other[a * k + b] = s3
    kk = np.uint64(k)
    m = 0
    for i in range(n):
        a = np.uint64(labels[i])
        b = np.uint64(runner[i])
        u = upper[i] + shift[a]
        l2 = low2[i] - shift[b]
        l3 = low3[i] - other[a * kk + b]
        upper[i] = u
        low2[i] = l2
        low3[i] = l3
        cand[m] = i
        m += u >= max(min(l2, l3), half[a])
    return m


@numba.njit(cache=True, nogil=True, inline="always")
def _assign(x, x32, xx, c, labels, state, shift, half, cand, nearest, redo, update, sums, counts):
    """Lloyd's assignment step, skipping the distances that cannot change a label.

    Returns the number of labels changed. The points that the bounds do not settle
    (:func:`_follow_moves`) are measured (:func:`._kmeans_distance_kernels.nearest_three`),
    which resets their three bounds. With ``update``, ``sums`` and ``counts`` follow
    the labels that change.

    Measuring the distances to ``a`` and ``b`` first, one point at a time, settled
    half of those points, but cost more than it saved: branches that miss and scalar
    sums. Without that stage, 100 restarts on a 9,000-point spectral embedding took
    418 ms instead of 758 ms (one thread), with the same labels.
    """
    m = _follow_moves(labels, state, shift, half, cand)
    changed = 0
    nearest_three(x, x32, xx, c, cand, m, state, nearest, redo)
    for p in range(m):
        i = cand[p]
        a = labels[i]
        b = nearest[p]
        if b != a:
            labels[i] = b
            changed += 1
            if update:
                _move(x, i, a, b, sums, counts)
    return changed


@numba.njit(cache=True, nogil=True, inline="always")
def _lloyd_one(x, x32, xx, c, max_iter, tol, labels, state, sums, counts, new, cand, nearest, redo):
    """One restart of Lloyd's k-means from the centres ``c`` (updated in place).

    The iterates are those of plain Lloyd (scikit-learn's ``_kmeans_single_lloyd``):
    assign every point to its nearest centre, move the centres to the means, stop when
    no label changed or when the centres moved less than ``tol`` (sum of squared
    shifts), then assign once more with the final centres. :func:`_assign` skips the
    distances that cannot change a label; the sums of the clusters follow the points
    that change label.

    Returns the number of iterations.
    """
    n, dim = x.shape
    k = c.shape[0]
    half = np.empty(k)
    nearest_sq = np.empty(k)
    shift = np.zeros(k)
    # Iteration 0's assignment: every distance.
    for i in range(n):
        cand[i] = i
    nearest_three(x, x32, xx, c, cand, n, state, nearest, redo)
    sums[:, :] = 0.0
    counts[:] = 0
    for i in range(n):
        a = nearest[i]
        labels[i] = a
        counts[a] += 1
        for t in range(dim):
            sums[a, t] += x[i, t]
    total = np.inf
    for it in range(max_iter + 1):
        if it > 0:
            # Half the distance from each centre to its nearest other centre, each pair
            # measured once; every centre still sees the others in ascending order.
            nearest_sq[:] = np.inf
            for j in range(k):
                for j2 in range(j + 1, k):
                    d = _sq_dist(c, j, c, j2)
                    nearest_sq[j] = min(nearest_sq[j], d)
                    nearest_sq[j2] = min(nearest_sq[j2], d)
                half[j] = 0.5 * np.sqrt(nearest_sq[j])
            final = it == max_iter or total <= tol
            update = not final
            changed = _assign(
                x, x32, xx, c, labels, state, shift, half, cand, nearest, redo, update, sums, counts
            )
            if final:
                # scikit-learn's last assignment step: the labels of the final centres.
                return it
            strict = changed == 0
        else:
            strict = False
        # Update step: the means, and how far each centre moved.
        _new_centres(x, labels, sums, counts, c, new)
        total = 0.0
        for j in range(k):
            d = 0.0
            for t in range(dim):
                diff = new[j, t] - c[j, t]
                d += diff * diff
                c[j, t] = new[j, t]
            total += d
            shift[j] = np.sqrt(d)
        if strict:
            return it + 1
    return max_iter


@numba.njit(cache=True, nogil=True)
def lloyd(x, x32, xx, centres, max_iter, tol, labels, inertia, n_iter, start, stop):
    """Lloyd's k-means for the restarts ``start..stop-1``, each from its own centres.

    Parameters
    ----------
    x : float64 array, shape (n, dim)
        The points.
    x32, xx : float32 arrays, shapes (n, dim) and (n,)
        The points in float32 and their squared norms (summed in float64, then
        rounded), for the screen of :func:`._kmeans_distance_kernels.nearest_three`.
    centres : float64 array, shape (restarts, k, dim)
        Starting centres; overwritten with the final ones.
    max_iter : int
        Iterations per restart.
    tol : float
        Stop when the sum of the squared centre shifts is at most ``tol``.
    labels : int32 array, shape (restarts, n)
        Overwritten: the label of every point.
    inertia : float64 array, shape (restarts,)
        Overwritten: the sum of squared distances to the assigned centres.
    n_iter : int64 array, shape (restarts,)
        Overwritten: the iterations run.
    start, stop : int
        The restarts to run.
    """
    n, dim = x.shape
    k = centres.shape[1]
    state = np.empty((4, n))
    sums = np.empty((k, dim))
    counts = np.empty(k, dtype=np.int64)
    new = np.empty((k, dim))
    cand = np.empty(n, dtype=np.int64)
    nearest = np.empty(n, dtype=np.int64)
    redo = np.empty(n, dtype=np.int64)
    for r in range(start, stop):
        c = centres[r]
        lab = labels[r]
        n_iter[r] = _lloyd_one(
            x, x32, xx, c, max_iter, tol, lab, state, sums, counts, new, cand, nearest, redo
        )
        total = 0.0
        for i in range(n):
            total += _sq_dist(x, i, c, lab[i])
        inertia[r] = total
