"""Numba kernels for :mod:`nngraph.partition._kmeans`: k-means++ seeding and Lloyd's iteration.

Flag policy (as for every ``*_kernels.py`` of nngraph): kernels take only arrays and
scalars; ``cache=True``; no ``fastmath`` (the order of every sum is fixed, so a seed
gives the same centres on every machine and thread count). They also release the GIL
(``nogil=True``): :func:`~._kmeans.kmeans` runs them on its worker threads, each on its
own restarts, so the restarts of one fit run side by side without OpenMP.

The small helpers are ``inline="always"`` (inlined by numba, whatever LLVM would
decide): a helper already compiled on its own, as when loaded from numba's cache
before its caller compiles, is called instead of inlined, and k-means++ then took
1.5 to 1.8 times as long.

Every restart is independent: the kernels loop over a range ``[start, stop)`` of the
restarts, which share the data ``X`` and own their slice of the ``(restarts, k, dim)``
centres and of the ``(restarts, n)`` labels.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _sq_dist(x, i, c, j):
    """``||x[i] - c[j]||^2``, summed over the features in order."""
    acc = 0.0
    for t in range(x.shape[1]):
        diff = x[i, t] - c[j, t]
        acc += diff * diff
    return acc


@numba.njit(cache=True, nogil=True, inline="always")
def _sq_dists(src, m, centre, out):
    """``out[b] = ||src[:, b] - centre||^2`` for ``b < m`` (``src`` has the points as columns).

    Each distance is summed over the features in order (as :func:`_sq_dist`), four
    features per pass over ``out`` (a quarter of the loads and stores of one per
    pass); the loop over the points runs in SIMD lanes.
    """
    dim = src.shape[0]
    for b in range(m):
        out[b] = 0.0
    t = 0
    while t + 4 <= dim:
        c0 = centre[t]
        c1 = centre[t + 1]
        c2 = centre[t + 2]
        c3 = centre[t + 3]
        for b in range(m):
            e0 = src[t, b] - c0
            e1 = src[t + 1, b] - c1
            e2 = src[t + 2, b] - c2
            e3 = src[t + 3, b] - c3
            out[b] = (((out[b] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
        t += 4
    while t < dim:
        ct = centre[t]
        for b in range(m):
            diff = src[t, b] - ct
            out[b] += diff * diff
        t += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _searchsorted_left(cum, value):
    """First ``p`` with ``cum[p] >= value`` (``numpy.searchsorted(side="left")``)."""
    lo, hi = 0, cum.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _min_and_sum(closest, out):
    """``out[i] = min(out[i], closest[i])``; returns ``sum(out)``.

    The sum uses four interleaved partial sums, added in a fixed order.
    """
    n = out.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    n4 = n - n % 4
    for i in range(0, n4, 4):
        a0 = min(out[i], closest[i])
        a1 = min(out[i + 1], closest[i + 1])
        a2 = min(out[i + 2], closest[i + 2])
        a3 = min(out[i + 3], closest[i + 3])
        out[i] = a0
        out[i + 1] = a1
        out[i + 2] = a2
        out[i + 3] = a3
        s0 += a0
        s1 += a1
        s2 += a2
        s3 += a3
    for i in range(n4, n):
        a0 = min(out[i], closest[i])
        out[i] = a0
        s0 += a0
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, nogil=True, inline="always")
def _sq_dists_four(src, m, p, o0, o1, o2, o3):
    """``o_q[b] = ||src[:, b] - p[q]||^2`` for ``b < m`` and the four rows of ``p``.

    ``src`` has the points as columns. Each distance is summed over the features in
    order (as :func:`_sq_dists`); one pass over the points, two features at a time,
    serves the four, so each coordinate is loaded once for four distances (and the
    loop over the points runs in SIMD lanes).
    """
    dim = src.shape[0]
    for b in range(m):
        o0[b] = 0.0
        o1[b] = 0.0
        o2[b] = 0.0
        o3[b] = 0.0
    t = 0
    while t + 2 <= dim:
        xa = src[t]
        xb = src[t + 1]
        p0, q0, r0, s0 = p[0, t], p[1, t], p[2, t], p[3, t]
        p1, q1, r1, s1 = p[0, t + 1], p[1, t + 1], p[2, t + 1], p[3, t + 1]
        for b in range(m):
            x0 = xa[b]
            x1 = xb[b]
            e0 = x0 - p0
            e1 = x1 - p1
            o0[b] = (o0[b] + e0 * e0) + e1 * e1
            e0 = x0 - q0
            e1 = x1 - q1
            o1[b] = (o1[b] + e0 * e0) + e1 * e1
            e0 = x0 - r0
            e1 = x1 - r1
            o2[b] = (o2[b] + e0 * e0) + e1 * e1
            e0 = x0 - s0
            e1 = x1 - s1
            o3[b] = (o3[b] + e0 * e0) + e1 * e1
        t += 2
    if t < dim:
        xa = src[t]
        p0, q0, r0, s0 = p[0, t], p[1, t], p[2, t], p[3, t]
        for b in range(m):
            x0 = xa[b]
            e0 = x0 - p0
            o0[b] += e0 * e0
            e0 = x0 - q0
            o1[b] += e0 * e0
            e0 = x0 - r0
            o2[b] += e0 * e0
            e0 = x0 - s0
            o3[b] += e0 * e0


@numba.njit(cache=True, nogil=True)
def kmeans_plusplus(xt, first, uniforms, centres, start, stop):
    """Greedy k-means++ seeding of the restarts ``start..stop-1``.

    Arthur and Vassilvitskii's seeding with scikit-learn's greedy local trials: the
    first centre is the point ``first[r]``; each next one is the best (lowest
    potential) of ``n_trials`` points drawn with probability proportional to the
    squared distance to the closest centre so far: the point whose slice of the
    cumulative sum holds ``u * potential``, for the uniform ``u`` in ``[0, 1)``.

    Parameters
    ----------
    xt : float64 array, shape (dim, n)
        The points, transposed (C order).
    first : int64 array, shape (restarts,)
        The first centre of every restart (a point index).
    uniforms : float64 array, shape (restarts, k - 1, n_trials)
        The uniforms that draw the trial points.
    centres : float64 array, shape (restarts, k, dim)
        Overwritten for the restarts ``start..stop-1``.
    start, stop : int
        The restarts to seed.
    """
    dim, n = xt.shape
    k = centres.shape[1]
    n_trials = uniforms.shape[2]
    closest = np.full(n, np.inf)
    cum = np.empty(n)
    trial = np.empty((n_trials, n))
    pots = np.empty(n_trials)
    ids = np.empty(n_trials, dtype=np.int64)
    four = np.empty((4, dim))
    for r in range(start, stop):
        closest[:] = np.inf
        c0 = first[r]
        _sq_dists(xt, n, xt[:, c0], trial[0])
        _min_and_sum(closest, trial[0])
        closest[:] = trial[0]
        for t in range(dim):
            centres[r, 0, t] = xt[t, c0]
        for c in range(1, k):
            acc = 0.0
            for i in range(n):
                acc += closest[i]
                cum[i] = acc
            pot = acc
            for t in range(n_trials):
                ids[t] = min(_searchsorted_left(cum, uniforms[r, c - 1, t] * pot), n - 1)
            t0 = 0
            while t0 + 4 <= n_trials:
                for q in range(4):
                    four[q] = xt[:, ids[t0 + q]]
                _sq_dists_four(xt, n, four, trial[t0], trial[t0 + 1], trial[t0 + 2], trial[t0 + 3])
                for t in range(t0, t0 + 4):
                    pots[t] = _min_and_sum(closest, trial[t])
                t0 += 4
            for t in range(t0, n_trials):
                _sq_dists(xt, n, xt[:, ids[t]], trial[t])
                pots[t] = _min_and_sum(closest, trial[t])
            best = 0
            for t in range(1, n_trials):
                if pots[t] < pots[best]:
                    best = t
            closest[:] = trial[best]
            for t in range(dim):
                centres[r, c, t] = xt[t, ids[best]]


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
    new[:, :] = sums
    w = counts.astype(np.float64)
    n = x.shape[0]
    dist = np.empty(n)
    for i in range(n):
        dist[i] = _sq_dist(x, i, old, labels[i])
    far = np.argsort(-dist, kind="mergesort")
    m = 0
    for j in range(k):
        if counts[j] != 0:
            continue
        p = far[m]
        m += 1
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


#: Points whose distances to every centre are computed together (their coordinates
#: gathered and transposed, so the loop over them runs in SIMD lanes).
_BATCH = 128


@numba.njit(cache=True, nogil=True, inline="always")
def _keep_three(v, fj, d1, d2, d3, a1, a2):
    """Add the distance ``v`` to centre ``fj`` to the three nearest so far (first wins a tie).

    Returns the new ``d1 <= d2 <= d3`` and the centres ``a1``, ``a2`` of the first two.
    """
    lt1 = v < d1
    lt2 = v < d2
    n3 = d2 if lt2 else min(v, d3)
    n2 = d1 if lt1 else (v if lt2 else d2)
    na2 = a1 if lt1 else (fj if lt2 else a2)
    n1 = v if lt1 else d1
    na1 = fj if lt1 else a1
    return n1, n2, n3, na1, na2


@numba.njit(cache=True, nogil=True)
def _nearest_three(x, c, cand, m, xg, dist, best):
    """Find the three nearest centres of the points ``cand[:m]``, ``_BATCH`` at a time.

    Writes, for ``p < m``, the squared distances ``best[0:3, p]`` (ascending) and the
    centres ``best[3:5, p]`` of the first two (as floats). Each distance is summed over
    the features in order (as :func:`_sq_dist`); the first centre wins a tie.

    The points of a batch are gathered with their features as rows (``xg``), so the
    loops over the points run in SIMD lanes. Four centres are measured in one pass,
    two features at a time, so each load of a point's coordinates serves four
    centres; the running three nearest then take the four distances in one pass too.
    They live in arrays of this call (``d1`` ... ``a2``): LLVM can then tell they do
    not overlap and runs the selection in SIMD lanes (rows of one array might overlap,
    so it kept that loop scalar). On a 12-dimensional embedding with 12 centres: 20 ns
    per point, against 27 ns one centre per pass.
    """
    k, dim = c.shape
    d1 = np.empty(_BATCH)
    d2 = np.empty(_BATCH)
    d3 = np.empty(_BATCH)
    a1 = np.empty(_BATCH)
    a2 = np.empty(_BATCH)
    acc0 = np.empty(_BATCH)
    acc1 = np.empty(_BATCH)
    acc2 = np.empty(_BATCH)
    acc3 = np.empty(_BATCH)
    for b0 in range(0, m, _BATCH):
        nb = min(_BATCH, m - b0)
        for b in range(nb):
            i = cand[b0 + b]
            for t in range(dim):
                xg[t, b] = x[i, t]
        for b in range(nb):
            d1[b] = np.inf
            d2[b] = np.inf
            d3[b] = np.inf
            a1[b] = 0.0
            a2[b] = 0.0
        j = 0
        while j + 4 <= k:
            _sq_dists_four(xg, nb, c[j : j + 4], acc0, acc1, acc2, acc3)
            f0 = float(j)
            for b in range(nb):
                v1, v2, v3, w1, w2 = d1[b], d2[b], d3[b], a1[b], a2[b]
                v1, v2, v3, w1, w2 = _keep_three(acc0[b], f0, v1, v2, v3, w1, w2)
                v1, v2, v3, w1, w2 = _keep_three(acc1[b], f0 + 1.0, v1, v2, v3, w1, w2)
                v1, v2, v3, w1, w2 = _keep_three(acc2[b], f0 + 2.0, v1, v2, v3, w1, w2)
                v1, v2, v3, w1, w2 = _keep_three(acc3[b], f0 + 3.0, v1, v2, v3, w1, w2)
                d1[b], d2[b], d3[b], a1[b], a2[b] = v1, v2, v3, w1, w2
            j += 4
        while j < k:
            _sq_dists(xg, nb, c[j], dist)
            fj = float(j)
            for b in range(nb):
                v1, v2, v3, w1, w2 = _keep_three(dist[b], fj, d1[b], d2[b], d3[b], a1[b], a2[b])
                d1[b], d2[b], d3[b], a1[b], a2[b] = v1, v2, v3, w1, w2
            j += 1
        for b in range(nb):
            p = b0 + b
            best[0, p] = d1[b]
            best[1, p] = d2[b]
            best[2, p] = d3[b]
            best[3, p] = a1[b]
            best[4, p] = a2[b]


@numba.njit(cache=True, nogil=True, inline="always")
def _move(x, i, a, b, sums, counts):
    """Move point ``i`` from cluster ``a`` to cluster ``b`` in the clusters' sums."""
    counts[a] -= 1
    counts[b] += 1
    for t in range(x.shape[1]):
        sums[a, t] -= x[i, t]
        sums[b, t] += x[i, t]


@numba.njit(cache=True, nogil=True)
def _assign(x, c, labels, state, shift, half, cand, best, xg, update, sums, counts):
    """Lloyd's assignment step, skipping the distances that cannot change a label.

    Returns the number of labels changed. Every point keeps its label ``a``, its
    runner-up centre ``b`` and three bounds (Hamerly's, with a second lower bound):
    ``upper`` on its distance to ``a``, ``low2`` on that to ``b`` and ``low3`` on that
    to every other centre. The bounds first follow the centres' last moves
    (``shift``). A label stands when ``upper`` is below both lower bounds, or below
    half the distance from ``a`` to the nearest other centre (``half``): strictly, so
    that a point exactly as far from a lower-numbered centre is measured again and
    goes to that centre, as in plain Lloyd. Else every
    distance of the point is measured, in batches (:func:`_nearest_three`), which
    resets the three bounds. With ``update``, ``sums`` and ``counts`` follow the labels
    that change.

    Measuring the distances to ``a`` and ``b`` first, one point at a time, settled
    half of those points, but cost more than it saved: branches that miss and scalar
    sums. Without that stage, 100 restarts on a 9,000-point spectral embedding take
    418 ms instead of 758 ms (one thread), with the same labels.
    """
    n = x.shape[0]
    k = c.shape[0]
    upper = state[0]
    low2 = state[1]
    low3 = state[2]
    runner = state[3]
    # The three largest moves (to move low3 by the largest among the other centres).
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
    m = 0
    for i in range(n):
        a = labels[i]
        b = np.int64(runner[i])
        u = upper[i] + shift[a]
        l2 = low2[i] - shift[b]
        if i1 != a and i1 != b:
            l3 = low3[i] - s1
        elif i2 != a and i2 != b:
            l3 = low3[i] - s2
        else:
            l3 = low3[i] - s3
        upper[i] = u
        low2[i] = l2
        low3[i] = l3
        cand[m] = i
        m += u >= max(min(l2, l3), half[a])
    changed = 0
    _nearest_three(x, c, cand, m, xg, best[5], best)
    for p in range(m):
        i = cand[p]
        a = labels[i]
        b = np.int64(best[3, p])
        upper[i] = np.sqrt(best[0, p])
        low2[i] = np.sqrt(best[1, p])
        low3[i] = np.sqrt(best[2, p])
        runner[i] = best[4, p]
        if b != a:
            labels[i] = b
            changed += 1
            if update:
                _move(x, i, a, b, sums, counts)
    return changed


@numba.njit(cache=True, nogil=True)
def _lloyd_one(x, c, max_iter, tol, labels, state, sums, counts, new, cand, best, xg):
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
    shift = np.zeros(k)
    # Iteration 0's assignment: every distance.
    for i in range(n):
        cand[i] = i
    _nearest_three(x, c, cand, n, xg, best[5], best)
    sums[:, :] = 0.0
    counts[:] = 0
    for i in range(n):
        a = np.int64(best[3, i])
        labels[i] = a
        state[0, i] = np.sqrt(best[0, i])
        state[1, i] = np.sqrt(best[1, i])
        state[2, i] = np.sqrt(best[2, i])
        state[3, i] = best[4, i]
        counts[a] += 1
        for t in range(dim):
            sums[a, t] += x[i, t]
    total = np.inf
    for it in range(max_iter + 1):
        if it > 0:
            # Half the distance from each centre to its nearest other centre.
            for j in range(k):
                mm = np.inf
                for j2 in range(k):
                    if j2 != j:
                        mm = min(mm, _sq_dist(c, j, c, j2))
                half[j] = 0.5 * np.sqrt(mm)
            final = it == max_iter or total <= tol
            changed = _assign(
                x, c, labels, state, shift, half, cand, best, xg, not final, sums, counts
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
def lloyd(x, centres, max_iter, tol, labels, inertia, n_iter, start, stop):
    """Lloyd's k-means for the restarts ``start..stop-1``, each from its own centres.

    Parameters
    ----------
    x : float64 array, shape (n, dim)
        The points.
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
    best = np.empty((6, max(n, _BATCH)))
    xg = np.empty((dim, _BATCH))
    for r in range(start, stop):
        c = centres[r]
        lab = labels[r]
        n_iter[r] = _lloyd_one(x, c, max_iter, tol, lab, state, sums, counts, new, cand, best, xg)
        total = 0.0
        for i in range(n):
            total += _sq_dist(x, i, c, lab[i])
        inertia[r] = total
