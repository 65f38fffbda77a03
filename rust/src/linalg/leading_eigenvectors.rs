//! Eigenvectors of the k largest eigenvalues of a symmetric positive semi-definite matrix whose
//! eigenvalues are already known (from the values path: tridiagonalisation + root-free QR), by
//! Chebyshev-filtered block subspace iteration with locking.
//!
//! A filter that keeps only the leading components needs k ≪ n vectors; computing all n (faer's
//! eigensolver: one-stage reduction, tridiagonal vectors, back-transform) costs several n³. Here
//! each step is one product G·X with a block of k + p columns (2n²(k + p) flops, GEMM speed):
//! - the damped interval [a, b] is [λ_min, λ_{k+p+1}] (known), the scale point the largest
//!   unlocked value, so the filtered block never overflows;
//! - the degree of a round is what the weakest kept component still needs to stand 10¹⁴ above
//!   the bulk (known from the values: each step gains a factor e^{acosh x_k}), capped so that the
//!   wanted components of one block differ by at most 10⁸ in amplification (otherwise the weak
//!   ones drop below rounding next to the strong ones);
//!   converged leading pairs are locked and projected out after every product, so the range
//!   shrinks and the degree grows round by round;
//! - each round ends with an orthonormalisation and a Rayleigh–Ritz step.
//!
//! **Check and fall-back rule.** The result is returned only if every vector passes
//! ‖G·vᵢ − λᵢ·vᵢ‖₂ ≤ [`RESIDUAL_TOLERANCE`]·λ_max with λᵢ the *values path's* eigenvalue, and
//! max |VᵀV − I| ≤ [`ORTHOGONALITY_TOLERANCE`]. With V orthonormal, such vectors are exact
//! eigenvectors of some G + E with ‖E‖ ≲ √(2k)·1e-11·λ_max (a backward error far below that of a
//! float32 input, ≈ 1e-7·λ_max), so the reconstruction is as good as the full route's. Otherwise
//! (`None`) the caller computes every vector as before. `None` is also returned up front when the
//! kept set is not separated from the rest — λ_k ≤ b + 1e-3·(b − a), where no polynomial filter
//! of useful degree can tell them apart (and where the k-th vector is ill-determined anyway) — or
//! when the degree the known gap predicts would cost more than [`BUDGET_FACTOR`]·n³ flops, or when
//! k + p > n/4 (the full route is then about as cheap).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par, Side};
use rand::{rngs::SmallRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::error::CoreResult;
use crate::interrupt::Stop;

/// Largest accepted ‖G·v − λ·v‖₂ / λ_max for every returned vector.
pub const RESIDUAL_TOLERANCE: f64 = 1e-11;
/// Largest accepted |VᵀV − I| entry.
pub const ORTHOGONALITY_TOLERANCE: f64 = 1e-10;
/// Largest amplification ratio between the wanted components of one block in one round.
const RANGE_PER_ROUND: f64 = 1e8;
/// Amplification of the weakest kept component over the bulk aimed at (vectors to ≈ 1e-14).
const TARGET_AMPLIFICATION: f64 = 1e14;
/// Lowest degree of a round once the target is reached but a check is not yet passed.
const MIN_DEGREE: usize = 4;
/// Highest degree of one round (more rounds rather than more degree: Rayleigh–Ritz and locking
/// happen once per round).
const MAX_DEGREE: usize = 24;
/// The iteration may spend at most this many n³ flops before giving up (the full route costs
/// about 4–6·n³).
pub const BUDGET_FACTOR: f64 = 1.5;
/// Smallest relative gap (λ_k − b)/(b − a) accepted as separated.
const MIN_SEPARATION: f64 = 1e-3;

/// Extra columns carried in the block: they make the damped interval end at λ_{k+p+1}.
pub fn oversampling(k: usize) -> usize {
    8.max(k / 4)
}

/// Whether the partial route is worth trying for k of n vectors.
pub fn partial_pays(k: usize, n: usize) -> bool {
    k > 0 && 4 * (k + oversampling(k)) <= n
}

/// Eigenvectors (n×k, column i for the i-th largest eigenvalue) of the symmetric `g` (full
/// storage, both triangles), whose eigenvalues in ascending order are `lambda`, or `None` when
/// the kept set is not separated, the budget runs out, or a check fails (see the module docs).
pub fn leading_eigenvectors(
    g: MatRef<'_, f64>,
    lambda: &[f64],
    k: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Option<Mat<f64>>> {
    let n = g.nrows();
    if lambda.len() != n || !partial_pays(k, n) {
        return Ok(None);
    }
    let p = oversampling(k);
    let block = k + p;
    let desc = |i: usize| lambda[n - 1 - i];
    let lmax = desc(0);
    let (lo, hi) = (lambda[0].min(0.0), desc(block));
    let (c, e) = ((hi + lo) / 2.0, (hi - lo) / 2.0);
    if !(lmax > 0.0 && lmax.is_finite()) || e <= 0.0 || desc(k - 1) <= hi + MIN_SEPARATION * 2.0 * e
    {
        return Ok(None);
    }
    let x = |l: f64| (l - c) / e;
    // Log-amplification of the weakest kept component over the bulk that the vectors need, and
    // the steps it takes (each step multiplies it by about e^{acosh x_k}).
    let weak = x(desc(k - 1)).acosh();
    let predicted = TARGET_AMPLIFICATION.ln() / weak;
    let budget = BUDGET_FACTOR * (n as f64).powi(3);
    let step_cost = |cols: usize| 2.0 * (n * n * cols) as f64;
    if predicted * step_cost(block) > budget {
        return Ok(None);
    }
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let mut active = Mat::<f64>::from_fn(n, block, |_, _| StandardNormal.sample(&mut rng));
    let mut locked = Mat::<f64>::zeros(n, 0);
    let mut spent = 0.0;
    let mut achieved = 0.0;
    while locked.ncols() < k {
        stop.check()?;
        let l = locked.ncols();
        // Degree: what the target still needs (at least MIN_DEGREE), capped so that the wanted
        // components of the block (global l..k) differ by at most the range.
        let top = x(desc(l)).acosh();
        let needed = ((TARGET_AMPLIFICATION.ln() - achieved) / weak)
            .ceil()
            .max(0.0) as usize;
        let cap = if top - weak <= 0.0 {
            MAX_DEGREE
        } else {
            ((2.0 * RANGE_PER_ROUND).ln() / (top - weak)).floor() as usize
        };
        let degree = needed.max(MIN_DEGREE).min(cap).clamp(1, MAX_DEGREE);
        achieved += degree as f64 * weak;
        let filtered = chebyshev(
            g,
            active.as_ref(),
            locked.as_ref(),
            degree,
            c,
            e,
            x(desc(l)),
            par,
        );
        spent += (degree + 1) as f64 * step_cost(active.ncols());
        let basis = orthonormal(filtered, locked.as_ref(), par);
        // Rayleigh–Ritz: H = Qᵀ·G·Q, Ritz vectors Q·W in descending order.
        let gq = product(g, basis.as_ref(), par);
        let h = product(basis.transpose(), gq.as_ref(), Par::Seq);
        let h = Mat::from_fn(h.nrows(), h.ncols(), |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
        let Ok(eig) = h.self_adjoint_eigen(Side::Lower) else {
            return Ok(None);
        };
        let b = h.ncols();
        let w = Mat::from_fn(b, b, |i, j| eig.U()[(i, b - 1 - j)]);
        let ritz = product(basis.as_ref(), w.as_ref(), par);
        let g_ritz = product(gq.as_ref(), w.as_ref(), par);
        // Lock the converged leading prefix among the kept ones.
        let mut newly = 0;
        while l + newly < k
            && residual(&ritz, &g_ritz, newly, desc(l + newly)) <= RESIDUAL_TOLERANCE * lmax
        {
            newly += 1;
        }
        if newly > 0 {
            let mut grown = Mat::<f64>::zeros(n, l + newly);
            grown.as_mut().subcols_mut(0, l).copy_from(locked.as_ref());
            grown
                .as_mut()
                .subcols_mut(l, newly)
                .copy_from(ritz.as_ref().subcols(0, newly));
            locked = grown;
        }
        active = ritz.as_ref().subcols(newly, b - newly).to_owned();
        if locked.ncols() < k && spent > budget {
            return Ok(None);
        }
    }
    Ok(verified(g, &locked, lambda, par).then_some(locked))
}

/// A·B into a fresh matrix.
pub(crate) fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(out.as_mut(), Accum::Replace, a, b, 1.0, par);
    out
}

/// X ← X − L·(Lᵀ·X): removes the directions of the orthonormal columns of L (also the partial
/// route's Krylov basis, `spectral/partial.rs`).
pub(crate) fn project_out(x: &mut Mat<f64>, locked: MatRef<'_, f64>, par: Par) {
    if locked.ncols() == 0 {
        return;
    }
    let coeff = product(locked.transpose(), x.as_ref(), par);
    matmul(x.as_mut(), Accum::Add, locked, coeff.as_ref(), -1.0, par);
}

/// p_d(G)·X for the Chebyshev polynomial of degree d on the damped interval c ± e, scaled to 1 at
/// x_top (so nothing overflows), with the locked directions projected out after every product.
#[allow(clippy::too_many_arguments)]
fn chebyshev(
    g: MatRef<'_, f64>,
    x0: MatRef<'_, f64>,
    locked: MatRef<'_, f64>,
    degree: usize,
    c: f64,
    e: f64,
    x_top: f64,
    par: Par,
) -> Mat<f64> {
    // p_{j+1} = 2σ_{j+1}·(G − c)/e·p_j − σ_j·σ_{j+1}·p_{j−1}, σ_{j+1} = 1/(2·x_top − σ_j).
    let shifted = |y: &Mat<f64>, scale: f64| {
        let mut out = product(g, y.as_ref(), par);
        let f = scale / e;
        for j in 0..out.ncols() {
            let (o, yj) = (out.col_as_slice_mut(j), y.col_as_slice(j));
            o.iter_mut()
                .zip(yj)
                .for_each(|(o, &y)| *o = (*o - c * y) * f);
        }
        out
    };
    let mut prev = x0.to_owned();
    project_out(&mut prev, locked, par);
    let sigma1 = 1.0 / x_top;
    let mut sigma = sigma1;
    let mut cur = shifted(&prev, sigma1);
    project_out(&mut cur, locked, par);
    for _ in 1..degree {
        let next_sigma = 1.0 / (2.0 / sigma1 - sigma);
        let mut next = shifted(&cur, 2.0 * next_sigma);
        let f = sigma * next_sigma;
        for j in 0..next.ncols() {
            let (o, p) = (next.col_as_slice_mut(j), prev.col_as_slice(j));
            o.iter_mut().zip(p).for_each(|(o, &p)| *o -= f * p);
        }
        project_out(&mut next, locked, par);
        prev = std::mem::replace(&mut cur, next);
        sigma = next_sigma;
    }
    cur
}

/// An orthonormal basis of span(Y) orthogonal to the locked columns (projection twice, then QR).
pub(crate) fn orthonormal(mut y: Mat<f64>, locked: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    project_out(&mut y, locked, par);
    let mut q = y.qr().compute_thin_Q();
    project_out(&mut q, locked, par);
    q.qr().compute_thin_Q()
}

/// ‖G·y_j − λ·y_j‖₂ for column j.
fn residual(y: &Mat<f64>, gy: &Mat<f64>, j: usize, lambda: f64) -> f64 {
    y.col_as_slice(j)
        .iter()
        .zip(gy.col_as_slice(j))
        .map(|(&a, &b)| (b - lambda * a) * (b - lambda * a))
        .sum::<f64>()
        .sqrt()
}

/// The final check of every vector (module docs): residual against the values path's eigenvalue
/// and orthonormality.
pub fn verified(g: MatRef<'_, f64>, v: &Mat<f64>, lambda: &[f64], par: Par) -> bool {
    let (n, k) = (v.nrows(), v.ncols());
    let lmax = lambda.last().copied().unwrap_or(0.0);
    if lmax.is_nan()
        || lmax <= 0.0
        || v.as_ref()
            .col_iter()
            .any(|c| c.iter().any(|x| !x.is_finite()))
    {
        return false;
    }
    let gv = product(g, v.as_ref(), par);
    let residuals_pass =
        (0..k).all(|j| residual(v, &gv, j, lambda[n - 1 - j]) <= RESIDUAL_TOLERANCE * lmax);
    let gram = product(v.transpose(), v.as_ref(), Par::Seq);
    let orthonormal = (0..k).all(|i| {
        (0..k).all(|j| {
            let want = if i == j { 1.0 } else { 0.0 };
            (gram[(i, j)] - want).abs() <= ORTHOGONALITY_TOLERANCE
        })
    });
    residuals_pass && orthonormal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::symmetric_eigenvalues::symmetric_eigenvalues;
    use rand::Rng;

    /// Q·diag(λ)·Qᵀ (full storage) for a random orthogonal Q, and Q with columns in λ's order.
    fn with_eigenvalues(lambda: &[f64], seed: u64) -> (Mat<f64>, Mat<f64>) {
        let m = lambda.len();
        let mut rng = SmallRng::seed_from_u64(seed);
        let x = Mat::<f64>::from_fn(m, m, |_, _| rng.sample(StandardNormal));
        let q = x.qr().compute_Q();
        let scaled = Mat::from_fn(m, m, |i, j| q[(i, j)] * lambda[j]);
        (product(scaled.as_ref(), q.transpose(), Par::Seq), q)
    }

    /// Bulk uniform in [1, 2] plus the given spikes; returns (G, Q, the values path's λ ascending).
    fn spiked(m: usize, spikes: &[f64], seed: u64) -> (Mat<f64>, Mat<f64>, Vec<f64>) {
        let mut rng = SmallRng::seed_from_u64(seed + 100);
        let mut lambda: Vec<f64> = (0..m - spikes.len())
            .map(|_| 1.0 + rng.random::<f64>())
            .chain(spikes.iter().copied())
            .collect();
        lambda.sort_by(f64::total_cmp);
        let (g, q) = with_eigenvalues(&lambda, seed);
        let mut lower = g.clone();
        let computed = symmetric_eigenvalues(&mut lower, Par::Seq, &Stop::never()).unwrap();
        (g, q, computed)
    }

    #[test]
    fn finds_widely_spread_leading_vectors() {
        let m = 400;
        let spikes = [5.0, 8.0, 40.0, 300.0, 2000.0];
        let (g, q, lambda) = spiked(m, &spikes, 1);
        let k = spikes.len();
        let v = leading_eigenvectors(g.as_ref(), &lambda, k, Par::Seq, &Stop::never())
            .unwrap()
            .expect("separated spikes take the partial route");
        assert_eq!((v.nrows(), v.ncols()), (m, k));
        assert!(verified(g.as_ref(), &v, &lambda, Par::Seq));
        for j in 0..k {
            // Column j pairs with the j-th largest eigenvalue: |⟨v_j, q_{m−1−j}⟩| = 1.
            let dot: f64 = (0..m).map(|i| v[(i, j)] * q[(i, m - 1 - j)]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-12, "{j}: {dot}");
        }
        // Fewer kept than spikes: still the leading ones.
        let v = leading_eigenvectors(g.as_ref(), &lambda, 2, Par::Seq, &Stop::never())
            .unwrap()
            .unwrap();
        assert!(verified(g.as_ref(), &v, &lambda, Par::Seq));
    }

    #[test]
    fn declines_when_the_kept_set_is_not_separated_or_too_large() {
        let m = 400;
        let (g, _, lambda) = spiked(m, &[40.0, 300.0], 2);
        // Keeping 3 cuts inside the bulk: λ₃ is not separated from λ_{k+p+1}.
        let none = leading_eigenvectors(g.as_ref(), &lambda, 3, Par::Seq, &Stop::never()).unwrap();
        assert!(none.is_none());
        assert!(!partial_pays(100, m));
        let none = leading_eigenvectors(g.as_ref(), &lambda, 100, Par::Seq, &Stop::never());
        assert!(none.unwrap().is_none());
        // A spike barely above the bulk would need more steps than the budget allows.
        let (g, _, lambda) = spiked(m, &[2.02, 300.0], 3);
        let none = leading_eigenvectors(g.as_ref(), &lambda, 2, Par::Seq, &Stop::never()).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn the_check_rejects_vectors_of_other_values() {
        let m = 300;
        let (g, _, lambda) = spiked(m, &[30.0, 60.0, 200.0], 4);
        let v = leading_eigenvectors(g.as_ref(), &lambda, 3, Par::Seq, &Stop::never())
            .unwrap()
            .unwrap();
        assert!(verified(g.as_ref(), &v, &lambda, Par::Seq));
        // Values off by 1e-9·λ_max: the residuals exceed the tolerance, so the route declines.
        let mut wrong = lambda.clone();
        wrong[m - 2] += 1e-9 * lambda[m - 1];
        assert!(!verified(g.as_ref(), &v, &wrong, Par::Seq));
        let declined =
            leading_eigenvectors(g.as_ref(), &wrong, 3, Par::Seq, &Stop::never()).unwrap();
        assert!(declined.is_none());
        // Two columns swapped pair with the wrong values; a repeated column is not orthonormal.
        let swapped = Mat::from_fn(m, 3, |i, j| v[(i, [1, 0, 2][j])]);
        assert!(!verified(g.as_ref(), &swapped, &lambda, Par::Seq));
        let repeated = Mat::from_fn(m, 2, |i, _| v[(i, 0)]);
        let mut same = lambda.clone();
        same[m - 2] = same[m - 1];
        assert!(!verified(g.as_ref(), &repeated, &same, Par::Seq));
    }

    #[test]
    fn a_requested_stop_interrupts() {
        let (g, _, lambda) = spiked(200, &[50.0], 5);
        let stop = Stop::new();
        stop.request();
        let err = leading_eigenvectors(g.as_ref(), &lambda, 1, Par::Seq, &stop);
        assert!(err.is_err());
    }
}
