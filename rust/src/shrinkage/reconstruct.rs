//! W' = U·diag(η)·Vᵀ from thin factors, without ever forming a dense product of full factors.
//!
//! With the components whose value changes (C) and those that stay non-zero (K), it computes
//! whichever of
//!   W' = U_K·diag(η_K)·V_Kᵀ            (cost N·M·|K|)
//!   W' = W + U_C·diag(η_C − s_C)·V_Cᵀ   (cost N·M·|C|)
//! is cheaper, so keeping a few spikes or dropping a few components are both fast. On the Gram
//! route U is never formed: uᵢsᵢ = A·vᵢ, so U_X·diag(c) = A·V_X·diag(c/s) (A = the tall copy of W),
//! and the result overwrites A.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::linalg::decomposition::Factors;
use crate::matrix::{to_f64_mat, MatrixView, Scalar};

/// W' in the tall orientation. `w_tall` is the input in that orientation; `factors` come from
/// the decomposition of it (consumed: the Gram route writes the result over its copy of A).
pub fn reconstruct<T: Scalar>(
    w_tall: MatrixView<'_, T>,
    factors: Factors,
    s: &[f64],
    eta: &[f64],
) -> Mat<f64> {
    let (n, m) = (w_tall.nrows(), w_tall.ncols());
    let nonzero: Vec<usize> = (0..s.len()).filter(|&i| eta[i] > 0.0).collect();
    let changed: Vec<usize> = (0..s.len()).filter(|&i| eta[i] != s[i]).collect();
    // Factors of the leading components only (the kept-vectors route) can only rebuild from them.
    let partial = matches!(&factors, Factors::Gram { v, .. } if v.ncols() < s.len());
    debug_assert!(!partial || nonzero.iter().all(|&i| i < v_cols(&factors)));
    let use_nonzero = partial || nonzero.len() <= changed.len();
    let idx = if use_nonzero { &nonzero } else { &changed };
    // The coefficient of component i in L·Rᵀ.
    let coeff = |i: usize| if use_nonzero { eta[i] } else { eta[i] - s[i] };
    let r = idx.len();
    match factors {
        Factors::Svd { u, v } => {
            if r == 0 {
                return if use_nonzero {
                    Mat::zeros(n, m)
                } else {
                    to_f64_mat(w_tall)
                };
            }
            let left = Mat::from_fn(n, r, |row, k| u[(row, idx[k])] * coeff(idx[k]));
            let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
            let (mut out, accum) = if use_nonzero {
                (Mat::<f64>::zeros(n, m), Accum::Replace)
            } else {
                (to_f64_mat(w_tall), Accum::Add)
            };
            product_into(&mut out, accum, left.as_ref(), right.as_ref());
            out
        }
        Factors::Gram { mut a, v } => {
            if r == 0 {
                if use_nonzero {
                    a.fill(0.0);
                }
                return a;
            }
            // uᵢ·c = A·vᵢ·(c/sᵢ).
            let scaled = Mat::from_fn(m, r, |row, k| {
                let i = idx[k];
                if s[i] > 0.0 {
                    v[(row, i)] * (coeff(i) / s[i])
                } else {
                    0.0
                }
            });
            let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
            let mut left = Mat::<f64>::zeros(n, r);
            matmul(
                left.as_mut(),
                Accum::Replace,
                a.as_ref(),
                scaled.as_ref(),
                1.0,
                Par::rayon(0),
            );
            let accum = if use_nonzero {
                Accum::Replace
            } else {
                Accum::Add
            };
            product_into(&mut a, accum, left.as_ref(), right.as_ref());
            a
        }
        Factors::None => unreachable!("filters always keep factors"),
    }
}

fn v_cols(factors: &Factors) -> usize {
    match factors {
        Factors::Gram { v, .. } | Factors::Svd { v, .. } => v.ncols(),
        Factors::None => 0,
    }
}

fn product_into(out: &mut Mat<f64>, accum: Accum, left: MatRef<'_, f64>, right: MatRef<'_, f64>) {
    matmul(
        out.as_mut(),
        accum,
        left,
        right.transpose(),
        1.0,
        Par::rayon(0),
    );
}

/// Row-major copy in the input's element type; `transposed` undoes the tall orientation.
pub fn to_row_major<T: Scalar>(out: MatRef<'_, f64>, transposed: bool) -> Vec<T> {
    const BLOCK: usize = 64;
    let (rows, cols) = if transposed {
        (out.ncols(), out.nrows())
    } else {
        (out.nrows(), out.ncols())
    };
    let mut data = vec![T::from_f64(0.0); rows * cols];
    if cols == 0 {
        return data;
    }
    data.par_chunks_mut(BLOCK * cols)
        .enumerate()
        .for_each(|(b, chunk)| {
            let r0 = b * BLOCK;
            let nr = chunk.len() / cols;
            if transposed {
                // Row i of the result is column i of `out`: contiguous reads.
                for di in 0..nr {
                    let col = out.col(r0 + di);
                    for (j, x) in chunk[di * cols..(di + 1) * cols].iter_mut().enumerate() {
                        *x = T::from_f64(col[j]);
                    }
                }
            } else {
                for j in 0..cols {
                    let col = out.col(j);
                    for di in 0..nr {
                        chunk[di * cols + j] = T::from_f64(col[r0 + di]);
                    }
                }
            }
        });
    data
}
