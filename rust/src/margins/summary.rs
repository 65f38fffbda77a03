//! Summary statistics of a margin distribution: moments, quantiles, the quartile signature of
//! Jiang et al. (2019) and the area under the margin curve of Banburski et al. (2021).
//!
//! Infinite margins are legal (`margins` gives −∞ for a masked true class and +∞ when every
//! competitor is masked); NaN is an error. Over **all** margins: count, min, max, the quantiles,
//! q1/median/q3, the fences and fraction_positive, so an infinity ranks where it belongs. Over the
//! **finite** margins only: mean, std, skewness, kurtosis and the AUC, which one infinity would
//! make infinite or NaN; `n_infinite` says how many were left out. With no finite margin at all
//! these are undefined and the summary is an error (rather than NaN in four fields that callers
//! would have to know to check).
//!
//! Quantiles interpolate linearly (numpy's default) and extend it to infinities by its limits:
//! between equal values (equal infinities too) the value, between an infinity and a finite value
//! the infinity. IQR = q3 − q1, defined as 0 when q1 = q3 (so equal infinities give fences equal
//! to them, not ∞ − ∞); the fences are (q1 − IQR) − IQR/2 and (q3 + IQR) + IQR/2, infinite only
//! where q1 or q3 is or the true value overflows.
//!
//! Scale: the moments and the AUC are computed from the finite margins divided by 2^e, the power of
//! two just below their largest magnitude (exact), so sums of margins near 1e308 do not overflow
//! and squared deviations of margins near 1e-300 do not underflow; quantile interpolation across a
//! difference that overflows uses (1 − f)·a + f·b.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::matrix::Scalar;

/// Quantile levels `margin_summary` reports by default (besides the quartiles).
pub const DEFAULT_QUANTILES: [f64; 7] = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];

/// Everything `margin_summary` reports. Statistics are population (ddof = 0) estimates in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct MarginSummary {
    /// Number of margins, infinite ones included.
    pub count: usize,
    /// Mean of the finite margins.
    pub mean: f64,
    /// Population std of the finite margins.
    pub std: f64,
    /// Smallest margin.
    pub min: f64,
    /// Largest margin.
    pub max: f64,
    /// `quantiles[i]` is the linear-interpolation quantile (numpy's default) at `probs[i]`.
    pub probs: Vec<f64>,
    /// The quantile at each of `probs`.
    pub quantiles: Vec<f64>,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Q1 − 1.5·IQR and Q3 + 1.5·IQR (Tukey fences, Jiang et al.'s signature).
    pub lower_fence: f64,
    /// Q3 + 1.5·IQR.
    pub upper_fence: f64,
    /// Standardised third moment of the finite margins (biased, as scipy.stats.skew); NaN when
    /// std = 0.
    pub skewness: f64,
    /// Excess (Fisher) kurtosis of the finite margins, biased (as scipy.stats.kurtosis); NaN when
    /// std = 0.
    pub kurtosis: f64,
    /// Fraction of all margins strictly above 0 (correctly classified, without ties; +∞ counts).
    pub fraction_positive: f64,
    /// Area under the sorted-margin curve of the finite margins, see [`area_under_margin_curve`].
    pub auc: f64,
    /// Number of infinite margins (left out of the moments and the AUC).
    pub n_infinite: usize,
}

/// Quantile of sorted data (NaN-free) with numpy's default "linear" rule: position p·(N−1),
/// extended to infinities as in the module docs. −∞ directly followed by +∞ has no interpolant and
/// gives NaN there; `margin_summary` never asks for it (it needs a finite margin in between).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let pos = p * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    if frac == 0.0 {
        return a;
    }
    if a.is_infinite() || b.is_infinite() {
        return match (a.is_infinite(), b.is_infinite()) {
            (true, true) if a != b => f64::NAN,
            (true, _) => a,
            _ => b,
        };
    }
    let diff = b - a;
    if diff.is_finite() {
        a + frac * diff
    } else {
        (1.0 - frac) * a + frac * b
    }
}

/// The exponent e with 2^e ≤ x < 2^(e+1) (0 for x = 0).
fn binary_exponent(x: f64) -> i32 {
    if x > 0.0 {
        libm::frexp(x).1 - 1
    } else {
        0
    }
}

/// Area under the curve of the sorted finite margins m₍₀₎ ≤ … ≤ m₍N−1₎ plotted against normalised
/// rank rᵢ = i/(N−1) ∈ [0, 1], by the trapezoid rule:
/// AUC = (Σᵢ m₍ᵢ₎ − (m₍₀₎ + m₍N−1₎)/2) / (N−1)   (= m₍₀₎ for N = 1).
/// Equals `numpy.trapezoid(np.sort(m), np.linspace(0, 1, N))`. Computed on m/2^e (module docs).
pub fn area_under_margin_curve(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let e = binary_exponent(sorted[0].abs().max(sorted[n - 1].abs()));
    let y = |v: f64| libm::scalbn(v, -e);
    let total: f64 = sorted.iter().map(|&v| y(v)).sum();
    let auc = (total - 0.5 * (y(sorted[0]) + y(sorted[n - 1]))) / (n - 1) as f64;
    // An average of the margins: inside [min, max] (against round-off).
    libm::scalbn(auc, e).clamp(sorted[0], sorted[n - 1])
}

/// Mean, std and the standardised third and fourth moments of sorted finite values, on
/// x/2^e; (skewness, kurtosis) are NaN when the variance is 0.
fn moments(sorted: &[f64]) -> (f64, f64, f64, f64) {
    let n = sorted.len();
    let nf = n as f64;
    let (first, last) = (sorted[0], sorted[n - 1]);
    if first == last {
        return (first, 0.0, f64::NAN, f64::NAN);
    }
    let e = binary_exponent(first.abs().max(last.abs()));
    let y = |v: f64| libm::scalbn(v, -e);
    let mean = (sorted.iter().map(|&v| y(v)).sum::<f64>() / nf).clamp(y(first), y(last));
    let (mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0);
    for &v in sorted {
        let d = y(v) - mean;
        let d2 = d * d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
    }
    let var = s2 / nf;
    let (skewness, kurtosis) = if var > 0.0 {
        ((s3 / nf) / var.powf(1.5), (s4 / nf) / (var * var) - 3.0)
    } else {
        (f64::NAN, f64::NAN)
    };
    // std = 2^e·√var ≤ max|x|, so only the scaled std is formed (var·4^e could overflow).
    (
        libm::scalbn(mean, e),
        libm::scalbn(var.sqrt(), e),
        skewness,
        kurtosis,
    )
}

/// Summarises margins (±∞ allowed, NaN not); `probs` are the extra quantile levels to report.
pub fn margin_summary<T: Scalar>(m: &[T], probs: &[f64]) -> CoreResult<MarginSummary> {
    if m.is_empty() {
        return Err(CoreError::Empty { what: "margins" });
    }
    if let Some(i) = m.iter().position(|v| v.to_f64().is_nan()) {
        return Err(CoreError::NonFinite {
            what: "margins",
            value: m[i].to_f64(),
            location: format!("index {i} (margins may be ±Inf, not NaN)"),
        });
    }
    if let Some(p) = probs.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(CoreError::invalid(
            "quantiles",
            format!("levels must lie in [0, 1], got {p}"),
        ));
    }
    let mut sorted: Vec<f64> = m.iter().map(|v| v.to_f64()).collect();
    sorted.par_sort_unstable_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let nf = n as f64;
    let first_finite = sorted.partition_point(|&v| v == f64::NEG_INFINITY);
    let end_finite = sorted.partition_point(|&v| v < f64::INFINITY);
    let finite = &sorted[first_finite..end_finite];
    if finite.is_empty() {
        return Err(CoreError::invalid(
            "margins",
            format!(
                "all {n} margins are infinite ({first_finite} −Inf, {} +Inf); the mean, std, skewness, kurtosis and AUC are taken over the finite margins and are undefined without one",
                n - end_finite
            ),
        ));
    }
    let (mean, std, skewness, kurtosis) = moments(finite);
    let q1 = quantile_sorted(&sorted, 0.25);
    let median = quantile_sorted(&sorted, 0.5);
    let q3 = quantile_sorted(&sorted, 0.75);
    let iqr = if q1 == q3 { 0.0 } else { q3 - q1 };
    let positive = n - sorted.partition_point(|&v| v <= 0.0);
    Ok(MarginSummary {
        count: n,
        mean,
        std,
        min: sorted[0],
        max: sorted[n - 1],
        probs: probs.to_vec(),
        quantiles: probs.iter().map(|&p| quantile_sorted(&sorted, p)).collect(),
        q1,
        median,
        q3,
        lower_fence: (q1 - iqr) - 0.5 * iqr,
        upper_fence: (q3 + iqr) + 0.5 * iqr,
        skewness,
        kurtosis,
        fraction_positive: positive as f64 / nf,
        auc: area_under_margin_curve(finite),
        n_infinite: n - finite.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_example_by_hand() {
        let s = margin_summary(&[3.0f64, -1.0, 1.0, 5.0, 0.0], &[0.1]).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.mean, 1.6);
        assert_eq!((s.q1, s.median, s.q3), (0.0, 1.0, 3.0));
        assert_eq!((s.lower_fence, s.upper_fence), (-4.5, 7.5));
        assert!((s.quantiles[0] - (-0.6)).abs() < 1e-12);
        assert_eq!(s.fraction_positive, 0.6);
        // sorted -1 0 1 3 5 at ranks 0, .25, .5, .75, 1
        assert!((s.auc - (8.0 - 2.0) / 4.0).abs() < 1e-12);
        assert!(s.skewness.is_finite() && s.kurtosis.is_finite());
    }

    #[test]
    fn rejects_nan_all_infinite_and_bad_levels() {
        let e = margin_summary(&[1.0f64, f64::NAN], &[]).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
        let inf = f64::INFINITY;
        let e = margin_summary(&[inf, -inf, inf], &[]).unwrap_err();
        assert!(e.to_string().contains("all 3 margins are infinite"), "{e}");
        assert!(margin_summary(&[1.0f64], &[1.5]).is_err());
        assert!(margin_summary::<f32>(&[], &[]).is_err());
    }

    fn assert_no_nan(s: &MarginSummary) {
        let fields = [
            s.mean,
            s.std,
            s.min,
            s.max,
            s.q1,
            s.median,
            s.q3,
            s.lower_fence,
            s.upper_fence,
            s.skewness,
            s.kurtosis,
            s.fraction_positive,
            s.auc,
        ];
        assert!(
            fields.iter().chain(&s.quantiles).all(|v| !v.is_nan()),
            "{s:?}"
        );
    }

    #[test]
    fn infinite_margins_are_legal() {
        // margins() documents −Inf (true class masked) and +Inf (every competitor masked);
        // margin_summary rejected them.
        let inf = f64::INFINITY;
        let s = margin_summary(
            &[-inf, 1.0, 3.0, -inf, inf, 2.0],
            &[0.0, 0.1, 0.5, 0.9, 1.0],
        )
        .unwrap();
        assert_no_nan(&s);
        assert_eq!((s.count, s.n_infinite), (6, 3));
        assert_eq!((s.min, s.max), (-inf, inf));
        // sorted −∞ −∞ 1 2 3 +∞; quantile positions 0, 0.5, 2.5, 4.5, 5
        assert_eq!(s.quantiles, vec![-inf, -inf, 1.5, inf, inf]);
        assert_eq!((s.q1, s.median, s.q3), (-inf, 1.5, 2.75));
        assert_eq!((s.lower_fence, s.upper_fence), (-inf, inf));
        assert_eq!(s.fraction_positive, 4.0 / 6.0);
        // moments and AUC of the finite margins 1, 2, 3
        assert_eq!(s.mean, 2.0);
        assert!((s.std - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!((s.skewness, s.auc), (0.0, 2.0));
        assert!((s.kurtosis + 1.5).abs() < 1e-12);
    }

    #[test]
    fn equal_infinities_interpolate_to_themselves() {
        let inf = f64::INFINITY;
        // q1 = q3 = +∞: the IQR is 0, not ∞ − ∞.
        let s = margin_summary(&[1.0, inf, inf, inf, 2.0, inf, inf], &[0.3, 0.6]).unwrap();
        assert_no_nan(&s);
        assert_eq!((s.q1, s.median, s.q3), (inf, inf, inf));
        assert_eq!((s.lower_fence, s.upper_fence), (inf, inf));
        assert_eq!(s.quantiles, vec![inf, inf]);
        assert_eq!((s.mean, s.std, s.auc, s.n_infinite), (1.5, 0.5, 1.5, 5));
        let ninf = f32::NEG_INFINITY;
        let s = margin_summary(&[ninf, ninf, ninf, 4.0, 5.0f32], &[]).unwrap();
        assert_no_nan(&s);
        assert_eq!((s.q1, s.median, s.q3), (-inf, -inf, 4.0));
        assert_eq!((s.lower_fence, s.upper_fence), (-inf, inf));
        assert_eq!(s.fraction_positive, 0.4);
        assert_eq!(quantile_sorted(&[-inf, -inf], 0.5), -inf);
        assert_eq!(quantile_sorted(&[2.0, inf], 0.25), inf);
        assert_eq!(quantile_sorted(&[-inf, 2.0], 0.75), -inf);
    }

    #[test]
    fn huge_and_tiny_margins_do_not_overflow() {
        // margin_summary(np.full(3, 1e308)) gave mean = inf and std = NaN.
        let s = margin_summary(&[1e308f64; 3], &[0.5]).unwrap();
        assert_eq!(
            (s.mean, s.std, s.auc, s.min, s.max),
            (1e308, 0.0, 1e308, 1e308, 1e308)
        );
        assert_eq!(
            (s.q1, s.q3, s.lower_fence, s.upper_fence),
            (1e308, 1e308, 1e308, 1e308)
        );
        assert_eq!(s.quantiles, vec![1e308]);
        assert!(s.skewness.is_nan() && s.kurtosis.is_nan()); // std = 0, as documented
                                                             // Interpolating across ±1.5e308 (the difference overflows).
        assert_eq!(quantile_sorted(&[-1.5e308, 1.5e308], 0.5), 0.0);
        // Every statistic of c·x is c times (moments: equal to) that of x, for c from 1e-300 to 1e307.
        let x: Vec<f64> = (0..101)
            .map(|i| ((i * 37 % 101) as f64 - 40.0) / 7.0 + (i as f64).sin())
            .collect();
        let want = margin_summary(&x, &[0.1, 0.9]).unwrap();
        for &c in &[1e-300, 1e-200, 1e200, 1e300, 1e307] {
            let scaled: Vec<f64> = x.iter().map(|v| v * c).collect();
            let got = margin_summary(&scaled, &[0.1, 0.9]).unwrap();
            let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs();
            for (a, b) in [
                (got.mean, want.mean),
                (got.std, want.std),
                (got.auc, want.auc),
                (got.q1, want.q1),
                (got.median, want.median),
                (got.q3, want.q3),
                (got.lower_fence, want.lower_fence),
                (got.upper_fence, want.upper_fence),
                (got.quantiles[0], want.quantiles[0]),
                (got.quantiles[1], want.quantiles[1]),
            ] {
                assert!(close(a / c, b, 1e-13), "c = {c:e}: {a} vs {b}·c");
            }
            assert!(close(got.skewness, want.skewness, 1e-12), "c = {c:e}");
            assert!(close(got.kurtosis, want.kurtosis, 1e-12), "c = {c:e}");
            assert_eq!(got.fraction_positive, want.fraction_positive);
        }
    }
}
