"""The result of a proxy: one row per sub-cluster against its random controls.

Shared by :func:`nngraph.importance` and :func:`nngraph.coherence`. Each statistic of a
sub-cluster is compared with the same statistic of its random controls: empirical
p-value (ties against the true set), mid-p, effect size (true minus the controls'
mean, and in units of their standard deviation), Benjamini-Hochberg over the rows; and
the rows' p-values are combined into one per statistic.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..stats._pvalues import (
    CombinedPValue,
    benjamini_hochberg,
    combine_dependent,
    combine_pvalues,
    empirical_pvalues,
)
from ..utils._io import atomic_write, json_text, to_jsonable
from ..utils._text import counted

__all__ = ["ProxyResult", "Statistic"]


@dataclass(frozen=True)
class Statistic:
    """A statistic a proxy tests: its name, which direction is extreme, what it means."""

    name: str
    alternative: str  # "greater" or "less"
    description: str


@dataclass
class ProxyResult:
    """Sub-clusters against random same-size sets of their layers.

    Attributes
    ----------
    proxy : str
        ``"importance"``, ``"coherence (dataset)"`` or ``"coherence (visualization)"``.
    statistics : list of Statistic
        What was tested, in column order.
    rows : list of dict
        One per sub-cluster: ``layer``, ``cluster``, ``size``, ``fraction``, ``units``,
        then per statistic ``<name>`` (the true set's value), ``<name>_random_mean``,
        ``<name>_random_std``, ``<name>_p``, ``<name>_p_mid``, ``<name>_effect``
        (true minus the random mean), ``<name>_z`` and ``<name>_significant``
        (Benjamini-Hochberg over the rows at ``alpha``), plus the proxy's details.
    true : dict of str to ndarray, shape (n_rows,)
    random : dict of str to ndarray, shape (n_rows, n_random)
        The statistics of the true sets and of their controls.
    combined : dict of str to dict of str to CombinedPValue
        Per statistic, the rows' p-values combined by each method, the default first:
        ``"null_t"`` (Fisher's statistic against its null measured on random partitions,
        which accounts for the sub-clusters of a layer being disjoint), then
        ``"brown"``, ``"partition_rank"``, ``"fisher_exact"`` (assumes independence: conservative
        here) and ``"fisher_halfbin"`` (the paper's).
    alpha : float
        The false discovery rate of the ``significant`` columns.
    info : dict
        How it was run: ``n_random``, ``random_state``, the site, seconds, baseline
        values, ...
    null : dict of str to ndarray, shape (n_rows, n_null)
        The statistics of the rows' counterparts in random partitions.
    extras : dict
        What a proxy keeps for pictures, by row: coherence's top examples of every set
        (``"top_examples"``) or optimised inputs (``"inputs"``). Not written to files.
    """

    proxy: str
    statistics: list[Statistic]
    rows: list[dict[str, Any]]
    true: dict[str, np.ndarray]
    random: dict[str, np.ndarray]
    combined: dict[str, dict[str, CombinedPValue]] = field(default_factory=dict)
    alpha: float = 0.05
    info: dict[str, Any] = field(default_factory=dict)
    null: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        proxy: str,
        statistics: list[Statistic],
        rows: list[dict[str, Any]],
        true: dict[str, np.ndarray],
        random: dict[str, np.ndarray],
        *,
        null: dict[str, np.ndarray] | None = None,
        alpha: float = 0.05,
        combine: tuple[str, ...] = ("fisher_exact", "fisher_halfbin"),
        random_state: int = 0,
        info: dict[str, Any] | None = None,
    ) -> ProxyResult:
        """Compute p-values, effects, significance and the combinations, then wrap.

        ``null`` holds, per statistic, the values ``(n_rows, n_null)`` of the rows'
        counterparts in random partitions; with it, the dependent combination
        (``"null_t"``, ``"brown"``, then ``"partition_rank"``) comes first.
        """
        combined: dict[str, dict[str, CombinedPValue]] = {}
        for stat in statistics:
            t, r = true[stat.name], random[stat.name]
            finite = np.isfinite(t)
            pv = empirical_pvalues(np.where(finite, t, 0.0), r, alternative=stat.alternative)
            p = np.where(finite, pv.p, np.nan)
            p_mid = np.where(finite, pv.p_mid, np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.nanmean(np.where(np.isfinite(r), r, np.nan), axis=1)
                std = np.nanstd(np.where(np.isfinite(r), r, np.nan), axis=1)
                z = np.where(std > 0, (t - mean) / std, np.nan)
            significant, _ = benjamini_hochberg(p, alpha)
            for k, row in enumerate(rows):
                row[stat.name] = float(t[k])
                row[f"{stat.name}_random_mean"] = float(mean[k])
                row[f"{stat.name}_random_std"] = float(std[k])
                row[f"{stat.name}_p"] = float(p[k])
                row[f"{stat.name}_p_mid"] = float(p_mid[k])
                row[f"{stat.name}_effect"] = float(t[k] - mean[k])
                row[f"{stat.name}_z"] = float(z[k])
                row[f"{stat.name}_significant"] = bool(significant[k])
            keep = np.flatnonzero(finite)
            if keep.size:
                sub = empirical_pvalues(t[keep], r[keep], alternative=stat.alternative)
                by_method: dict[str, CombinedPValue] = {}
                if null is not None and null[stat.name].shape[1] >= 2:
                    nulls = null[stat.name][keep]
                    usable = np.all(np.isfinite(nulls), axis=0)
                    if usable.sum() >= 2:
                        by_method.update(
                            combine_dependent(
                                sub,
                                [
                                    empirical_pvalues(
                                        nulls[:, b], r[keep], alternative=stat.alternative
                                    )
                                    for b in np.flatnonzero(usable)
                                ],
                                random_state=random_state,
                            )
                        )
                for method in combine:
                    by_method[method] = combine_pvalues(
                        sub, method=method, random_state=random_state
                    )
                combined[stat.name] = by_method
        return cls(
            proxy, statistics, rows, true, random, combined, alpha, dict(info or {}), null or {}
        )

    # ------------------------------------------------------------------ views
    @property
    def n_rows(self) -> int:
        """Number of sub-clusters tested."""
        return len(self.rows)

    def n_significant(self, statistic: str) -> int:
        """Sub-clusters significant for ``statistic`` after Benjamini-Hochberg."""
        return int(sum(bool(r[f"{statistic}_significant"]) for r in self.rows))

    def combined_p(self, statistic: str, method: str | None = None) -> float:
        """Return a statistic's combined p-value (the default combination unless ``method``)."""
        by_method = self.combined[statistic]
        return by_method[method or next(iter(by_method))].p

    def columns(self) -> list[str]:
        """List the columns of :meth:`to_csv`, in order."""
        first = ["layer", "cluster", "size", "fraction"]
        rest = []
        for stat in self.statistics:
            rest += [
                stat.name,
                f"{stat.name}_random_mean",
                f"{stat.name}_random_std",
                f"{stat.name}_p",
                f"{stat.name}_p_mid",
                f"{stat.name}_effect",
                f"{stat.name}_z",
                f"{stat.name}_significant",
            ]
        extra = (
            [k for k in self.rows[0] if k not in first + rest and k != "units"] if self.rows else []
        )
        return first + rest + extra + ["units"]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON types (NaN becomes null)."""
        return to_jsonable(
            {
                "proxy": self.proxy,
                "statistics": [s.__dict__ for s in self.statistics],
                "alpha": self.alpha,
                "rows": self.rows,
                "combined": {
                    name: {m: c.__dict__ for m, c in by.items()}
                    for name, by in self.combined.items()
                },
                "random": dict(self.random),
                "info": self.info,
            },
            unknown="repr",
        )

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Return the result as JSON; also write it to ``path`` when given."""
        return json_text(self.to_dict(), path)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """One row per sub-cluster (``units`` space-separated); written to ``path`` too."""
        columns = self.columns()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in self.rows:
            values = []
            for c in columns:
                v = row.get(c)
                if isinstance(v, (list, tuple, np.ndarray)):
                    v = " ".join(
                        str(int(u)) if isinstance(u, (int, np.integer)) else str(u) for u in v
                    )
                values.append(v)
            writer.writerow(values)
        text = buf.getvalue()
        if path is not None:
            atomic_write(path, lambda fh: fh.write(text), binary=False)
        return text

    def to_frame(self):
        """Return the rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.rows, columns=self.columns())

    def summary(self) -> str:
        """Summarise in a few lines: per statistic, significant rows and combined p."""
        lines = [
            f"{self.proxy}: {counted(self.n_rows, 'sub-cluster')}, "
            f"{self.info.get('n_random', '?')} random sets each"
        ]
        for stat in self.statistics:
            if stat.name not in self.combined:
                continue
            by = self.combined[stat.name]
            parts = ", ".join(f"{m} {c.p:.3g}" for m, c in by.items())
            lines.append(
                f"  {stat.name} ({stat.alternative} = stronger): "
                f"{self.n_significant(stat.name)} of {self.n_rows} significant after "
                f"Benjamini-Hochberg at {self.alpha:g}; combined p: {parts}"
            )
        return "\n".join(lines)

    __str__ = summary

    def __repr__(self) -> str:
        return f"ProxyResult(proxy={self.proxy!r}, n_rows={self.n_rows})"

    def plot(self, statistic: str | None = None, ax: Any = None) -> Any:
        """Each sub-cluster's p-value per layer, with the BH threshold line (matplotlib)."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("plot() needs matplotlib: pip install matplotlib") from exc
        stat = statistic or self.statistics[0].name
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.4))
        layers = list(dict.fromkeys(r["layer"] for r in self.rows))
        xs = np.array([layers.index(r["layer"]) for r in self.rows], dtype=float)
        jitter = np.linspace(-0.25, 0.25, max(len(self.rows), 1))[: len(self.rows)]
        p = np.array([r[f"{stat}_p"] for r in self.rows])
        sig = np.array([r[f"{stat}_significant"] for r in self.rows])
        ax.scatter(xs[~sig] + jitter[~sig], p[~sig], color="0.55", s=18, label="not significant")
        ax.scatter(xs[sig] + jitter[sig], p[sig], color="C3", s=22, label="significant (BH)")
        n_random = int(self.info.get("n_random", 19))
        ax.axhline(1 / (n_random + 1), color="0.3", lw=0.8, ls=":", label="smallest possible p")
        ax.set_yscale("log")
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=30, ha="right")
        ax.set_ylabel(f"p ({stat})")
        ax.set_title(f"{self.proxy}: {stat}")
        ax.legend(frameon=False, fontsize="small")
        return ax
