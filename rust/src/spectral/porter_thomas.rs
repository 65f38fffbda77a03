//! Porter–Thomas test of singular vectors: are the components of a singular vector distributed like
//! those of a random unit vector?
//!
//! Null: for a noise matrix every singular vector is uniform on the unit sphere of ℝⁿ, so each
//! component x satisfies x² ~ Beta(½, (n−1)/2) (√n·x → N(0, 1), the Porter–Thomas law of x²·n). The
//! unit norm is built into this marginal, so no variance is estimated. The components of one vector
//! are exchangeable but not independent (Σx² = 1 pins their second moment), which makes the
//! Kolmogorov–Smirnov p-value slightly conservative: under the null p-values lean towards 1.
//!
//! Each pair (uᵢ, vᵢ) gets p = min(1, 2·min(p_left, p_right)) (Bonferroni over the two sides). The
//! boundary k separates the leading vectors that carry information from the random ones: it minimises
//! #{i < k : pᵢ ≥ α} + #{i ≥ k : pᵢ < α}, the number of vectors on the wrong side (smallest k on ties).

use faer::Mat;
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::stats::beta::SphereCoordinateTable;
use crate::stats::kolmogorov::{ks_distance_uniform_of, ks_pvalue};

/// Default half-width of the moving average of the per-pair p-values.
pub const DEFAULT_WINDOW: usize = 15;
/// Default test level.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// Options of the test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PorterThomasOptions {
    /// Half-width of the centred moving average of the p-values (`windowed`).
    pub window: usize,
    /// Test level: a pair with p < alpha is called non-random.
    pub alpha: f64,
}

impl Default for PorterThomasOptions {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            alpha: DEFAULT_ALPHA,
        }
    }
}

impl PorterThomasOptions {
    /// Checks the options.
    pub fn validate(&self) -> CoreResult<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(CoreError::invalid(
                "alpha",
                format!("must lie in (0, 1), got {}", self.alpha),
            ));
        }
        Ok(())
    }
}

/// The result of the test on every singular-vector pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PorterThomas {
    /// KS distance of each left vector uᵢ.
    pub left_ks: Vec<f64>,
    /// KS p-value of each left vector.
    pub left_pvalues: Vec<f64>,
    /// KS distance of each right vector vᵢ.
    pub right_ks: Vec<f64>,
    /// KS p-value of each right vector.
    pub right_pvalues: Vec<f64>,
    /// Combined per-pair p-value, min(1, 2·min(left, right)).
    pub pvalues: Vec<f64>,
    /// Centred moving average of `pvalues` over ±`window` neighbours (clipped at the ends).
    pub windowed: Vec<f64>,
    /// Number of leading singular-vector pairs that look non-random.
    pub boundary: usize,
}

/// KS distance and p-value of one vector's components against the sphere-coordinate law (the
/// single-vector form of the test, for callers of the core; batches tabulate the law once).
pub fn vector_ks(components: &[f64]) -> (f64, f64) {
    vector_ks_with(components, &SphereCoordinateTable::new(components.len()))
}

/// The same with the law of this length tabulated once by the caller.
fn vector_ks_with(components: &[f64], cdf: &SphereCoordinateTable) -> (f64, f64) {
    // Probability-integral transform on the fly, then an O(n) KS against the uniform law.
    let d = ks_distance_uniform_of(components, cdf);
    (d, ks_pvalue(d, components.len()))
}

fn columns_ks(mat: &Mat<f64>, stop: &Stop) -> CoreResult<(Vec<f64>, Vec<f64>)> {
    let cdf = SphereCoordinateTable::new(mat.nrows());
    let pairs: Vec<(f64, f64)> = (0..mat.ncols())
        .into_par_iter()
        .map(|j| {
            stop.check()?;
            Ok(vector_ks_with(mat.col_as_slice(j), &cdf))
        })
        .collect::<CoreResult<_>>()?;
    Ok(pairs.into_iter().unzip())
}

/// Runs the test on the columns of U (N×k) and V (M×k) of a thin SVD.
pub fn porter_thomas(
    u: &Mat<f64>,
    v: &Mat<f64>,
    options: PorterThomasOptions,
    stop: &Stop,
) -> CoreResult<PorterThomas> {
    options.validate()?;
    let PorterThomasOptions { window, alpha } = options;
    if u.ncols() != v.ncols() {
        return Err(CoreError::invalid(
            "singular vectors",
            "U and V must have the same number of columns",
        ));
    }
    if u.nrows() < 2 || v.nrows() < 2 {
        return Err(CoreError::invalid(
            "singular vectors",
            "vectors need at least 2 components",
        ));
    }
    let (left_ks, left_pvalues) = columns_ks(u, stop)?;
    let (right_ks, right_pvalues) = columns_ks(v, stop)?;
    let pvalues: Vec<f64> = left_pvalues
        .iter()
        .zip(&right_pvalues)
        .map(|(&l, &r)| (2.0 * l.min(r)).min(1.0))
        .collect();
    let windowed = moving_average(&pvalues, window);
    let boundary = split_index(&pvalues, alpha);
    Ok(PorterThomas {
        left_ks,
        left_pvalues,
        right_ks,
        right_pvalues,
        pvalues,
        windowed,
        boundary,
    })
}

/// Centred moving average over ±`half` neighbours, clipped at the ends.
pub fn moving_average(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0);
    for &v in x {
        prefix.push(prefix.last().unwrap() + v);
    }
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(x.len());
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// The k minimising the number of misplaced vectors (see the module docs).
fn split_index(p: &[f64], alpha: f64) -> usize {
    // cost(k) = #{i<k: random} + #{i≥k: informative}; start from k = 0 (all informative ones misplaced).
    let mut cost: isize = p.iter().filter(|&&v| v < alpha).count() as isize;
    let (mut best, mut best_k) = (cost, 0);
    for (i, &v) in p.iter().enumerate() {
        cost += if v < alpha { -1 } else { 1 };
        if cost < best {
            best = cost;
            best_k = i + 1;
        }
    }
    best_k
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn random_unit(n: usize, rng: &mut SmallRng) -> Vec<f64> {
        let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn random_vectors_pass_and_sparse_vectors_fail() {
        let mut rng = SmallRng::seed_from_u64(7);
        let trials = 400;
        let rejected = (0..trials)
            .filter(|_| vector_ks(&random_unit(300, &mut rng)).1 < 0.05)
            .count();
        // Conservative: at most the nominal 5 % (plus sampling slack).
        assert!(
            rejected <= 30,
            "{rejected} of {trials} random vectors rejected"
        );
        let mut sparse = vec![0.0; 300];
        for (i, v) in sparse.iter_mut().take(10).enumerate() {
            *v = if i % 2 == 0 {
                0.1f64.sqrt()
            } else {
                -(0.1f64.sqrt())
            };
        }
        assert!(vector_ks(&sparse).1 < 1e-6);
    }

    #[test]
    fn split_index_finds_the_informative_prefix() {
        let p = [0.0, 0.001, 0.02, 0.6, 0.01, 0.3, 0.9, 0.5, 0.2, 0.04, 0.7];
        assert_eq!(split_index(&p, 0.05), 3);
        assert_eq!(split_index(&[0.5, 0.6], 0.05), 0);
        assert_eq!(split_index(&[0.0, 0.0], 0.05), 2);
        assert_eq!(
            moving_average(&[1.0, 2.0, 3.0, 4.0], 1),
            vec![1.5, 2.0, 3.0, 3.5]
        );
    }
}
