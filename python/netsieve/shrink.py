"""Singular-value shrinkage filters for weight matrices.

Model: W = S + X, with S low rank (the learned signal) and X an N×M noise matrix (N ≥ M after
orientation, β = M/N) with i.i.d. entries of variance σ². The noise fills the Marchenko–Pastur bulk
[s₋, s₊] = [σ(√N − √M), σ(√N + √M)]; a signal θ above the BBP threshold σ(NM)^¼ appears as an
outlier at s(θ)² = (θ² + σ²N)(θ² + σ²M)/θ², pushed up by level repulsion from the bulk.

Every filter computes one decomposition W = U·diag(s)·Vᵀ, fits σ with :func:`netsieve.fit_mp`'s
spike-robust estimator (unless ``sigma=`` is given), replaces each sᵢ by ηᵢ and returns
U·diag(η)·Vᵀ, reconstructed from the thin factors of the surviving (or the changed) components.
"Spikes" are singular values above s₊ plus a Tracy–Widom margin (the TW₁ quantile of
``spike_confidence``, default 0.99), so that edge fluctuations of pure noise are not kept.

Methods (η as a function of s; y = s/(σ√N) in normalised units, y₊ = 1 + √β):

``"hard"``
    η = s for spikes, 0 otherwise. The spikes are those of the fitted bulk: with ``bulk="auto"``
    (default) the deformed law of correlated noise where the white-noise test fails
    (:func:`netsieve.fit_mp`); ``bulk="mp"`` cuts at the MP edge.
``"optimal_hard"``
    Gavish & Donoho (2014), *The optimal hard threshold for singular values is 4/√3*:
    η = s·1{s > τ}. Known σ: τ = λ*(β)·√N·σ with λ*(β) = √(2(β+1) + 8β/(β+1+√(β²+14β+1))) and N
    the **larger** dimension (the `optht` package uses √min(N, M), wrong for non-square matrices).
    Unknown σ: τ = ω(β)·median(s), ω(β) = λ*(β)/√μ_β with μ_β the median of the MP law (computed
    exactly; the paper's cubic ω ≈ 0.56β³ − 0.95β² + 1.82β + 1.43 agrees to 0.5 %). By default σ is
    then the median-matching estimate (``sigma_method="median"``), which reproduces ω(β)·median(s).
``"operator"``
    η = θ̂(s) for spikes, 0 otherwise, where θ̂ inverts the BBP map:
    θ̂(s)² = ½[(s² − σ²(N+M)) + √((s² − σ²(N+M))² − 4σ⁴NM)]. It removes the level-repulsion
    shift (Staats, Thamm & Rosenow, PRE 108, L022302 (2023)) and is the operator-norm-optimal
    shrinker of Gavish & Donoho (2017), *Optimal shrinkage of singular values*.
``"frobenius"``
    Gavish & Donoho (2017), Frobenius loss: η = √((s² − σ²(N+M))² − 4σ⁴NM)/s for spikes, else 0.
``"nuclear"``
    Gavish & Donoho (2017), nuclear loss: with x = θ̂(s)/(σ√N),
    η = σ√N·max(0, (x⁴ − √β·x·y − β)/(x²·y)) for spikes, else 0.
``"porter_thomas"``
    Keep the leading k components, k the boundary of the Porter–Thomas test of the singular vectors
    (:func:`netsieve.porter_thomas`; options ``window``, ``alpha``), zero the rest. With
    ``derepel=True`` (default) kept spikes get θ̂(s) as in "operator"; kept values inside the bulk
    stay unchanged.
``"fraction"``
    Zero the smallest ``fraction`` (required, in [0, 1]) of the singular values, ⌊fraction·M⌋ of
    them, the sweep of the published experiments. ``derepel=True`` also replaces kept spikes by
    θ̂(s) (default False).

``"optshrink"``
    Nadakuditi (2014), *OptShrink: an algorithm for improved low-rank signal matrix denoising by
    optimal, data-driven singular value shrinkage*: η = −2·D(s)/D'(s) on the leading ``rank``
    values, 0 after, where D(z) = φ₁(z)·φ₂(z) is the D-transform of the bulk s_{r+1..M}:
    φ₂(z) = Σⱼ z/(z² − sⱼ²)/(M − r), and φ₁ the same sum plus (N − M)/z, over N − r. No white-noise
    assumption: the bulk is the empirical one. ``rank`` defaults to the outliers of the fitted
    bulk (``bulk="auto"``); η is clamped to [0, s].

The shrinkers are zero inside the bulk (indicator included, so they never blow up below the edge),
satisfy 0 ≤ η(s) ≤ s, and are non-decreasing, so the shrunk values stay ordered; only
``derepel=True`` with "fraction"/"porter_thomas" can reorder them (a de-repelled spike may fall
below an unchanged bulk value).

Other options: ``sigma_method`` ("quantile" or "median"), ``spike_confidence`` (0.9, 0.95, 0.975,
0.99), ``bulk`` ("auto", "mp", "deformed"; "hard" and "optshrink" only: the other shrinkers'
formulas assume white noise, so their bulk is MP), ``decomposition`` ("auto", "gram", "svd"): "auto" uses the eigendecomposition of the Gram
matrix of the smaller side for the methods that keep leading components only (about half the cost
of an SVD; falls back to the SVD when ill-conditioned), the thin SVD for "fraction", and for
"porter_thomas" the accurate route to every singular vector. :data:`SHRINK_METHOD_OPTIONS` lists
the options of each method; an option that does not apply to the chosen method is an error.

``route`` ("full" or "partial"; "hard", "optimal_hard", "operator", "frobenius", "nuclear"):
``"partial"`` finds the spikes and their vectors by block Krylov on WᵀW (W read in place), σ from
the trace less the spike energies, the spike count by the Tracy–Widom threshold, and rebuilds
W' = Σ η(sᵢ)uᵢvᵢᵀ from them without a full decomposition (``rust/src/shrinkage/partial_filter.rs``);
the kept values agree with the full route to 1e-6 (relative), the spike subspace to an angle of
1e-6. When the bulk fails its white-noise check, σ is the median estimator, the deformed law is
asked for or the values do not settle, the full route answers and the record's ``route_note``
says why (``route`` says which answered). "optshrink", "porter_thomas" and "fraction" read the
whole spectrum: ``route=`` is an error for them.

:func:`shrink_decomposed` gives the record (and so η) from a decomposition computed elsewhere, e.g.
by ``torch.linalg`` on a GPU (:func:`netsieve.torch.filter_checkpoint` with ``device=``).

The method names, their options and all checks live in the Rust core
(``rust/src/shrinkage/methods.rs``); this module re-exports the core's functions.
"""

from __future__ import annotations

from ._netsieve import (
    SHRINK_METHOD_OPTIONS,
    SHRINK_METHODS,
    ShrinkRecord,
    optimal_hard_threshold,
    shrink,
    shrink_decomposed,
    shrink_many,
    shrink_with_record,
)

__all__ = [
    "METHODS",
    "SHRINK_METHODS",
    "SHRINK_METHOD_OPTIONS",
    "ShrinkRecord",
    "shrink",
    "shrink_with_record",
    "shrink_many",
    "shrink_decomposed",
    "optimal_hard_threshold",
]

METHODS = SHRINK_METHODS
