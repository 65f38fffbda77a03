//! W' = U·diag(η)·Vᵀ from thin factors, without ever forming a dense product of full factors.
//!
//! With the components whose value changes (C) and those that stay non-zero (K), it computes
//! whichever of
//!   W' = U_K·diag(η_K)·V_Kᵀ            (cost N·M·|K|)
//!   W' = W + U_C·diag(η_C − s_C)·V_Cᵀ   (cost N·M·|C|)
//! is cheaper, so keeping a few spikes or dropping a few components are both fast. On the Gram
//! route U is never formed: uᵢsᵢ = A·vᵢ, so U_X·diag(c) = A·V_X·diag(c/s) (A = the tall copy of W;
//! A·V comes with the factors when the kept-vectors check computed it), and the result overwrites
//! A. The filter's output ([`reconstruct_row_major`]) writes U_K·diag(η_K)·V_Kᵀ block by block
//! straight into the row-major result in W's element type.

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
    let plan = Terms::plan(&factors, s, eta);
    let r = plan.idx.len();
    if r == 0 {
        return match factors {
            Factors::Gram { mut a, .. } => {
                if plan.use_nonzero {
                    a.fill(0.0);
                }
                a
            }
            _ if plan.use_nonzero => Mat::zeros(n, m),
            _ => to_f64_mat(w_tall),
        };
    }
    let (left, right) = plan.factors(&factors, s, eta);
    let accum = if plan.use_nonzero {
        Accum::Replace
    } else {
        Accum::Add
    };
    match factors {
        Factors::Gram { mut a, .. } => {
            product_into(&mut a, accum, left.as_ref(), right.as_ref());
            a
        }
        _ => {
            let mut out = if plan.use_nonzero {
                Mat::<f64>::zeros(n, m)
            } else {
                to_f64_mat(w_tall)
            };
            product_into(&mut out, accum, left.as_ref(), right.as_ref());
            out
        }
    }
}

/// [`reconstruct`] followed by [`to_row_major`]: W' row-major in W's own orientation and element
/// type. When W' is a product of its non-zero components alone, L·Rᵀ (the filters that keep
/// leading components), the product is written block by block straight into the output, without
/// the N×M f64 intermediate and its second pass.
pub fn reconstruct_row_major<T: Scalar>(
    w_tall: MatrixView<'_, T>,
    factors: Factors,
    s: &[f64],
    eta: &[f64],
    transposed: bool,
) -> Vec<T> {
    let plan = Terms::plan(&factors, s, eta);
    if !plan.use_nonzero || plan.idx.is_empty() {
        let out = reconstruct(w_tall, factors, s, eta);
        return to_row_major::<T>(out.as_ref(), transposed);
    }
    let (left, right) = plan.factors(&factors, s, eta);
    drop(factors);
    // Row-major W' is column-major W'ᵀ: L·Rᵀ when W is wide (W = Aᵀ), R·Lᵀ when it is tall.
    let (p, q) = if transposed {
        (left, right)
    } else {
        (right, left)
    };
    low_rank_column_major(p.as_ref(), q.as_ref())
}

/// Columns per block of the direct product (a block of f64 stays in cache before conversion).
const OUTPUT_BLOCK: usize = 32;

/// P·Qᵀ column-major in T, OUTPUT_BLOCK columns at a time, in parallel.
fn low_rank_column_major<T: Scalar>(p: MatRef<'_, f64>, q: MatRef<'_, f64>) -> Vec<T> {
    let (rows, cols) = (p.nrows(), q.nrows());
    let mut data = vec![T::from_f64(0.0); rows * cols];
    if rows == 0 || cols == 0 {
        return data;
    }
    data.par_chunks_mut(OUTPUT_BLOCK * rows)
        .enumerate()
        .for_each(|(b, chunk)| {
            let j0 = b * OUTPUT_BLOCK;
            let width = chunk.len() / rows;
            let mut block = Mat::<f64>::zeros(rows, width);
            matmul(
                block.as_mut(),
                Accum::Replace,
                p,
                q.subrows(j0, width).transpose(),
                1.0,
                Par::Seq,
            );
            for (j, out) in chunk.chunks_mut(rows).enumerate() {
                for (o, &x) in out.iter_mut().zip(block.col_as_slice(j)) {
                    *o = T::from_f64(x);
                }
            }
        });
    data
}

/// Which components a reconstruction multiplies, and how (module docs).
struct Terms {
    /// Rebuild from the non-zero components (L·Rᵀ) rather than add the changed ones to W.
    use_nonzero: bool,
    /// The components of L·Rᵀ.
    idx: Vec<usize>,
}

impl Terms {
    fn plan(factors: &Factors, s: &[f64], eta: &[f64]) -> Self {
        let nonzero: Vec<usize> = (0..s.len()).filter(|&i| eta[i] > 0.0).collect();
        let changed: Vec<usize> = (0..s.len()).filter(|&i| eta[i] != s[i]).collect();
        // Factors of the leading components only (the kept-vectors route) can only rebuild from them.
        let partial = matches!(factors, Factors::Gram { v, .. } if v.ncols() < s.len());
        debug_assert!(!partial || nonzero.iter().all(|&i| i < v_cols(factors)));
        let use_nonzero = partial || nonzero.len() <= changed.len();
        Terms {
            use_nonzero,
            idx: if use_nonzero { nonzero } else { changed },
        }
    }

    /// L (N×r) and R (M×r) with the term L·Rᵀ: L = U_X·diag(c), on the Gram route
    /// A·V_X·diag(c/s) (uᵢsᵢ = A·vᵢ); R = V_X.
    fn factors(&self, factors: &Factors, s: &[f64], eta: &[f64]) -> (Mat<f64>, Mat<f64>) {
        let idx = &self.idx;
        let r = idx.len();
        // The coefficient of component i in L·Rᵀ.
        let coeff = |i: usize| {
            if self.use_nonzero {
                eta[i]
            } else {
                eta[i] - s[i]
            }
        };
        match factors {
            Factors::Svd { u, v } => {
                let left = Mat::from_fn(u.nrows(), r, |row, k| u[(row, idx[k])] * coeff(idx[k]));
                let right = Mat::from_fn(v.nrows(), r, |row, k| v[(row, idx[k])]);
                (left, right)
            }
            Factors::Gram { a, v, av } => {
                let m = v.nrows();
                let scale = |i: usize| if s[i] > 0.0 { coeff(i) / s[i] } else { 0.0 };
                if let Some(av) = av.as_ref().filter(|p| idx.iter().all(|&i| i < p.ncols())) {
                    // A·V from the decomposition's check: L = (A·V)_X·diag(c/s) with no product.
                    let left =
                        Mat::from_fn(av.nrows(), r, |row, k| av[(row, idx[k])] * scale(idx[k]));
                    let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
                    return (left, right);
                }
                // uᵢ·c = A·vᵢ·(c/sᵢ).
                let scaled = Mat::from_fn(m, r, |row, k| v[(row, idx[k])] * scale(idx[k]));
                let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
                let mut left = Mat::<f64>::zeros(a.nrows(), r);
                matmul(
                    left.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    scaled.as_ref(),
                    1.0,
                    Par::rayon(0),
                );
                (left, right)
            }
            Factors::None => unreachable!("filters always keep factors"),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{decompose, Decomposition, Need};

    #[test]
    fn the_direct_output_equals_the_two_pass_one() {
        // Tall and wide, Gram and SVD factors: the block-wise output equals the f64 result converted.
        let (n, m) = (70, 30);
        let data: Vec<f32> = (0..n * m)
            .map(|i| {
                (((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
                    + if i % m == i / m % m { 3.0 } else { 0.0 }
            })
            .collect();
        for wide in [false, true] {
            let w = if wide {
                MatrixView::from_row_major(&data, m, n)
            } else {
                MatrixView::from_row_major(&data, n, m)
            };
            let w_tall = if wide { w.t() } else { w };
            for route in [Decomposition::Gram, Decomposition::Svd] {
                let d = || decompose(w, Need::LeadingComponents, route, &Stop::never()).unwrap();
                let s = d().s;
                // A kept prefix: the direct path (η non-zero on the first 4 only).
                let eta: Vec<f64> = s
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| if i < 4 { 0.8 * x } else { 0.0 })
                    .collect();
                let direct = reconstruct_row_major::<f32>(w_tall, d().factors, &s, &eta, wide);
                let two_pass = reconstruct(w_tall, d().factors, &s, &eta);
                let two_pass = to_row_major::<f32>(two_pass.as_ref(), wide);
                let scale = two_pass.iter().fold(0.0f32, |a, x| a.max(x.abs()));
                for (x, y) in direct.iter().zip(&two_pass) {
                    assert!((x - y).abs() <= 1e-6 * scale, "{x} vs {y}");
                }
            }
        }
    }
}
