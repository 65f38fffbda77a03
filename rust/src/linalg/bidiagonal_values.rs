//! Singular values of an upper bidiagonal matrix B (diagonal d₁…d_M, superdiagonal e₁…e_{M−1}).
//!
//! Definition used: the σᵢ are the M largest eigenvalues of the Golub–Kahan matrix
//!
//!   T_GK = [0 B; Bᵀ 0] permuted to tridiagonal form: zero diagonal (size 2M) and off-diagonal
//!   d₁, e₁, d₂, e₂, …, d_M,
//!
//! whose eigenvalues are ±σᵢ. They are computed by the root-free QR of `tridiagonal_eigenvalues`
//! (dsterf), which is backward stable: every eigenvalue, hence every σᵢ, has absolute error about
//! ε·‖B‖ = ε·σ_max. That is the accuracy the caller needs (the bidiagonalisation that produced B
//! already has that backward error, as LAPACK dgesdd), so σᵢ has relative error ≈ ε·σ_max/σᵢ.
//!
//! Why not the alternatives: the eigenvalues of the tridiagonal BᵀB (half the size, the Gram
//! route's accuracy) have absolute error ε·σ_max², i.e. about ε·σ_max²/(2σᵢ) on σᵢ: at
//! σᵢ = 1e-8·σ_max that is 5e-9·σ_max, not ε·σ_max. dqds (dlasq2) would be relatively accurate and
//! faster on this step, but it is long and delicate to implement; this step is O(M²), small
//! against the O(M³) reduction.

use crate::error::CoreResult;
use crate::linalg::band_bidiagonal::Bidiagonal;
use crate::linalg::tridiagonal_eigenvalues::tridiagonal_eigenvalues;

/// Singular values (descending) of the upper bidiagonal `b`, to absolute error about ε·σ_max.
pub fn bidiagonal_singular_values(b: &Bidiagonal) -> CoreResult<Vec<f64>> {
    let m = b.diag.len();
    assert!(b.superdiag.len() + 1 == m || (m == 0 && b.superdiag.is_empty()));
    if m == 0 {
        return Ok(Vec::new());
    }
    let mut off = Vec::with_capacity(2 * m - 1);
    for i in 0..m {
        off.push(b.diag[i]);
        if i + 1 < m {
            off.push(b.superdiag[i]);
        }
    }
    let lambda = tridiagonal_eigenvalues(&vec![0.0; 2 * m], &off)?;
    // ±σ pairs: the upper half, largest first; a zero σ may come out as −O(ε·σ_max).
    let mut s: Vec<f64> = lambda[m..].iter().rev().map(|x| x.abs()).collect();
    s.sort_by(|x, y| y.total_cmp(x));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn dense(b: &Bidiagonal) -> Mat<f64> {
        let m = b.diag.len();
        Mat::from_fn(m, m, |i, j| {
            if i == j {
                b.diag[i]
            } else if j == i + 1 {
                b.superdiag[i]
            } else {
                0.0
            }
        })
    }

    fn assert_matches_faer(b: &Bidiagonal, tol: f64) {
        let want = dense(b).singular_values().unwrap();
        let got = bidiagonal_singular_values(b).unwrap();
        assert_eq!(got.len(), want.len());
        let scale = want.first().copied().unwrap_or(0.0);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= tol * scale, "{g} vs {w}");
        }
    }

    #[test]
    fn agrees_with_faer_on_random_graded_and_singular_bidiagonals() {
        let mut rng = SmallRng::seed_from_u64(4);
        for m in [1usize, 2, 3, 17, 200] {
            let random = Bidiagonal {
                diag: (0..m).map(|_| rng.random::<f64>() - 0.5).collect(),
                superdiag: (1..m).map(|_| rng.random::<f64>() - 0.5).collect(),
            };
            assert_matches_faer(&random, 1e-13);
            // Graded from 1 down to 1e-14, and with exact zeros on both diagonals.
            let graded = Bidiagonal {
                diag: (0..m)
                    .map(|i| 10f64.powf(-14.0 * i as f64 / m as f64))
                    .collect(),
                superdiag: (1..m)
                    .map(|i| 0.5 * 10f64.powf(-14.0 * i as f64 / m as f64))
                    .collect(),
            };
            assert_matches_faer(&graded, 1e-13);
            let mut singular = random.clone();
            for i in (0..m).step_by(3) {
                singular.diag[i] = 0.0;
            }
            for i in (0..m.saturating_sub(1)).step_by(4) {
                singular.superdiag[i] = 0.0;
            }
            assert_matches_faer(&singular, 1e-13);
        }
    }

    #[test]
    fn diagonal_input_gives_the_sorted_magnitudes() {
        let b = Bidiagonal {
            diag: vec![-3.0, 0.0, 2.0, -1e-30],
            superdiag: vec![0.0; 3],
        };
        assert_eq!(
            bidiagonal_singular_values(&b).unwrap(),
            vec![3.0, 2.0, 1e-30, 0.0]
        );
        assert!(bidiagonal_singular_values(&Bidiagonal::default())
            .unwrap()
            .is_empty());
    }
}
