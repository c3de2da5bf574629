"""Numba kernels: the nearest centres of points, for :mod:`nngraph.partition._kmeans`.

Every assignment step of Lloyd's k-means (:mod:`._kmeans_kernels`) asks, for the points
whose bounds no longer settle their label, for their three nearest centres: the label,
the runner-up and the bounds that let the next steps skip them. :func:`nearest_three`
answers in two passes:

* a **float32 screen** (:func:`_screen_three`): ``||x||^2 + ||c||^2 - 2 x.c``, with
  the points in SIMD lanes (eight or sixteen float32 per vector), widened into bounds
  by its error. Where the nearest centre's upper bound is below every other centre's
  lower bound, the label is that of the exact distances and the bounds are valid; on
  spectral embeddings this decides all but a handful of points (near-ties);
* the **exact float64 pass** (:func:`_nearest_three`) for the rest: each distance
  ``sum_t (x_t - c_t)^2`` summed over the features in order, the first centre winning
  a tie, as in plain Lloyd.

The labels, and therefore the centres and iterates of k-means, are those of the exact
distances: the screen only saves the exact pass where its answer cannot differ. On the
9,000-point embedding of the MLP 784-2048x4-10 (12 centres, 12 features), for a fifth
of its points as in a late iteration, the two passes take 18 ns per point where the
exact pass alone took 25.

Flag policy (as for every ``*_kernels.py`` of nngraph): kernels take only arrays and
scalars; ``cache=True``; no ``fastmath``; ``nogil=True`` (k-means runs them on its
worker threads). The small helpers are ``inline="always"`` (see :mod:`._kmeans_kernels`).
One exception: the screen's dot products (:func:`_dots_four`) may fuse a product and
its addition (``fastmath={"contract"}``, a fused multiply-add where the CPU has one).
That neither reorders the sums nor assumes away NaN or infinity, and it rounds once
where the plain form rounds twice, so the error bound below holds either way; the
labels are those of the exact distances on any CPU. It took 100 restarts on the big
MLP's embedding from 307-317 ms to 290-296 ms (one thread, same iterates).

**The screen's error bound.** With ``u = 2**-24`` and ``S = ||x||^2 + ||c||^2``, rounding
``x`` and ``c`` to float32 moves the squared distance by at most ``4.2 u S``; the
float32 norms, the dot product over ``dim`` features (with or without fused
multiply-adds) and the four operations after it add at most ``(dim + 8) u S``. With
``kappa = 2 (dim + 16) u``, more than twice the sum, the screen computes every squared
distance as a lower bound, ``(||x||^2 + ||c||^2)(1 - kappa) - 2 x.c`` (the factor
rounded down and applied to the norms), minus ``2**-100`` for products below
float32's normal range (flushed to zero or not): below the distance by at least
``(dim + 19) u S`` and by at most ``1.5 kappa S``. The three smallest are kept.
The nearest centre's upper bound adds ``2 kappa S'``, where ``S' >= S`` for that centre
comes from the point alone (``||c||^2 <= 2 ||x||^2 + 2 d``, so ``S'`` is at most about
``5 S``). A centre far from the others thus widens no other centre's bound: on the big
MLP's embedding with 20 of its 8,986 points moved 10 times its extent away, 100
restarts took 176 ms instead of 375 (one thread; the same iterates), and 270-274 ms
instead of 278-281 ms without them. The price is a few more near-ties for the exact
pass on data without far centres (under 0.1% of the points in a review's tests).
Points with NaN coordinates, or with ``||x||^2 + max ||c||^2`` from ``2**126`` up
(where float32 sums could overflow), are not screened but measured exactly.
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
def _sq_dists_four(src, m, p, o0, o1, o2, o3):
    """``o_q[b] = ||src[:, b] - p[q]||^2`` for ``b < m`` and the four rows of ``p``.

    ``src`` has the points as columns. Each distance is summed over the features in
    order (as :func:`_sq_dists`); one pass over the points, four features at a time,
    serves the four, so each coordinate is loaded once for four distances (and the
    loop over the points runs in SIMD lanes). Four features per pass instead of two:
    1,100 calls on 8,986 points of 12 features took 18.7 ms instead of 24.2 in float32
    (38.4 instead of 43.0 in float64), with the same sums.
    """
    dim = src.shape[0]
    for b in range(m):
        o0[b] = 0.0
        o1[b] = 0.0
        o2[b] = 0.0
        o3[b] = 0.0
    t = 0
    while t + 4 <= dim:
        xa = src[t]
        xb = src[t + 1]
        xc = src[t + 2]
        xd = src[t + 3]
        p0, q0, r0, s0 = p[0, t], p[1, t], p[2, t], p[3, t]
        p1, q1, r1, s1 = p[0, t + 1], p[1, t + 1], p[2, t + 1], p[3, t + 1]
        p2, q2, r2, s2 = p[0, t + 2], p[1, t + 2], p[2, t + 2], p[3, t + 2]
        p3, q3, r3, s3 = p[0, t + 3], p[1, t + 3], p[2, t + 3], p[3, t + 3]
        for b in range(m):
            x0 = xa[b]
            x1 = xb[b]
            x2 = xc[b]
            x3 = xd[b]
            e0, e1, e2, e3 = x0 - p0, x1 - p1, x2 - p2, x3 - p3
            o0[b] = (((o0[b] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
            e0, e1, e2, e3 = x0 - q0, x1 - q1, x2 - q2, x3 - q3
            o1[b] = (((o1[b] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
            e0, e1, e2, e3 = x0 - r0, x1 - r1, x2 - r2, x3 - r3
            o2[b] = (((o2[b] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
            e0, e1, e2, e3 = x0 - s0, x1 - s1, x2 - s2, x3 - s3
            o3[b] = (((o3[b] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
        t += 4
    while t < dim:
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
        t += 1


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


@numba.njit(cache=True, nogil=True, inline="always")
def _start_three(nb, d1, d2, d3, a1, a2):
    """No centre yet: infinite distances and centre 0 (in the arrays' own dtype)."""
    for b in range(nb):
        d1[b] = np.inf
        d2[b] = np.inf
        d3[b] = np.inf
        a1[b] = 0
        a2[b] = 0


@numba.njit(cache=True, nogil=True, inline="always")
def _store_rows(best, b0, nb, r0, r1, r2, r3, r4):
    """``best[0:5, b0 + b] = r0[b], ..., r4[b]`` for ``b < nb``."""
    for b in range(nb):
        p = b0 + b
        best[0, p] = r0[b]
        best[1, p] = r1[b]
        best[2, p] = r2[b]
        best[3, p] = r3[b]
        best[4, p] = r4[b]


@numba.njit(cache=True, nogil=True)
def _nearest_three(x, c, cand, m, xg, dist, best):
    """Find the three nearest centres of the points ``cand[:m]``, ``_BATCH`` at a time.

    Writes, for ``p < m``, the squared distances ``best[0:3, p]`` (ascending) and the
    centres ``best[3:5, p]`` of the first two (as floats). Each distance is summed over
    the features in order (as :func:`_sq_dist`); the first centre wins a tie.

    The points of a batch are gathered with their features as rows (``xg``), so the
    loops over the points run in SIMD lanes. Four centres are measured in one pass,
    four features at a time, so each load of a point's coordinates serves four
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
        _start_three(nb, d1, d2, d3, a1, a2)
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
        _store_rows(best, b0, nb, d1, d2, d3, a1, a2)


_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_F3 = np.float32(3.0)
#: Unit roundoff of float32.
_U32 = 2.0**-24
#: Added to every error bound: a float32 product below 2**-126 keeps an absolute error of
#: up to 2**-149, or 2**-126 where the CPU flushes subnormals to zero.
_TINY = 2.0**-100
#: Points with ``||x||^2 + max ||c||^2`` from here up are not screened: below it, no sum
#: or product of the screen exceeds float32's largest value (about 2**128).
_LARGE = 2.0**126


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _dots_four(xg, nb, c, j, o0, o1, o2, o3):
    """``o_q[b] = sum_t xg[t, b] * c[j + q, t]`` in float32, for ``b < nb`` and ``q < 4``.

    ``xg`` has the points as columns; four features per pass over the points, so each
    accumulator is loaded and stored once per four features. The products may be fused
    with their additions (the module's one ``fastmath`` flag, ``contract``: see above).
    """
    dim = xg.shape[0]
    for b in range(nb):
        o0[b] = _F0
        o1[b] = _F0
        o2[b] = _F0
        o3[b] = _F0
    t = 0
    while t + 4 <= dim:
        xa = xg[t]
        xb = xg[t + 1]
        xc = xg[t + 2]
        xd = xg[t + 3]
        p0, p1, p2, p3 = c[j, t], c[j, t + 1], c[j, t + 2], c[j, t + 3]
        q0, q1, q2, q3 = c[j + 1, t], c[j + 1, t + 1], c[j + 1, t + 2], c[j + 1, t + 3]
        r0, r1, r2, r3 = c[j + 2, t], c[j + 2, t + 1], c[j + 2, t + 2], c[j + 2, t + 3]
        s0, s1, s2, s3 = c[j + 3, t], c[j + 3, t + 1], c[j + 3, t + 2], c[j + 3, t + 3]
        for b in range(nb):
            x0 = xa[b]
            x1 = xb[b]
            x2 = xc[b]
            x3 = xd[b]
            o0[b] = (((o0[b] + x0 * p0) + x1 * p1) + x2 * p2) + x3 * p3
            o1[b] = (((o1[b] + x0 * q0) + x1 * q1) + x2 * q2) + x3 * q3
            o2[b] = (((o2[b] + x0 * r0) + x1 * r1) + x2 * r2) + x3 * r3
            o3[b] = (((o3[b] + x0 * s0) + x1 * s1) + x2 * s2) + x3 * s3
        t += 4
    while t < dim:
        xa = xg[t]
        p0, q0, r0, s0 = c[j, t], c[j + 1, t], c[j + 2, t], c[j + 3, t]
        for b in range(nb):
            x0 = xa[b]
            o0[b] += x0 * p0
            o1[b] += x0 * q0
            o2[b] += x0 * r0
            o3[b] += x0 * s0
        t += 1


@numba.njit(cache=True, nogil=True)
def _screen_three(x32, xx, c, cand, m, state, nearest, redo):
    """Find the three nearest centres of the points ``cand[:m]`` from float32 distances.

    For every point ``i = cand[p]`` whose nearest centre is decided despite the
    rounding (its upper bound below every other centre's lower bound), writes
    ``state[0, i]``, an upper bound on the distance to the nearest centre,
    ``state[1:3, i]``, lower bounds on the distance to the runner-up and to every other
    centre (distances, not squared), ``state[3, i]``, the runner-up, and
    ``nearest[p]``, the nearest centre. The other positions go to ``redo``; returns
    their number.

    Parameters
    ----------
    x32 : float32 array, shape (n, dim)
        The points.
    xx : float32 array, shape (n,)
        Their squared norms (computed in float64 from ``x32``, then rounded).
    c : float64 array, shape (k, dim)
        The centres.
    cand, m : int64 array and int
        The points to measure.
    state : float64 array, shape (>= 4, n)
        Output, in the columns of the decided points.
    nearest : int64 array, shape (>= m,)
        Output, at the positions of the decided points.
    redo : int64 array, shape (>= m,)
        Output: the positions left undecided.
    """
    k, dim = c.shape
    # Centres in float32, padded to a multiple of four with rows that are never nearest.
    c32 = np.zeros((k + 3, dim), dtype=np.float32)
    cc = np.full(k + 3, np.inf, dtype=np.float32)
    ccmax = 0.0
    for j in range(k):
        acc = 0.0
        for t in range(dim):
            v = np.float32(c[j, t])
            c32[j, t] = v
            acc += np.float64(v) * np.float64(v)
        cc[j] = np.float32(acc)
        ccmax = max(ccmax, acc)
    kappa = 2.0 * (dim + 16) * _U32
    # Every squared distance is screened as a lower bound: (xx + cc)(1 - kappa) - 2 x.c,
    # with 1 - kappa rounded down to float32 and the factor applied to the norms.
    shrink = np.float32(1.0 - kappa)
    if np.float64(shrink) > 1.0 - kappa:
        shrink = np.nextafter(shrink, _F0)
    grow = 1.0 / (1.0 - 4.0 * kappa) if kappa < 0.125 else np.inf
    ccs = np.empty(k + 3, dtype=np.float32)
    for j in range(k + 3):
        ccs[j] = cc[j] * shrink
    xg = np.empty((dim, _BATCH), dtype=np.float32)
    xxg = np.empty(_BATCH, dtype=np.float32)
    xxs = np.empty(_BATCH, dtype=np.float32)
    d1 = np.empty(_BATCH, dtype=np.float32)
    d2 = np.empty(_BATCH, dtype=np.float32)
    d3 = np.empty(_BATCH, dtype=np.float32)
    a1 = np.empty(_BATCH, dtype=np.float32)
    a2 = np.empty(_BATCH, dtype=np.float32)
    o0 = np.empty(_BATCH, dtype=np.float32)
    o1 = np.empty(_BATCH, dtype=np.float32)
    o2 = np.empty(_BATCH, dtype=np.float32)
    o3 = np.empty(_BATCH, dtype=np.float32)
    u1 = np.empty(_BATCH)
    u2 = np.empty(_BATCH)
    u3 = np.empty(_BATCH)
    ok = np.empty(_BATCH, dtype=np.bool_)
    n_redo = 0
    for b0 in range(0, m, _BATCH):
        nb = min(_BATCH, m - b0)
        for b in range(nb):
            i = cand[b0 + b]
            for t in range(dim):
                xg[t, b] = x32[i, t]
            xxg[b] = xx[i]
            xxs[b] = xx[i] * shrink
        _start_three(nb, d1, d2, d3, a1, a2)
        for j in range(0, k, 4):
            _dots_four(xg, nb, c32, j, o0, o1, o2, o3)
            f0 = np.float32(j)
            e0, e1, e2, e3 = ccs[j], ccs[j + 1], ccs[j + 2], ccs[j + 3]
            for b in range(nb):
                v1, v2, v3, w1, w2 = d1[b], d2[b], d3[b], a1[b], a2[b]
                xb = xxs[b]
                v = (xb + e0) - _F2 * o0[b]
                v1, v2, v3, w1, w2 = _keep_three(v, f0, v1, v2, v3, w1, w2)
                v = (xb + e1) - _F2 * o1[b]
                v1, v2, v3, w1, w2 = _keep_three(v, f0 + _F1, v1, v2, v3, w1, w2)
                v = (xb + e2) - _F2 * o2[b]
                v1, v2, v3, w1, w2 = _keep_three(v, f0 + _F2, v1, v2, v3, w1, w2)
                v = (xb + e3) - _F2 * o3[b]
                v1, v2, v3, w1, w2 = _keep_three(v, f0 + _F3, v1, v2, v3, w1, w2)
                d1[b], d2[b], d3[b], a1[b], a2[b] = v1, v2, v3, w1, w2
        for b in range(nb):
            xb = np.float64(xxg[b])
            v1 = np.float64(d1[b])  # lower bounds on squared distances (see above)
            v2 = np.float64(d2[b]) - _TINY
            # The nearest centre's ||c||^2 <= 2 ||x||^2 + 2 d: its bound, from v1 alone.
            size = (3.0 * xb + 2.0 * max(v1, 0.0) + 2.0 * _TINY) * grow
            h1 = v1 + 2.0 * kappa * size + _TINY
            u1[b] = np.sqrt(h1)
            u2[b] = np.sqrt(max(v2, 0.0))
            u3[b] = np.sqrt(max(np.float64(d3[b]) - _TINY, 0.0))
            # Beyond _LARGE, xx + cc or 2 x.c may overflow float32 (inf, and inf - inf is
            # NaN), and NaN data gives NaN: both go to the exact pass.
            ok[b] = (h1 < v2) & (xb + ccmax < _LARGE)
        # Straight into Lloyd's state: copying through rows of an output array instead
        # took 2-4% more of 100 restarts on the big MLP's embedding.
        for b in range(nb):
            p = b0 + b
            if ok[b]:
                i = cand[p]
                state[0, i] = u1[b]
                state[1, i] = u2[b]
                state[2, i] = u3[b]
                state[3, i] = a2[b]
                nearest[p] = np.int64(a1[b])
            else:
                redo[n_redo] = p
                n_redo += 1
    return n_redo


@numba.njit(cache=True, nogil=True, inline="always")
def nearest_three(x, x32, xx, c, cand, m, state, nearest, redo):
    """Find the three nearest centres of the points ``cand[:m]``: screened, then exact.

    Writes, for ``p < m`` and the point ``i = cand[p]``, Lloyd's state of the point:
    ``state[0, i]`` an upper bound on its distance to its nearest centre,
    ``state[1:3, i]`` lower bounds on its distance to the runner-up and to every other
    centre (exact where the point was measured in float64), ``state[3, i]`` the
    runner-up (as a float); and ``nearest[p]``, the nearest centre: that of the exact
    distances (the first of equal ones).

    Parameters
    ----------
    x : float64 array, shape (n, dim)
        The points.
    x32, xx : float32 arrays, shapes (n, dim) and (n,)
        The points and their squared norms in float32 (see :func:`_screen_three`).
    c : float64 array, shape (k, dim)
        The centres.
    cand, m : int64 array and int
        The points to measure (Lloyd lists each once).
    state : float64 array, shape (>= 4, n)
        Output, in the candidates' columns.
    nearest : int64 array, shape (>= m,)
        Output.
    redo : int64 array, shape (>= m,)
        Work space.
    """
    dim = x.shape[1]
    n_redo = _screen_three(x32, xx, c, cand, m, state, nearest, redo)
    if n_redo == 0:
        return
    points = np.empty(n_redo, dtype=np.int64)
    for q in range(n_redo):
        points[q] = cand[redo[q]]
    exact = np.empty((6, max(n_redo, _BATCH)))
    _nearest_three(x, c, points, n_redo, np.empty((dim, _BATCH)), exact[5], exact)
    for q in range(n_redo):
        i = points[q]
        for r in range(3):
            state[r, i] = np.sqrt(exact[r, q])
        state[3, i] = exact[4, q]
        nearest[redo[q]] = np.int64(exact[3, q])
