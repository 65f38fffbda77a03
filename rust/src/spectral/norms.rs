//! Norms and rank measures of a matrix from its singular values s (descending).
//!
//! - spectral norm ‖W‖₂ = s₁, Frobenius norm ‖W‖_F = √Σsᵢ²;
//! - stable rank ‖W‖_F²/‖W‖₂² = Σsᵢ²/s₁² (weightwatcher's `stable_rank`);
//! - effective rank (Roy & Vetterli 2007) exp(H), H = −Σ pᵢ ln pᵢ with pᵢ = sᵢ/Σsⱼ; `entropy` is
//!   H/ln(min(N, M)) ∈ [0, 1] (weightwatcher's `entropy` uses pᵢ = sᵢ²/Σsⱼ² instead);
//! - MP soft rank λ₊/λmax = (s₊/s₁)², the fitted bulk edge over the largest level (weightwatcher's
//!   `mp_softrank`); 1 or more means the whole spectrum fits inside the noise bulk.

/// Norms and rank measures of one matrix (module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixNorms {
    /// s₁.
    pub spectral_norm: f64,
    /// √Σsᵢ².
    pub frobenius_norm: f64,
    /// Σsᵢ²/s₁².
    pub stable_rank: f64,
    /// exp(H) with pᵢ = sᵢ/Σs.
    pub effective_rank: f64,
    /// H/ln(min(N, M)) ∈ [0, 1].
    pub entropy: f64,
}

/// Norms of a matrix with singular values `s` (descending, non-negative). Scale-exact: everything is
/// computed from rᵢ = sᵢ/s₁ ∈ [0, 1], ‖W‖_F = s₁·√Σrᵢ² (Σsᵢ² overflows beyond s ≈ 1e154 and
/// underflows below 1e-154), stable rank Σrᵢ², and pᵢ = rᵢ/Σrⱼ.
pub fn matrix_norms(s: &[f64]) -> MatrixNorms {
    let s1 = s.first().copied().unwrap_or(0.0);
    if s1 <= 0.0 {
        return MatrixNorms {
            spectral_norm: s1,
            frobenius_norm: 0.0,
            stable_rank: 0.0,
            effective_rank: 0.0,
            entropy: 0.0,
        };
    }
    let r: Vec<f64> = s.iter().map(|v| v / s1).collect();
    let sum_sq: f64 = r.iter().map(|v| v * v).sum();
    let sum: f64 = r.iter().sum();
    let mut h = 0.0;
    for &v in &r {
        let p = v / sum;
        if p > 0.0 {
            h -= p * p.ln();
        }
    }
    let entropy = if s.len() > 1 {
        h / (s.len() as f64).ln()
    } else {
        0.0
    };
    MatrixNorms {
        spectral_norm: s1,
        frobenius_norm: s1 * sum_sq.sqrt(),
        stable_rank: sum_sq,
        effective_rank: h.exp(),
        entropy,
    }
}

/// MP soft rank λ₊/λmax from the fitted upper bulk edge s₊ and the largest singular value.
pub fn mp_soft_rank(upper_edge: f64, s_max: f64) -> f64 {
    if s_max > 0.0 {
        (upper_edge / s_max).powi(2)
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_spectrum_has_full_ranks() {
        let n = matrix_norms(&[2.0; 8]);
        assert!((n.stable_rank - 8.0).abs() < 1e-12);
        assert!((n.effective_rank - 8.0).abs() < 1e-9);
        assert!((n.entropy - 1.0).abs() < 1e-12);
        assert!((n.frobenius_norm - (32.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(n.spectral_norm, 2.0);
    }

    #[test]
    fn rank_one_spectrum() {
        let n = matrix_norms(&[3.0, 0.0, 0.0]);
        assert_eq!(n.stable_rank, 1.0);
        assert!((n.effective_rank - 1.0).abs() < 1e-12);
        assert_eq!(n.entropy, 0.0);
        assert!((mp_soft_rank(1.5, 3.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn zero_matrix_is_finite() {
        let n = matrix_norms(&[0.0, 0.0]);
        assert_eq!(n.stable_rank, 0.0);
        assert_eq!(n.effective_rank, 0.0);
    }

    #[test]
    fn norms_are_scale_exact_from_1e_minus_310_to_1e300() {
        // stable_rank was NaN below 1e-165 and the Frobenius norm inf above 1e154.
        let s: Vec<f64> = (0..200).map(|i| 30.0 / (1.0 + 0.05 * i as f64)).collect();
        let want = matrix_norms(&s);
        for &scale in &[1e-310, 1e-200, 1e-165, 1e155, 1e200, 1e300] {
            let scaled: Vec<f64> = s.iter().map(|v| v * scale).collect();
            let got = matrix_norms(&scaled);
            // Subnormal inputs at 1e-310 keep about 47 of 53 bits.
            let tol = if scale < 1e-300 { 1e-12 } else { 1e-14 };
            let close = |x: f64, y: f64| (x - y).abs() <= tol * y.abs();
            assert!(
                close(got.spectral_norm / scale, want.spectral_norm),
                "{scale:e}"
            );
            assert!(
                close(got.frobenius_norm / scale, want.frobenius_norm),
                "{scale:e}: {got:?}"
            );
            assert!(
                close(got.stable_rank, want.stable_rank),
                "{scale:e}: {got:?}"
            );
            assert!(
                close(got.effective_rank, want.effective_rank),
                "{scale:e}: {got:?}"
            );
            assert!(close(got.entropy, want.entropy), "{scale:e}: {got:?}");
        }
        // Near the largest double: ‖W‖_F = √2·1e308 is representable, Σs² is not.
        let n = matrix_norms(&[1e308, 1e308]);
        assert!(
            (n.frobenius_norm / 1e308 - 2f64.sqrt()).abs() < 1e-15,
            "{n:?}"
        );
        assert_eq!(n.stable_rank, 2.0);
    }
}
