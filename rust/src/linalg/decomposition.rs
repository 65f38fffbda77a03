//! The one entry point to singular values and singular vectors of weight matrices, computed in f64
//! whatever the input type, and the rules that decide how accurate each route is.
//!
//! Work happens on the tall orientation A (N×M, N ≥ M) of W; a wide W is decomposed as its
//! transpose, without a transposed copy of the input (the f64 copy is written in tall order).
//!
//! Two routes:
//! - **Gram**: the eigendecomposition of the smaller Gram matrix AᵀA, formed in f64 with a
//!   lower-triangular product (half the flops), sᵢ = √λᵢ, and when vectors are needed uᵢ = A·vᵢ/sᵢ.
//!   The absolute eigenvalue error is about ε·λ_max, so the relative error of sᵢ is about
//!   ε·(s_max/sᵢ)²/2: at most 1e-6 while sᵢ/s_max ≥ 1e-5 (λᵢ/λ_max ≥ [`GRAM_CONDITION_LIMIT`]).
//!   For float32 input this is *more* accurate than a float32 SVD (relative error ≈ 6e-8·s_max/sᵢ).
//!   From a Gram size of [`TWO_STAGE_MIN_DIM`] on ([`TWO_STAGE_MIN_DIM_ONE_THREAD`] on one thread),
//!   eigenvalues alone come from the two-stage tridiagonalisation of `symmetric_eigenvalues` (same
//!   backward error, about half the time).
//! - **Svd**: a bidiagonalising SVD of the f64 copy; absolute error about ε·s_max on every value
//!   (as LAPACK dgesdd), so relative error about ε·s_max/sᵢ. Values alone, from
//!   [`TWO_STAGE_SVD_MIN_DIM`] columns on: QR first when tall, two-stage bidiagonalisation
//!   (`band_bidiagonal`: dense → band by blocked panel QR/LQ, band → bidiagonal by bulge chasing)
//!   and the bidiagonal's singular values (`bidiagonal_values`): 1.5–1.7× faster than faer's
//!   one-stage SVD at 1024² and 5632×2048 on one thread (`route_costs.json`), 1.1–1.8× the Gram
//!   route's time (an SVD needs 8/3·M³ flops against M³ + 4/3·M³ for a square matrix, and QR
//!   first when tall). Below that size and for vectors: faer's SVD (one-stage bidiagonalisation,
//!   divide and conquer).
//! - **GramRefined** (values only, the automatic route of an ill-conditioned matrix): the Gram
//!   route's values with the k values whose eigenvalues fall below the limit (and the margin's that
//!   converge with them) replaced by the singular values of A·V, V an orthonormal basis of the
//!   computed eigenspace of the k + p smallest eigenvalues of G (p ≥ 8, up to λ ≥ 1e-6·λ_max), by
//!   subspace inverse iteration on the two-stage band form (`small_values`). The replaced values
//!   carry about ε·s_max absolute error, as the SVD's (V couples to the large directions only at
//!   angle ε·λ_max/λⱼ, which enters ‖A·v‖² at second order; A·V is formed from A); the others
//!   keep the Gram route's 1e-6 relative. It costs one band LU, a few block solves and products of
//!   O((N + M)·M·(k + p)) flops: a few per cent of the Gram route for a few values, and is taken
//!   while k + p ≤ M/6 (measured break-even with the SVD near M/4 at 1024² and 5632×2048).
//!   The reduction keeps its band form and reflectors for free wherever the two-stage route runs
//!   (V stays below the band, as in LAPACK), so a decaying tail found by the Sturm count is
//!   refined there; below the two-stage size only when negligible columns
//!   (‖aᵢ‖² < 1e-10·max ‖aⱼ‖²) announce the values before the Gram product; otherwise the SVD.
//!
//! Values alone: exactly zero columns of the tall orientation (zero lines of W's short side) are
//! deflated first on every route — the values of the remaining columns, then one exact zero per
//! zero column — by moving them to the end of the f64 copy (no further copy).
//!
//! Filters that keep only leading components call [`decompose_leading`]: on the Gram route the
//! values come first (the values path), the caller turns them into a kept rank k, and only k
//! eigenvectors are computed, checked, with every vector as before when the check fails: from the
//! two-stage size on by inverse iteration on the reduction's band form and its stage-1 reflectors
//! (`band_eigenvectors`, checked against AᵀA, [`gram_factor_check`]), below it by a filtered
//! subspace iteration on G (`leading_eigenvectors`).
//!
//! What is accurate enough depends on what the caller reads, so the caller states its [`Need`] and
//! [`Decomposition::Auto`] applies that need's rule (table in [`plan`]). An explicit route is
//! honoured, except that singular vectors of every component are never taken from an
//! ill-conditioned Gram matrix (uᵢ = A·vᵢ/sᵢ divides by values that are numerically zero).
//!
//! Matrices with entries beyond 2^±100 are decomposed as an exactly rescaled copy (a power of two),
//! so that neither the Gram product nor the SVD overflows or underflows; values and the kept copy
//! come back in W's units.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::linalg::band_bidiagonal::bidiagonalise;
use crate::linalg::band_eigenvectors::band_eigenvectors;
use crate::linalg::bidiagonal_values::bidiagonal_singular_values;
use crate::linalg::column_blocks::for_each_paired_column_block;
use crate::linalg::householder::dot;
use crate::linalg::leading_eigenvectors::{
    leading_eigenvectors, partial_pays, product, ORTHOGONALITY_TOLERANCE, RESIDUAL_TOLERANCE,
};
use crate::linalg::small_values::{
    plan_refinement, refined_values, refinement_pays, zero_columns_last, MIN_MARGIN,
};
use crate::linalg::symmetric_eigenvalues::BAND_WIDTH;
use crate::linalg::symmetric_eigenvalues::{
    tridiagonalise, tridiagonalise_keeping_band, two_stage_pays, BandReflectors, Tridiagonal,
};
pub use crate::linalg::symmetric_eigenvalues::{TWO_STAGE_MIN_DIM, TWO_STAGE_MIN_DIM_ONE_THREAD};
use crate::linalg::tridiagonal_eigenvalues::{
    eigenvalues_below, largest_eigenvalue_lower_bound, tridiagonal_eigenvalues,
};
use crate::matrix::{check_finite_matrix, to_f64_mat, MatrixView, Scalar};

crate::named_enum! {
    /// Which route decomposes the matrix (see the module docs).
    #[derive(Default)]
    pub enum Decomposition for "decomposition" as "singular-value method" / "methods" {
        /// The need's accuracy rule chooses.
        #[default]
        Auto = "auto",
        /// The eigendecomposition of the Gram matrix.
        Gram = "gram",
        /// The bidiagonalising SVD ("direct" is accepted as an alias).
        Svd = "svd" | "direct",
    }
}

/// What the caller reads from the decomposition; it decides the automatic route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every singular value to about 1e-6 relative.
    Values,
    /// Every singular value and both singular vectors of every component (Porter–Thomas).
    Vectors,
    /// Singular values from the 10 % quantile up and the leading components (the noise fit reads
    /// the bulk from its 10 % quantile; shrinkers keep only components above the bulk edge).
    LeadingComponents,
    /// Every component, trailing ones included ("fraction" zeroes the smallest values).
    TrailingComponents,
}

/// Below this λ_min/λ_max the Gram route loses more than ~1e-6 relative accuracy on the smallest sᵢ.
pub const GRAM_CONDITION_LIMIT: f64 = 1e-10;

/// The route actually taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Eigendecomposition of the Gram matrix.
    Gram,
    /// Bidiagonalising SVD.
    Svd,
    /// Gram eigenvalues with the smallest values refined by Rayleigh–Ritz on A (values only; see
    /// `small_values`).
    GramRefined,
}

impl Route {
    /// "gram", "svd" or "gram-refined", as results report it.
    pub fn name(self) -> &'static str {
        match self {
            Route::Gram => "gram",
            Route::Svd => "svd",
            Route::GramRefined => "gram-refined",
        }
    }
}

/// How a request is served: the first route to try, and whether an ill-conditioned Gram result is
/// redone by the SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The route tried first.
    pub first: Route,
    /// Redo by SVD when the Gram matrix fails the need's accuracy rule.
    pub fall_back: bool,
}

/// The accuracy rules, in one table:
///
/// | need \ route        | auto                                   | gram            | svd |
/// |---------------------|----------------------------------------|-----------------|-----|
/// | Values              | Gram; if λ_min/λ_max < 1e-10: refined (k + p ≤ M/6), else SVD | Gram | SVD |
/// | Vectors             | Gram; SVD if λ_min/λ_max < 1e-10       | as auto         | SVD |
/// | LeadingComponents   | Gram; SVD if (s₁₀%/s_max)² < 1e-10     | Gram            | SVD |
/// | TrailingComponents  | SVD                                    | Gram            | SVD |
///
/// The λ_min rule is decided before any eigenvalue is computed. For values, zero columns are
/// deflated exactly first; c columns with ‖aᵢ‖² = Gᵢᵢ < 1e-10·max Gⱼⱼ fail it at once, before the
/// Gram product ([`negligible_column_count`]): the SVD alone when refining c + 8 values does not
/// pay, otherwise the Gram route keeping its band form, refined when two more Sturm counts say the
/// subspace is small enough (`small_values::plan_refinement`). Else it is one Sturm count on the
/// tridiagonal form the eigenvalues need anyway ([`tridiagonal_condition_passes`], O(n)), so a
/// well-conditioned matrix pays nothing for it; an ill-conditioned one without a negligible
/// column is refined from the band form the two-stage reduction kept (free), or below the
/// two-stage size pays the reduction on top of its SVD. For vectors it is one Cholesky factorisation of G − 1e-10·λ̂_max·I
/// ([`gram_condition_passes`], a quarter of the tridiagonalisation's flops), before the
/// eigendecomposition with vectors. The eigenvalues are still checked after (λ̂_max is a lower
/// bound, so a matrix just below the limit may pass the first test). The 10 % quantile rule of
/// the leading components is checked on the eigenvalues only.
pub fn plan(need: Need, route: Decomposition) -> Plan {
    match (route, need) {
        (Decomposition::Svd, _) | (Decomposition::Auto, Need::TrailingComponents) => Plan {
            first: Route::Svd,
            fall_back: false,
        },
        (Decomposition::Gram, Need::Vectors) | (Decomposition::Auto, _) => Plan {
            first: Route::Gram,
            fall_back: true,
        },
        (Decomposition::Gram, _) => Plan {
            first: Route::Gram,
            fall_back: false,
        },
    }
}

/// Whether Gram eigenvalues (ascending, of the tall orientation) are accurate enough for `need`.
fn gram_is_accurate(need: Need, lambda_ascending: &[f64]) -> bool {
    let m = lambda_ascending.len();
    let lmax = lambda_ascending.last().copied().unwrap_or(0.0);
    if lmax.is_nan() || lmax <= 0.0 {
        return false;
    }
    let reference = match need {
        // The smallest value, or for the leading components the 10 % quantile of s (descending
        // index ⌊0.9·M⌋).
        Need::LeadingComponents => lambda_ascending[m - 1 - (m * 9) / 10],
        _ => lambda_ascending[0],
    };
    reference / lmax >= GRAM_CONDITION_LIMIT
}

/// The factors a decomposition keeps, in the tall orientation (A = W or Wᵀ, N×M with N ≥ M).
pub enum Factors {
    /// Only singular values were asked for.
    None,
    /// A = U·diag(s)·Vᵀ with U: N×M and V: M×M.
    Svd {
        /// Left singular vectors (columns).
        u: Mat<f64>,
        /// Right singular vectors (columns).
        v: Mat<f64>,
    },
    /// V from the Gram matrix and A itself (in W's units): uᵢsᵢ = A·vᵢ, so products with the left
    /// factor never need U.
    Gram {
        /// The tall f64 copy of W.
        a: Mat<f64>,
        /// Right singular vectors (columns).
        v: Mat<f64>,
        /// A·V, when the kept-vectors check computed it (the reconstruction reuses it).
        av: Option<Mat<f64>>,
    },
}

/// A decomposition of W.
pub struct Decomposed {
    /// Singular values, descending, in W's units.
    pub s: Vec<f64>,
    /// Factors of the tall orientation.
    pub factors: Factors,
    /// The route that produced `s`.
    pub route: Route,
    /// W is wide and was decomposed as its transpose.
    pub transposed: bool,
}

/// A thin SVD W = U·diag(s)·Vᵀ in W's own orientation: U is rows×k, V is cols×k, k = min(rows, cols).
pub struct ThinSvd {
    /// Left singular vectors.
    pub u: Mat<f64>,
    /// Singular values, descending.
    pub s: Vec<f64>,
    /// Right singular vectors.
    pub v: Mat<f64>,
}

/// Entries beyond 2^±100 in magnitude are rescaled before any decomposition.
const SCALE_LIMIT_EXPONENT: i32 = 100;

/// The power of two 2^e by which a matrix whose largest entry is `largest` is divided before any
/// decomposition (`to_f64_mat_scaled`), or None when it needs none.
pub(crate) fn scale_exponent(largest: f64) -> Option<i32> {
    if largest == 0.0 || largest.log2().abs() <= SCALE_LIMIT_EXPONENT as f64 {
        None
    } else {
        Some(largest.log2().floor() as i32)
    }
}

/// The f64 copy of `w`, multiplied by a power of two when its largest entry lies outside
/// 2^−100..2^100 (at 1e160 the Gram product overflows and the SVD fails to converge). Returns the
/// exact factor taking the copy's singular values back to those of `w` (1 for ordinary weights).
pub(crate) fn to_f64_mat_scaled<T: Scalar>(w: MatrixView<'_, T>) -> (Mat<f64>, f64) {
    let mut a = to_f64_mat(w);
    let largest = (0..a.ncols())
        .flat_map(|j| a.col_as_slice(j).iter())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    let Some(exponent) = scale_exponent(largest) else {
        return (a, 1.0);
    };
    for j in 0..a.ncols() {
        a.col_as_slice_mut(j)
            .iter_mut()
            .for_each(|x| *x = libm::scalbn(*x, -exponent));
    }
    (a, libm::scalbn(1.0, exponent))
}

/// Decomposes `w` for `need` by `route` (see [`plan`]), after checking it is non-empty and finite.
pub fn decompose<T: Scalar>(
    w: MatrixView<'_, T>,
    need: Need,
    route: Decomposition,
    stop: &Stop,
) -> CoreResult<Decomposed> {
    check_finite_matrix(w, "weight matrix")?;
    let transposed = w.nrows() < w.ncols();
    let (mut a, back) = to_f64_mat_scaled(if transposed { w.t() } else { w });
    stop.check()?;
    let plan = plan(need, route);
    let out = decompose_tall(&mut a, need, plan, stop)?;
    Ok(finish(out, a, back, transposed))
}

/// What [`decompose_leading`] asks its caller once the singular values are known: how many
/// leading components it keeps (`Some(k)`: only components 0..k are non-zero after the filter and
/// no other is read), or `None` when it reads other components too.
pub type KeptRank<'f> = &'f mut dyn FnMut(&[f64]) -> CoreResult<Option<usize>>;

/// [`decompose`] for [`Need::LeadingComponents`], computing only the vectors the caller keeps.
///
/// On the Gram route the values come first, by the values path (tridiagonalisation + root-free
/// QR, as [`singular_values`]); `kept` turns them into the kept rank k; then only the k leading
/// eigenvectors are computed, and V (M×k) is returned in `Factors::Gram` with the values path's s:
/// from the two-stage size on ([`two_stage_pays`]) by inverse iteration on the band form the
/// reduction leaves in G's storage, mapped back by its stage-1 reflectors and checked against AᵀA
/// (no copy of G; the check's A·V comes with the factors); below it by [`leading_eigenvectors`]
/// on a kept copy of G. When that route declines or fails its check (k too large to pay, kept
/// set not separated, budget spent, residual or orthogonality out of tolerance: see
/// `leading_eigenvectors`), or `kept` says it reads more, every vector is computed as by
/// [`decompose`] (the band route forms G again), whose values then come with the vectors. The SVD route and the accuracy rule of
/// the leading components are those of [`decompose`].
pub fn decompose_leading<T: Scalar>(
    w: MatrixView<'_, T>,
    route: Decomposition,
    stop: &Stop,
    kept: KeptRank<'_>,
) -> CoreResult<Decomposed> {
    let need = Need::LeadingComponents;
    let plan = plan(need, route);
    if plan.first != Route::Gram {
        return decompose(w, need, route, stop);
    }
    check_finite_matrix(w, "weight matrix")?;
    let transposed = w.nrows() < w.ncols();
    let (mut a, back) = to_f64_mat_scaled(if transposed { w.t() } else { w });
    stop.check()?;
    let par = parallelism(a.nrows(), a.ncols());
    let m = a.ncols();
    let mut g = gram_lower(a.as_ref(), par);
    stop.check()?;
    // From the two-stage size on, the kept vectors come from the band form (`band_eigenvectors`);
    // below it, from the filtered subspace iteration on a kept copy of G, both triangles.
    let band_route = two_stage_pays(m, par);
    let full = (!band_route)
        .then(|| Mat::from_fn(m, m, |i, j| if i >= j { g[(i, j)] } else { g[(j, i)] }));
    let (t, reflectors) = if band_route {
        let (t, r) = tridiagonalise_keeping_band(&mut g, par, stop)?;
        (t, Some(r))
    } else {
        (tridiagonalise(&mut g, par, stop)?, None)
    };
    stop.check()?;
    let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag)?;
    let out = if plan.fall_back && !gram_is_accurate(need, &lambda) {
        drop((full, g, reflectors));
        let svd = Plan {
            first: Route::Svd,
            fall_back: false,
        };
        decompose_tall(&mut a, need, svd, stop)?
    } else {
        let mut s = descending_roots(&lambda);
        s.iter_mut().for_each(|x| *x *= back);
        let partial = match (kept(&s)?, &full, &reflectors) {
            (Some(0), _, _) => Some((Mat::zeros(m, 0), None)),
            (Some(k), Some(full), _) => {
                leading_eigenvectors(full.as_ref(), &lambda, k, par, stop)?.map(|v| (v, None))
            }
            (Some(k), None, Some(r)) => {
                band_leading_vectors(a.as_ref(), &g, r, &lambda, k, par, stop)?
                    .map(|(v, av)| (v, Some(av)))
            }
            _ => None,
        };
        stop.check()?;
        drop(reflectors);
        let (lambda, v, av) = match partial {
            Some((v, av)) => (lambda, v, av),
            None => {
                // Every vector; the band route kept no copy of G, so it is formed again.
                drop(g);
                let g = match full {
                    Some(full) => full,
                    None => gram_lower(a.as_ref(), par),
                };
                stop.check()?;
                let (lambda, v) = gram_eigen(g)?;
                (lambda, v, None)
            }
        };
        TallResult {
            s: descending_roots(&lambda),
            factors: Factors::Gram {
                a: Mat::new(),
                v,
                av,
            },
            route: Route::Gram,
        }
    };
    Ok(finish(out, a, back, transposed))
}

/// The k leading eigenvectors of G = AᵀA (values ascending in `lambda`, from the band form in
/// `band`): inverse iteration on the band, mapped back by the first stage's reflectors, and
/// returned, with A·V, only if every vector passes the check of `leading_eigenvectors` against
/// AᵀA itself ([`gram_factor_check`]); `None` when k does not pay (`partial_pays`) or a check fails.
fn band_leading_vectors(
    a: MatRef<'_, f64>,
    band: &Mat<f64>,
    reflectors: &BandReflectors,
    lambda: &[f64],
    k: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Option<(Mat<f64>, Mat<f64>)>> {
    let n = lambda.len();
    let lmax = lambda.last().copied().unwrap_or(0.0);
    if !(partial_pays(k, n) && lmax > 0.0 && lmax.is_finite()) {
        return Ok(None);
    }
    let wanted: Vec<f64> = (0..k).map(|j| lambda[n - 1 - j]).collect();
    let Some(mut v) = band_eigenvectors(band.as_ref(), reflectors.band_width, &wanted, lmax, par)
    else {
        return Ok(None);
    };
    stop.check()?;
    reflectors.apply(band.as_ref(), v.as_mut(), par);
    stop.check()?;
    Ok(gram_factor_check(a, &v, &wanted, lmax, par).map(|av| (v, av)))
}

/// The check of `leading_eigenvectors::verified` with AᵀA in place of G (no copy of G needed):
/// ‖Aᵀ·(A·vⱼ) − λⱼ·vⱼ‖₂ ≤ [`RESIDUAL_TOLERANCE`]·λ_max for each column (λ descending, one per
/// column) and max |VᵀV − I| ≤ [`ORTHOGONALITY_TOLERANCE`]. Returns A·V when both hold (the
/// reconstruction reuses it), `None` otherwise.
pub fn gram_factor_check(
    a: MatRef<'_, f64>,
    v: &Mat<f64>,
    lambda_descending: &[f64],
    lmax: f64,
    par: Par,
) -> Option<Mat<f64>> {
    let k = v.ncols();
    if lmax.is_nan()
        || lmax <= 0.0
        || v.as_ref()
            .col_iter()
            .any(|c| c.iter().any(|x| !x.is_finite()))
    {
        return None;
    }
    let av = product(a, v.as_ref(), par);
    let gv = product(a.transpose(), av.as_ref(), par);
    let residuals_pass = (0..k).all(|j| {
        let r: f64 = v
            .col_as_slice(j)
            .iter()
            .zip(gv.col_as_slice(j))
            .map(|(&x, &y)| (y - lambda_descending[j] * x) * (y - lambda_descending[j] * x))
            .sum::<f64>()
            .sqrt();
        r <= RESIDUAL_TOLERANCE * lmax
    });
    let gram = product(v.transpose(), v.as_ref(), Par::Seq);
    let orthonormal = (0..k).all(|i| {
        (0..k).all(|j| {
            let want = if i == j { 1.0 } else { 0.0 };
            (gram[(i, j)] - want).abs() <= ORTHOGONALITY_TOLERANCE
        })
    });
    (residuals_pass && orthonormal).then_some(av)
}

/// Values back in W's units and, for the Gram factors, A reattached (in W's units, like s).
fn finish(mut out: TallResult, mut a: Mat<f64>, back: f64, transposed: bool) -> Decomposed {
    if back != 1.0 {
        out.s.iter_mut().for_each(|x| *x *= back);
    }
    let factors = match out.factors {
        Factors::Gram { v, mut av, .. } => {
            if back != 1.0 {
                for j in 0..a.ncols() {
                    a.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= back);
                }
                for j in 0..av.as_ref().map_or(0, |p| p.ncols()) {
                    let p = av.as_mut().expect("present");
                    p.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= back);
                }
            }
            Factors::Gram { a, v, av }
        }
        other => other,
    };
    Decomposed {
        s: out.s,
        factors,
        route: out.route,
        transposed,
    }
}

struct TallResult {
    s: Vec<f64>,
    factors: Factors,
    route: Route,
}

/// The decomposition of the tall f64 matrix `a` (which may be overwritten; for `Factors::Gram` the
/// caller reattaches it).
fn decompose_tall(a: &mut Mat<f64>, need: Need, plan: Plan, stop: &Stop) -> CoreResult<TallResult> {
    if need == Need::Values {
        if let Some(out) = without_zero_columns(a, plan, stop)? {
            return Ok(out);
        }
    }
    let par = parallelism(a.nrows(), a.ncols());
    if plan.first == Route::Gram {
        match need {
            Need::Values => {
                // Negligible columns fail the λ_min rule before the Gram product is formed; the
                // SVD answers unless refining that many values pays.
                let negligible = if plan.fall_back {
                    negligible_column_count(a.as_ref())
                } else {
                    0
                };
                // The automatic route keeps the band form and its reflectors wherever the two-stage
                // reduction runs (free: `tridiagonalise_keeping_band`), so small values found by the
                // Sturm count are refined (`small_values`) instead of redone by the SVD; below
                // that size only when negligible columns announce them.
                let refinable = plan.fall_back && negligible > 0;
                if negligible == 0
                    || (refinable && refinement_pays(negligible + MIN_MARGIN, a.ncols()))
                {
                    let mut g = gram_lower(a.as_ref(), par);
                    stop.check()?;
                    let keep = refinable || (plan.fall_back && two_stage_pays(g.nrows(), par));
                    let (t, kept) = if keep {
                        let (t, r) = tridiagonalise_keeping_band(&mut g, par, stop)?;
                        (t, Some(r))
                    } else {
                        (tridiagonalise(&mut g, par, stop)?, None)
                    };
                    stop.check()?;
                    if plan.fall_back && !tridiagonal_condition_passes(&t) {
                        // The band form and the reflectors are freed inside, before A·V exists.
                        let refined = match (kept, plan_refinement(&t)) {
                            (Some(r), Some(refinement)) => {
                                let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag)?;
                                refined_values(a.as_ref(), g, r, &lambda, refinement, par, stop)?
                            }
                            _ => None,
                        };
                        if let Some(s) = refined {
                            return Ok(TallResult {
                                s,
                                factors: Factors::None,
                                route: Route::GramRefined,
                            });
                        }
                        return svd_values(a, par, stop);
                    }
                    drop((g, kept));
                    let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag)?;
                    if !plan.fall_back || gram_is_accurate(need, &lambda) {
                        return Ok(TallResult {
                            s: descending_roots(&lambda),
                            factors: Factors::None,
                            route: Route::Gram,
                        });
                    }
                }
            }
            _ => {
                let g = gram_lower(a.as_ref(), par);
                stop.check()?;
                // The 10 % quantile rule of the leading components is checked on the eigenvalues;
                // the smallest-value rule is decided before them.
                let decided = !plan.fall_back
                    || need == Need::LeadingComponents
                    || gram_condition_passes(g.as_ref(), par);
                let eigen = if decided {
                    stop.check()?;
                    Some(gram_eigen(g)?)
                } else {
                    None
                };
                if let Some((lambda, v)) =
                    eigen.filter(|(lambda, _)| !plan.fall_back || gram_is_accurate(need, lambda))
                {
                    let s = descending_roots(&lambda);
                    if need == Need::Vectors {
                        // U = A·V·diag(1/s), over A's own storage.
                        multiply_right_in_place(a.as_mut(), v.as_ref(), stop)?;
                        for (j, &sj) in s.iter().enumerate() {
                            let inv = 1.0 / sj;
                            a.col_mut(j).iter_mut().for_each(|x| *x *= inv);
                        }
                        let u = std::mem::replace(a, Mat::new());
                        return Ok(TallResult {
                            s,
                            factors: Factors::Svd { u, v },
                            route: Route::Gram,
                        });
                    }
                    return Ok(TallResult {
                        s,
                        factors: Factors::Gram {
                            a: Mat::new(),
                            v,
                            av: None,
                        },
                        route: Route::Gram,
                    });
                }
            }
        }
        stop.check()?;
    }
    if need == Need::Values {
        return svd_values(a, par, stop);
    }
    let svd = a
        .thin_svd()
        .map_err(|_| CoreError::NoConvergence { algorithm: "SVD" })?;
    Ok(TallResult {
        s: svd.S().column_vector().iter().copied().collect(),
        factors: Factors::Svd {
            u: svd.U().to_owned(),
            v: svd.V().to_owned(),
        },
        route: Route::Svd,
    })
}

/// The values of `a` with its exactly zero columns removed, followed by that many zeros (exact:
/// see `small_values`); the columns are reordered and `a` truncated in place. `None` when `a`
/// has no zero column.
fn without_zero_columns(
    a: &mut Mat<f64>,
    plan: Plan,
    stop: &Stop,
) -> CoreResult<Option<TallResult>> {
    let m = a.ncols();
    let zeros = zero_columns_last(a);
    if zeros == 0 {
        return Ok(None);
    }
    a.truncate(a.nrows(), m - zeros);
    let mut out = if zeros == m {
        TallResult {
            s: Vec::new(),
            factors: Factors::None,
            route: plan.first,
        }
    } else {
        decompose_tall(a, Need::Values, plan, stop)?
    };
    out.s.resize(m, 0.0);
    Ok(Some(out))
}

/// From this many columns on, singular values alone come from the two-stage bidiagonalisation
/// (`band_bidiagonal` + `bidiagonal_values`) instead of faer's one-stage SVD. faer's time over
/// this route's, square, one thread, loaded machine: n = 128: 0.97; 192: 1.11; 256: 1.08;
/// 512: 1.44; 1024: 1.57. Below ~320 columns a decomposition runs on one thread anyway.
pub const TWO_STAGE_SVD_MIN_DIM: usize = 256;

/// Singular values (descending) of the tall `a` by an SVD (`a` may be overwritten): the two-stage
/// route from [`TWO_STAGE_SVD_MIN_DIM`] columns on, faer's SVD below.
pub fn svd_singular_values(a: &mut Mat<f64>, par: Par, stop: &Stop) -> CoreResult<Vec<f64>> {
    if a.ncols() >= TWO_STAGE_SVD_MIN_DIM {
        let b = bidiagonalise(a, BAND_WIDTH, par, stop)?;
        stop.check()?;
        return bidiagonal_singular_values(&b, par);
    }
    a.singular_values()
        .map_err(|_| CoreError::NoConvergence { algorithm: "SVD" })
}

fn svd_values(a: &mut Mat<f64>, par: Par, stop: &Stop) -> CoreResult<TallResult> {
    Ok(TallResult {
        s: svd_singular_values(a, par, stop)?,
        factors: Factors::None,
        route: Route::Svd,
    })
}

/// Whether some column of A has ‖aᵢ‖² < limit·max ‖aⱼ‖²: the Gram diagonal, so the same test as
/// [`has_negligible_diagonal`] in O(N·M), before the Gram product (a zero column, say).
pub fn has_negligible_column(a: MatRef<'_, f64>) -> bool {
    negligible_column_count(a) > 0
}

/// How many columns of A have ‖aᵢ‖² < limit·max ‖aⱼ‖²: c such columns put c eigenvalues of AᵀA
/// below c·limit·λ_max (their coordinate subspace's Rayleigh quotient), so about c values need
/// refining.
pub fn negligible_column_count(a: MatRef<'_, f64>) -> usize {
    let norms: Vec<f64> = (0..a.ncols())
        .map(|j| match a.col(j).try_as_col_major() {
            Some(col) => dot(col.as_slice(), col.as_slice()),
            None => a.col(j).iter().map(|x| x * x).sum(),
        })
        .collect();
    let largest = norms.iter().fold(0.0f64, |acc, &x| acc.max(x));
    norms
        .iter()
        .filter(|&&x| x < GRAM_CONDITION_LIMIT * largest)
        .count()
}

/// Whether some Gᵢᵢ < limit·max Gⱼⱼ: then λ_min ≤ Gᵢᵢ < limit·λ_max (λ_max ≥ max Gⱼⱼ), and the
/// Gram route fails the λ_min rule before anything is computed (a zero column of A, say).
pub fn has_negligible_diagonal(g: MatRef<'_, f64>) -> bool {
    let m = g.nrows();
    let largest = (0..m).fold(0.0f64, |acc, j| acc.max(g[(j, j)]));
    (0..m).any(|j| g[(j, j)] < GRAM_CONDITION_LIMIT * largest)
}

/// Whether λ_min ≥ [`GRAM_CONDITION_LIMIT`]·λ_max for the tridiagonal form of a Gram matrix,
/// decided in O(n) before its eigenvalues: one Sturm count at τ = limit·λ̂_max, with λ̂_max a
/// lower bound within 0.1 % (bisection), so a matrix just below the limit may pass; the
/// eigenvalues are checked again after. The reduction's backward error, about ε·λ_max, is 10⁶
/// times smaller than τ, so the count is decisive.
pub fn tridiagonal_condition_passes(t: &Tridiagonal) -> bool {
    let lmax = largest_eigenvalue_lower_bound(&t.diag, &t.subdiag);
    if !(lmax > 0.0 && lmax.is_finite()) {
        return false;
    }
    eigenvalues_below(&t.diag, &t.subdiag, GRAM_CONDITION_LIMIT * lmax) == 0
}

/// Singular values of `w`, descending.
pub fn singular_values<T: Scalar>(
    w: MatrixView<'_, T>,
    route: Decomposition,
    stop: &Stop,
) -> CoreResult<Vec<f64>> {
    Ok(decompose(w, Need::Values, route, stop)?.s)
}

/// A thin SVD of `w` in its own orientation, accurate for every component (Porter–Thomas).
pub fn thin_svd<T: Scalar>(
    w: MatrixView<'_, T>,
    route: Decomposition,
    stop: &Stop,
) -> CoreResult<ThinSvd> {
    let d = decompose(w, Need::Vectors, route, stop)?;
    let Factors::Svd { u, v } = d.factors else {
        unreachable!("Need::Vectors always yields both factors")
    };
    let (u, v) = if d.transposed { (v, u) } else { (u, v) };
    Ok(ThinSvd { u, s: d.s, v })
}

/// Bytes a decomposition of a rows×cols matrix for `need` by `route` holds at its peak: the f64
/// copy, the Gram matrix, eigenvectors, factors and the solvers' workspace. The coefficients are
/// measured (peak RSS of single calls at 2000×500 to 3000×1000, rounded up): with N ≥ M,
/// - values by Gram: 8·(NM + 3.5·M²); by SVD: 8·3.5·NM;
/// - vectors (thin SVD) by Gram: 8·(NM + 7·M²); by SVD: 8·(4.5·NM + 7·M²).
///
/// A route that may fall back to the SVD is charged the larger of the two. Filters stay within
/// the same bound: their output is allocated after the decomposition's workspace is freed. Batch
/// calls schedule matrices so that the sum over matrices in flight stays below their budget.
pub fn working_bytes(rows: usize, cols: usize, need: Need, route: Decomposition) -> usize {
    let (n, m) = (rows.max(cols) as f64, rows.min(cols) as f64);
    let (nm, mm) = (n * m, m * m);
    let (gram, svd) = match need {
        Need::Values => (nm + 3.5 * mm, 3.5 * nm),
        _ => (nm + 7.0 * mm, 4.5 * nm + 7.0 * mm),
    };
    let p = plan(need, route);
    let words = match (p.first, p.fall_back) {
        (Route::Svd, _) => svd,
        (Route::Gram, false) => gram,
        // The refinement of small values fits in the larger of the two (`small_values`).
        (Route::Gram, true) | (Route::GramRefined, _) => gram.max(svd),
    };
    let bytes = 8.0 * words;
    if bytes >= usize::MAX as f64 {
        usize::MAX
    } else {
        bytes as usize
    }
}

pub(crate) fn descending_roots(lambda_ascending: &[f64]) -> Vec<f64> {
    lambda_ascending
        .iter()
        .rev()
        .map(|&l| l.max(0.0).sqrt())
        .collect()
}

/// Below this many multiply–adds in the Gram product a matrix is decomposed on one thread: forking
/// costs more than it saves there, and batches already run one small matrix per thread.
const PARALLEL_MIN_WORK: usize = 1 << 25;

/// The parallelism a decomposition of a tall n×m matrix runs on.
pub fn parallelism(n: usize, m: usize) -> Par {
    if n.saturating_mul(m).saturating_mul(m) < PARALLEL_MIN_WORK {
        Par::Seq
    } else {
        Par::rayon(0)
    }
}

/// Width of the column panels of the parallel Gram product.
const GRAM_PANEL: usize = 128;

/// The lower triangle of AᵀA for a tall A, in about half the flops of a full product. With several
/// threads, each column panel G[j.., j..j+w] = A[:, j..]ᵀ·A[:, j..j+w] is one sequential product
/// and the panels run in parallel paired first-with-last, so each task costs the same
/// (`column_blocks`): faer's own parallel split of a triangular product kept the second core
/// mostly idle (1024²: no gain from 2 threads).
pub fn gram_lower(a: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let m = a.ncols();
    let mut g = Mat::<f64>::zeros(m, m);
    if par.degree() <= 1 || m < 2 * GRAM_PANEL {
        tri_matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            a.transpose(),
            BlockStructure::Rectangular,
            a,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        return g;
    }
    for_each_paired_column_block(g.as_mut(), GRAM_PANEL, true, |j, panel| {
        let w = panel.ncols();
        matmul(
            panel.subrows_mut(j, m - j),
            Accum::Replace,
            a.subcols(j, m - j).transpose(),
            a.subcols(j, w),
            1.0,
            Par::Seq,
        );
    });
    g
}

/// Whether λ_min(G) ≥ [`GRAM_CONDITION_LIMIT`]·λ_max(G) for the symmetric G whose lower triangle
/// is in `g`, decided before any eigenvalue: a Cholesky factorisation of G − τ·I with
/// τ = limit·λ̂_max succeeds exactly when G − τ·I is positive definite (rounding blurs only
/// eigenvalues within about ε·λ_max of τ, 10⁶ times smaller). λ̂_max is a power-iteration lower
/// bound, so a matrix just below the limit may pass; the eigenvalues are checked again after.
/// The factorisation works on a copy (freed before the eigensolver's workspace exists, so the
/// peak memory does not grow); `g` is not modified.
pub fn gram_condition_passes(g: MatRef<'_, f64>, par: Par) -> bool {
    let m = g.nrows();
    if has_negligible_diagonal(g) {
        return false;
    }
    let lmax = largest_eigenvalue_estimate(g);
    if !(lmax > 0.0 && lmax.is_finite()) {
        return false;
    }
    let tau = GRAM_CONDITION_LIMIT * lmax;
    let mut shifted = Mat::<f64>::zeros(m, m);
    for j in 0..m {
        shifted.col_as_slice_mut(j)[j..].copy_from_slice(
            &g.col(j)
                .try_as_col_major()
                .expect("column-major Gram matrix")
                .as_slice()[j..],
        );
        shifted[(j, j)] -= tau;
    }
    let scratch = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(
        m,
        par,
        Default::default(),
    );
    let mut buf = faer::dyn_stack::MemBuffer::new(scratch);
    faer::linalg::cholesky::llt::factor::cholesky_in_place(
        shifted.as_mut(),
        Default::default(),
        par,
        faer::dyn_stack::MemStack::new(&mut buf),
        Default::default(),
    )
    .is_ok()
}

/// A lower bound on the largest eigenvalue of the symmetric positive semi-definite G (lower
/// triangle in `g`): the Rayleigh quotient after a few power iterations from a fixed positive
/// start, one pass over the lower triangle each.
fn largest_eigenvalue_estimate(g: MatRef<'_, f64>) -> f64 {
    const STEPS: usize = 8;
    let m = g.nrows();
    let mut x: Vec<f64> = (0..m)
        .map(|i| 1.0 + ((i * 7919) % 61) as f64 / 61.0)
        .collect();
    let mut y = vec![0.0; m];
    let mut rayleigh = 0.0;
    for _ in 0..STEPS {
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return 0.0;
        }
        x.iter_mut().for_each(|v| *v /= norm);
        y.fill(0.0);
        for j in 0..m {
            let col = &g
                .col(j)
                .try_as_col_major()
                .expect("column-major Gram matrix")
                .as_slice()[j..];
            // y[j..] += G[j.., j]·x[j] (lower part), y[j] += G[j+1.., j]·x[j+1..] (its mirror).
            let xj = x[j];
            let (yj, below) = y[j..].split_first_mut().expect("j < m");
            *yj += col[0] * xj;
            // Four partial sums, so the mirror's dot product is not one serial chain of adds.
            let mut mirror = [0.0; 4];
            let (gs, xs) = (&col[1..], &x[j + 1..]);
            for (k, ((yi, &gij), &xi)) in below.iter_mut().zip(gs).zip(xs).enumerate() {
                *yi += gij * xj;
                mirror[k % 4] += gij * xi;
            }
            *yj += mirror.iter().sum::<f64>();
        }
        rayleigh = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        std::mem::swap(&mut x, &mut y);
    }
    rayleigh
}

/// Eigenvalues (ascending) and eigenvectors of the Gram matrix (lower triangle in `g`); column i of the returned V pairs with the
/// i-th *largest* eigenvalue (descending order, like the singular values).
pub fn gram_eigen(g: Mat<f64>) -> CoreResult<(Vec<f64>, Mat<f64>)> {
    let m = g.ncols();
    let eig = g
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| CoreError::NoConvergence {
            algorithm: "symmetric eigensolver",
        })?;
    let lambda: Vec<f64> = eig.S().column_vector().iter().copied().collect();
    let u = eig.U();
    let v = Mat::from_fn(m, m, |i, j| u[(i, m - 1 - j)]);
    Ok((lambda, v))
}

/// A ← A·V for a square V, one block of rows at a time, in parallel: a fresh N×M result would
/// cost as much in page faults as the product takes on a 30522×384 embedding.
fn multiply_right_in_place(a: MatMut<'_, f64>, v: MatRef<'_, f64>, stop: &Stop) -> CoreResult<()> {
    const ROWS: usize = 256;
    debug_assert_eq!(v.nrows(), v.ncols());
    a.par_row_chunks_mut(ROWS).try_for_each(|mut block| {
        stop.check()?;
        let mut product = Mat::<f64>::zeros(block.nrows(), v.ncols());
        matmul(
            product.as_mut(),
            Accum::Replace,
            block.as_ref(),
            v,
            1.0,
            Par::Seq,
        );
        block.copy_from(product.as_ref());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random(n: usize, m: usize, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n * m).map(|_| rng.random::<f64>() - 0.5).collect()
    }

    fn values(w: MatrixView<'_, f64>, route: Decomposition) -> Vec<f64> {
        singular_values(w, route, &Stop::never()).unwrap()
    }

    #[test]
    fn routes_agree() {
        for &(n, m) in &[(50, 20), (20, 50), (33, 33)] {
            let data = random(n, m, 7);
            let v = MatrixView::from_row_major(&data, n, m);
            let a = values(v, Decomposition::Gram);
            let b = values(v, Decomposition::Svd);
            let c = values(v, Decomposition::Auto);
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
    fn plan_table() {
        use Decomposition::*;
        let p = |need, route| plan(need, route);
        assert_eq!(
            p(Need::Values, Auto),
            Plan {
                first: Route::Gram,
                fall_back: true
            }
        );
        assert_eq!(
            p(Need::Values, Gram),
            Plan {
                first: Route::Gram,
                fall_back: false
            }
        );
        assert_eq!(
            p(Need::Vectors, Gram),
            Plan {
                first: Route::Gram,
                fall_back: true
            }
        );
        assert_eq!(p(Need::TrailingComponents, Auto).first, Route::Svd);
        assert_eq!(p(Need::TrailingComponents, Gram).first, Route::Gram);
        for need in [Need::Values, Need::Vectors, Need::LeadingComponents] {
            assert_eq!(p(need, Svd).first, Route::Svd);
        }
        assert_eq!(Decomposition::parse("direct").unwrap(), Svd);
    }

    #[test]
    fn gram_route_at_two_stage_size_agrees_with_svd() {
        // Wide enough that the Gram eigenvalues go through the two-stage reduction.
        let (n, m) = (1700, TWO_STAGE_MIN_DIM + 10);
        let data = random(n, m, 11);
        let v = MatrixView::from_row_major(&data, n, m);
        let a = values(v, Decomposition::Gram);
        let b = values(v, Decomposition::Svd);
        for i in 0..a.len() {
            assert!((a[i] - b[i]).abs() < 1e-9 * b[0], "{i}: {} {}", a[i], b[i]);
        }
    }

    #[test]
    fn extreme_magnitudes_are_rescaled_exactly() {
        let (n, m) = (40, 30);
        let data = random(n, m, 5);
        let v = MatrixView::from_row_major(&data, n, m);
        let reference = values(v, Decomposition::Svd);
        for scale in [1e160, 1e-200, 1e300] {
            let scaled: Vec<f64> = data.iter().map(|x| x * scale).collect();
            let w = MatrixView::from_row_major(&scaled, n, m);
            for route in [Decomposition::Auto, Decomposition::Gram, Decomposition::Svd] {
                let s = values(w, route);
                for (a, b) in s.iter().zip(&reference) {
                    assert!(
                        (a / scale - b).abs() < 1e-9 * reference[0],
                        "{scale:e} {route:?}"
                    );
                }
            }
            let svd = thin_svd(w, Decomposition::Auto, &Stop::never()).unwrap();
            assert!((svd.s[0] / scale - reference[0]).abs() < 1e-9 * reference[0]);
            // The Gram factors keep A in W's units.
            let d = decompose(
                w,
                Need::LeadingComponents,
                Decomposition::Gram,
                &Stop::never(),
            )
            .unwrap();
            let Factors::Gram { a, .. } = &d.factors else {
                panic!("gram route requested")
            };
            assert_eq!(a[(0, 0)], scaled[0]);
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
        let d = decompose(v, Need::Values, Decomposition::Auto, &Stop::never()).unwrap();
        assert_eq!(d.route, Route::Svd);
        assert_eq!(d.s, values(v, Decomposition::Svd));
        assert!(d.s[1] < 1e-10 * d.s[0]);
        let t = thin_svd(v, Decomposition::Gram, &Stop::never()).unwrap();
        assert!(t.u.col_as_slice(5).iter().all(|x| x.is_finite()));
    }

    /// Q·diag(λ)·Qᵀ for a random orthogonal Q (from a QR of a Gaussian matrix), lower triangle.
    fn with_eigenvalues(lambda: &[f64], seed: u64) -> Mat<f64> {
        let m = lambda.len();
        let mut rng = SmallRng::seed_from_u64(seed);
        let x = Mat::<f64>::from_fn(m, m, |_, _| rng.sample(rand_distr::StandardNormal));
        let q = x.qr().compute_Q();
        Mat::from_fn(m, m, |i, j| {
            if i < j {
                0.0
            } else {
                (0..m).map(|k| q[(i, k)] * lambda[k] * q[(j, k)]).sum()
            }
        })
    }

    /// U·diag(s)·Vᵀ (n×m, n ≥ m) with random orthogonal U, V.
    fn with_singular_values(n: usize, s: &[f64], seed: u64) -> Mat<f64> {
        let m = s.len();
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut normal =
            |r, c| Mat::<f64>::from_fn(r, c, |_, _| rng.sample(rand_distr::StandardNormal));
        let u = normal(n, m).qr().compute_thin_Q();
        let v = normal(m, m).qr().compute_Q();
        let us = Mat::from_fn(n, m, |i, k| u[(i, k)] * s[k]);
        &us * v.transpose()
    }

    #[test]
    fn the_two_stage_svd_matches_faer_on_graded_rank_deficient_tall_and_square_input() {
        let m = TWO_STAGE_SVD_MIN_DIM + 4;
        let graded: Vec<f64> = (0..m)
            .map(|k| 10f64.powf(-14.0 * k as f64 / (m - 1) as f64))
            .collect();
        let low_rank: Vec<f64> = (0..m)
            .map(|k| if k < 7 { 1.0 + k as f64 } else { 0.0 })
            .collect();
        let mut zero_lines = Mat::from_fn(m + 30, m, |i, j| ((i * 7 + j * 13) % 17) as f64 - 8.0);
        zero_lines.row_mut(5).fill(0.0);
        zero_lines.col_mut(m - 1).fill(0.0);
        zero_lines.col_mut(0).fill(0.0);
        let cases = [
            with_singular_values(m, &graded, 1),
            with_singular_values(3 * m, &graded, 2), // QR first
            with_singular_values(m + 50, &low_rank, 3),
            zero_lines,
            Mat::from_fn(2 * m, m, |i, j| {
                ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5
            }),
        ];
        for (case, a) in cases.iter().enumerate() {
            let want = a.singular_values().unwrap();
            let seq = svd_singular_values(&mut a.clone(), Par::Seq, &Stop::never()).unwrap();
            let par = crate::parallel::install(|| {
                svd_singular_values(&mut a.clone(), Par::rayon(2), &Stop::never())
            })
            .unwrap()
            .unwrap();
            for got in [&seq, &par] {
                assert_eq!(got.len(), m);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-13 * want[0],
                        "case {case}, s{i}: {g} vs {w}"
                    );
                }
            }
            // The values route reaches it through the automatic rule (ill-conditioned cases).
            if case < 4 {
                let data: Vec<f64> = (0..a.nrows())
                    .flat_map(|i| (0..m).map(move |j| (i, j)))
                    .map(|(i, j)| a[(i, j)])
                    .collect();
                let v = MatrixView::from_row_major(&data, a.nrows(), m);
                assert_eq!(
                    values(v, Decomposition::Auto),
                    values(v, Decomposition::Svd)
                );
                let wide = values(v.t(), Decomposition::Auto);
                for (g, w) in wide.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-13 * want[0]);
                }
            }
        }
    }

    #[test]
    fn the_two_stage_svd_stops_when_asked() {
        let m = TWO_STAGE_SVD_MIN_DIM;
        let stop = Stop::new();
        stop.request();
        let mut a = Mat::from_fn(m, m, |i, j| ((i * 7 + j) % 5) as f64);
        let err = svd_singular_values(&mut a, Par::Seq, &stop).unwrap_err();
        assert!(matches!(err, CoreError::Interrupted));
    }

    #[test]
    fn the_condition_check_splits_at_the_limit_and_keeps_the_lower_triangle() {
        let m = 60;
        for (ratio, passes) in [(1e-3, true), (3e-10, true), (3e-11, false), (0.0, false)] {
            let lambda: Vec<f64> = (0..m)
                .map(|k| {
                    if k == 0 {
                        5.0 * ratio
                    } else {
                        1.0 + k as f64 / 12.0
                    }
                })
                .collect();
            let g0 = with_eigenvalues(&lambda, 3);
            let g = g0.clone();
            assert_eq!(
                gram_condition_passes(g.as_ref(), Par::Seq),
                passes,
                "{ratio:e}"
            );
            for j in 0..m {
                for i in j..m {
                    assert_eq!(g[(i, j)], g0[(i, j)]);
                }
            }
            // The values' check, a Sturm count on the tridiagonal form, splits at the same limit.
            let t = tridiagonalise(&mut g0.clone(), Par::Seq, &Stop::never()).unwrap();
            assert_eq!(tridiagonal_condition_passes(&t), passes, "{ratio:e}");
        }
    }

    #[test]
    fn a_negligible_diagonal_entry_decides_before_the_reduction() {
        let (n, m) = (50, 20);
        let mut data = random(n, m, 8);
        let g = gram_lower(MatRef::from_row_major_slice(&data, n, m), Par::Seq);
        assert!(!has_negligible_diagonal(g.as_ref()));
        assert!(!has_negligible_column(MatRef::from_row_major_slice(
            &data, n, m
        )));
        for i in 0..n {
            data[i * m + 7] = 0.0; // a zero column
        }
        let g = gram_lower(MatRef::from_row_major_slice(&data, n, m), Par::Seq);
        assert!(has_negligible_diagonal(g.as_ref()));
        assert!(has_negligible_column(MatRef::from_row_major_slice(
            &data, n, m
        )));
        let v = MatrixView::from_row_major(&data, n, m);
        // A zero column is deflated exactly; the rest is well-conditioned.
        let d = decompose(v, Need::Values, Decomposition::Auto, &Stop::never()).unwrap();
        assert_eq!((d.route, d.s[m - 1]), (Route::Gram, 0.0));
        // A tiny one fails the rule at once; refining it (a subspace of 1 + MIN_MARGIN columns)
        // does not pay at M = 20, so the SVD answers without a Gram product.
        for i in 0..n {
            data[i * m + 7] = 1e-9 * data[i * m + 3];
        }
        let v = MatrixView::from_row_major(&data, n, m);
        let d = decompose(v, Need::Values, Decomposition::Auto, &Stop::never()).unwrap();
        assert_eq!(d.route, Route::Svd);
        assert_eq!(d.s, values(v, Decomposition::Svd));
    }

    #[test]
    fn the_parallel_gram_product_matches_the_triangular_one() {
        let (n, m) = (300, 2 * GRAM_PANEL + 37);
        let data = random(n, m, 9);
        let a = Mat::<f64>::from_fn(n, m, |i, j| data[i * m + j]);
        let seq = gram_lower(a.as_ref(), Par::Seq);
        let par = crate::parallel::install(|| gram_lower(a.as_ref(), Par::rayon(2))).unwrap();
        for j in 0..m {
            for i in j..m {
                assert!((seq[(i, j)] - par[(i, j)]).abs() <= 1e-12 * seq[(j, j)].max(1.0));
            }
        }
    }

    #[test]
    fn ill_conditioned_input_goes_to_the_svd_for_values_and_vectors() {
        // Full rank, but λ_min/λ_max ≈ 1e-14: the check sends it to the SVD before eigenvalues.
        let (n, m) = (80, 40);
        let mut data = random(n, m, 21);
        for i in 0..n {
            data[i * m + 3] = data[i * m + 2] * (1.0 + 1e-7) + 1e-9 * data[i * m + 5];
        }
        let v = MatrixView::from_row_major(&data, n, m);
        for need in [Need::Values, Need::Vectors] {
            let d = decompose(v, need, Decomposition::Auto, &Stop::never()).unwrap();
            assert_eq!(d.route, Route::Svd, "{need:?}");
        }
        let s = values(v, Decomposition::Auto);
        assert_eq!(s, values(v, Decomposition::Svd));
    }

    /// Noise plus spikes of the given strengths (row-major n×m).
    fn spiked_matrix(n: usize, m: usize, strengths: &[f64], seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut data: Vec<f64> = (0..n * m)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        for &theta in strengths {
            let a: Vec<f64> = (0..n)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let b: Vec<f64> = (0..m)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let scale = theta / (n as f64 * m as f64).sqrt();
            for i in 0..n {
                for j in 0..m {
                    data[i * m + j] += scale * a[i] * b[j];
                }
            }
        }
        data
    }

    #[test]
    fn the_leading_route_computes_only_the_kept_vectors_and_falls_back() {
        let (n, m) = (500, 200);
        let data = spiked_matrix(n, m, &[400.0, 200.0, 120.0], 4);
        for w in [
            MatrixView::from_row_major(&data, n, m),
            MatrixView::from_row_major(&data, n, m).t(),
        ] {
            let full = decompose(
                w,
                Need::LeadingComponents,
                Decomposition::Auto,
                &Stop::never(),
            )
            .unwrap();
            let Factors::Gram { v: v_full, .. } = &full.factors else {
                panic!("gram route expected")
            };
            let mut asked = Vec::new();
            let mut three = |s: &[f64]| -> CoreResult<Option<usize>> {
                asked.push(s.len());
                Ok(Some(3))
            };
            let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut three).unwrap();
            assert_eq!(asked, vec![m]);
            assert_eq!((d.route, d.transposed), (Route::Gram, full.transposed));
            let Factors::Gram { a, v, .. } = &d.factors else {
                panic!("gram route expected")
            };
            assert_eq!((v.nrows(), v.ncols(), a.nrows()), (m, 3, n));
            for (x, y) in d.s.iter().zip(&full.s) {
                assert!((x - y).abs() <= 1e-12 * full.s[0]);
            }
            for j in 0..3 {
                let dot: f64 = (0..m).map(|i| v[(i, j)] * v_full[(i, j)]).sum();
                assert!((dot.abs() - 1.0).abs() < 1e-10, "{j}: {dot}");
            }
            // Keeping 4 cuts into the bulk: not separated, so every vector, as before.
            let mut four = |_: &[f64]| -> CoreResult<Option<usize>> { Ok(Some(4)) };
            let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut four).unwrap();
            let Factors::Gram { v, .. } = &d.factors else {
                panic!("gram route expected")
            };
            assert_eq!(v.ncols(), m);
            assert_eq!(d.s, full.s);
            let mut all = |_: &[f64]| -> CoreResult<Option<usize>> { Ok(None) };
            let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut all).unwrap();
            assert_eq!(d.s, full.s);
            let mut none = |_: &[f64]| -> CoreResult<Option<usize>> { Ok(Some(0)) };
            let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut none).unwrap();
            let Factors::Gram { v, .. } = &d.factors else {
                panic!("gram route expected")
            };
            assert_eq!(v.ncols(), 0);
        }
        // The SVD route is not asked.
        let mut never = |_: &[f64]| -> CoreResult<Option<usize>> { panic!("not asked") };
        let w = MatrixView::from_row_major(&data, n, m);
        let d = decompose_leading(w, Decomposition::Svd, &Stop::never(), &mut never).unwrap();
        assert_eq!(d.route, Route::Svd);
    }

    #[test]
    fn from_the_two_stage_size_on_the_kept_vectors_come_from_the_band_form() {
        // 1024 columns: the two-stage reduction on any pool, so the band route answers.
        let (n, m) = (1100, TWO_STAGE_MIN_DIM);
        let data = spiked_matrix(n, m, &[900.0, 500.0, 300.0], 5);
        let w = MatrixView::from_row_major(&data, n, m).t();
        let full = decompose(
            w,
            Need::LeadingComponents,
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap();
        let Factors::Gram { v: v_full, .. } = &full.factors else {
            panic!("gram route expected")
        };
        let mut three = |_: &[f64]| -> CoreResult<Option<usize>> { Ok(Some(3)) };
        let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut three).unwrap();
        let Factors::Gram { a, v, av } = &d.factors else {
            panic!("gram route expected")
        };
        let av = av.as_ref().expect("the band route's check keeps A·V");
        assert_eq!((v.ncols(), av.nrows(), av.ncols()), (3, n, 3));
        for (x, y) in d.s.iter().zip(&full.s) {
            assert!((x - y).abs() <= 1e-12 * full.s[0]);
        }
        for j in 0..3 {
            let dot: f64 = (0..m).map(|i| v[(i, j)] * v_full[(i, j)]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-10, "{j}: {dot}");
            for i in (0..n).step_by(97) {
                let direct: f64 = (0..m).map(|l| a[(i, l)] * v[(l, j)]).sum();
                assert!((direct - av[(i, j)]).abs() <= 1e-12 * full.s[0]);
            }
        }
        // A kept set too large to pay: every vector, as before.
        let mut many = |_: &[f64]| -> CoreResult<Option<usize>> { Ok(Some(m / 3)) };
        let d = decompose_leading(w, Decomposition::Auto, &Stop::never(), &mut many).unwrap();
        let Factors::Gram { v, av, .. } = &d.factors else {
            panic!("gram route expected")
        };
        assert_eq!((v.ncols(), av.is_none()), (m, true));
    }

    #[test]
    fn transposed_and_strided_views_agree() {
        let (n, m) = (40, 25);
        let data = random(n, m, 3);
        let v = MatrixView::from_row_major(&data, n, m);
        let a = values(v, Decomposition::Svd);
        let b = values(v.t(), Decomposition::Svd);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12 * a[0]);
        }
        let f32data: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        let c = singular_values(
            MatrixView::from_row_major(&f32data, n, m),
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap();
        for (x, y) in a.iter().zip(&c) {
            assert!((x - y).abs() < 1e-6 * a[0]);
        }
    }

    #[test]
    fn thin_svds_of_both_routes_match_in_both_orientations() {
        for &(n, m) in &[(40usize, 15usize), (15, 40), (30, 30)] {
            let mut rng = SmallRng::seed_from_u64((n * m) as u64);
            let data: Vec<f64> = (0..n * m)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let w = MatrixView::from_row_major(&data, n, m);
            let fast = thin_svd(w, Decomposition::Auto, &Stop::never()).unwrap();
            let slow = thin_svd(w, Decomposition::Svd, &Stop::never()).unwrap();
            assert_eq!((fast.u.nrows(), fast.v.nrows()), (n, m));
            assert_eq!((slow.u.nrows(), slow.v.nrows()), (n, m));
            for (a, b) in fast.s.iter().zip(&slow.s) {
                assert!((a - b).abs() <= 1e-9 * slow.s[0]);
            }
            // Same subspaces: |⟨u_fast, u_slow⟩| = 1 column by column, and W = U S Vᵀ.
            for j in 0..fast.s.len() {
                let dot: f64 = (0..n).map(|i| fast.u[(i, j)] * slow.u[(i, j)]).sum();
                assert!((dot.abs() - 1.0).abs() < 1e-8, "{n}x{m} column {j}: {dot}");
            }
            for svd in [&fast, &slow] {
                for i in 0..n {
                    for j in 0..m {
                        let r: f64 = (0..svd.s.len())
                            .map(|k| svd.u[(i, k)] * svd.s[k] * svd.v[(j, k)])
                            .sum();
                        assert!((r - data[i * m + j]).abs() < 1e-9);
                    }
                }
            }
        }
    }

    #[test]
    fn a_requested_stop_interrupts() {
        let data = random(300, 200, 1);
        let stop = Stop::new();
        stop.request();
        let err = singular_values(
            MatrixView::from_row_major(&data, 300, 200),
            Decomposition::Auto,
            &stop,
        );
        assert_eq!(err.unwrap_err(), CoreError::Interrupted);
    }

    #[test]
    fn working_bytes_grow_with_what_is_kept() {
        let gram = working_bytes(4000, 4000, Need::Values, Decomposition::Gram);
        assert_eq!(gram, 8 * (16_000_000 + 56_000_000));
        let auto = working_bytes(4000, 4000, Need::Values, Decomposition::Auto);
        assert!(
            auto >= gram,
            "a fall-back route is charged the larger estimate"
        );
        assert!(working_bytes(4000, 4000, Need::Vectors, Decomposition::Auto) > auto);
        assert_eq!(
            working_bytes(10, 4000, Need::Values, Decomposition::Auto),
            working_bytes(4000, 10, Need::Values, Decomposition::Auto)
        );
        assert_eq!(
            working_bytes(usize::MAX, 2, Need::Vectors, Decomposition::Svd),
            usize::MAX
        );
    }

    #[test]
    fn rejects_non_finite_and_empty() {
        let data = [1.0, f64::NAN, 3.0, 4.0];
        let err = singular_values(
            MatrixView::from_row_major(&data, 2, 2),
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 0, column 1"), "{err}");
        let empty: [f64; 0] = [];
        assert!(singular_values(
            MatrixView::from_row_major(&empty, 0, 3),
            Decomposition::Auto,
            &Stop::never()
        )
        .is_err());
    }
}
