//! Local search for directions with large doubling ratios. The ratio is piecewise constant in w
//! (no gradient), and near a flat portion of the data it is sharply peaked: a direction a small
//! angle θ off the flat one spreads the portion's points over a width θ·(their extent).
//!
//! Objective: J(w) = Σ_δ ln max(1, ratio_δ(w)), the largest ratio of each width summed in log
//! space. The maximum over widths alone is a poor guide: on light-tailed data it sits at the
//! largest width, in a slab sliding into a tail, the same for every direction; a flat portion
//! raises the ratios of every width below its own thickness, which the sum sees.
//!
//! Moves, on a subsample, accepted only when they raise J:
//! - **flatten**: take the points of the densest stretch of the projections (the h = N/10 points in the
//!   shortest window) or of the doubled slab of the smallest qualifying
//!   width, find their thinnest direction u *across* w (the window itself makes w thin, so w must
//!   be projected out), and try w tilted towards ±u by a few fixed angles. If w is at angle θ to
//!   the normal n of a flat portion, the portion's points in a window of width ε along w lie
//!   within ε·cot θ along the part of n across w, so u points at n and one tilt lands near it;
//! - **perturb**: w + s·g for random unit g, with s grown 1.5× after a success and halved after a
//!   failure (a (1+λ) evolution strategy); a start ends after three rounds without a gain.
//!
//! Starts: the candidates with the largest J, and local principal axes (the thinnest direction
//! of the nearest neighbours of random anchor points), which find flat portions in low
//! dimensions; in high dimensions neighbourhoods stop being local and the global principal axes
//! (among the candidates) carry the search.

use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::CoreResult;
use crate::interrupt::Stop;

use super::directions::{covariance, eigenvectors_ascending};
use super::projection::{project, sort_values, Points};
use super::sweep::{sweep_widths_in_place, WidthSweep};

/// How much searching to do.
#[derive(Clone, Copy, Debug)]
pub struct SearchBudget {
    /// Points the search works on (a seeded subsample when there are more).
    pub subsample: usize,
    /// Best candidates to start from.
    pub starts: usize,
    /// Anchors whose neighbourhoods give local principal axes as further starts.
    pub anchors: usize,
    /// Rounds of proposals per start.
    pub rounds: usize,
    /// Random perturbations per round.
    pub perturbations: usize,
    /// Rounds without improvement that end a start.
    pub patience: usize,
}

impl Default for SearchBudget {
    fn default() -> Self {
        SearchBudget {
            subsample: 20_000,
            starts: 8,
            anchors: 4,
            rounds: 30,
            perturbations: 4,
            patience: 3,
        }
    }
}

/// The sweeps of every width for direction `w`, and J(w).
pub fn objective(
    points: &Points,
    w: &[f64],
    deltas: &[f64],
    min_points: usize,
) -> (Vec<WidthSweep>, Vec<f64>, f64) {
    let mut p = vec![Vec::new()];
    project(points, &[w], &mut p);
    let projections = p.pop().expect("one projection");
    let mut sorted = projections.clone();
    sort_values(&mut sorted, &mut Vec::new());
    let sweeps = sweep_widths_in_place(&mut sorted, deltas, min_points);
    let j = score(&sweeps);
    (sweeps, projections, j)
}

/// J of a direction from its sweeps: Σ_δ ln max(1, ratio_δ), a width without a qualifying slab
/// counting 0.
pub fn score(sweeps: &[WidthSweep]) -> f64 {
    sweeps
        .iter()
        .map(|s| {
            if s.inner > 0 {
                s.ratio().max(1.0).ln()
            } else {
                0.0
            }
        })
        .sum()
}

/// The rows of the `h` points whose projections lie in the shortest window.
fn densest(projections: &[f64], h: usize) -> Vec<usize> {
    let n = projections.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| projections[a].total_cmp(&projections[b]));
    let start = (0..=n - h)
        .min_by(|&a, &b| {
            let wa = projections[order[a + h - 1]] - projections[order[a]];
            let wb = projections[order[b + h - 1]] - projections[order[b]];
            wa.total_cmp(&wb)
        })
        .unwrap_or(0);
    order[start..start + h].to_vec()
}

fn normalised(w: Vec<f64>) -> Option<Vec<f64>> {
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| w.into_iter().map(|v| v / norm).collect())
}

/// The thinnest direction of the listed points (None when too few to span the space).
fn thinnest(points: &Points, rows: &[usize]) -> Option<Vec<f64>> {
    if rows.len() <= points.dim() {
        return None;
    }
    let (_, cov) = covariance(points, Some(rows));
    eigenvectors_ascending(&cov).ok()?.into_iter().next()
}

/// The thinnest direction of the listed points orthogonal to `w`, or None.
fn thinnest_across(points: &Points, rows: &[usize], w: &[f64]) -> Option<Vec<f64>> {
    if rows.len() <= points.dim() {
        return None;
    }
    let (_, cov) = covariance(points, Some(rows));
    let d = points.dim();
    // P C P with P = I − wwᵀ: w becomes an eigenvector of eigenvalue 0, the rest is C across w.
    let cw: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| cov[(i, j)] * w[j]).sum())
        .collect();
    let wcw: f64 = cw.iter().zip(w).map(|(a, b)| a * b).sum();
    let across = faer::Mat::from_fn(d, d, |i, j| {
        cov[(i, j)] - w[i] * cw[j] - cw[i] * w[j] + w[i] * w[j] * wcw
    });
    eigenvectors_ascending(&across)
        .ok()?
        .into_iter()
        .find(|u| u.iter().zip(w).map(|(a, b)| a * b).sum::<f64>().abs() < 0.5)
}

/// Angles (radians) of the line search from w towards u.
const TILTS: [f64; 8] = [0.035, 0.087, 0.175, 0.35, 0.52, 0.79, 1.05, 1.4];

/// Local principal axes at `count` random anchors (neighbourhoods of 2d + 10 points).
pub fn local_axes(points: &Points, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let n = points.len();
    let k = 2 * points.dim() + 10;
    if n <= k {
        return Vec::new();
    }
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_a4c4);
    let anchors: Vec<usize> = (0..count).map(|_| rng.random_range(0..n)).collect();
    anchors
        .par_iter()
        .filter_map(|&a| {
            let x = points.row(a);
            let mut dist: Vec<(f64, usize)> = (0..n)
                .map(|i| {
                    let d2 = points
                        .row(i)
                        .iter()
                        .zip(x)
                        .map(|(u, v)| (u - v) * (u - v))
                        .sum();
                    (d2, i)
                })
                .collect();
            dist.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
            let rows: Vec<usize> = dist[..k].iter().map(|&(_, i)| i).collect();
            thinnest(points, &rows)
        })
        .collect()
}

/// Refines each start by the moves of the module docs; returns one direction per start.
pub fn refine(
    points: &Points,
    starts: &[Vec<f64>],
    deltas: &[f64],
    min_points: usize,
    budget: &SearchBudget,
    seed: u64,
    stop: &Stop,
) -> CoreResult<Vec<Vec<f64>>> {
    let n = points.len();
    let sizes: Vec<usize> = [10]
        .iter()
        .map(|&f| (n / f).max(points.dim() + 1))
        .filter(|&h| h < n)
        .collect();
    starts
        .par_iter()
        .enumerate()
        .map(|(s, start)| {
            let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(0x9e37_79b9 * (s as u64 + 1)));
            let mut w = start.clone();
            let (mut sweeps, mut proj, mut best) = objective(points, &w, deltas, min_points);
            let (mut step, mut failures) = (0.3f64, 0);
            for _ in 0..budget.rounds {
                stop.check()?;
                let mut proposals = Vec::with_capacity(budget.perturbations + sizes.len() + 1);
                // Flatten: tilt w towards the thinnest direction across it of the densest stretch.
                let mut across = Vec::new();
                for &h in &sizes {
                    across.extend(thinnest_across(points, &densest(&proj, h), &w));
                }
                if let Some(g) = sweeps.iter().position(|s| s.inner > 0) {
                    let (centre, reach) = (sweeps[g].centre, 2.0 * deltas[g]);
                    let rows: Vec<usize> = (0..n)
                        .filter(|&i| (proj[i] - centre).abs() < reach)
                        .collect();
                    across.extend(thinnest_across(points, &rows, &w));
                }
                for u in &across {
                    for t in TILTS {
                        for sign in [1.0, -1.0] {
                            let (c, s) = (t.cos(), sign * t.sin());
                            proposals.extend(normalised(
                                w.iter().zip(u).map(|(a, b)| c * a + s * b).collect(),
                            ));
                        }
                    }
                }
                for _ in 0..budget.perturbations {
                    let g: Vec<f64> = (0..w.len())
                        .map(|_| StandardNormal.sample(&mut rng))
                        .collect();
                    let gn = g
                        .iter()
                        .map(|v| v * v)
                        .sum::<f64>()
                        .sqrt()
                        .max(f64::MIN_POSITIVE);
                    let moved = w.iter().zip(&g).map(|(a, b)| a + step * b / gn).collect();
                    proposals.extend(normalised(moved));
                }
                let mut improved = false;
                for v in proposals {
                    let (cs, cp, cj) = objective(points, &v, deltas, min_points);
                    if cj > best {
                        (sweeps, proj, best, w, improved) = (cs, cp, cj, v, true);
                    }
                }
                (step, failures) = if improved {
                    ((step * 1.5).min(1.0), 0)
                } else {
                    (step * 0.5, failures + 1)
                };
                if failures == budget.patience {
                    break;
                }
            }
            Ok(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doubling::directions::random_directions;
    use crate::matrix::MatrixView;

    /// Gaussian points in ℝ^d with a fraction lying exactly on the hyperplane normal·x = 0.3.
    fn flat_cloud(n: usize, d: usize, fraction: f64, normal: &[f64], seed: u64) -> Points {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            let mut x: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
            if (i as f64) < fraction * n as f64 {
                let t: f64 = x.iter().zip(normal).map(|(a, b)| a * b).sum::<f64>() - 0.3;
                x.iter_mut().zip(normal).for_each(|(a, b)| *a -= t * b);
            }
            data.extend(x);
        }
        Points::from_view(MatrixView::from_row_major(&data, n, d))
    }

    #[test]
    fn the_search_finds_a_flat_direction_that_no_random_start_is_near() {
        let d = 12;
        let normal = random_directions(d, 1, 99).pop().unwrap();
        let points = flat_cloud(4000, d, 0.2, &normal, 5);
        let deltas: Vec<f64> = (0..8).map(|k| 0.5f64.powi(k + 2)).rev().collect();
        let random = random_directions(d, 4, 1);
        let cos = |w: &[f64]| w.iter().zip(&normal).map(|(a, b)| a * b).sum::<f64>().abs();
        assert!(random.iter().all(|w| cos(w) < 0.8));
        let mut starts = random.clone();
        starts.extend(crate::doubling::directions::principal_axes(&points).unwrap());
        let found = refine(
            &points,
            &starts,
            &deltas,
            40,
            &SearchBudget::default(),
            0,
            &Stop::never(),
        )
        .unwrap();
        let score = |w: &[f64]| objective(&points, w, &deltas, 40).2;
        let best = found
            .iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .unwrap();
        assert!(cos(best) > 0.999, "cos = {}", cos(best));
        // At the smallest qualifying width the flat direction's ratio dwarfs every random one.
        let (sweeps, _, _) = objective(&points, best, &deltas, 40);
        let g = sweeps.iter().position(|s| s.inner > 0).unwrap();
        let random_best = random
            .iter()
            .map(|w| objective(&points, w, &deltas, 40).0[g].ratio())
            .fold(0.0, f64::max);
        assert!(
            sweeps[g].ratio() > 3.0 * random_best,
            "{} vs {random_best}",
            sweeps[g].ratio()
        );
    }
}
