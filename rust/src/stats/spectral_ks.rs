//! The p-value of a bulk's KS distance against its fitted law, calibrated for the rigidity of
//! singular values.
//!
//! The n values of a noise bulk are not an i.i.d. sample: their counting function fluctuates by
//! O(log n), not O(√n), so the Kolmogorov p-value of the KS distance D is near 1 for every noise
//! matrix and never flags a misfit it should. On pure Gaussian noise (fitted σ, every shape with
//! min side 32–1024 and aspect 0.1–1; `benches/calibrate_bulk_test.py`) T = n·D is a location
//! family in ln n: T − 0.40·ln n has nearly the same law at every size and aspect (free slopes
//! come out 0.38–0.44), with the quantiles below. The p-value interpolates that table, with an
//! exponential tail fitted to its 95 % and 99 % points beyond it; far in the tail it is an
//! extrapolation, good for ordering layers, not for its digits.

/// Slope of the null quantiles of n·D in ln n.
const LOG_SLOPE: f64 = 0.40;

/// A simulated null: (upper-tail probability, quantile of n·D − 0.40·ln n), descending in p.
pub type NullTable = [(f64, f64)];

/// The null of the white-noise (MP) fit, σ fitted by the quantile method (24 shapes, 40–400
/// draws each; misfit of a + 0.40·ln n at most 3–8 %).
pub const MP_NULL: [(f64, f64); 6] = [
    (0.5, 0.3366),
    (0.25, 0.5369),
    (0.1, 0.7488),
    (0.05, 0.8894),
    (0.025, 1.0172),
    (0.01, 1.1481),
];

/// The null of the deformed fit (σ, τ and κ fitted) on the same white noise (20 shapes, min side
/// 32–512, 50–200 draws each; misfit 3–8 %): fitting the spread lowers T, so this null is its own.
pub const DEFORMED_NULL: [(f64, f64); 6] = [
    (0.5, 0.2492),
    (0.25, 0.4420),
    (0.1, 0.6385),
    (0.05, 0.7642),
    (0.025, 0.8732),
    (0.01, 0.9980),
];

/// P(T ≥ n·d) under `null` for a bulk of `n` values; NaN for n = 0 or a non-finite d (the fits
/// never ask: they report an empty bulk as D = 1, p = 0).
pub fn bulk_ks_pvalue(d: f64, n: usize, null: &NullTable) -> f64 {
    if !d.is_finite() || n == 0 {
        return f64::NAN;
    }
    let t = n as f64 * d - LOG_SLOPE * (n as f64).ln();
    let (p_first, q_first) = null[0];
    if t <= q_first {
        // Between the median and T = −∞ the p-value runs from 1/2 to 1; linear in T down to the
        // point where the table's lower slope would reach 1.
        let (p1, q1) = null[1];
        let slope = (p_first - p1) / (q1 - q_first);
        return (p_first + slope * (q_first - t)).min(1.0);
    }
    for w in null.windows(2) {
        let ((p0, q0), (p1, q1)) = (w[0], w[1]);
        if t <= q1 {
            // Log-linear in p between the tabulated points.
            let f = (t - q0) / (q1 - q0);
            return (p0.ln() + f * (p1.ln() - p0.ln())).exp();
        }
    }
    let (p95, q95) = null[null.len() - 2];
    let (p99, q99) = null[null.len() - 1];
    let rate = (p95.ln() - p99.ln()) / (q99 - q95);
    p99 * (-rate * (t - q99)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvalue_is_monotone_and_hits_the_table() {
        let n = 400;
        let at = |q: f64| (q + LOG_SLOPE * (n as f64).ln()) / n as f64;
        for &(p, q) in &MP_NULL {
            assert!(
                (bulk_ks_pvalue(at(q), n, &MP_NULL) - p).abs() < 1e-12,
                "{p}"
            );
        }
        let mut last = 1.0;
        for i in 0..200 {
            let p = bulk_ks_pvalue(i as f64 * 0.001, n, &MP_NULL);
            assert!(p <= last && (0.0..=1.0).contains(&p), "{i}: {p}");
            last = p;
        }
        assert!(bulk_ks_pvalue(0.1, n, &MP_NULL) < 1e-10);
        assert!(bulk_ks_pvalue(f64::NAN, n, &MP_NULL).is_nan());
    }
}
