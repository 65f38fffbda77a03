//! Singular values and thin SVDs of weight matrices, computed in f64 whatever the input type.
//!
//! Two routes to the singular values:
//! - **Gram**: eigenvalues of the smaller Gram matrix WᵀW (or WWᵀ), formed in f64 with a
//!   lower-triangular product (half the flops), then sᵢ = √λᵢ. Absolute eigenvalue error is about
//!   ε·λ_max, so the relative error of sᵢ is about ε·(s_max/sᵢ)²/2: at most 1e-6 while
//!   sᵢ/s_max ≥ 1e-5 (condition number ≤ 1e5). For float32 input this is *more* accurate than a
//!   float32 SVD, whose relative error is about 6e-8·s_max/sᵢ. From a Gram size of 1536 on, the
//!   eigenvalues come from a two-stage tridiagonalisation (`symmetric_eigenvalues`), which has the
//!   same backward error and about half the run time at 4096.
//! - **Direct**: a bidiagonalising SVD (faer, divide and conquer) of the f64 copy; relative error
//!   about ε·s_max/sᵢ.
//!
//! `Auto` takes the Gram route and redoes the work directly when the spectrum is too ill-conditioned
//! for it (λ_min/λ_max < 1e-10), so its answer is always within about 1e-6 relative of the direct one.

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, Mat, Par, Side};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::linalg::symmetric_eigenvalues::symmetric_eigenvalues;
use crate::matrix::{check_finite_matrix, to_f64_mat, MatrixView, Scalar};

/// Which algorithm computes the singular values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SvdMethod {
    #[default]
    Auto,
    Gram,
    Direct,
}

impl SvdMethod {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "auto" => Ok(SvdMethod::Auto),
            "gram" => Ok(SvdMethod::Gram),
            "svd" | "direct" => Ok(SvdMethod::Direct),
            other => Err(CoreError::invalid(
                "method",
                format!(
                    "unknown singular-value method {other:?}; valid: \"auto\", \"gram\", \"svd\""
                ),
            )),
        }
    }
}

/// Below this λ_min/λ_max the Gram route loses more than ~1e-6 relative accuracy on the smallest sᵢ.
pub(crate) const GRAM_CONDITION_LIMIT: f64 = 1e-10;

/// Singular values of `w`, descending, after checking it is non-empty and finite.
pub fn singular_values<T: Scalar>(w: MatrixView<'_, T>, method: SvdMethod) -> CoreResult<Vec<f64>> {
    check_finite_matrix(w, "weight matrix")?;
    let (a, back) = to_f64_mat_scaled(w);
    let mut s = singular_values_f64(&a, method)?;
    s.iter_mut().for_each(|x| *x *= back);
    Ok(s)
}

/// Entries beyond 2^±100 in magnitude are rescaled before any decomposition.
const SCALE_LIMIT_EXPONENT: i32 = 100;

/// The f64 copy of `w`, multiplied by a power of two when its largest entry lies outside
/// 2^−100..2^100 so that neither the Gram product nor the SVD overflows or underflows (at 1e160
/// both did, silently or not). Returns the exact factor taking the copy's singular values back to
/// those of `w` (1 for ordinary weights, which are left untouched).
pub(crate) fn to_f64_mat_scaled<T: Scalar>(w: MatrixView<'_, T>) -> (Mat<f64>, f64) {
    let mut a = to_f64_mat(w);
    let largest = (0..a.ncols())
        .flat_map(|j| a.col_as_slice(j).iter())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    if largest == 0.0 || largest.log2().abs() <= SCALE_LIMIT_EXPONENT as f64 {
        return (a, 1.0);
    }
    let exponent = largest.log2().floor() as i32;
    for j in 0..a.ncols() {
        a.col_as_slice_mut(j)
            .iter_mut()
            .for_each(|x| *x = libm::scalbn(*x, -exponent));
    }
    (a, libm::scalbn(1.0, exponent))
}

/// Singular values of an f64 matrix already in faer form (no finiteness check).
pub fn singular_values_f64(a: &Mat<f64>, method: SvdMethod) -> CoreResult<Vec<f64>> {
    match method {
        SvdMethod::Direct => direct(a),
        SvdMethod::Gram => gram(a).map(|(s, _)| s),
        SvdMethod::Auto => {
            let (s, ratio) = gram(a)?;
            if ratio < GRAM_CONDITION_LIMIT {
                direct(a)
            } else {
                Ok(s)
            }
        }
    }
}

fn direct(a: &Mat<f64>) -> CoreResult<Vec<f64>> {
    a.singular_values()
        .map_err(|_| CoreError::NoConvergence { algorithm: "SVD" })
}

/// The lower triangle of the smaller Gram matrix, AᵀA (N ≥ M) or AAᵀ, in half the flops of a full product.
fn gram_lower(a: faer::MatRef<'_, f64>) -> Mat<f64> {
    let (lhs, rhs) = if a.nrows() >= a.ncols() {
        (a.transpose(), a)
    } else {
        (a, a.transpose())
    };
    let mut g = Mat::<f64>::zeros(lhs.nrows(), lhs.nrows());
    tri_matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        BlockStructure::Rectangular,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        Par::rayon(0),
    );
    g
}

/// Returns the singular values and λ_min/λ_max of the Gram matrix.
fn gram(a: &Mat<f64>) -> CoreResult<(Vec<f64>, f64)> {
    let mut g = gram_lower(a.as_ref());
    let eig = symmetric_eigenvalues(&mut g, Par::rayon(0))?;
    let lmax = eig.last().copied().unwrap_or(0.0).max(0.0);
    let lmin = eig.first().copied().unwrap_or(0.0);
    let ratio = if lmax > 0.0 { lmin / lmax } else { 0.0 };
    let s = eig.iter().rev().map(|&l| l.max(0.0).sqrt()).collect();
    Ok((s, ratio))
}

/// A thin SVD W = U·diag(s)·Vᵀ with U: N×k, V: M×k, k = min(N, M), s descending.
pub struct ThinSvd {
    pub u: Mat<f64>,
    pub s: Vec<f64>,
    pub v: Mat<f64>,
}

/// Thin SVD of `w` in f64 (direct, faer divide and conquer).
pub fn thin_svd<T: Scalar>(w: MatrixView<'_, T>) -> CoreResult<ThinSvd> {
    check_finite_matrix(w, "weight matrix")?;
    let (a, back) = to_f64_mat_scaled(w);
    let mut svd = thin_svd_f64(&a)?;
    svd.s.iter_mut().for_each(|x| *x *= back);
    Ok(svd)
}

pub fn thin_svd_f64(a: &Mat<f64>) -> CoreResult<ThinSvd> {
    let svd = a
        .thin_svd()
        .map_err(|_| CoreError::NoConvergence { algorithm: "SVD" })?;
    let s = svd.S().column_vector().iter().copied().collect();
    Ok(ThinSvd {
        u: svd.U().to_owned(),
        s,
        v: svd.V().to_owned(),
    })
}

/// Singular values and right singular vectors of a tall matrix (N ≥ M) from the eigendecomposition
/// of its Gram matrix AᵀA: about half the work of a thin SVD. The vectors of well-separated leading
/// singular values are accurate to about ε·s_max²/gap; left vectors follow as uᵢsᵢ = A·vᵢ.
pub struct GramSvd {
    /// Descending singular values.
    pub s: Vec<f64>,
    /// M×M, column i pairs with `s[i]`.
    pub v: Mat<f64>,
    /// λ_min/λ_max of the Gram matrix (small values mean the trailing sᵢ are inaccurate).
    pub condition_ratio: f64,
}

pub fn gram_svd_tall(a: faer::MatRef<'_, f64>) -> CoreResult<GramSvd> {
    assert!(a.nrows() >= a.ncols(), "gram_svd_tall needs a tall matrix");
    let m = a.ncols();
    let g = gram_lower(a);
    let eig = g
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| CoreError::NoConvergence {
            algorithm: "symmetric eigensolver",
        })?;
    let lambda: Vec<f64> = eig.S().column_vector().iter().copied().collect();
    let lmax = lambda.last().copied().unwrap_or(0.0).max(0.0);
    let lmin = lambda.first().copied().unwrap_or(0.0);
    let condition_ratio = if lmax > 0.0 { lmin / lmax } else { 0.0 };
    let u = eig.U();
    let v = Mat::from_fn(m, m, |i, j| u[(i, m - 1 - j)]);
    let s = lambda.iter().rev().map(|&l| l.max(0.0).sqrt()).collect();
    Ok(GramSvd {
        s,
        v,
        condition_ratio,
    })
}

/// Thin SVD through the Gram matrix: W = U·diag(s)·Vᵀ with V from the eigenvectors of WᵀW (of the
/// tall orientation) and U = W·V·diag(1/s). About 3× faster than a bidiagonalising SVD on square
/// matrices and far more on tall ones; returns `None` when λ_min/λ_max < 1e-10, where the trailing
/// vectors would lose accuracy (the caller then takes the direct SVD). Vector errors are about
/// ε·s_max/sᵢ, ample for statistics of their components.
pub fn thin_svd_gram<T: Scalar>(w: MatrixView<'_, T>) -> CoreResult<Option<ThinSvd>> {
    check_finite_matrix(w, "weight matrix")?;
    let transposed = w.nrows() < w.ncols();
    let (mut a, back) = to_f64_mat_scaled(if transposed { w.t() } else { w });
    let mut g = gram_svd_tall(a.as_ref())?;
    if g.condition_ratio < GRAM_CONDITION_LIMIT {
        return Ok(None);
    }
    // U = A·V·diag(1/s), formed over A's own storage.
    multiply_right_in_place(a.as_mut(), g.v.as_ref());
    for (j, &sj) in g.s.iter().enumerate() {
        let inv = 1.0 / sj;
        a.col_mut(j).iter_mut().for_each(|x| *x *= inv);
    }
    g.s.iter_mut().for_each(|x| *x *= back);
    let (u, v) = if transposed { (g.v, a) } else { (a, g.v) };
    Ok(Some(ThinSvd { u, s: g.s, v }))
}

/// A ← A·V for a square V, one block of rows at a time, in parallel: a fresh N×M result would
/// cost as much in page faults as the product takes on a 30522×384 embedding.
fn multiply_right_in_place(a: faer::MatMut<'_, f64>, v: faer::MatRef<'_, f64>) {
    const ROWS: usize = 256;
    assert_eq!(
        v.nrows(),
        v.ncols(),
        "multiply_right_in_place needs a square factor"
    );
    a.par_row_chunks_mut(ROWS).for_each(|mut block| {
        let mut product = Mat::<f64>::zeros(block.nrows(), v.ncols());
        faer::linalg::matmul::matmul(
            product.as_mut(),
            Accum::Replace,
            block.as_ref(),
            v,
            1.0,
            Par::Seq,
        );
        block.copy_from(product.as_ref());
    });
}

/// Thin SVD by the fastest accurate route: the Gram route, or the direct SVD when ill-conditioned.
pub fn thin_svd_auto<T: Scalar>(w: MatrixView<'_, T>) -> CoreResult<ThinSvd> {
    match thin_svd_gram(w)? {
        Some(svd) => Ok(svd),
        None => thin_svd(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random(n: usize, m: usize, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n * m).map(|_| rng.random::<f64>() - 0.5).collect()
    }

    #[test]
    fn gram_and_direct_agree() {
        for &(n, m) in &[(50, 20), (20, 50), (33, 33)] {
            let data = random(n, m, 7);
            let v = MatrixView::from_row_major(&data, n, m);
            let a = singular_values(v, SvdMethod::Gram).unwrap();
            let b = singular_values(v, SvdMethod::Direct).unwrap();
            let c = singular_values(v, SvdMethod::Auto).unwrap();
            assert_eq!(a.len(), n.min(m));
            for i in 0..a.len() {
                assert!((a[i] - b[i]).abs() < 1e-9 * b[0], "{i}: {} {}", a[i], b[i]);
                assert!((c[i] - b[i]).abs() < 1e-9 * b[0]);
                if i > 0 {
                    assert!(b[i] <= b[i - 1]);
                }
            }
        }
    }

    #[test]
    fn gram_route_at_two_stage_size_agrees_with_direct() {
        // Wide enough that the Gram eigenvalues go through the two-stage reduction.
        let (n, m) = (
            1700,
            crate::linalg::symmetric_eigenvalues::TWO_STAGE_MIN_DIM + 10,
        );
        let data = random(n, m, 11);
        let v = MatrixView::from_row_major(&data, n, m);
        let a = singular_values(v, SvdMethod::Gram).unwrap();
        let b = singular_values(v, SvdMethod::Direct).unwrap();
        for i in 0..a.len() {
            assert!((a[i] - b[i]).abs() < 1e-9 * b[0], "{i}: {} {}", a[i], b[i]);
        }
    }

    #[test]
    fn extreme_magnitudes_are_rescaled_exactly() {
        let (n, m) = (40, 30);
        let data = random(n, m, 5);
        let v = MatrixView::from_row_major(&data, n, m);
        let reference = singular_values(v, SvdMethod::Direct).unwrap();
        for scale in [1e160, 1e-200, 1e300] {
            let scaled: Vec<f64> = data.iter().map(|x| x * scale).collect();
            let w = MatrixView::from_row_major(&scaled, n, m);
            for method in [SvdMethod::Auto, SvdMethod::Gram, SvdMethod::Direct] {
                let s = singular_values(w, method).unwrap();
                for (a, b) in s.iter().zip(&reference) {
                    assert!(
                        (a / scale - b).abs() < 1e-9 * reference[0],
                        "{scale:e} {method:?}"
                    );
                }
            }
            let svd = thin_svd_auto(w).unwrap();
            assert!((svd.s[0] / scale - reference[0]).abs() < 1e-9 * reference[0]);
        }
    }

    #[test]
    fn auto_falls_back_on_rank_deficient_input() {
        // Rank one: the Gram route cannot resolve the zero singular values to 1e-6 relative.
        let (n, m) = (30, 10);
        let data: Vec<f64> = (0..n * m)
            .map(|k| ((k / m) as f64 + 1.0) * ((k % m) as f64 + 1.0))
            .collect();
        let v = MatrixView::from_row_major(&data, n, m);
        let s = singular_values(v, SvdMethod::Auto).unwrap();
        let direct = singular_values(v, SvdMethod::Direct).unwrap();
        assert_eq!(s, direct);
        assert!(s[1] < 1e-10 * s[0]);
    }

    #[test]
    fn transposed_and_strided_views_agree() {
        let (n, m) = (40, 25);
        let data = random(n, m, 3);
        let v = MatrixView::from_row_major(&data, n, m);
        let a = singular_values(v, SvdMethod::Direct).unwrap();
        let b = singular_values(v.t(), SvdMethod::Direct).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12 * a[0]);
        }
        let f32data: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        let c =
            singular_values(MatrixView::from_row_major(&f32data, n, m), SvdMethod::Auto).unwrap();
        for (x, y) in a.iter().zip(&c) {
            assert!((x - y).abs() < 1e-6 * a[0]);
        }
    }

    #[test]
    fn gram_thin_svd_matches_direct_in_both_orientations() {
        use rand::{Rng, SeedableRng};
        for &(n, m) in &[(40usize, 15usize), (15, 40), (30, 30)] {
            let mut rng = rand::rngs::SmallRng::seed_from_u64((n * m) as u64);
            let data: Vec<f64> = (0..n * m)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let w = MatrixView::from_row_major(&data, n, m);
            let fast = thin_svd_gram(w).unwrap().expect("well conditioned");
            let slow = thin_svd(w).unwrap();
            assert_eq!((fast.u.nrows(), fast.v.nrows()), (n, m));
            for (a, b) in fast.s.iter().zip(&slow.s) {
                assert!((a - b).abs() <= 1e-9 * slow.s[0]);
            }
            // Same subspaces: |⟨u_fast, u_slow⟩| = 1 column by column, and W = U S Vᵀ.
            for j in 0..fast.s.len() {
                let dot: f64 = (0..n).map(|i| fast.u[(i, j)] * slow.u[(i, j)]).sum();
                assert!((dot.abs() - 1.0).abs() < 1e-8, "{n}x{m} column {j}: {dot}");
            }
            for i in 0..n {
                for j in 0..m {
                    let r: f64 = (0..fast.s.len())
                        .map(|k| fast.u[(i, k)] * fast.s[k] * fast.v[(j, k)])
                        .sum();
                    assert!((r - data[i * m + j]).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn thin_svd_reconstructs() {
        let (n, m) = (30, 12);
        let data = random(n, m, 11);
        let svd = thin_svd(MatrixView::from_row_major(&data, n, m)).unwrap();
        for i in 0..n {
            for j in 0..m {
                let r: f64 = (0..m)
                    .map(|k| svd.u[(i, k)] * svd.s[k] * svd.v[(j, k)])
                    .sum();
                assert!((r - data[i * m + j]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_non_finite_and_empty() {
        let data = [1.0, f64::NAN, 3.0, 4.0];
        let err =
            singular_values(MatrixView::from_row_major(&data, 2, 2), SvdMethod::Auto).unwrap_err();
        assert!(err.to_string().contains("row 0, column 1"), "{err}");
        let empty: [f64; 0] = [];
        assert!(
            singular_values(MatrixView::from_row_major(&empty, 0, 3), SvdMethod::Auto).is_err()
        );
    }
}
