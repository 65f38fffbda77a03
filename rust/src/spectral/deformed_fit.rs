//! Fitting the deformed Marchenko–Pastur law (`deformed_law.rs`) to a spectrum: σ and the spread τ
//! of correlated noise, then outliers against the fitted bulk's edge.
//!
//! Estimator (quantile matching, as the white-noise "quantile" fit):
//! 1. k = 0 outliers to start;
//! 2. for each candidate (τ, κ), the law's quantiles qᵢ at the ranks of the non-outlier values over
//!    the central 5–95 % give σ(τ, κ) = Σ sᵢqᵢ / Σ qᵢ² (or the given σ) and the relative residual
//!    Σ(sᵢ − σqᵢ)² / Σ sᵢ²; (τ, shape) minimises it (per shape of `POPULATION_SHAPES` a scan of τ,
//!    Brent's method on the two best; later iterations search τ near the previous fit at its shape);
//! 3. outliers are the values above λ₊ plus the Tracy–Widom margin of the fitted law (and below λ₋
//!    minus its margin); repeat 2–3 until the outlier counts settle.
//!
//! The range 5–95 % (not the white-noise fit's 10–90 %) lets the upper part of a wide bulk inform τ.
//!
//! Cost: each law is a solve (`deformed_law.rs`, about 0.5 ms at 256² on one core). The scan's laws
//! are the same for every matrix of a shape (kept by [`DeformedLaw::shared`]); the refinement's are
//! mostly new. Brent's method (parabolic steps, from the best scan point) replaced golden section
//! (#16) with the same stopping width, `TAU_TOLERANCE`·(0.05 + τ): new laws per fit fell from 19
//! to 10 on Gaussian 256² draws, from 54 to 23 on all-MiniLM-L6-v2's layers. The two searches stop
//! at different points of that width: on those sets τ moved by at most 7e-4·τ, σ by 8e-5·σ, edges
//! and thresholds by 4e-4 of themselves; shapes and outlier counts did not change.
//!
//! Failure modes: a bulk whose shape is outside the family (two separated bulks, a heavy power-law
//! tail) is fitted by its nearest member, so its outliers are those of that member: read the KS
//! distance before trusting them. Outliers just above the edge (within the margin) are not found,
//! as for white noise; strong ones well inside the upper 5 % do not move the fit (rank shift only).

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};

use super::deformed_law::{max_spread, DeformedLaw, SharedLaw, POPULATION_SHAPES, WHITE_SHAPE};
use super::mp_law::MpShape;

/// The fitted deformed law.
#[derive(Debug, Clone, PartialEq)]
pub struct DeformedFit {
    /// The fitted law (its spread is τ).
    pub law: DeformedLaw,
    /// The noise level per entry (RMS).
    pub sigma: f64,
    /// Singular values above this are outliers.
    pub spike_threshold: f64,
    /// Below this, low outliers (0 for square matrices).
    pub low_threshold: f64,
    /// Leading values above `spike_threshold`.
    pub n_spikes: usize,
    /// Trailing values below `low_threshold`.
    pub n_low_outliers: usize,
    /// Fit iterations.
    pub iterations: usize,
}

/// Fewer singular values than this cannot pin down σ, τ and a shape; `bulk = "auto"` keeps white
/// noise below it, `bulk = "deformed"` refuses.
pub const MIN_BULK: usize = 16;

/// Most ranks matched.
const MATCHED: usize = 512;

/// Central rank range of the quantile match.
const LEVELS: (f64, f64) = (0.05, 0.95);

/// σ(τ) and the relative residual of the quantile match of `bulk` (descending).
fn quantile_match(law: &DeformedLaw, bulk: &[f64], sigma: Option<f64>) -> Option<(f64, f64)> {
    let mb = bulk.len();
    // At most `MATCHED` ranks, evenly spaced: more add time, not information.
    let stride = (mb / MATCHED).max(1);
    let pairs: Vec<(f64, f64)> = bulk
        .iter()
        .enumerate()
        .step_by(stride)
        .filter_map(|(i, &v)| {
            let p = 1.0 - (i as f64 + 0.5) / mb as f64;
            (LEVELS.0..=LEVELS.1)
                .contains(&p)
                .then(|| (v, law.quantile(p, 1.0)))
        })
        .collect();
    let (num, den, ss) = pairs.iter().fold((0.0, 0.0, 0.0), |(n, d, s), &(v, q)| {
        (n + v * q, d + q * q, s + v * v)
    });
    if !(den > 0.0 && num > 0.0 && ss > 0.0) {
        return None;
    }
    let sig = sigma.unwrap_or(num / den);
    let res = pairs
        .iter()
        .map(|&(v, q)| (v - sig * q).powi(2))
        .sum::<f64>()
        / ss;
    Some((sig, res))
}

/// One population shape's τ scan: (best residual, its index, the shape, the τ grid).
type Scan = (f64, usize, (f64, f64), Vec<f64>);

/// Where the fit takes its laws from: [`DeformedLaw::shared`] (solved once per process), or in
/// tests freshly solved ones, to show that sharing changes no result.
type Laws = fn(MpShape, f64, (f64, f64)) -> SharedLaw;

/// A candidate law's residual, or ∞ where the solver cannot tabulate it (extreme aspect ratios).
fn residual(
    laws: Laws,
    shape: MpShape,
    bulk: &[f64],
    sigma: Option<f64>,
    tau: f64,
    kappa: (f64, f64),
) -> CoreResult<f64> {
    match laws(shape, tau, kappa) {
        Ok(law) => Ok(quantile_match(&law, bulk, sigma).map_or(f64::INFINITY, |(_, r)| r)),
        Err(CoreError::NoConvergence { .. }) => Ok(f64::INFINITY),
        Err(e) => Err(e),
    }
}

/// The τ searches stop when the bracket is narrower than this times (0.05 + its upper end).
const TAU_TOLERANCE: f64 = 2e-3;

/// Brent's minimum of the residual over τ ∈ [a, b] from `start` = (τ, its residual), a point of
/// the bracket whose law is already solved: parabolic steps through the three best points so far,
/// golden-section steps where the parabola is not trusted (Numerical Recipes §10.3). It stops at
/// the bracket width the golden section stopped at, in about half the law solves on these smooth
/// residuals. Returns the best (τ, residual) seen.
fn brent(
    laws: Laws,
    shape: MpShape,
    bulk: &[f64],
    sigma: Option<f64>,
    kappa: (f64, f64),
    (mut a, mut b): (f64, f64),
    (mut x, mut fx): (f64, f64),
) -> CoreResult<(f64, f64)> {
    const CGOLD: f64 = 0.381_966_011_250_105;
    let f = |t: f64| residual(laws, shape, bulk, sigma, t, kappa);
    let (mut w, mut v, mut fw, mut fv) = (x, x, fx, fx);
    // The last step and the one before it.
    let (mut d, mut e) = (0.0f64, 0.0f64);
    loop {
        let xm = 0.5 * (a + b);
        // On exit the bracket is at most 4·tol1 wide: the golden section's stopping width.
        let tol1 = 0.25 * TAU_TOLERANCE * (0.05 + b);
        let tol2 = 2.0 * tol1;
        if (x - xm).abs() <= tol2 - 0.5 * (b - a) {
            return Ok((x, fx));
        }
        let golden_step = |x: f64| if x >= xm { a - x } else { b - x };
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            let e_before = e;
            e = d;
            // Written so that a NaN (an unsolvable law's ∞ residual) takes the golden step.
            if p.abs() < (0.5 * q * e_before).abs() && p > q * (a - x) && p < q * (b - x) {
                d = p / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = tol1.copysign(xm - x);
                }
            } else {
                e = golden_step(x);
                d = CGOLD * e;
            }
        } else {
            e = golden_step(x);
            d = CGOLD * e;
        }
        let u = if d.abs() >= tol1 {
            x + d
        } else {
            x + tol1.copysign(d)
        }
        .clamp(a, b);
        let fu = f(u)?;
        if fu <= fx {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            (v, w, x) = (w, x, u);
            (fv, fw, fx) = (fw, fx, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, w) = (w, u);
                (fv, fw) = (fw, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
}

/// The best (τ, κ) for `bulk`: per population shape a scan of τ (quadratic in τ, the law moves
/// with τ² near white noise), the two best refined by Brent's method from their best scan point;
/// with `previous` only a Brent search near the previous τ at its κ, from it (the outlier
/// iteration moves the fit little).
fn best_law(
    laws: Laws,
    shape: MpShape,
    bulk: &[f64],
    sigma: Option<f64>,
    previous: Option<(f64, (f64, f64))>,
) -> CoreResult<(DeformedLaw, f64)> {
    let mut best; // (residual, τ, κ)
    match previous {
        Some((tau, kappa)) => {
            let w = 0.15 * max_spread(kappa);
            let range = ((tau - w).max(0.0), (tau + w).min(max_spread(kappa)));
            let r_prev = residual(laws, shape, bulk, sigma, tau, kappa)?;
            let (t, r) = brent(laws, shape, bulk, sigma, kappa, range, (tau, r_prev))?;
            best = (r, t, kappa);
        }
        None => {
            const SCAN: usize = 8;
            let white = residual(laws, shape, bulk, sigma, 0.0, WHITE_SHAPE)?;
            best = (white, 0.0, WHITE_SHAPE);
            // (best scan residual, its index, the scan) per shape, the shapes in parallel; the
            // two best are refined, also in parallel.
            let scan = |kappa: (f64, f64)| -> CoreResult<Scan> {
                let top = max_spread(kappa);
                let taus: Vec<f64> = (0..=SCAN)
                    .map(|i| top * (i as f64 / SCAN as f64).powi(2))
                    .collect();
                let mut vals = vec![white];
                for &t in &taus[1..] {
                    vals.push(residual(laws, shape, bulk, sigma, t, kappa)?);
                }
                let k = (0..vals.len())
                    .min_by(|&i, &j| vals[i].total_cmp(&vals[j]))
                    .unwrap_or(0);
                Ok((vals[k], k, kappa, taus))
            };
            let mut scans = POPULATION_SHAPES
                .par_iter()
                .map(|&kappa| scan(kappa))
                .collect::<CoreResult<Vec<_>>>()?;
            scans.sort_by(|a, b| a.0.total_cmp(&b.0));
            scans.truncate(2);
            let refined = scans
                .par_iter()
                .map(|(r_scan, k, kappa, taus)| {
                    let range = (taus[k.saturating_sub(1)], taus[(k + 1).min(SCAN)]);
                    let (t, r) =
                        brent(laws, shape, bulk, sigma, *kappa, range, (taus[*k], *r_scan))?;
                    Ok((r, t, *kappa))
                })
                .collect::<CoreResult<Vec<_>>>()?;
            for candidate in refined {
                if candidate.0 < best.0 {
                    best = candidate;
                }
            }
        }
    }
    let law = std::sync::Arc::unwrap_or_clone(laws(shape, best.1, best.2)?);
    let sig = quantile_match(&law, bulk, sigma).map_or(f64::NAN, |(s, _)| s);
    Ok((law, sig))
}

/// Fits the deformed law to `s` (descending, length `shape.m`, checked by the caller) with the
/// Tracy–Widom margin `tw`; `sigma` fixes σ and fits τ alone.
pub fn fit_deformed(
    s: &[f64],
    shape: MpShape,
    sigma: Option<f64>,
    tw: f64,
) -> CoreResult<DeformedFit> {
    fit_with(DeformedLaw::shared, s, shape, sigma, tw)
}

fn fit_with(
    laws: Laws,
    s: &[f64],
    shape: MpShape,
    sigma: Option<f64>,
    tw: f64,
) -> CoreResult<DeformedFit> {
    let m = s.len();
    if m < MIN_BULK {
        return Err(CoreError::invalid(
            "bulk",
            format!("the deformed fit needs at least {MIN_BULK} singular values to fit a spread and a shape; this {}×{} matrix has {m} (use bulk=\"mp\")", shape.n, shape.m),
        ));
    }
    if s[0] == s[m - 1] {
        return Err(CoreError::invalid(
            "singular values",
            format!("all {m} singular values are equal ({:e}): a bulk of zero width has no spread or shape to fit (use bulk=\"mp\")", s[0]),
        ));
    }
    let (mut k, mut low) = (0usize, 0usize);
    let mut iterations = 0;
    let mut previous = None;
    loop {
        iterations += 1;
        let (law, sig) = best_law(laws, shape, &s[k..m - low], sigma, previous)?;
        previous = Some((law.spread(), law.population_shape()));
        let upper = law.upper_threshold(sig, tw);
        let lower = law.lower_threshold(sig, tw);
        let new_k = s.iter().take_while(|&&v| v > upper).count();
        let new_low = if shape.m < shape.n {
            s[new_k..].iter().rev().take_while(|&&v| v < lower).count()
        } else {
            0
        };
        // Keep at least a quarter of the spectrum as bulk; a fit that calls more outliers
        // stops there rather than chasing its own tail.
        let settled =
            (new_k, new_low) == (k, low) || iterations >= 10 || new_k + new_low > 3 * m / 4;
        if settled || !sig.is_finite() {
            return Ok(DeformedFit {
                law,
                sigma: sig,
                spike_threshold: upper,
                low_threshold: lower,
                n_spikes: new_k,
                n_low_outliers: new_low,
                iterations,
            });
        }
        k = new_k;
        low = new_low;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::matrix::MatrixView;
    use crate::spectral::deformed_law::population;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn correlated(
        n: usize,
        m: usize,
        tau: f64,
        kappa: (f64, f64),
        spikes: &[f64],
        seed: u64,
    ) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let a = population(tau, kappa, n);
        let b = population(tau, kappa, m);
        let mut w: Vec<f64> = (0..n * m)
            .map(|t| {
                let z: f64 = StandardNormal.sample(&mut rng);
                a[t / m].sqrt() * z * b[t % m].sqrt()
            })
            .collect();
        for &theta in spikes {
            let u: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
            let v: Vec<f64> = (0..m).map(|_| StandardNormal.sample(&mut rng)).collect();
            let (nu, nv) = (
                u.iter().map(|x: &f64| x * x).sum::<f64>().sqrt(),
                v.iter().map(|x: &f64| x * x).sum::<f64>().sqrt(),
            );
            for t in 0..n * m {
                w[t] += theta * u[t / m] / nu * v[t % m] / nv;
            }
        }
        singular_values(
            MatrixView::from_row_major(&w, n, m),
            Decomposition::Auto,
            &Stop::never(),
        )
        .unwrap()
    }

    #[test]
    fn recovers_spread_sigma_and_planted_spikes() {
        let (n, m) = (800, 400);
        let shape = MpShape::new(n, m).unwrap();
        for &(tau, kappa) in &[
            (0.0, (1.0, 1.0)),
            (0.4, (1.0, 1.0)),
            (0.8, (1.0, 1.0)),
            (0.7, (0.5, 0.5)),
            (0.5, (4.0, 4.0)),
            (0.9, (0.5, 2.0)),
        ] {
            let edge = DeformedLaw::new(shape, tau, kappa).unwrap().edges(1.0).1;
            let s = correlated(n, m, tau, kappa, &[3.0 * edge, 4.0 * edge], 3);
            let fit = fit_deformed(&s, shape, None, 2.0234).unwrap();
            assert_eq!(fit.n_spikes, 2, "τ = {tau} shape {kappa:?}: {fit:?}");
            assert!((fit.sigma - 1.0).abs() < 0.03, "τ = {tau}: σ {}", fit.sigma);
            assert!(
                (fit.law.spread() - tau).abs() < 0.1,
                "τ = {tau}: {}",
                fit.law.spread()
            );
        }
    }

    #[test]
    fn shared_laws_change_no_result() {
        // Fitted with freshly solved laws, then twice from the process-wide store (the second
        // pass reads every law from it): the same fit, bit for bit. White noise (the fit the
        // white test's false alarms get), correlated noise of several shapes, planted spikes,
        // tall and square, σ fitted and given.
        fn fresh(shape: MpShape, tau: f64, kappa: (f64, f64)) -> SharedLaw {
            DeformedLaw::new(shape, tau, kappa).map(std::sync::Arc::new)
        }
        // (N, M, τ, population shape, planted spikes)
        type Case = (usize, usize, f64, (f64, f64), &'static [f64]);
        let cases: [Case; 5] = [
            (96, 96, 0.0, (1.0, 1.0), &[]),
            (160, 64, 0.5, (2.0, 2.0), &[]),
            (120, 80, 0.8, (0.5, 2.0), &[60.0]),
            (64, 64, 0.6, (0.5, 0.5), &[40.0, 50.0]),
            (300, 40, 0.3, (4.0, 4.0), &[]),
        ];
        for (seed, &(n, m, tau, kappa, spikes)) in cases.iter().enumerate() {
            let shape = MpShape::new(n, m).unwrap();
            let s = correlated(n, m, tau, kappa, spikes, 20 + seed as u64);
            for sigma in [None, Some(1.0)] {
                let reference = fit_with(fresh, &s, shape, sigma, 2.0234).unwrap();
                for pass in 0..2 {
                    let fit = fit_deformed(&s, shape, sigma, 2.0234).unwrap();
                    let bits = |f: &DeformedFit| {
                        [f.sigma, f.spike_threshold, f.low_threshold].map(f64::to_bits)
                    };
                    assert_eq!(fit, reference, "{n}×{m} τ {tau} σ {sigma:?} pass {pass}");
                    assert_eq!(bits(&fit), bits(&reference));
                }
            }
        }
    }

    #[test]
    fn the_tau_search_finds_the_residual_minimum_within_its_tolerance() {
        // Brent's answer against a grid of spacing a tenth of the tolerance around it, at the
        // fitted shape: the grid's best is within the stopping width of the fitted τ, and no
        // better than the fit by more than 1e-3 of the residual (the residual is flat there).
        for (seed, &(n, m, tau, kappa)) in [
            (300, 200, 0.5, (1.0, 1.0)),
            (256, 256, 0.8, (0.5, 2.0)),
            (400, 100, 0.3, (4.0, 4.0)),
        ]
        .iter()
        .enumerate()
        {
            let shape = MpShape::new(n, m).unwrap();
            let s = correlated(n, m, tau, kappa, &[], 40 + seed as u64);
            let fit = fit_deformed(&s, shape, None, 2.0234).unwrap();
            assert_eq!((fit.n_spikes, fit.iterations), (0, 1), "{n}×{m}");
            let (t, k) = (fit.law.spread(), fit.law.population_shape());
            let width = TAU_TOLERANCE * (0.05 + t);
            let r_fit = residual(DeformedLaw::shared, shape, &s, None, t, k).unwrap();
            let grid = (-20..=20)
                .map(|i| (t + i as f64 * width / 10.0).clamp(0.0, max_spread(k)))
                .map(|g| {
                    (
                        residual(DeformedLaw::shared, shape, &s, None, g, k).unwrap(),
                        g,
                    )
                });
            let (r_grid, t_grid) = grid.min_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
            assert!(
                r_fit <= r_grid * (1.0 + 1e-3),
                "{n}×{m}: {r_fit} vs {r_grid} at {t_grid}"
            );
            assert!(
                (t_grid - t).abs() <= width,
                "{n}×{m}: τ {t} vs grid {t_grid}"
            );
        }
    }

    #[test]
    fn a_fit_on_4096_values_is_fast_enough_to_report() {
        // Not a benchmark (benches/ has that): a guard against an accidental 10× slowdown.
        let shape = MpShape::new(4096, 4096).unwrap();
        let law = DeformedLaw::new(shape, 0.5, (1.0, 1.0)).unwrap();
        let s: Vec<f64> = (0..4096)
            .map(|i| law.quantile(1.0 - (i as f64 + 0.5) / 4096.0, 1.0))
            .collect();
        let t = std::time::Instant::now();
        let fit = fit_deformed(&s, shape, None, 2.0234).unwrap();
        eprintln!(
            "fit of 4096 values: {:?} ({} iterations)",
            t.elapsed(),
            fit.iterations
        );
        let (tau, kappa) = (fit.law.spread(), fit.law.population_shape());
        assert_eq!(
            fit.n_spikes, 0,
            "τ {tau} shape {kappa:?} threshold {} s0 {}",
            fit.spike_threshold, s[0]
        );
        assert!(
            (tau - 0.5).abs() < 0.02 && kappa == (1.0, 1.0),
            "τ {tau} shape {kappa:?}"
        );
    }
}
