//! Eigenvectors of a few known eigenvalues of a symmetric matrix, through the band form of its
//! two-stage reduction: inverse iteration on the band (LAPACK dstein's scheme, with a banded LU
//! of B − λI in place of the tridiagonal one), then back through the stage-1 reflectors
//! (`symmetric_eigenvalues::BandReflectors`).
//!
//! The eigenvalues come from the values path (tridiagonal of the same band, root-free QR), so
//! each B − λI is singular to working precision and one or two solves give the vector. Per vector
//! this costs one banded factorisation (≈ 4·n·b² flops) and a few O(n·b) solves; the back
//! transformation is 4·n²·k flops in blocked products: for k ≪ n far less than the n·k-column
//! block products of a filtered subspace iteration on the dense matrix (`leading_eigenvectors`).
//!
//! Eigenvalues closer than [`CLUSTER_GAP`]·‖B‖ are one cluster: each iterate is orthogonalised
//! against the cluster's earlier vectors, and shifts closer than 10·ε·‖B‖ are pulled apart (as
//! dstein). Clusters are independent, so they run in parallel. The result is unchecked here: the
//! caller verifies residuals and orthogonality against its own matrix and falls back when they fail.

use faer::{Mat, MatRef, Par};
use rand::{rngs::SmallRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Eigenvalues closer than this times ‖B‖ are orthogonalised against each other (dstein's 1e-3).
pub const CLUSTER_GAP: f64 = 1e-3;
/// At most this many solves per vector.
const MAX_SOLVES: usize = 6;
/// A solve whose growth shows a residual below this times ‖B‖ has converged; one more follows.
const CONVERGED_RESIDUAL: f64 = 1e-14;

/// Eigenvectors (n×k, column j for `lambda[j]`) of the symmetric band matrix whose lower band of
/// half-width `b` is in `band` (entries (i, j) with 0 ≤ i − j ≤ b are read; nothing else), for
/// the eigenvalues `lambda` (any order, all of B's), with ‖B‖ ≈ `norm`. `None` when a solve
/// produced a non-finite vector.
pub fn band_eigenvectors(
    band: MatRef<'_, f64>,
    b: usize,
    lambda: &[f64],
    norm: f64,
    par: Par,
) -> Option<Mat<f64>> {
    let n = band.nrows();
    let k = lambda.len();
    if n == 0 || k == 0 {
        return Some(Mat::zeros(n, k));
    }
    // Clusters: runs of eigenvalues (in ascending order) closer than CLUSTER_GAP·‖B‖.
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| lambda[i].total_cmp(&lambda[j]));
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for (pos, &j) in order.iter().enumerate() {
        let joins = pos > 0 && lambda[j] - lambda[order[pos - 1]] <= CLUSTER_GAP * norm;
        match clusters.last_mut() {
            Some(c) if joins => c.push(j),
            _ => clusters.push(vec![j]),
        }
    }
    let band = LowerBand::new(band, b);
    let solve_cluster = |cluster: &Vec<usize>| -> Option<Vec<Solved>> {
        let mut done: Vec<Solved> = Vec::with_capacity(cluster.len());
        let mut previous_shift = f64::NEG_INFINITY;
        for &j in cluster {
            // Shifts within 10·ε·‖B‖ of each other are pulled apart (dstein's PERTOL).
            let shift = lambda[j].max(previous_shift + 10.0 * f64::EPSILON * norm);
            previous_shift = shift;
            let lu = BandLu::factor(&band, shift, norm);
            let members: Vec<&[f64]> = done.iter().map(|(_, v)| v.as_slice()).collect();
            let v = inverse_iteration(&lu, &members, norm, j as u64)?;
            done.push((j, v));
        }
        Some(done)
    };
    let solved: Option<Vec<Vec<Solved>>> = if par.degree() > 1 {
        clusters.par_iter().map(solve_cluster).collect()
    } else {
        clusters.iter().map(solve_cluster).collect()
    };
    let mut out = Mat::<f64>::zeros(n, k);
    for (j, v) in solved?.into_iter().flatten() {
        out.col_as_slice_mut(j).copy_from_slice(&v);
    }
    Some(out)
}

/// An eigenvector, with the index of its eigenvalue.
type Solved = (usize, Vec<f64>);

/// A unit vector x with (B − λI)·x small: solves from a fixed random start, each iterate
/// orthogonalised against `members` and normalised; stops one solve after the growth shows a
/// residual below [`CONVERGED_RESIDUAL`]·‖B‖.
fn inverse_iteration(lu: &BandLu, members: &[&[f64]], norm: f64, seed: u64) -> Option<Vec<f64>> {
    let n = lu.n;
    let mut rng = SmallRng::seed_from_u64(0x1e5e ^ seed);
    let mut x: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    orthonormalise(&mut x, members)?;
    let mut converged = false;
    for _ in 0..MAX_SOLVES {
        lu.solve(&mut x);
        // ‖x‖ after the solve of a unit vector bounds 1/‖(B − λI)·x̂‖ from below.
        let growth = orthonormalise(&mut x, members)?;
        if converged {
            break;
        }
        converged = growth * CONVERGED_RESIDUAL * norm >= 1.0;
    }
    Some(x)
}

/// x ← x − Σ (mᵀx)·m twice over the orthonormal `members`, then x/‖x‖; returns ‖x‖ before the
/// projection, or `None` when x is not finite or vanishes.
fn orthonormalise(x: &mut [f64], members: &[&[f64]]) -> Option<f64> {
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    x.iter_mut().for_each(|v| *v /= scale);
    let before = x.iter().map(|v| v * v).sum::<f64>().sqrt() * scale;
    for _ in 0..2 {
        for m in members {
            let c: f64 = m.iter().zip(x.iter()).map(|(a, b)| a * b).sum();
            x.iter_mut().zip(m.iter()).for_each(|(v, &mv)| *v -= c * mv);
        }
    }
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return None;
    }
    x.iter_mut().for_each(|v| *v /= norm);
    Some(before)
}

/// The lower band of a symmetric matrix, column-major: (i, j), 0 ≤ i − j ≤ b, at `data[j·(b+1) + i − j]`.
pub(crate) struct LowerBand {
    n: usize,
    b: usize,
    data: Vec<f64>,
}

impl LowerBand {
    pub(crate) fn new(a: MatRef<'_, f64>, b: usize) -> Self {
        let n = a.nrows();
        let b = b.min(n.saturating_sub(1));
        let mut data = vec![0.0; (b + 1) * n];
        for j in 0..n {
            for i in j..n.min(j + b + 1) {
                data[j * (b + 1) + i - j] = a[(i, j)];
            }
        }
        LowerBand { n, b, data }
    }
}

/// P·(B − λI) = L·U with partial pivoting, in LAPACK dgbtrf's layout: L has b sub-diagonals,
/// U 2b super-diagonals; (i, j) for j − 2b ≤ i ≤ j + b at `data[j·(3b+1) + i + 2b − j]`.
pub(crate) struct BandLu {
    n: usize,
    b: usize,
    data: Vec<f64>,
    pivots: Vec<usize>,
}

impl BandLu {
    pub(crate) fn factor(band: &LowerBand, shift: f64, norm: f64) -> Self {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (crate::cpu detected them).
            return unsafe { Self::factor_avx2(band, shift, norm) };
        }
        Self::factor_generic(band, shift, norm)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn factor_avx2(band: &LowerBand, shift: f64, norm: f64) -> Self {
        Self::factor_generic(band, shift, norm)
    }

    #[inline(always)]
    fn factor_generic(band: &LowerBand, shift: f64, norm: f64) -> Self {
        let (n, b) = (band.n, band.b);
        let ld = 3 * b + 1;
        let at = |i: usize, j: usize| j * ld + i + 2 * b - j;
        let mut data = vec![0.0; ld * n];
        for j in 0..n {
            for i in j..n.min(j + b + 1) {
                let v = band.data[j * (b + 1) + i - j];
                data[at(i, j)] = if i == j { v - shift } else { v };
                if i != j {
                    data[at(j, i)] = v;
                }
            }
        }
        // A zero pivot (B − λI exactly singular) is replaced by ε·‖B‖, as dstein's perturbation.
        let tiny = f64::EPSILON * norm.max(f64::MIN_POSITIVE);
        let mut pivots = vec![0; n];
        for j in 0..n {
            let below = b.min(n - 1 - j);
            let column = &data[at(j, j)..=at(j + below, j)];
            let p = j
                + (0..=below)
                    .max_by(|&x, &y| column[x].abs().total_cmp(&column[y].abs()))
                    .unwrap_or(0);
            pivots[j] = p;
            let last = (j + 2 * b).min(n - 1);
            if p != j {
                for c in j..=last {
                    data.swap(at(j, c), at(p, c));
                }
            }
            if data[at(j, j)] == 0.0 {
                data[at(j, j)] = tiny;
            }
            if below == 0 {
                continue;
            }
            let d = data[at(j, j)];
            let start = at(j + 1, j);
            data[start..start + below].iter_mut().for_each(|x| *x /= d);
            // Rank-one update of the rows below j in columns j+1..=last (column c's rows
            // j+1..=j+below are contiguous, after column j's multipliers).
            let (head, tail) = data.split_at_mut((j + 1) * ld);
            let multipliers = &head[start..start + below];
            for c in j + 1..=last {
                let u = tail[(c - j - 1) * ld + j + 2 * b - c];
                if u == 0.0 {
                    continue;
                }
                let s = (c - j - 1) * ld + j + 1 + 2 * b - c;
                for (x, &l) in tail[s..s + below].iter_mut().zip(multipliers) {
                    *x -= l * u;
                }
            }
        }
        BandLu { n, b, data, pivots }
    }

    /// y ← (B − λI)⁻¹·y.
    pub(crate) fn solve(&self, y: &mut [f64]) {
        let (n, b) = (self.n, self.b);
        let ld = 3 * b + 1;
        let at = |i: usize, j: usize| j * ld + i + 2 * b - j;
        for j in 0..n {
            let p = self.pivots[j];
            y.swap(j, p);
            let below = b.min(n - 1 - j);
            let yj = y[j];
            let start = at(j + 1, j);
            for (yi, &l) in y[j + 1..=j + below]
                .iter_mut()
                .zip(&self.data[start..start + below])
            {
                *yi -= l * yj;
            }
        }
        for j in (0..n).rev() {
            let last = (j + 2 * b).min(n - 1);
            let mut s = y[j];
            for (c, &yc) in y.iter().enumerate().take(last + 1).skip(j + 1) {
                s -= self.data[at(j, c)] * yc;
            }
            y[j] = s / self.data[at(j, j)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::band_chase::tests::random_band;
    use crate::linalg::leading_eigenvectors::product;

    #[test]
    fn vectors_of_a_band_matrix_have_tiny_residuals() {
        let (n, b) = (300, 7);
        let a = random_band(n, b, 1);
        let eig = a.self_adjoint_eigen(faer::Side::Lower).unwrap();
        let all: Vec<f64> = eig.S().column_vector().iter().copied().collect();
        let norm = all.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        // The 10 largest and 3 smallest, in mixed order.
        let wanted: Vec<f64> = (0..10)
            .map(|i| all[n - 1 - i])
            .chain([all[0], all[2], all[1]])
            .collect();
        for par in [Par::Seq, Par::rayon(2)] {
            let v = band_eigenvectors(a.as_ref(), b, &wanted, norm, par).unwrap();
            let av = product(a.as_ref(), v.as_ref(), Par::Seq);
            for (j, &l) in wanted.iter().enumerate() {
                let r: f64 = (0..n)
                    .map(|i| (av[(i, j)] - l * v[(i, j)]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(r < 1e-12 * norm, "{j}: residual {r}");
            }
            let vtv = product(v.transpose(), v.as_ref(), Par::Seq);
            for i in 0..wanted.len() {
                for j in 0..wanted.len() {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((vtv[(i, j)] - want).abs() < 1e-12, "{i},{j}");
                }
            }
        }
    }

    #[test]
    fn a_repeated_eigenvalue_gets_orthogonal_vectors() {
        // diag(1, 2, 2, 2, 3, …) rotated within a band: three equal eigenvalues form one cluster.
        let n = 60;
        let mut a = Mat::<f64>::zeros(n, n);
        for i in 0..n {
            a[(i, i)] = if (1..4).contains(&i) {
                2.0
            } else {
                10.0 + i as f64
            };
        }
        let v = band_eigenvectors(a.as_ref(), 3, &[2.0; 3], 70.0, Par::Seq).unwrap();
        let vtv = product(v.transpose(), v.as_ref(), Par::Seq);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((vtv[(i, j)] - want).abs() < 1e-12);
            }
            // Each lies in span(e₁, e₂, e₃).
            let outside: f64 = (0..n)
                .filter(|r| !(1..4).contains(r))
                .map(|r| v[(r, i)].powi(2))
                .sum();
            assert!(outside < 1e-20, "{outside}");
        }
    }
}
