"""Does the white-noise test of the bulk (`bulk_is_mp`) hold its level when spikes sit above the
edge? Pure Gaussian matrices with and without k planted rank-one components (singular values 2.5,
3.5, … times the BBP threshold), the calibrated statistic T − 0.40·ln n of `fit_mp(bulk="mp")`,
the rejection count at level 5 % and the bias of σ. The bulk is read against the (N − k)×(M − k)
law the spikes leave (`MpShape::without_spikes`). Output: benches/results/bulk_test_with_spikes.md.
Usage: python benches/check_bulk_test_with_spikes.py (about 4 minutes on 2 cores).
"""
import numpy as np

import netsieve as ns

NULL_MEDIAN = 0.3366  # MP_NULL in rust/src/stats/spectral_ks.rs


def draw(rng, n, m, k):
    x = rng.standard_normal((n, m))
    if k:
        u, _ = np.linalg.qr(rng.standard_normal((n, k)))
        v, _ = np.linalg.qr(rng.standard_normal((m, k)))
        x += (u * ((n * m) ** 0.25 * np.arange(2.5, 2.5 + k))) @ v.T
    return x


def main():
    rng = np.random.default_rng(7)
    print(f"| shape | spikes | draws | spikes found (median) | rejected at 5 % | median of T − 0.40·ln n (null {NULL_MEDIAN:.2f}) | mean σ − 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cases = [((2048, 2048), 0, 40), ((4096, 2048), 0, 30), ((1024, 1024), 4, 60), ((2048, 2048), 4, 20),
             ((2048, 1024), 8, 30), ((1024, 512), 16, 40)]
    for (n, m), k, reps in cases:
        t, rejected, sigma, found = [], 0, [], []
        for _ in range(reps):
            x = draw(rng, n, m, k)
            f = ns.fit_mp(ns.singular_values(x), (n, m), bulk="mp")
            nb = m - f.n_spikes - f.n_low_outliers
            t.append(nb * f.ks_distance - 0.40 * np.log(nb))
            rejected += not f.bulk_is_mp
            sigma.append(f.sigma)
            found.append(f.n_spikes)
        print(f"| {n}×{m} | {k} | {reps} | {np.median(found):.0f} | {rejected} | {np.median(t):.2f} | {np.mean(sigma) - 1:+.1e} |")


if __name__ == "__main__":
    main()
