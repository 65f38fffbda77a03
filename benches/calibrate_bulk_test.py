"""Null distribution of the bulk goodness-of-fit statistic T = n_bulk · D (D the KS distance of
the bulk against its fitted law) on pure Gaussian noise, by simulation.

Singular values are rigid (their counting function fluctuates by O(log n), not O(√n)), so the
i.i.d. Kolmogorov p-value is near 1 for every noise matrix. The simulation gives quantiles of T,
which grow like a + b·ln(n_bulk); the printed tables are `MP_NULL` and `DEFORMED_NULL` in
rust/src/stats/spectral_ks.rs. Usage: python benches/calibrate_bulk_test.py {mp,deformed} > table.txt
(about 3 and 15 minutes on 2 cores).
"""
import sys
import numpy as np
import netsieve as ns

LEVELS = (0.5, 0.75, 0.9, 0.95, 0.975, 0.99)
BULK = sys.argv[1] if len(sys.argv) > 1 else "mp"
rng = np.random.default_rng(20261202)
rows = []
PLAN = {"mp": ((32, 400), (64, 400), (128, 400), (256, 300), (512, 120), (1024, 40)),
        "deformed": ((32, 200), (64, 200), (128, 150), (256, 100), (512, 50))}
for m, reps in PLAN[BULK]:
    for beta in (1.0, 0.5, 0.25, 0.1):
        n = int(round(m / beta))
        t = []
        for _ in range(reps):
            s = ns.singular_values(rng.standard_normal((n, m)))
            f = ns.fit_mp(s, (n, m), bulk=BULK)
            n_bulk = m - f.n_spikes - f.n_low_outliers
            t.append(n_bulk * f.ks_distance)
        q = np.quantile(t, LEVELS)
        rows.append((m, beta, q))
        print(f"# m={m} beta={beta} reps={reps} " + " ".join(f"{x:.3f}" for x in q), flush=True)
ln_m = np.log([r[0] for r in rows])
print("upper-tail p, a (T − 0.40·ln n quantile), max relative misfit of a + 0.40·ln n")
for j, level in enumerate(LEVELS):
    y = np.array([r[2][j] for r in rows])
    a = float(np.mean(y - 0.40 * ln_m))
    res = float(np.max(np.abs(a + 0.40 * ln_m - y) / y))
    print(f"({1 - level:.3g}, {a:.4f}),  // misfit {res:.3f}")
