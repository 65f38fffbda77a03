//! Streaming total variation of a layer, ν = tr Cov(h) = Σ_d Var(h_d) (population, ddof = 0), over
//! batches of flattened representations. Each batch is reduced exactly (two passes, f64) and merged
//! with Chan et al.'s parallel update, so the result does not depend on how the data were batched
//! beyond rounding, and large offsets do not cancel catastrophically.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::matrix::{MatrixView, Scalar};

/// Streaming tr Cov(h): count, per-dimension mean and sum of squared deviations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TotalVariation {
    count: u64,
    mean: Vec<f64>,
    /// Per-dimension sum of squared deviations from `mean`.
    m2: Vec<f64>,
}

impl TotalVariation {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Examples seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Feature dimension, 0 before the first batch.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Per-dimension mean (empty before the first batch).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// tr Cov(h) with the 1/N normalisation; an error before any data arrived.
    pub fn value(&self) -> CoreResult<f64> {
        if self.count == 0 {
            return Err(CoreError::Empty {
                what: "total-variation accumulator",
            });
        }
        Ok(self.m2.iter().sum::<f64>() / self.count as f64)
    }

    /// Adds a B×D batch (one flattened example per row).
    pub fn update<T: Scalar>(&mut self, batch: MatrixView<'_, T>) -> CoreResult<()> {
        let (b, d) = (batch.nrows(), batch.ncols());
        if b == 0 || d == 0 {
            return Err(CoreError::Empty { what: "batch" });
        }
        if self.count > 0 && d != self.dim() {
            return Err(CoreError::invalid(
                "batch",
                format!(
                    "has {d} features per example, earlier batches had {}",
                    self.dim()
                ),
            ));
        }
        crate::matrix::check_finite_matrix(batch, "batch")?;
        // Blocks of rows reduced exactly (two passes, reading rows in memory order), merged with
        // Chan's update: parallel, cache friendly for row-major batches.
        let block = (16_384 / d).clamp(8, 4096);
        let merged = (0..b.div_ceil(block))
            .into_par_iter()
            .map(|t| {
                let (r0, r1) = (t * block, ((t + 1) * block).min(b));
                let mut mean = vec![0.0f64; d];
                for i in r0..r1 {
                    for (j, m) in mean.iter_mut().enumerate() {
                        *m += batch.get(i, j).to_f64();
                    }
                }
                let cnt = (r1 - r0) as f64;
                mean.iter_mut().for_each(|m| *m /= cnt);
                let mut m2 = vec![0.0f64; d];
                for i in r0..r1 {
                    for (j, s) in m2.iter_mut().enumerate() {
                        let e = batch.get(i, j).to_f64() - mean[j];
                        *s += e * e;
                    }
                }
                TotalVariation {
                    count: (r1 - r0) as u64,
                    mean,
                    m2,
                }
            })
            .reduce(TotalVariation::new, |mut x, y| {
                x.merge(&y).expect("blocks share the dimension");
                x
            });
        self.merge(&merged)
    }

    /// Chan's merge: combines the statistics of two disjoint sets of examples.
    pub fn merge(&mut self, other: &TotalVariation) -> CoreResult<()> {
        if other.count == 0 {
            return Ok(());
        }
        if self.count == 0 {
            *self = other.clone();
            return Ok(());
        }
        if other.dim() != self.dim() {
            return Err(CoreError::invalid(
                "other",
                format!(
                    "has dimension {}, this accumulator {}",
                    other.dim(),
                    self.dim()
                ),
            ));
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        for j in 0..self.mean.len() {
            let delta = other.mean[j] - self.mean[j];
            self.mean[j] += delta * (nb / n);
            self.m2[j] += other.m2[j] + delta * delta * (na * nb / n);
        }
        self.count += other.count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_equals_direct_even_with_a_large_offset() {
        let (n, d) = (103, 7);
        let data: Vec<f64> = (0..n * d)
            .map(|t| 1e8 + ((t * 7919) % 101) as f64 * 0.01)
            .collect();
        let mut direct = 0.0;
        for j in 0..d {
            let col: Vec<f64> = (0..n).map(|i| data[i * d + j]).collect();
            let mu = col.iter().sum::<f64>() / n as f64;
            direct += col.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        }
        let mut acc = TotalVariation::new();
        for (start, end) in [(0, 1), (1, 40), (40, 41), (41, 103)] {
            let view = MatrixView::from_row_major(&data[start * d..end * d], end - start, d);
            acc.update(view).unwrap();
        }
        assert_eq!(acc.count(), n as u64);
        assert!((acc.value().unwrap() - direct).abs() < 1e-9 * direct);
    }

    #[test]
    fn rejects_dimension_change_and_empty() {
        let mut acc = TotalVariation::new();
        assert!(acc.value().is_err());
        acc.update(MatrixView::from_row_major(&[1.0f32, 2.0], 1, 2))
            .unwrap();
        assert!(acc
            .update(MatrixView::from_row_major(&[1.0f32, 2.0, 3.0], 1, 3))
            .is_err());
        assert_eq!(acc.value().unwrap(), 0.0);
    }
}
