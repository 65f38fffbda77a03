//! Finite-size (Tracy–Widom) margins around the Marchenko–Pastur edges, used to decide which singular
//! values are outliers rather than edge fluctuations.
//!
//! Largest eigenvalue of XᵀX for an N×M real Gaussian X with unit variance (Johnstone 2001):
//! (λ_max − μ)/τ → TW₁ with μ = (√(N−1) + √M)², τ = (√(N−1) + √M)(1/√(N−1) + 1/√M)^{1/3}.
//! In singular-value units s = √λ, so s_max ≈ √μ + τ·TW₁/(2√μ) (delta method).
//! The smallest eigenvalue (M < N) fluctuates on the mirrored scale (Feldheim & Sodin 2010):
//! μ₋ = (√(N−1) − √M)², τ₋ = (√(N−1) − √M)(1/√M − 1/√(N−1))^{1/3}, with a reflected TW₁ law.

use crate::error::{CoreError, CoreResult};

use super::mp_law::MpShape;

/// Upper quantiles of the GOE Tracy–Widom law TW₁ (Johnstone 2001, Table 1; Bejan 2005): the
/// `spike_confidence` levels netsieve offers and the margin, in TW units, each one puts above the
/// bulk edge.
pub const SPIKE_CONFIDENCES: [(f64, f64); 4] = [
    (0.90, 0.4501),
    (0.95, 0.9793),
    (0.975, 1.4527),
    (0.99, 2.0234),
];

/// The default `spike_confidence`: pure noise shows a spike in at most 1 % of draws.
pub const DEFAULT_SPIKE_CONFIDENCE: f64 = 0.99;

/// The TW₁ quantile for one of the tabulated confidence levels.
pub fn tw1_quantile(confidence: f64) -> CoreResult<f64> {
    SPIKE_CONFIDENCES
        .iter()
        .find(|(p, _)| (p - confidence).abs() < 1e-9)
        .map(|&(_, q)| q)
        .ok_or_else(|| {
            let levels: Vec<String> = SPIKE_CONFIDENCES
                .iter()
                .map(|(p, _)| p.to_string())
                .collect();
            CoreError::invalid(
                "spike_confidence",
                format!(
                    "{confidence} is not tabulated; use one of {}",
                    levels.join(", ")
                ),
            )
        })
}

/// Singular values above this are spikes: the upper edge plus `tw` Tracy–Widom units.
pub fn upper_threshold(shape: &MpShape, sigma: f64, tw: f64) -> f64 {
    let (n1, m) = ((shape.n as f64 - 1.0).max(1.0), shape.m as f64);
    let root_mu = n1.sqrt() + m.sqrt();
    let tau = root_mu * (1.0 / n1.sqrt() + 1.0 / m.sqrt()).powf(1.0 / 3.0);
    sigma * (root_mu + tau * tw / (2.0 * root_mu))
}

/// Singular values below this are low outliers (only meaningful when M < N, where s₋ > 0).
pub fn lower_threshold(shape: &MpShape, sigma: f64, tw: f64) -> f64 {
    let (n1, m) = ((shape.n as f64 - 1.0).max(1.0), shape.m as f64);
    let root_mu = n1.sqrt() - m.sqrt();
    if root_mu <= 0.0 {
        return 0.0;
    }
    let tau = root_mu * (1.0 / m.sqrt() - 1.0 / n1.sqrt()).abs().powf(1.0 / 3.0);
    (sigma * (root_mu - tau * tw / (2.0 * root_mu))).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_bracket_the_edges() {
        let shape = MpShape::new(2000, 1000).unwrap();
        let (lo, hi) = shape.edges(1.0);
        let up = upper_threshold(&shape, 1.0, 2.0234);
        let down = lower_threshold(&shape, 1.0, 2.0234);
        assert!(up > hi && up < hi * 1.02, "{up} vs {hi}");
        assert!(down < lo && down > lo * 0.95, "{down} vs {lo}");
        assert!(tw1_quantile(0.99).unwrap() > tw1_quantile(0.95).unwrap());
        assert!(tw1_quantile(0.5).is_err());
    }
}
