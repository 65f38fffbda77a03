//! The smallest singular values of an ill-conditioned matrix at about the Gram route's cost, with
//! an SVD's accuracy: exact deflation of zero columns, and a Rayleigh–Ritz refinement of the few
//! values whose Gram eigenvalues fall below [`GRAM_CONDITION_LIMIT`].
//!
//! **Zero columns.** A and A with its exactly zero columns removed have the same non-zero
//! singular values (AᵀA is block diagonal with a zero block), and each zero column adds one exact
//! zero. Column order does not change singular values, so the zero columns are swapped to the end
//! of the f64 copy and the copy is truncated ([`zero_columns_last`]): O(N) per zero column, no new
//! copy; the check reads a column only up to its first non-zero entry.
//!
//! **Refinement.** Let G = AᵀA (M×M) with eigenvalues λ₁ ≤ … ≤ λ_M, and let k of them fall below
//! τ = [`GRAM_CONDITION_LIMIT`]·λ_M (one Sturm count on the tridiagonal form). The Gram route's
//! √λᵢ carries an absolute error of about ε·λ_M/(2σᵢ), too much for those k. They are recomputed:
//! 1. V: an orthonormal basis (M×q, q = k + margin) of the computed G's eigenspace of its q
//!    smallest eigenvalues, the margin taking the subspace up to the first eigenvalue
//!    λ_{q+1} ≥ [`RITZ_GAP`]·λ_M (at least [`MIN_MARGIN`] more): subspace inverse iteration on the
//!    band form B = QᵀGQ the two-stage reduction leaves behind (one banded LU of B + δI,
//!    δ = [`SHIFT_ULPS`]·ε·λ_M, a few block solves, each followed by a QR), mapped back by the
//!    reduction's stage-1 reflectors (V = Q·X).
//! 2. The singular values of A·V (N×q, formed in f64 from A itself, not from G), by the values
//!    SVD (QR first): their k smallest replace the Gram route's k smallest.
//!
//! Why this is as accurate as an SVD of A. Write A = Σ σᵢ·uᵢ·vᵢᵀ. The computed V is an exact
//! eigenspace of G + E with ‖E‖ ≈ ε·λ_M (the Gram product's rounding and the reduction's backward
//! error), so a target vᵢ (λᵢ < τ) lies in span V up to an angle of about ‖E‖/(λ_{q+1} − τ) ≤
//! ε/[`RITZ_GAP`] (Davis–Kahan), and V couples to a direction vⱼ outside it by about
//! |vⱼᵀEvᵢ|/λⱼ. Such a coupling cⱼ enters ‖A·x‖² = Σ σⱼ²·(vⱼᵀx)² as cⱼ²·σⱼ²: second order, so
//! the Ritz values (the singular values of A·V, V orthonormal) move by about
//! (Σⱼ cⱼ²·σⱼ²)^½ ≈ ε·σ_max·(Σⱼ λ_M/λⱼ·(vⱼᵀEvᵢ/(ε·λ_M))²)^½ — a few ε·σ_max when every vⱼ
//! outside the subspace has λⱼ ≥ RITZ_GAP·λ_M and E is not aligned with the pair (it is rounding
//! noise). The product A·V itself carries an absolute error of about ε·σ_max: the backward error
//! of LAPACK's dgesdd. The Ritz values are upper bounds of the true values (Cauchy interlacing:
//! the j-th smallest singular value of A·V is at least the j-th smallest of A), so the error is
//! one-sided. Inverse iteration converges for the targets by (τ + δ)/(λ_{q+1} + δ) ≤ ~1e-4 per
//! solve; [`iterations`] takes as many solves as bring a random start to ε.
//!
//! `decomposition` calls the refinement wherever the two-stage reduction ran (it keeps its band
//! form and reflectors for free), and below that size when negligible columns announce the
//! values before the Gram product.
//!
//! Measured against numpy's gesdd (benches/ill_conditioned_accuracy.py, largest relative error of
//! the smallest 1 %): within a factor of about 2 of the disagreement between two LAPACK SVDs of the
//! same matrix on one, five tiny columns and (called directly) on a geometric decay over the last
//! 5 % of the spectrum. A decay over the whole spectrum needs a subspace of most of M (the margin never
//! reaches RITZ_GAP), which [`REFINE_MAX_FRACTION`] sends to the SVD, as it does rank-deficient
//! products (k ≈ M/2).

use faer::reborrow::ReborrowMut;
use faer::{Mat, MatMut, MatRef, Par};
use rand::{rngs::SmallRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::linalg::band_eigenvectors::{BandLu, LowerBand};
use crate::linalg::decomposition::{descending_roots, svd_singular_values, GRAM_CONDITION_LIMIT};
use crate::linalg::leading_eigenvectors::product;
use crate::linalg::symmetric_eigenvalues::{BandReflectors, Tridiagonal};
use crate::linalg::tridiagonal_eigenvalues::{eigenvalues_below, largest_eigenvalue_lower_bound};

/// The refinement's subspace reaches up to the first eigenvalue at least this times λ_max: the
/// targets' angle to the computed subspace is then about ε/RITZ_GAP, and inverse iteration
/// converges by about GRAM_CONDITION_LIMIT/RITZ_GAP = 1e-4 per solve.
pub const RITZ_GAP: f64 = 1e-6;
/// At least this many eigenvalues above the targets join the subspace.
pub const MIN_MARGIN: usize = 8;
/// The refinement pays while its subspace has at most this fraction of M columns (above, the
/// SVD is cheaper: see [`refinement_pays`]).
pub const REFINE_MAX_FRACTION: f64 = 1.0 / 6.0;
/// The inverse iteration's shift below zero, in units of ε·λ_max: B + δI is positive definite
/// beyond the reduction's rounding, and δ ≪ τ keeps the convergence rate.
pub const SHIFT_ULPS: f64 = 1e3;
/// Most solves the inverse iteration takes.
const MAX_ITERATIONS: usize = 8;

/// Moves the exactly zero columns of `a` to its end (their order among themselves, and the other
/// columns' order, may change) and returns how many there are.
pub fn zero_columns_last(a: &mut Mat<f64>) -> usize {
    let is_zero = |a: &Mat<f64>, j: usize| a.col_as_slice(j).iter().all(|&x| x == 0.0);
    let mut end = a.ncols();
    let mut j = 0;
    while j < end {
        if is_zero(a, j) {
            end -= 1;
            faer::perm::swap_cols_idx(a.as_mut(), j, end);
        } else {
            j += 1;
        }
    }
    a.ncols() - end
}

/// Whether refining a subspace of `q` columns of an M-column Gram matrix costs less than the SVD.
pub fn refinement_pays(q: usize, m: usize) -> bool {
    q as f64 <= REFINE_MAX_FRACTION * m as f64
}

/// The refinement of a tridiagonal form that failed the condition check: `targets` values below
/// the limit, a subspace of `subspace` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refinement {
    /// Eigenvalues below GRAM_CONDITION_LIMIT·λ_max.
    pub targets: usize,
    /// Columns of the subspace (targets + margin).
    pub subspace: usize,
}

/// The refinement for the tridiagonal form `t` of a Gram matrix, decided by Sturm counts before
/// its eigenvalues (O(M) each), or `None` when it does not pay (the SVD answers).
pub fn plan_refinement(t: &Tridiagonal) -> Option<Refinement> {
    let m = t.diag.len();
    let lmax = largest_eigenvalue_lower_bound(&t.diag, &t.subdiag);
    if !(lmax > 0.0 && lmax.is_finite()) {
        return None;
    }
    let targets = eigenvalues_below(&t.diag, &t.subdiag, GRAM_CONDITION_LIMIT * lmax);
    let below_gap = eigenvalues_below(&t.diag, &t.subdiag, RITZ_GAP * lmax);
    let subspace = below_gap.max(targets + MIN_MARGIN).min(m);
    (subspace < m && refinement_pays(subspace, m)).then_some(Refinement { targets, subspace })
}

/// Inverse iterations that take a random start's components outside the targets' space to ε
/// relative, at the rate (τ + δ)/(λ_{q+1} + δ) (eigenvalues ascending in `lambda`).
pub fn iterations(lambda: &[f64], subspace: usize) -> usize {
    let m = lambda.len();
    let lmax = lambda[m - 1];
    let delta = SHIFT_ULPS * f64::EPSILON * lmax;
    let rate = (GRAM_CONDITION_LIMIT * lmax + delta) / (lambda[subspace].max(0.0) + delta);
    if !(rate > 0.0 && rate < 1.0) {
        return MAX_ITERATIONS;
    }
    // rate^(t−1) · √M ≤ ε, one solve for the start's random angle and one for the margin
    // ([`converged`] counts the values it brings to ε as well).
    let t = ((f64::EPSILON.ln() - 0.5 * (m as f64).ln()) / rate.ln()).ceil() as usize + 2;
    t.clamp(2, MAX_ITERATIONS)
}

/// How many of the `subspace` smallest eigenvalues (ascending in `lambda`) the [`iterations`]
/// bring to ε: those with ((λⱼ + δ)/(λ_{q+1} + δ))^(t−1)·√M ≤ ε.
pub fn converged(lambda: &[f64], subspace: usize) -> usize {
    let m = lambda.len();
    let lmax = lambda[m - 1];
    let delta = SHIFT_ULPS * f64::EPSILON * lmax;
    let t = iterations(lambda, subspace);
    let rate = (f64::EPSILON / (m as f64).sqrt()).powf(1.0 / (t - 1) as f64);
    let outside = lambda[subspace].max(0.0) + delta;
    lambda[..subspace]
        .iter()
        .take_while(|&&l| l.max(0.0) + delta <= rate * outside)
        .count()
}

/// Every singular value (descending) of the tall `a` whose Gram matrix reduced to the band form in
/// `band` (lower triangle, half-width `reflectors.band_width`, V below it; both freed before A·V
/// is formed, so the peak stays within the Gram route's) with eigenvalues `lambda`
/// (ascending): the Gram route's values with the `plan.targets` smallest replaced by the
/// Rayleigh–Ritz values of A on the computed eigenspace of the `plan.subspace` smallest (see the
/// module docs). `None` when a solve produced a non-finite vector (the SVD answers).
pub fn refined_values(
    a: MatRef<'_, f64>,
    band: Mat<f64>,
    reflectors: BandReflectors,
    lambda: &[f64],
    plan: Refinement,
    par: Par,
    stop: &Stop,
) -> CoreResult<Option<Vec<f64>>> {
    let m = lambda.len();
    let lmax = lambda[m - 1];
    let mut s = descending_roots(lambda);
    let q = plan.subspace;
    // The computed eigenvalues decide which values are replaced (the Sturm count's λ_max was a
    // bound): those below the limit, and the margin's that converge as fast (more accurate than
    // their Gram values too: about ε·σ_max absolute against ε·λ_max/(2σ)).
    let targets = lambda
        .iter()
        .take_while(|&&l| l < GRAM_CONDITION_LIMIT * lmax)
        .count();
    if targets == 0 || !(lmax > 0.0 && lmax.is_finite()) {
        return Ok(Some(s));
    }
    let replaced = converged(lambda, q);
    if replaced < targets {
        return Ok(None);
    }
    let x = smallest_eigenspace(band.as_ref(), reflectors.band_width, lambda, q, par, stop)?;
    let Some(mut x) = x else {
        return Ok(None);
    };
    stop.check()?;
    reflectors.apply(band.as_ref(), x.as_mut(), par);
    drop((band, reflectors));
    let mut av = product(a, x.as_ref(), par);
    drop(x);
    stop.check()?;
    let ritz = svd_singular_values(&mut av, par, stop)?;
    for i in 0..replaced {
        s[m - 1 - i] = ritz[q - 1 - i];
    }
    // Ritz values bound the true ones from above; keep the order if one passes a Gram value.
    s.sort_by(|x, y| y.total_cmp(x));
    Ok(Some(s))
}

/// An orthonormal basis (M×q) of the band matrix's eigenspace of its q smallest eigenvalues, by
/// subspace inverse iteration with one banded LU of B + δI; `None` if a solve is not finite.
fn smallest_eigenspace(
    band: MatRef<'_, f64>,
    b: usize,
    lambda: &[f64],
    q: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Option<Mat<f64>>> {
    use rayon::prelude::*;
    let m = band.nrows();
    let lmax = lambda[m - 1];
    let delta = SHIFT_ULPS * f64::EPSILON * lmax;
    let lu = BandLu::factor(&LowerBand::new(band, b), -delta, lmax);
    let mut rng = SmallRng::seed_from_u64(0x5a11);
    let mut x = Mat::<f64>::from_fn(m, q, |_, _| StandardNormal.sample(&mut rng));
    let solve = |mut c: MatMut<'_, f64>| {
        for j in 0..c.ncols() {
            let col = c.rb_mut().col_mut(j);
            lu.solve(
                col.try_as_col_major_mut()
                    .expect("column-major")
                    .as_slice_mut(),
            );
        }
    };
    for _ in 0..iterations(lambda, q) {
        stop.check()?;
        if par.degree() > 1 {
            x.as_mut().par_col_chunks_mut(1).for_each(solve);
        } else {
            solve(x.as_mut());
        }
        let finite = (0..q).all(|j| x.col_as_slice(j).iter().all(|v| v.is_finite()));
        if !finite {
            return Ok(None);
        }
        // Columns grow by up to 1/δ per solve: scale before the QR.
        for j in 0..q {
            let c = x.col_as_slice_mut(j);
            let big = c.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
            if big > 0.0 {
                c.iter_mut().for_each(|v| *v /= big);
            }
        }
        x = x.qr().compute_thin_Q();
    }
    Ok(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::decomposition::{
        decompose, gram_lower, tridiagonal_condition_passes, Decomposition, Need, Route,
    };
    use crate::linalg::symmetric_eigenvalues::{tridiagonalise_keeping_band, TWO_STAGE_MIN_DIM};
    use crate::linalg::tridiagonal_eigenvalues::tridiagonal_eigenvalues;
    use crate::matrix::MatrixView;
    use rand::Rng;

    fn gaussian(n: usize, m: usize, seed: u64) -> Mat<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        Mat::from_fn(n, m, |_, _| rng.sample(StandardNormal))
    }

    /// U·diag(s)·Vᵀ (n×m) with random orthogonal U, V.
    fn with_singular_values(n: usize, s: &[f64], seed: u64) -> Mat<f64> {
        let m = s.len();
        let u = gaussian(n, m, seed).qr().compute_thin_Q();
        let v = gaussian(m, m, seed + 1).qr().compute_Q();
        let us = Mat::from_fn(n, m, |i, k| u[(i, k)] * s[k]);
        &us * v.transpose()
    }

    /// Geometric decay from 1 to 1e-9 over the last 5 % of an otherwise flat spectrum.
    fn decaying_tail(m: usize) -> Vec<f64> {
        let q = m / 20;
        (0..m)
            .map(|i| {
                if i < m - q {
                    1.0 - 0.5 * i as f64 / m as f64
                } else {
                    0.5 * 10f64.powf(-9.0 * (i + q + 1 - m) as f64 / q as f64)
                }
            })
            .collect()
    }

    fn row_major(a: &Mat<f64>) -> Vec<f64> {
        (0..a.nrows())
            .flat_map(|i| (0..a.ncols()).map(move |j| a[(i, j)]))
            .collect()
    }

    /// The values of `a` through the refinement, called directly (any size), with its plan.
    fn refine(a: &Mat<f64>, par: Par) -> Option<(Vec<f64>, Refinement)> {
        let mut g = gram_lower(a.as_ref(), par);
        let (t, r) = tridiagonalise_keeping_band(&mut g, par, &Stop::never()).unwrap();
        assert!(!tridiagonal_condition_passes(&t));
        let plan = plan_refinement(&t)?;
        let lambda = tridiagonal_eigenvalues(&t.diag, &t.subdiag).unwrap();
        refined_values(a.as_ref(), g, r, &lambda, plan, par, &Stop::never())
            .unwrap()
            .map(|s| (s, plan))
    }

    /// Largest |s − reference| over the `last` smallest values, in units of s_max.
    fn smallest_error(s: &[f64], reference: &[f64], last: usize) -> f64 {
        let m = reference.len();
        (m - last..m)
            .map(|i| (s[i] - reference[i]).abs() / reference[0])
            .fold(0.0, f64::max)
    }

    #[test]
    fn zero_columns_move_to_the_end_and_nothing_else_changes() {
        let mut a = gaussian(7, 6, 1);
        let before = a.clone();
        for j in [0, 3, 5] {
            a.col_mut(j).fill(0.0);
        }
        a[(6, 3)] = -0.0;
        assert_eq!(zero_columns_last(&mut a), 3);
        for j in 0..3 {
            let kept = a.col_as_slice(j);
            assert!(
                [1, 2, 4].iter().any(|&c| before.col_as_slice(c) == kept),
                "{j}"
            );
        }
        assert!((3..6).all(|j| a.col_as_slice(j).iter().all(|&x| x == 0.0)));
        assert_eq!(zero_columns_last(&mut gaussian(5, 4, 2)), 0);
    }

    #[test]
    fn zero_columns_give_exact_zeros_and_the_other_values_of_the_rest() {
        let (n, m) = (60, 25);
        let mut a = gaussian(n, m, 3);
        a.col_mut(4).fill(0.0);
        a.col_mut(11).fill(0.0);
        let kept: Vec<usize> = (0..m).filter(|j| ![4, 11].contains(j)).collect();
        let rest = Mat::from_fn(n, m - 2, |i, j| a[(i, kept[j])]);
        let want = rest.singular_values().unwrap();
        let data = row_major(&a);
        for w in [
            MatrixView::from_row_major(&data, n, m),
            MatrixView::from_row_major(&data, n, m).t(),
        ] {
            for route in [Decomposition::Auto, Decomposition::Gram, Decomposition::Svd] {
                let d = decompose(w, Need::Values, route, &Stop::never()).unwrap();
                assert_eq!(&d.s[m - 2..], &[0.0, 0.0], "{route:?}");
                for (x, y) in d.s.iter().zip(&want) {
                    assert!((x - y).abs() <= 1e-12 * want[0], "{route:?}: {x} {y}");
                }
                if route == Decomposition::Auto {
                    assert_eq!(d.route, Route::Gram);
                }
            }
        }
        let zero = vec![0.0; n * m];
        let s = decompose(
            MatrixView::from_row_major(&zero, n, m),
            Need::Values,
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap();
        assert_eq!(s.s, vec![0.0; m]);
    }

    #[test]
    fn tiny_columns_are_refined_to_svd_accuracy_by_the_automatic_route() {
        // Announced by negligible columns, so refined below the two-stage size too.
        let (n, m) = (300, 120);
        let mut a = gaussian(n, m, 4);
        for (j, scale) in [1e-6, 1e-7, 3e-8, 1e-8, 1e-9].iter().enumerate() {
            a.col_mut(3 * j + 1).iter_mut().for_each(|x| *x *= scale);
        }
        let want = a.singular_values().unwrap();
        let data = row_major(&a);
        let d = decompose(
            MatrixView::from_row_major(&data, n, m),
            Need::Values,
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap();
        assert_eq!(d.route, Route::GramRefined);
        // About ε·s_max absolute on the five refined values, as faer's SVD; the Gram route's
        // √λ would be off by ε·λ_max/(2σ), up to 1e+1 relative here.
        assert!(
            smallest_error(&d.s, &want, 5) <= 2e-15 * (m as f64).sqrt(),
            "{}",
            smallest_error(&d.s, &want, 5)
        );
        for (x, y) in d.s.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-6 * y, "{x} {y}");
        }
        // Deterministic.
        let again = decompose(
            MatrixView::from_row_major(&data, n, m),
            Need::Values,
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap();
        assert_eq!(again.s, d.s);
    }

    #[test]
    fn a_decaying_tail_is_refined_on_one_and_two_threads_alike() {
        let (n, m) = (320, 200);
        let a = with_singular_values(n, &decaying_tail(m), 5);
        let want = a.singular_values().unwrap();
        let (seq, plan) = refine(&a, Par::Seq).expect("a few values below the limit pay");
        assert!(plan.targets >= 5 && plan.subspace <= m / 4, "{plan:?}");
        let par = crate::parallel::install(|| refine(&a, Par::rayon(2)))
            .unwrap()
            .unwrap()
            .0;
        for s in [&seq, &par] {
            assert!(smallest_error(s, &want, plan.targets) <= 2e-15 * (m as f64).sqrt());
            for (x, y) in s.iter().zip(&want) {
                assert!((x - y).abs() <= 1e-6 * y, "{x} {y}");
            }
        }
    }

    #[test]
    fn a_decaying_tail_at_the_two_stage_size_is_refined_by_the_automatic_route() {
        // No negligible column announces it: the Sturm count finds it after a two-stage reduction,
        // whose band form and reflectors are kept for free, so the refinement answers (before:
        // the SVD, 1.5-2× the Gram route's time).
        let (n, m) = (1100, TWO_STAGE_MIN_DIM); // two-stage on one thread and on several
        let a = with_singular_values(n, &decaying_tail(m), 9);
        let want = a.singular_values().unwrap();
        let data = row_major(&a);
        for w in [
            MatrixView::from_row_major(&data, n, m),
            MatrixView::from_row_major(&data, n, m).t(),
        ] {
            let d = decompose(w, Need::Values, Decomposition::Auto, &Stop::never()).unwrap();
            assert_eq!(d.route, Route::GramRefined);
            let tail = want.iter().filter(|&&x| x < 1e-5 * want[0]).count();
            assert!(tail >= 5, "{tail}");
            assert!(smallest_error(&d.s, &want, tail) <= 2e-15 * (m as f64).sqrt());
            for (x, y) in d.s.iter().zip(&want) {
                assert!((x - y).abs() <= 1e-6 * y, "{x} {y}");
            }
        }
    }

    #[test]
    fn too_many_small_values_go_to_the_svd() {
        let (n, m) = (200, 120);
        let decay: Vec<f64> = (0..m)
            .map(|i| 10f64.powf(-9.0 * i as f64 / m as f64))
            .collect();
        let rank_half = &gaussian(n, m / 2, 6) * gaussian(m / 2, m, 7);
        for a in [with_singular_values(n, &decay, 8), rank_half] {
            assert!(refine(&a, Par::Seq).is_none());
        }
    }

    #[test]
    fn iterations_follow_the_gap() {
        let m = 100;
        let mut lambda: Vec<f64> = (0..m).map(|i| 1.0 + i as f64).collect();
        lambda[0] = 0.0;
        let wide = iterations(&lambda, 9);
        lambda[9] = 1e-6 * lambda[m - 1];
        let narrow = iterations(&lambda, 9);
        assert!(
            2 <= wide && wide < narrow && narrow <= MAX_ITERATIONS,
            "{wide} {narrow}"
        );
        assert!(converged(&lambda, 9) >= 1);
    }
}
