//! Gavish–Donoho optimal hard thresholds for singular values (Gavish & Donoho 2014, "The optimal
//! hard threshold for singular values is 4/√3", IEEE Trans. Inf. Theory 60, 5040).
//!
//! Convention as everywhere in netsieve: W is N×M after orientation, N ≥ M, β = M/N.
//! - Known σ: τ = λ*(β)·√N·σ with λ*(β) = √(2(β+1) + 8β/(β+1+√(β²+14β+1))), N the **larger**
//!   dimension (the `optht` package uses √min(N, M), which keeps noise on non-square matrices).
//! - Unknown σ: τ = ω(β)·median(s) with ω(β) = λ*(β)/√μ_β, μ_β the median of the MP law f_β of
//!   t = s²/(σ²N). This equals λ*(β)·√N·σ̂ with the median-matching estimate σ̂ = median(s)/√(N·μ_β).

use crate::error::{CoreError, CoreResult};
use crate::spectral::mp_law::{standard_quantile, MpShape};
use crate::spectral::noise_fit::sorted_spectrum;

/// λ*(β), the optimal hard threshold in units of σ√N.
pub fn lambda_star(beta: f64) -> f64 {
    let w = (beta * beta + 14.0 * beta + 1.0).sqrt();
    (2.0 * (beta + 1.0) + 8.0 * beta / (beta + 1.0 + w)).sqrt()
}

/// ω(β) = λ*(β)/√μ_β, exact (μ_β from the closed-form MP CDF).
pub fn omega(beta: f64) -> f64 {
    lambda_star(beta) / standard_quantile(0.5, beta).sqrt()
}

/// Gavish–Donoho's cubic fit of ω(β), accurate to about 0.5 %; kept for reference and tests.
pub fn omega_approx(beta: f64) -> f64 {
    0.56 * beta.powi(3) - 0.95 * beta.powi(2) + 1.82 * beta + 1.43
}

/// The optimal hard threshold τ = λ*(β)·√N·σ in singular-value units.
pub fn optimal_hard_threshold(shape: &MpShape, sigma: f64) -> f64 {
    lambda_star(shape.beta()) * (shape.n as f64).sqrt() * sigma
}

/// τ for unknown σ: ω(β)·median(s), from the matrix's singular values (any order; checked finite
/// and non-negative, one per min(N, M)).
pub fn optimal_hard_threshold_of_spectrum(shape: &MpShape, values: &[f64]) -> CoreResult<f64> {
    let s = sorted_spectrum(values)?;
    if s.len() != shape.m {
        return Err(CoreError::invalid(
            "singular_values",
            format!(
                "a {}×{} matrix has {} singular values, got {}",
                shape.n,
                shape.m,
                shape.m,
                s.len()
            ),
        ));
    }
    let m = s.len();
    let median = if m % 2 == 1 {
        s[m / 2]
    } else {
        0.5 * (s[m / 2 - 1] + s[m / 2])
    };
    Ok(omega(shape.beta()) * median)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::matrix::MatrixView;
    use rand::{rngs::SmallRng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn square_values_match_the_paper() {
        assert!((lambda_star(1.0) - 4.0 / 3f64.sqrt()).abs() < 1e-12);
        assert!((omega(1.0) - 2.858).abs() < 1e-3, "{}", omega(1.0));
    }

    #[test]
    fn cubic_approximation_tracks_the_exact_omega() {
        for k in 1..=100 {
            let beta = k as f64 / 100.0;
            let (exact, approx) = (omega(beta), omega_approx(beta));
            assert!(
                (exact - approx).abs() < 0.01 * exact,
                "β={beta}: {exact} vs {approx}"
            );
        }
        assert!((omega(0.25) - 1.83697).abs() < 2e-4, "{}", omega(0.25));
    }

    #[test]
    fn threshold_lies_above_the_bulk_edge() {
        for k in 1..=100 {
            let beta = k as f64 / 100.0;
            assert!(lambda_star(beta) > 1.0 + beta.sqrt());
        }
    }

    /// The √N scaling (N the larger side) on pure noise: nothing survives for any aspect ratio,
    /// while the √min(N, M) scaling used by `optht` keeps a large part of the noise when N ≠ M.
    #[test]
    fn larger_dimension_scaling_removes_pure_noise() {
        let mut rng = SmallRng::seed_from_u64(3);
        for &(n, m) in &[(200, 800), (800, 200), (400, 400), (1000, 100)] {
            let data: Vec<f64> = (0..n * m)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let s = singular_values(
                MatrixView::from_row_major(&data, n, m),
                Decomposition::Svd,
                &Stop::never(),
            )
            .unwrap();
            let shape = MpShape::new(n, m).unwrap();
            let tau = optimal_hard_threshold(&shape, 1.0);
            assert_eq!(s.iter().filter(|&&v| v > tau).count(), 0, "{n}x{m}");
            // Unknown σ: ω·median gives (nearly) the same cut.
            let med = 0.5 * (s[shape.m / 2 - 1] + s[shape.m / 2]);
            let tau_unknown = omega(shape.beta()) * med;
            assert!(
                (tau_unknown / tau - 1.0).abs() < 0.02,
                "{n}x{m}: {tau_unknown} vs {tau}"
            );
            let tau_min = lambda_star(shape.beta()) * (shape.m as f64).sqrt();
            if shape.n != shape.m {
                assert!(s.iter().filter(|&&v| v > tau_min).count() > shape.m / 10);
            }
        }
    }
}
