//! Small dense helpers shared by the L1 solvers: the row-major design copy and the inverse of a
//! square basis matrix by Gaussian elimination with partial pivoting. Basis sizes are tens to a
//! few thousand, so an O(n³) refactorisation every few dozen pivots is cheap next to the O(N·n)
//! passes over the data.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::matrix::{MatrixView, Scalar};

/// Rows with at most this many entries per parallel chunk of a pass over the data.
pub(crate) const CHUNK: usize = 4096;

/// An N×q row-major f64 copy of the data, with a trailing column of ones when asked.
#[derive(Debug, Clone)]
pub struct Design {
    /// Row-major entries.
    pub data: Vec<f64>,
    /// Number of rows N.
    pub n: usize,
    /// Number of columns q (the data's columns, plus one for the intercept).
    pub q: usize,
}

impl Design {
    /// Copies `x` (any strides), checking that every entry is finite.
    pub fn new<T: Scalar>(
        x: MatrixView<'_, T>,
        intercept: bool,
        what: &'static str,
    ) -> CoreResult<Design> {
        let (n, p) = (x.nrows(), x.ncols());
        if n == 0 || p == 0 && !intercept {
            return Err(CoreError::Empty { what });
        }
        let q = p + intercept as usize;
        let mut data = vec![0.0; n * q];
        data.par_chunks_mut(q).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate().take(p) {
                *v = x.get(i, j).to_f64();
            }
            if intercept {
                row[p] = 1.0;
            }
        });
        if let Some(k) = data.par_iter().position_first(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite {
                what,
                value: data[k],
                location: format!("row {}, column {}", k / q, k % q),
            });
        }
        Ok(Design { data, n, q })
    }

    /// Row i.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.q..(i + 1) * self.q]
    }

    /// X·d, in parallel over rows.
    pub fn times(&self, d: &[f64], out: &mut [f64]) {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (k, o) in chunk.iter_mut().enumerate() {
                    *o = dot(self.row(c * CHUNK + k), d);
                }
            });
    }
}

/// The dot product.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Euclidean norm.
#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// The inverse of the n×n row-major matrix `m`, or `None` when a pivot falls below
/// `rel_tol`·(largest entry of its column): the rows are then numerically dependent.
pub fn inverse(m: &[f64], n: usize, rel_tol: f64) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    let scale: Vec<f64> = (0..n)
        .map(|j| (0..n).map(|i| m[i * n + j].abs()).fold(0.0, f64::max))
        .collect();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&r, &s| a[r * n + col].abs().total_cmp(&a[s * n + col].abs()))
            .expect("non-empty range");
        let pv = a[piv * n + col];
        if pv.is_nan() || pv.abs() <= rel_tol * scale[col].max(f64::MIN_POSITIVE) {
            return None;
        }
        if piv != col {
            for j in 0..n {
                a.swap(piv * n + j, col * n + j);
                inv.swap(piv * n + j, col * n + j);
            }
        }
        let inv_p = 1.0 / pv;
        for j in 0..n {
            a[col * n + j] *= inv_p;
            inv[col * n + j] *= inv_p;
        }
        for r in 0..n {
            if r == col {
                continue;
            }
            let f = a[r * n + col];
            if f != 0.0 {
                for j in 0..n {
                    a[r * n + j] -= f * a[col * n + j];
                    inv[r * n + j] -= f * inv[col * n + j];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity_and_singular_is_refused() {
        let m = [2.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0, 1.0, 4.0];
        let inv = inverse(&m, 3, 1e-12).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| m[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((v - (i == j) as u8 as f64).abs() < 1e-12);
            }
        }
        assert!(inverse(&[1.0, 2.0, 2.0, 4.0], 2, 1e-12).is_none());
    }

    #[test]
    fn design_appends_ones_and_names_a_non_finite_entry() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let d = Design::new(MatrixView::from_row_major(&x, 2, 2), true, "X").unwrap();
        assert_eq!(d.row(1), &[3.0, 4.0, 1.0]);
        let bad = [1.0, f64::NAN, 3.0, 4.0];
        let e = Design::new(MatrixView::from_row_major(&bad, 2, 2), true, "X").unwrap_err();
        assert!(e.to_string().contains("row 0, column 1"), "{e}");
    }
}
