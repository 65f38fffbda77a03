//! Level statistics of a spectrum: the consecutive-spacing ratio and unfolded spacings.
//!
//! Levels are the eigenvalues λ = s² of WᵀW. With spacings δᵢ = λᵢ₊₁ − λᵢ of the ascending levels,
//! rᵢ = min(δᵢ, δᵢ₊₁)/max(δᵢ, δᵢ₊₁) needs no unfolding (Oganesyan & Huse 2007; Atas et al. 2013):
//! ⟨r⟩ ≈ 0.5307 for GOE/Wishart statistics and 2 ln 2 − 1 ≈ 0.3863 for Poisson (uncorrelated) levels.
//!
//! Unfolding maps levels to ξᵢ = N̄(λᵢ), a smooth counting function, so that spacings have mean 1.
//! `Unfolding::Cdf` takes N̄ from a known law (the fitted MP CDF); `Unfolding::Gaussian { a }` uses a
//! Gaussian-broadened staircase N̄(λ) = Σⱼ Φ((λ − λⱼ)/wⱼ) with wⱼ = a·(local mean spacing at j), the
//! smoothing of Staats, Thamm & Rosenow.
//!
//! Scale: ratios and unfolded spacings are invariant under s → c·s, but the levels s² overflow
//! beyond s ≈ 1e154 and underflow below 1e-154. `level_statistics` and `bulk_level_statistics`
//! therefore take singular values and square s/c, c = 2^e the power of two just below the largest
//! (bulk) value, so the division is exact and the levels lie in [0, 4); the MP CDF is evaluated at
//! s/c with σ/c. Their results at any scale equal those at scale 1 up to the rounding of the input.
//! Levels that are all equal have no defined ratio: an error, not ⟨r⟩ = NaN.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::stats::normal_cdf;

use super::noise_fit::{check_descending, check_spectrum, NoiseFit};

/// ⟨r⟩ of GOE (Wishart) levels (Atas et al. 2013).
pub const GOE_MEAN_RATIO: f64 = 0.5307;
/// ⟨r⟩ of uncorrelated (Poisson) levels, 2 ln 2 − 1.
pub const POISSON_MEAN_RATIO: f64 = 0.386_294_361_119_890_6;
/// Default width, in local mean spacings, of the Gaussian unfolding.
pub const DEFAULT_UNFOLDING_WINDOW: usize = 15;

/// Level statistics of a spectrum.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelSpacing {
    /// ⟨r⟩, the mean consecutive-spacing ratio.
    pub mean_ratio: f64,
    /// Each ratio rᵢ (pairs of zero spacings left out).
    pub ratios: Vec<f64>,
    /// Unfolded nearest-neighbour spacings, normalised to mean 1.
    pub spacings: Vec<f64>,
}

/// How levels are unfolded to mean spacing 1.
pub enum Unfolding<'a> {
    /// ξ = count · F(λ) for a CDF F of the levels.
    Cdf(&'a (dyn Fn(f64) -> f64 + Sync)),
    /// Gaussian-broadened staircase with width `a` local spacings.
    /// Gaussian-broadened staircase, width `a` local mean spacings.
    Gaussian {
        /// Width in local mean spacings.
        a: usize,
    },
}

/// Level statistics of ascending, finite levels (at least 3 of them).
pub fn level_spacing(levels: &[f64], unfolding: Unfolding<'_>) -> CoreResult<LevelSpacing> {
    crate::matrix::check_finite_slice(levels, "levels")?;
    if levels.len() < 3 {
        return Err(CoreError::invalid(
            "levels",
            format!(
                "at least 3 levels are needed for spacing ratios, got {}",
                levels.len()
            ),
        ));
    }
    if let Some(i) = levels.windows(2).position(|w| w[0] > w[1]) {
        return Err(CoreError::invalid(
            "levels",
            format!("levels must be ascending (index {i})"),
        ));
    }
    let gaps: Vec<f64> = levels.windows(2).map(|w| w[1] - w[0]).collect();
    let ratios: Vec<f64> = gaps
        .windows(2)
        .filter(|g| g[0].max(g[1]) > 0.0)
        .map(|g| g[0].min(g[1]) / g[0].max(g[1]))
        .collect();
    if ratios.is_empty() {
        return Err(CoreError::invalid(
            "levels",
            format!(
                "all {} levels are equal, so no spacing ratio is defined",
                levels.len()
            ),
        ));
    }
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let unfolded = match unfolding {
        Unfolding::Cdf(cdf) => levels
            .iter()
            .map(|&l| levels.len() as f64 * cdf(l))
            .collect(),
        Unfolding::Gaussian { a } => gaussian_unfold(levels, a.max(1)),
    };
    let mut spacings: Vec<f64> = unfolded.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = spacings.iter().sum::<f64>() / spacings.len() as f64;
    if mean > 0.0 {
        spacings.iter_mut().for_each(|s| *s /= mean);
    }
    Ok(LevelSpacing {
        mean_ratio,
        ratios,
        spacings,
    })
}

/// The exponent e with 2^e ≤ x < 2^(e+1) (0 for x = 0): scaling by 2^−e is exact.
fn binary_exponent(x: f64) -> i32 {
    if x > 0.0 {
        libm::frexp(x).1 - 1
    } else {
        0
    }
}

/// Levels (s·2^−e)², ascending, of descending singular values.
fn scaled_levels(s: &[f64], e: i32) -> Vec<f64> {
    s.iter()
        .rev()
        .map(|&v| {
            let x = libm::scalbn(v, -e);
            x * x
        })
        .collect()
}

/// Level statistics of all levels λ = s² of descending, finite, non-negative singular values, with
/// Gaussian unfolding of width `a` (at least 3 values). Scale-exact: computed on s/c, c the power of
/// two just below s_max (module docs).
pub fn level_statistics(s: &[f64], a: usize) -> CoreResult<LevelSpacing> {
    check_descending(s)?;
    let levels = scaled_levels(s, binary_exponent(s[0]));
    level_spacing(&levels, Unfolding::Gaussian { a })
}

/// Level statistics of the bulk of `s` (spikes and low outliers of `fit` removed), unfolded with
/// the fitted bulk's CDF (MP or deformed). Scale-exact: the bulk is divided by c, the power of two just below its largest
/// value, and the CDF evaluated at s/c with σ/c.
pub fn bulk_level_statistics(s: &[f64], fit: &NoiseFit) -> CoreResult<LevelSpacing> {
    check_spectrum(s, &fit.shape)?;
    let end = s.len().saturating_sub(fit.n_low_outliers);
    let bulk = &s[fit.n_spikes.min(end)..end];
    let e = bulk.first().map_or(0, |&v| binary_exponent(v));
    let levels = scaled_levels(bulk, e);
    let scaled = NoiseFit {
        sigma: libm::scalbn(fit.sigma, -e),
        ..fit.clone()
    };
    let cdf = move |lambda: f64| scaled.bulk_cdf(lambda.max(0.0).sqrt());
    level_spacing(&levels, Unfolding::Cdf(&cdf))
}

fn gaussian_unfold(levels: &[f64], a: usize) -> Vec<f64> {
    let n = levels.len();
    let widths: Vec<f64> = (0..n)
        .map(|j| {
            let lo = j.saturating_sub(a);
            let hi = (j + a).min(n - 1);
            let local = (levels[hi] - levels[lo]) / (hi - lo) as f64;
            (a as f64 * local).max(f64::MIN_POSITIVE)
        })
        .collect();
    levels
        .par_iter()
        .map(|&x| {
            levels
                .iter()
                .zip(&widths)
                .map(|(&l, &w)| {
                    let z = (x - l) / w;
                    if z > 8.0 {
                        1.0
                    } else if z < -8.0 {
                        0.0
                    } else {
                        normal_cdf(z)
                    }
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::matrix::MatrixView;
    use crate::spectral::mp_law::MpShape;
    use crate::spectral::noise_fit::{fit_noise, BulkModel, FitOptions};

    #[test]
    fn poisson_levels_give_the_poisson_ratio() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut levels: Vec<f64> = (0..20_000).map(|_| rng.random::<f64>()).collect();
        levels.sort_by(f64::total_cmp);
        let ls = level_spacing(&levels, Unfolding::Cdf(&|x: f64| x)).unwrap();
        assert!(
            (ls.mean_ratio - POISSON_MEAN_RATIO).abs() < 0.01,
            "{}",
            ls.mean_ratio
        );
        // Exponential spacings: mean 1 and variance 1.
        let var = ls
            .spacings
            .iter()
            .map(|s| (s - 1.0) * (s - 1.0))
            .sum::<f64>()
            / ls.spacings.len() as f64;
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn picket_fence_has_ratio_one_and_unit_spacings() {
        let levels: Vec<f64> = (0..200).map(|i| i as f64 * 0.5).collect();
        let ls = level_spacing(&levels, Unfolding::Gaussian { a: 5 }).unwrap();
        assert!((ls.mean_ratio - 1.0).abs() < 1e-12);
        let inner = &ls.spacings[20..180];
        assert!(inner.iter().all(|s| (s - 1.0).abs() < 0.05));
        assert!(level_spacing(&[1.0, 0.0, 2.0], Unfolding::Gaussian { a: 1 }).is_err());
        assert!(level_spacing(&[1.0, 2.0], Unfolding::Gaussian { a: 1 }).is_err());
    }

    /// Singular values of a 300×120 Gaussian matrix with three planted spikes, descending.
    fn spiked_spectrum() -> (Vec<f64>, MpShape) {
        let (n, m) = (300, 120);
        let mut rng = SmallRng::seed_from_u64(5);
        let mut w: Vec<f64> = (0..n * m)
            .map(|_| rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng))
            .collect();
        for (k, theta) in [(0usize, 80.0), (1, 60.0), (2, 45.0)] {
            let (u, v) = (k * 7 % n, k * 5 % m);
            w[u * m + v] += theta * 10.0;
        }
        let s = singular_values(
            MatrixView::from_row_major(&w, n, m),
            Decomposition::Svd,
            &Stop::never(),
        )
        .unwrap();
        (s, MpShape::new(n, m).unwrap())
    }

    /// Tolerance for statistics of s·scale against s: 1e-12 while s·scale is normal; the subnormal
    /// inputs at 1e-310 keep only about 47 of 53 bits, and small gaps amplify that.
    fn tolerance(scale: f64) -> f64 {
        if scale < 1e-300 {
            1e-10
        } else {
            1e-12
        }
    }

    fn assert_same_statistics(got: &LevelSpacing, want: &LevelSpacing, tol: f64, what: &str) {
        // Relative to the typical value 1 (spacings have mean 1, ratios lie in [0, 1]): a small
        // spacing is a difference of nearby unfolded levels and inherits their absolute error.
        let close = |x: f64, y: f64| (x - y).abs() <= tol * y.abs().max(1.0);
        assert!(
            close(got.mean_ratio, want.mean_ratio),
            "{what}: {} vs {}",
            got.mean_ratio,
            want.mean_ratio
        );
        assert_eq!(got.ratios.len(), want.ratios.len(), "{what}");
        assert_eq!(got.spacings.len(), want.spacings.len(), "{what}");
        for (x, y) in got
            .ratios
            .iter()
            .zip(&want.ratios)
            .chain(got.spacings.iter().zip(&want.spacings))
        {
            assert!(close(*x, *y), "{what}: {x} vs {y}");
        }
    }

    #[test]
    fn level_statistics_of_singular_values_are_scale_exact() {
        // level_spacing(W * 1e155) failed with "non-finite levels"; below 1e-165 ⟨r⟩ was NaN.
        let (s, _) = spiked_spectrum();
        let want = level_statistics(&s, 15).unwrap();
        let levels: Vec<f64> = s.iter().rev().map(|v| v * v).collect();
        assert_same_statistics(
            &want,
            &level_spacing(&levels, Unfolding::Gaussian { a: 15 }).unwrap(),
            0.0,
            "vs levels",
        );
        for &scale in &[1e-310, 1e-200, 1e-165, 1e155, 1e200, 1e300] {
            let scaled: Vec<f64> = s.iter().map(|v| v * scale).collect();
            let got = level_statistics(&scaled, 15).unwrap_or_else(|e| panic!("{scale:e}: {e}"));
            assert_same_statistics(&got, &want, tolerance(scale), &format!("scale {scale:e}"));
        }
        // With a power-of-two scale and values short enough to stay exact down to 2^-1030 ≈ 1e-310,
        // nothing rounds differently: the statistics are bit-identical.
        let short: Vec<f64> = s
            .iter()
            .map(|&v| {
                let (f, e) = libm::frexp(v);
                libm::scalbn((f * 2f64.powi(40)).round(), e - 40)
            })
            .collect();
        let want = level_statistics(&short, 15).unwrap();
        for e in [-1030, -664, 515, 996] {
            let scaled: Vec<f64> = short.iter().map(|&v| libm::scalbn(v, e)).collect();
            assert_eq!(level_statistics(&scaled, 15).unwrap(), want, "2^{e}");
        }
    }

    #[test]
    fn bulk_level_statistics_are_scale_exact() {
        let (s, shape) = spiked_spectrum();
        // White noise throughout: a given σ keeps it, and the comparison is of like with like.
        let white = FitOptions {
            bulk: BulkModel::Mp,
            ..Default::default()
        };
        let fit = fit_noise(&s, shape, white).unwrap();
        assert!(fit.n_spikes >= 3);
        let want = bulk_level_statistics(&s, &fit).unwrap();
        assert_eq!(
            want.spacings.len() + 1,
            shape.m - fit.n_spikes - fit.n_low_outliers
        );
        for &scale in &[1e-310, 1e-200, 1e-165, 1e155, 1e200, 1e300] {
            let scaled: Vec<f64> = s.iter().map(|v| v * scale).collect();
            // σ·scale given: only the rounding of the input differs.
            let given = FitOptions {
                sigma: Some(fit.sigma * scale),
                ..Default::default()
            };
            let fit_given = fit_noise(&scaled, shape, given).unwrap();
            let got = bulk_level_statistics(&scaled, &fit_given)
                .unwrap_or_else(|e| panic!("{scale:e}: {e}"));
            assert_same_statistics(&got, &want, tolerance(scale), &format!("scale {scale:e}"));
            // σ refitted at this scale: the same bulk, σ agreeing to the fit's 1e-12 tolerance.
            let refit = fit_noise(&scaled, shape, white).unwrap();
            assert_eq!(
                (refit.n_spikes, refit.n_low_outliers),
                (fit.n_spikes, fit.n_low_outliers)
            );
            let got = bulk_level_statistics(&scaled, &refit).unwrap();
            assert_same_statistics(&got, &want, 1e-9, &format!("refit at {scale:e}"));
        }
        // Power-of-two scales change no rounding: bit-identical.
        for e in [-664, 515, 996] {
            let scaled: Vec<f64> = s.iter().map(|&v| libm::scalbn(v, e)).collect();
            let given = FitOptions {
                sigma: Some(libm::scalbn(fit.sigma, e)),
                ..Default::default()
            };
            let fit_given = fit_noise(&scaled, shape, given).unwrap();
            assert_eq!(
                bulk_level_statistics(&scaled, &fit_given).unwrap(),
                want,
                "2^{e}"
            );
        }
    }

    #[test]
    fn degenerate_and_bad_singular_values_are_errors() {
        assert!(level_statistics(&[1.0, 1.0, 1.0, 1.0], 3).is_err()); // no ratio defined
        assert!(level_statistics(&[0.0; 5], 3).is_err());
        assert!(level_statistics(&[3.0, 2.0], 3).is_err()); // too few
        assert!(level_statistics(&[3.0, 2.0, f64::INFINITY], 3).is_err());
        assert!(level_statistics(&[3.0, -1.0, -2.0], 3).is_err());
        assert!(level_statistics(&[1.0, 2.0, 3.0], 3).is_err()); // not descending
        assert!(level_spacing(&[2.0, 2.0, 2.0], Unfolding::Gaussian { a: 1 }).is_err());
    }
}
