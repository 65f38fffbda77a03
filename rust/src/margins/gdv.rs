//! The Generalized Discrimination Value of Schilling et al. (2021), exactly as their reference
//! routine computes it:
//! 1. z-score every dimension over all points with the population std and a factor ½,
//!    s = (x − μ) / (2σ); dimensions with σ = 0 become 0;
//! 2. mean intra-class Euclidean distance per class (over pairs i ≠ j), mean inter-class distance
//!    per pair of classes;
//! 3. GDV = (1/√D)·[mean over classes of intra − mean over class pairs of inter].
//!
//! Scale: the z-score of step 1 is invariant under x → c·x, but Σx, (x − μ)² and Σ(x − μ)²
//! overflow beyond |x| ≈ 1e154 (Σx already near 1e308) and underflow below 1e-154, which made σ
//! inf or 0 and the GDV 0. Each column is therefore divided by its largest |x| first, so the
//! values lie in [−1, 1] and the z-scores (and the GDV) are the same at every scale.
//!
//! Cost O(N²D): pairs are summed directly in f64 (more accurate than a Gram-matrix expansion),
//! in parallel over rows.

use rayon::prelude::*;

use super::Labels;
use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::matrix::{check_finite_matrix, MatrixView, Scalar};

/// The GDV and its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Gdv {
    /// Mean intra-class minus mean inter-class distance, over √D.
    pub value: f64,
    /// Mean intra-class distance / √D.
    pub intra: f64,
    /// Mean inter-class distance / √D.
    pub inter: f64,
    /// The class labels found, ascending.
    pub classes: Vec<i64>,
}

/// The GDV of points `x` (N×D) with class `labels` (module docs).
pub fn gdv<T: Scalar>(x: MatrixView<'_, T>, labels: Labels<'_>, stop: &Stop) -> CoreResult<Gdv> {
    let (n, d) = (x.nrows(), x.ncols());
    check_finite_matrix(x, "X")?;
    if labels.len() != n {
        return Err(CoreError::invalid(
            "labels",
            format!("has length {} but there are {n} rows of X", labels.len()),
        ));
    }
    let mut classes: Vec<i64> = (0..n).map(|i| labels.get(i)).collect();
    classes.sort_unstable();
    classes.dedup();
    let l = classes.len();
    if l < 2 {
        return Err(CoreError::invalid(
            "labels",
            format!("the GDV needs at least 2 classes, got {l}"),
        ));
    }
    let class_of: Vec<usize> = (0..n)
        .map(|i| {
            classes
                .binary_search(&labels.get(i))
                .expect("label is among the classes")
        })
        .collect();
    let mut sizes = vec![0usize; l];
    for &c in &class_of {
        sizes[c] += 1;
    }
    if let Some(c) = sizes.iter().position(|&s| s < 2) {
        return Err(CoreError::invalid(
            "labels",
            format!(
                "class {} has {} point(s); each class needs at least 2",
                classes[c], sizes[c]
            ),
        ));
    }

    // Step 1: pooled ½-z-scoring, row-major f64, of each column divided by its largest |x|
    // (module docs: the z-score is scale-invariant, the plain sums are not).
    let mut s = vec![0.0f64; n * d];
    for j in 0..d {
        let top = (0..n).fold(0.0f64, |m, i| m.max(x.get(i, j).to_f64().abs()));
        if top == 0.0 {
            continue; // an all-zero column has σ = 0
        }
        let y = |i: usize| x.get(i, j).to_f64() / top;
        let mu = (0..n).map(y).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|i| {
                let e = y(i) - mu;
                e * e
            })
            .sum::<f64>()
            / n as f64;
        let scale = if var > 0.0 { 0.5 / var.sqrt() } else { 0.0 };
        for i in 0..n {
            s[i * d + j] = (y(i) - mu) * scale;
        }
    }

    // Step 2: sums of distances per (class, class) block, each unordered pair once.
    let sums = (0..n)
        .into_par_iter()
        .fold(
            || vec![0.0f64; l * l],
            |mut acc, i| {
                // O(N²·D): a requested stop skips the remaining rows (checked once after the sum).
                if stop.is_requested() {
                    return acc;
                }
                let si = &s[i * d..(i + 1) * d];
                let ci = class_of[i];
                for jdx in i + 1..n {
                    let sj = &s[jdx * d..(jdx + 1) * d];
                    let dist = si
                        .iter()
                        .zip(sj)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        .sqrt();
                    let cj = class_of[jdx];
                    let (a, b) = if ci <= cj { (ci, cj) } else { (cj, ci) };
                    acc[a * l + b] += dist;
                }
                acc
            },
        )
        .reduce(
            || vec![0.0f64; l * l],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    stop.check()?;

    // Step 3.
    let mut intra = 0.0;
    for c in 0..l {
        let pairs = (sizes[c] * (sizes[c] - 1) / 2) as f64;
        intra += sums[c * l + c] / pairs;
    }
    intra /= l as f64;
    let mut inter = 0.0;
    for a in 0..l {
        for b in a + 1..l {
            inter += sums[a * l + b] / (sizes[a] as f64 * sizes[b] as f64);
        }
    }
    inter /= (l * (l - 1) / 2) as f64;
    let root_d = (d as f64).sqrt();
    Ok(Gdv {
        value: (intra - inter) / root_d,
        intra: intra / root_d,
        inter: inter / root_d,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gdv<T: Scalar>(x: MatrixView<'_, T>, labels: Labels<'_>) -> CoreResult<Gdv> {
        super::gdv(x, labels, &Stop::never())
    }

    #[test]
    fn two_point_masses_give_minus_one() {
        // Two classes collapsed to points: after ½-z-scoring they sit at ±½ in each dimension.
        let x = [0.0f64, 5.0, 0.0, 5.0, 2.0, -1.0, 2.0, -1.0];
        let g = gdv(
            MatrixView::from_row_major(&x, 4, 2),
            Labels::I64(&[7, 7, 9, 9]),
        )
        .unwrap();
        assert!((g.value + 1.0).abs() < 1e-12, "{g:?}");
        assert_eq!(g.classes, vec![7, 9]);
    }

    #[test]
    fn rejects_single_class_and_singletons() {
        let x = [0.0f64, 1.0, 2.0];
        let v = MatrixView::from_row_major(&x, 3, 1);
        assert!(gdv(v, Labels::I64(&[1, 1, 1])).is_err());
        assert!(gdv(v, Labels::I64(&[1, 1, 2])).is_err());
    }

    /// 90 points in 4 dimensions, 3 classes with shifted means.
    fn three_clusters() -> (Vec<f64>, Vec<i64>) {
        use rand::rngs::SmallRng;
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = SmallRng::seed_from_u64(8);
        let (n, d) = (90, 4);
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        let x = (0..n * d)
            .map(|t| {
                let z: f64 = StandardNormal.sample(&mut rng);
                z + 1.5 * labels[t / d] as f64 * ((t % d) as f64 - 1.0)
            })
            .collect();
        (x, labels)
    }

    fn gdv_of(x: &[f64], labels: &[i64]) -> Gdv {
        gdv(
            MatrixView::from_row_major(x, labels.len(), x.len() / labels.len()),
            Labels::I64(labels),
        )
        .unwrap()
    }

    #[test]
    fn gdv_is_scale_invariant_from_1e_minus_300_to_1e300() {
        // gdv returned 0 ("no separation") for values beyond about 1e154 or below 1e-154.
        let (x, labels) = three_clusters();
        let want = gdv_of(&x, &labels);
        assert!(want.value < -0.1, "{want:?}");
        for &scale in &[1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300] {
            let scaled: Vec<f64> = x.iter().map(|v| v * scale).collect();
            let got = gdv_of(&scaled, &labels);
            for (a, b) in [
                (got.value, want.value),
                (got.intra, want.intra),
                (got.inter, want.inter),
            ] {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs(),
                    "scale {scale:e}: {a} vs {b}"
                );
            }
        }
        // Values near the largest double: their plain sum overflows.
        let big: Vec<f64> = x.iter().map(|v| v / 8.0 * 1.7e308).collect();
        let got = gdv_of(&big, &labels);
        assert!(
            (got.value - want.value).abs() <= 1e-12 * want.value.abs(),
            "{got:?}"
        );
    }

    #[test]
    fn a_column_mixing_huge_and_tiny_values_is_z_scored_exactly() {
        // Column 0 holds 1e300·x for class 0 and 1e-300 elsewhere: relative to its largest entry
        // the tiny ones are 0, so it z-scores like the column (x for class 0, 0 elsewhere).
        let (x, labels) = three_clusters();
        let d = 4;
        let mut mixed = x.clone();
        let mut reference = x.clone();
        for (i, &l) in labels.iter().enumerate() {
            mixed[i * d] = if l == 0 { 1e300 * x[i * d] } else { 1e-300 };
            reference[i * d] = if l == 0 { x[i * d] } else { 0.0 };
        }
        let (got, want) = (gdv_of(&mixed, &labels), gdv_of(&reference, &labels));
        assert!(
            (got.value - want.value).abs() <= 1e-12 * want.value.abs(),
            "{got:?} vs {want:?}"
        );
        assert!(got.value < -0.1);
    }
}
