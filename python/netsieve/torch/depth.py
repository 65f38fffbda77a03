"""Quantities against depth: the report's rows grouped by block and role (each row carries its
``block`` and ``role``), and the figure of σ, α, spikes and MP soft rank against the block index,
one line per role. Used by :meth:`Report.by_block`, ``save_plots`` (depth.png) and the HTML report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from netsieve import ROLES, InvalidInputError

from .._plotting import pyplot

__all__ = ["BlockRoleSummary", "by_block", "plot_depth"]


@dataclass(frozen=True)
class BlockRoleSummary:
    """The analysed rows of one (block, role): their count, mean σ, spike count and MP soft rank, and
    the median α over the power-law-like tails (None when there is none)."""

    block: int
    role: str
    n_layers: int
    sigma: float
    n_spikes: int
    mp_soft_rank: float
    alpha: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def by_block(report: Any) -> list[BlockRoleSummary]:
    """One :class:`BlockRoleSummary` per (block, role) of the analysed rows inside blocks, ordered by
    block, then role (in :data:`netsieve.ROLES` order: attention before MLP)."""
    groups: dict[tuple[int, str], list] = {}
    for r in report.analysed:
        if r.block is not None:
            groups.setdefault((r.block, r.role), []).append(r)
    out = []
    rank = {role: i for i, role in enumerate(ROLES)}
    for (block, role), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], rank.get(kv[0][1], len(rank)))):
        alphas = [r.alpha for r in rows if r.power_law_like and r.alpha is not None]
        out.append(BlockRoleSummary(
            block, role, len(rows), float(np.mean([r.sigma for r in rows])), int(sum(r.n_spikes for r in rows)),
            float(np.mean([r.mp_soft_rank for r in rows])), float(np.median(alphas)) if alphas else None,
        ))  # fmt: skip
    return out


_PANELS: list[tuple[str, Callable]] = [
    ("σ (noise scale)", lambda s: s.sigma),
    ("α (power-law-like tails)", lambda s: math.nan if s.alpha is None else s.alpha),
    ("spikes", lambda s: s.n_spikes),
    ("MP soft rank λ₊/λmax", lambda s: s.mp_soft_rank),
]


def plot_depth(report: Any, fig: Any = None) -> Any:
    """σ, α, spikes and MP soft rank against the block index, one line per role.

    Raises
    ------
    InvalidInputError
        Fewer than two blocks among the analysed rows.
    ImportError
        matplotlib is not installed.
    """
    rows = by_block(report)
    if len({s.block for s in rows}) < 2:
        raise InvalidInputError("fewer than two blocks among the analysed layers: nothing to plot against depth")
    plt = pyplot()
    if fig is None:
        fig = plt.figure(figsize=(12, 7))
    axes = fig.subplots(2, 2, sharex=True).ravel()
    roles = list(dict.fromkeys(s.role for s in rows))
    for ax, (label, value) in zip(axes, _PANELS):
        for role in roles:
            mine = [s for s in rows if s.role == role]
            ax.plot([s.block for s in mine], [value(s) for s in mine], "o-", ms=3, label=role)
        ax.set_ylabel(label)
        ax.xaxis.get_major_locator().set_params(integer=True)  # blocks are whole numbers
    for ax in axes[2:]:
        ax.set_xlabel("block")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
