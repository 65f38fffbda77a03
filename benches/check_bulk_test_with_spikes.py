"""Does the white-noise test of the bulk (`bulk_is_mp`) hold its level when spikes sit above the
edge? Pure Gaussian matrices with and without k planted rank-one components (singular values 2.5,
3.5, … times the BBP threshold), the calibrated statistic T − 0.40·ln n of `fit_mp(bulk="mp")` and
the rejection count at level 5 %; then the same statistic against the MP law conditioned on the
lowest m − k of m values (the k spikes take the top ranks). Recorded in BENCHMARKS.md (#17, the 7B
shape). Usage: python benches/check_bulk_test_with_spikes.py (about 3 minutes on 2 cores).
"""
import numpy as np
from scipy import integrate

import netsieve as ns

NULL_MEDIAN = 0.3366  # MP_NULL in rust/src/stats/spectral_ks.rs


def draw(rng, n, m, k):
    x = rng.standard_normal((n, m))
    if k:
        u, _ = np.linalg.qr(rng.standard_normal((n, k)))
        v, _ = np.linalg.qr(rng.standard_normal((m, k)))
        x += (u * ((n * m) ** 0.25 * np.arange(2.5, 2.5 + k))) @ v.T
    return x


def mp_cdf(beta):
    """CDF of the eigenvalues of XᵀX/n (σ = 1, β = m/n < 1) on a grid."""
    a, b = (1 - beta**0.5) ** 2, (1 + beta**0.5) ** 2
    grid = np.linspace(a, b, 4001)
    dens = lambda x: np.sqrt(max((b - x) * (x - a), 0.0)) / (2 * np.pi * beta * x)
    c = np.concatenate([[0.0], np.cumsum([integrate.quad(dens, grid[i], grid[i + 1])[0] for i in range(4000)])])
    return grid, c / c[-1]


def main():
    rng = np.random.default_rng(7)
    print("| shape | spikes | draws | rejected at 5 % | median of T − 0.40·ln n (null 0.34) |")
    print("|---|---:|---:|---:|---:|")
    for (n, m), k, reps in [((2048, 2048), 0, 40), ((4096, 2048), 0, 30), ((1024, 1024), 4, 60), ((2048, 2048), 4, 20)]:
        t, rejected = [], 0
        for _ in range(reps):
            x = draw(rng, n, m, k)
            f = ns.fit_mp(ns.singular_values(x), (n, m), bulk="mp")
            nb = m - f.n_spikes - f.n_low_outliers
            t.append(nb * f.ks_distance - 0.40 * np.log(nb))
            rejected += not f.bulk_is_mp
        print(f"| {n}×{m} | {k} | {reps} | {rejected} | {np.median(t):.2f} |")

    n, m, k = 2048, 1024, 4
    grid, cdf = mp_cdf(m / n)
    rng = np.random.default_rng(3)
    now, conditioned = [], []
    for _ in range(20):
        s = ns.singular_values(draw(rng, n, m, k))
        f = ns.fit_mp(s, (n, m), bulk="mp")
        bulk = np.sort(s[f.n_spikes : m - f.n_low_outliers])
        nb = len(bulk)
        fx = np.interp((bulk / f.sigma) ** 2 / n, grid, cdf)
        i = np.arange(1, nb + 1)
        ks = lambda g: max(np.max(i / nb - g), np.max(g - (i - 1) / nb))
        now.append(nb * ks(fx) - 0.40 * np.log(nb))
        conditioned.append(nb * ks(np.minimum(fx / (1 - f.n_spikes / m), 1.0)) - 0.40 * np.log(nb))
    print(f"\n{n}×{m} with {k} spikes, 20 draws: median T − 0.40·ln n {np.median(now):.2f} against the full law, "
          f"{np.median(conditioned):.2f} against the law conditioned on the lowest m − k values (null {NULL_MEDIAN:.2f})")


if __name__ == "__main__":
    main()
