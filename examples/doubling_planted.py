"""The doubling constant on planted truth, and what random directions alone miss.

- Gaussian clouds: Ĉ(δ) against the closed form (the slab ratio grows towards the tails, so under the
  cut its supremum sits at the centre c* where N·mass(c*, δ) = m).
- Uniform cubes: at most 2^d (the density near a vertex grows like t^(d−1)).
- Flat portions (20 % of the points on a hyperplane, or on a codimension-3 subspace plus 1e-4 noise,
  in ℝ^16): Ĉ with every direction, with the random directions alone (256 of them), and the angle
  of the worst direction to the portion's normals; N = 8000 and 32000.
- Real data: MNIST-1D, digits and a Gaussian mixture (training inputs), as netsieve loads them.

    python examples/doubling_planted.py      # about a minute on 2 cores
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

import netsieve as ns


def gaussian_formula(N: int, m: int, delta: float) -> float:
    def mass(c, h):
        return norm.cdf(c + h) - norm.cdf(c - h)

    if N * mass(0.0, delta) < m:
        return float("nan")
    c = brentq(lambda c: N * mass(c, delta) - m, 0.0, 12.0)
    return mass(c, 2 * delta) / mass(c, delta)


def random_only(r) -> float:
    random = np.array(r.sources) == "random"
    return float(np.nanmax(r.ratios[random]))


def main() -> None:
    print("Gaussian cloud in ℝ³, N = 200,000 (m = 448): Ĉ(δ) against the closed form")
    X = np.random.default_rng(1).normal(size=(200_000, 3))
    r = ns.doubling_condition(X, n_directions=32, search=False)
    print(f"{'δ':>10} {'Ĉ(δ)':>8} {'formula':>8} {'excess·√m':>10} {'mean ratio':>10}")
    for d, c, mean in zip(r.deltas, r.constant_by_delta, r.mean_ratio_by_delta):
        f = gaussian_formula(r.n_points, r.min_points, d)
        if not np.isnan(c):
            print(f"{d:10.4g} {c:8.4f} {f:8.4f} {(c - f) * np.sqrt(r.min_points):10.2f} {mean:10.4f}")
    print()
    print("Uniform cube [0, 1]^d, N = 40,000")
    for d in (1, 2, 3, 4):
        X = np.random.default_rng(d).uniform(size=(40_000, d))
        r = ns.doubling_condition(X, seed=1)
        print(f"d = {d}: Ĉ = {r.constant:.3f} (2^d = {2**d}), smallest mean ratio {np.nanmin(r.mean_ratio_by_delta):.3f}")
    print()
    print("Flat portions in ℝ^16 (20 % of the points), 256 random directions + principal axes + search")
    print(f"{'kind':<28} {'N':>6} {'Ĉ':>7} {'random only':>11} {'δ of Ĉ':>8} {'|Nᵀw|':>7} {'max random |Nᵀw|':>17}")
    for kind, noise, codim in (("hyperplane", 0.0, 1), ("codim-3 subspace + 1e-4", 1e-4, 3)):
        for n in (8000, 32000):
            rng = np.random.default_rng(5)
            X = rng.normal(size=(n, 16))
            Q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
            normals = Q[:, :codim]
            k = int(0.2 * n)
            X[:k] -= (X[:k] @ normals - 0.3) @ normals.T
            X[:k] += noise * rng.normal(size=(k, 16))
            r = ns.doubling_condition(X)
            random = np.array(r.sources) == "random"
            near = np.max(np.linalg.norm(r.directions[random] @ normals, axis=1))
            align = np.linalg.norm(normals.T @ r.worst.direction)
            print(f"{kind:<28} {n:6d} {r.constant:7.2f} {random_only(r):11.2f} {r.worst.delta:8.3g} "
                  f"{align:7.4f} {near:17.3f}")  # fmt: skip
    print()
    print("Real training inputs (defaults)")
    import netsieve.torch as nt

    for name in ("mnist1d", "digits", "gaussian_mixture", "flat_mixture"):
        split = nt.load_dataset(name, seed=0)
        x = split.x_train.reshape(split.n_train, -1).double().numpy()
        r = ns.doubling_condition(x, seed=0)
        print(f"{name:<17} N = {r.n_points:5d}, d = {x.shape[1]:3d}: Ĉ = {r.constant:6.2f} at δ = {r.worst.delta:.3g} "
              f"({r.worst.inner} → {r.worst.outer} points, w from {r.worst.source}); random only {random_only(r):.2f}; "
              f"mean ratio at the smallest qualifying width {r.mean_ratio_by_delta[~np.isnan(r.mean_ratio_by_delta)][0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
