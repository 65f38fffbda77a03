//! Summary statistics of a margin distribution: moments, quantiles, the quartile signature of
//! Jiang et al. (2019) and the area under the margin curve of Banburski et al. (2021).

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::matrix::Scalar;

/// Quantile levels `margin_summary` reports by default (besides the quartiles).
pub const DEFAULT_QUANTILES: [f64; 7] = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];

/// Everything `margin_summary` reports. Statistics are population (ddof = 0) estimates in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct MarginSummary {
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// `quantiles[i]` is the linear-interpolation quantile (numpy's default) at `probs[i]`.
    pub probs: Vec<f64>,
    pub quantiles: Vec<f64>,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    /// Q1 − 1.5·IQR and Q3 + 1.5·IQR (Tukey fences, Jiang et al.'s signature).
    pub lower_fence: f64,
    pub upper_fence: f64,
    /// Standardised third moment (biased, as scipy.stats.skew); NaN when std = 0.
    pub skewness: f64,
    /// Excess (Fisher) kurtosis, biased (as scipy.stats.kurtosis); NaN when std = 0.
    pub kurtosis: f64,
    /// Fraction of margins strictly above 0 (correctly classified, without ties).
    pub fraction_positive: f64,
    /// Area under the sorted-margin curve over normalised rank, see [`area_under_margin_curve`].
    pub auc: f64,
}

/// Quantile of sorted data with numpy's default "linear" rule: position p·(N−1).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let pos = p * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    if frac == 0.0 {
        sorted[lo]
    } else {
        sorted[lo] + frac * (sorted[hi] - sorted[lo])
    }
}

/// Area under the curve of the sorted margins m₍₀₎ ≤ … ≤ m₍N−1₎ plotted against normalised rank
/// rᵢ = i/(N−1) ∈ [0, 1], by the trapezoid rule:
/// AUC = (Σᵢ m₍ᵢ₎ − (m₍₀₎ + m₍N−1₎)/2) / (N−1)   (= m₍₀₎ for N = 1).
/// Equals `numpy.trapezoid(np.sort(m), np.linspace(0, 1, N))`.
pub fn area_under_margin_curve(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let total: f64 = sorted.iter().sum();
    (total - 0.5 * (sorted[0] + sorted[n - 1])) / (n - 1) as f64
}

/// Summarises finite margins; `probs` are the extra quantile levels to report.
pub fn margin_summary<T: Scalar>(m: &[T], probs: &[f64]) -> CoreResult<MarginSummary> {
    if m.is_empty() {
        return Err(CoreError::Empty { what: "margins" });
    }
    if let Some(i) = m.iter().position(|v| !v.to_f64().is_finite()) {
        return Err(CoreError::NonFinite {
            what: "margins",
            value: m[i].to_f64(),
            location: format!("index {i}"),
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
    let mean = sorted.iter().sum::<f64>() / nf;
    let (mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0);
    for &v in &sorted {
        let d = v - mean;
        let d2 = d * d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
    }
    let var = s2 / nf;
    let std = var.sqrt();
    let (skewness, kurtosis) = if var > 0.0 {
        ((s3 / nf) / var.powf(1.5), (s4 / nf) / (var * var) - 3.0)
    } else {
        (f64::NAN, f64::NAN)
    };
    let q1 = quantile_sorted(&sorted, 0.25);
    let median = quantile_sorted(&sorted, 0.5);
    let q3 = quantile_sorted(&sorted, 0.75);
    let iqr = q3 - q1;
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
        lower_fence: q1 - 1.5 * iqr,
        upper_fence: q3 + 1.5 * iqr,
        skewness,
        kurtosis,
        fraction_positive: positive as f64 / nf,
        auc: area_under_margin_curve(&sorted),
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
    fn rejects_nonfinite_and_bad_levels() {
        assert!(margin_summary(&[1.0f64, f64::INFINITY], &[]).is_err());
        assert!(margin_summary(&[1.0f64], &[1.5]).is_err());
        assert!(margin_summary::<f32>(&[], &[]).is_err());
    }
}
