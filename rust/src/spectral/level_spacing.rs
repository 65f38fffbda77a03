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

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::stats::normal_cdf;

/// ⟨r⟩ of GOE (Wishart) levels (Atas et al. 2013).
pub const GOE_MEAN_RATIO: f64 = 0.5307;
/// ⟨r⟩ of uncorrelated (Poisson) levels, 2 ln 2 − 1.
pub const POISSON_MEAN_RATIO: f64 = 0.386_294_361_119_890_6;
/// Default width, in local mean spacings, of the Gaussian unfolding.
pub const DEFAULT_UNFOLDING_WINDOW: usize = 15;

#[derive(Debug, Clone, PartialEq)]
pub struct LevelSpacing {
    pub mean_ratio: f64,
    pub ratios: Vec<f64>,
    /// Unfolded nearest-neighbour spacings, normalised to mean 1.
    pub spacings: Vec<f64>,
}

pub enum Unfolding<'a> {
    /// ξ = count · F(λ) for a CDF F of the levels.
    Cdf(&'a (dyn Fn(f64) -> f64 + Sync)),
    /// Gaussian-broadened staircase with width `a` local spacings.
    Gaussian { a: usize },
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
    let mean_ratio = if ratios.is_empty() {
        f64::NAN
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    };
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
}
