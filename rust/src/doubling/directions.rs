//! Candidate directions w for the supremum over slabs: random unit vectors, and directions the
//! data suggest (principal axes, differences of class means). Random directions alone
//! underestimate the supremum when the data are flat along one direction: in ℝ^d a random unit
//! vector meets a fixed one at |cos| ≈ 1/√d, so the flat direction is found by the data-driven
//! candidates and the local search (`search.rs`), not by chance.

use faer::Mat;
use rand::{rngs::SmallRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};

use super::projection::Points;

crate::named_enum! {
    /// Where a candidate direction came from (reported with the worst slab).
    pub enum DirectionSource for "source" as "direction source" / "sources" {
        /// A seeded uniformly random unit vector.
        Random = "random",
        /// An eigenvector of the data's covariance.
        Principal = "principal",
        /// The difference of two class means.
        ClassMeans = "class_means",
        /// A first-layer weight row of a model.
        Model = "model",
        /// Given by the caller.
        Given = "given",
        /// Found by the local search.
        Search = "search",
    }
}

/// `count` seeded random unit vectors in ℝ^dim (Gaussian, normalised: uniform on the sphere).
pub fn random_directions(dim: usize, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count)
        .map(|_| loop {
            let w: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
            let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                break w.iter().map(|v| v / norm).collect();
            }
        })
        .collect()
}

/// Mean and covariance (1/N) of the points, or of the listed rows.
pub fn covariance(points: &Points, rows: Option<&[usize]>) -> (Vec<f64>, Mat<f64>) {
    let d = points.dim();
    let index = |k: usize| rows.map_or(k, |r| r[k]);
    let n = rows.map_or(points.len(), |r| r.len());
    let mut mean = vec![0.0; d];
    for k in 0..n {
        for (m, v) in mean.iter_mut().zip(points.row(index(k))) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let chunk = 2048;
    let upper = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![0.0; d * d];
            let mut centred = vec![0.0; d];
            for k in c * chunk..((c + 1) * chunk).min(n) {
                for ((x, v), m) in centred.iter_mut().zip(points.row(index(k))).zip(&mean) {
                    *x = v - m;
                }
                for a in 0..d {
                    let xa = centred[a];
                    let row = &mut acc[a * d..(a + 1) * d];
                    for b in a..d {
                        row[b] += xa * centred[b];
                    }
                }
            }
            acc
        })
        .reduce(
            || vec![0.0; d * d],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let cov = Mat::from_fn(d, d, |i, j| {
        let (a, b) = if i <= j { (i, j) } else { (j, i) };
        upper[a * d + b] / n.max(1) as f64
    });
    (mean, cov)
}

/// Unit eigenvectors of a symmetric matrix, by ascending eigenvalue.
pub fn eigenvectors_ascending(cov: &Mat<f64>) -> CoreResult<Vec<Vec<f64>>> {
    let evd = cov
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|_| CoreError::NoConvergence {
            algorithm: "the eigendecomposition of the data covariance",
        })?;
    let (s, u) = (evd.S(), evd.U());
    let d = cov.nrows();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
    Ok(order
        .into_iter()
        .map(|j| (0..d).map(|i| u[(i, j)]).collect())
        .collect())
}

/// The principal axes of the data, smallest variance first (flat directions lead).
pub fn principal_axes(points: &Points) -> CoreResult<Vec<Vec<f64>>> {
    let (_, cov) = covariance(points, None);
    eigenvectors_ascending(&cov)
}

/// Differences of the means of every pair of classes (`classes[i]` is the class index of point
/// i, `n_classes` of them); pairs whose means coincide are skipped.
pub fn class_mean_differences(
    points: &Points,
    classes: &[usize],
    n_classes: usize,
) -> Vec<Vec<f64>> {
    let d = points.dim();
    let mut sums = vec![vec![0.0; d]; n_classes];
    let mut counts = vec![0usize; n_classes];
    for (i, &c) in classes.iter().enumerate() {
        counts[c] += 1;
        for (s, v) in sums[c].iter_mut().zip(points.row(i)) {
            *s += v;
        }
    }
    let means: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s.iter().map(|v| v / c.max(1) as f64).collect())
        .collect();
    let mut out = Vec::new();
    for a in 0..n_classes {
        for b in a + 1..n_classes {
            if counts[a] == 0 || counts[b] == 0 {
                continue;
            }
            let w: Vec<f64> = means[b].iter().zip(&means[a]).map(|(x, y)| x - y).collect();
            let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 && norm.is_finite() {
                out.push(w.iter().map(|v| v / norm).collect());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::MatrixView;

    #[test]
    fn random_directions_are_unit_seeded_and_spread() {
        let a = random_directions(5, 200, 1);
        assert_eq!(a, random_directions(5, 200, 1));
        assert_ne!(a, random_directions(5, 200, 2));
        for w in &a {
            let n: f64 = w.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-12);
        }
        // Uniform on the sphere: each coordinate's mean square is 1/d.
        let ms: f64 = a.iter().map(|w| w[0] * w[0]).sum::<f64>() / 200.0;
        assert!((ms - 0.2).abs() < 0.06, "{ms}");
    }

    #[test]
    fn the_smallest_principal_axis_is_the_flat_direction() {
        // Points on the plane x + y = 1 in ℝ³ (plus spread in z): the normal (1, 1, 0)/√2 leads.
        let mut data = Vec::new();
        for i in 0..50 {
            let t = i as f64 / 7.0;
            data.extend_from_slice(&[t, 1.0 - t, (i % 9) as f64]);
        }
        let p = Points::from_view(MatrixView::from_row_major(&data, 50, 3));
        let axes = principal_axes(&p).unwrap();
        let w = &axes[0];
        let cos = (w[0] + w[1]) / 2f64.sqrt();
        assert!((cos.abs() - 1.0).abs() < 1e-9, "{w:?}");
    }

    #[test]
    fn class_means_give_the_separating_direction() {
        let data = [0.0, 0.0, 0.0, 1.0, 3.0, 0.0, 3.0, 1.0];
        let p = Points::from_view(MatrixView::from_row_major(&data, 4, 2));
        let w = class_mean_differences(&p, &[0, 0, 1, 1], 2);
        assert_eq!(w, vec![vec![1.0, 0.0]]);
    }
}
