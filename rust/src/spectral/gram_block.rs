//! G·X = WᵀW·X for a block X of `GRAM_BLOCK` columns, read straight from the input matrix
//! without a float64 copy of W (the partial route's products, `partial`).
//!
//! Accuracy: every element of W is widened to f64 as it is read (exact for f32 and f64), scaled
//! by a power of two (exact), and every product and sum runs in f64, so the result is the product
//! the f64 copy of W gave, up to the order of the sums; the input's precision costs nothing.
//! Speed: W is read once per block when its rows (length M) are contiguous (the fused product
//! Σᵢ wᵢ(wᵢᵀX), four rows at a time), twice when its columns are (stored wide: W·X, then Wᵀ·Y),
//! in the input's own width (half the bytes of the f64 copy for f32), with AVX2/FMA where the CPU
//! has it (checked at run time). Determinism: the rows are split into a fixed number of chunks
//! whatever the thread count, and the chunks' sums are added in order.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use crate::matrix::{MatrixView, Scalar};

/// Columns of the block each product takes.
pub const GRAM_BLOCK: usize = 8;
/// Row chunks of the fused product (fixed, so the sums' order does not depend on the threads).
const CHUNKS: usize = 8;
/// Rows (or lines) handled together, sharing each load of X or Y.
const TILE: usize = 4;

type Row = [f64; GRAM_BLOCK];

/// W (N×M, N ≥ M after orientation) with one unit stride, as contiguous lines.
#[derive(Clone, Copy)]
pub struct GramOperator<'a, T> {
    w: MatrixView<'a, T>,
    /// Rows (length M) contiguous; otherwise columns (length N) are.
    rows_contiguous: bool,
    scale: f64,
}

impl<'a, T: Scalar> GramOperator<'a, T> {
    /// None when neither stride of `w` is 1 (the caller copies it first).
    pub fn new(w: MatrixView<'a, T>, scale: f64) -> Option<Self> {
        let rows_contiguous = if w.col_stride() == 1 {
            true
        } else if w.row_stride() == 1 {
            false
        } else {
            return None;
        };
        Some(Self {
            w,
            rows_contiguous,
            scale,
        })
    }

    /// Rows N and columns M of W.
    pub fn shape(&self) -> (usize, usize) {
        (self.w.nrows(), self.w.ncols())
    }

    fn line(&self, k: usize) -> &'a [T] {
        let (len, stride) = if self.rows_contiguous {
            (self.w.ncols(), self.w.row_stride())
        } else {
            (self.w.nrows(), self.w.col_stride())
        };
        // SAFETY: the view guarantees every element of line k (unit stride along it) is readable
        // for 'a.
        unsafe { std::slice::from_raw_parts(self.w.as_ptr().offset(k as isize * stride), len) }
    }

    /// In one pass: the largest |wᵢⱼ|, whether every entry is finite, and the squared norms of
    /// W's columns (scaled), in f64.
    pub fn scan(&self) -> (f64, bool, Vec<f64>) {
        let (n, m) = self.shape();
        let s = self.scale;
        let square_sum = |line: &[T], acc: &mut [f64]| -> (f64, bool) {
            let mut largest = 0.0f64;
            let mut finite = true;
            for (a, &x) in acc.iter_mut().zip(line) {
                let v = x.to_f64();
                largest = largest.max(v.abs());
                finite &= v.is_finite();
                let v = v * s;
                *a += v * v;
            }
            (largest, finite)
        };
        if self.rows_contiguous {
            let parts: Vec<(f64, bool, Vec<f64>)> = chunks(n)
                .into_par_iter()
                .map(|(r0, r1)| {
                    let mut acc = vec![0.0; m];
                    let (mut largest, mut finite) = (0.0f64, true);
                    for i in r0..r1 {
                        let (l, f) = square_sum(self.line(i), &mut acc);
                        largest = largest.max(l);
                        finite &= f;
                    }
                    (largest, finite, acc)
                })
                .collect();
            let (mut largest, mut finite, mut total) = (0.0f64, true, vec![0.0; m]);
            for (l, f, p) in parts {
                largest = largest.max(l);
                finite &= f;
                total.iter_mut().zip(p).for_each(|(t, x)| *t += x);
            }
            (largest, finite, total)
        } else {
            let per_line: Vec<(f64, bool, f64)> = (0..m)
                .into_par_iter()
                .map(|j| {
                    let line = self.line(j);
                    let mut acc = 0.0;
                    let (mut largest, mut finite) = (0.0f64, true);
                    for &x in line {
                        let v = x.to_f64();
                        largest = largest.max(v.abs());
                        finite &= v.is_finite();
                        acc += (v * s) * (v * s);
                    }
                    (largest, finite, acc)
                })
                .collect();
            let largest = per_line.iter().fold(0.0f64, |a, p| a.max(p.0));
            let finite = per_line.iter().all(|p| p.1);
            (largest, finite, per_line.into_iter().map(|p| p.2).collect())
        }
    }

    /// G·X for X of M rows and any number of columns (taken `GRAM_BLOCK` at a time).
    pub fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let (_, m) = self.shape();
        assert_eq!(x.nrows(), m);
        let mut out = Mat::<f64>::zeros(m, x.ncols());
        for c0 in (0..x.ncols()).step_by(GRAM_BLOCK) {
            let b = GRAM_BLOCK.min(x.ncols() - c0);
            let xr: Vec<Row> = (0..m)
                .map(|i| std::array::from_fn(|k| if k < b { x[(i, c0 + k)] } else { 0.0 }))
                .collect();
            let z = if self.rows_contiguous {
                self.fused(&xr)
            } else {
                self.two_pass(&xr)
            };
            for (i, zi) in z.iter().enumerate() {
                for k in 0..b {
                    out[(i, c0 + k)] = zi[k];
                }
            }
        }
        out
    }

    /// Σᵢ wᵢ(wᵢᵀX) over the rows, in fixed chunks added in order.
    fn fused(&self, x: &[Row]) -> Vec<Row> {
        let (n, m) = self.shape();
        let parts: Vec<Vec<Row>> = chunks(n)
            .into_par_iter()
            .map(|(r0, r1)| {
                let mut z = vec![[0.0; GRAM_BLOCK]; m];
                let rows: Vec<&[T]> = (r0..r1).map(|i| self.line(i)).collect();
                dispatch_fused(&rows, x, self.scale, &mut z);
                z
            })
            .collect();
        let mut parts = parts.into_iter();
        let mut z = parts.next().unwrap_or_else(|| vec![[0.0; GRAM_BLOCK]; m]);
        for p in parts {
            for (a, b) in z.iter_mut().zip(p) {
                for k in 0..GRAM_BLOCK {
                    a[k] += b[k];
                }
            }
        }
        z
    }

    /// Y = W·X (over the stored columns of W), then Wᵀ·Y; each output element sums in one
    /// fixed order.
    fn two_pass(&self, x: &[Row]) -> Vec<Row> {
        let (n, m) = self.shape();
        let lines: Vec<&[T]> = (0..m).map(|j| self.line(j)).collect();
        const SPAN: usize = 512;
        let mut y = vec![[0.0; GRAM_BLOCK]; n];
        y.par_chunks_mut(SPAN).enumerate().for_each(|(c, yc)| {
            dispatch_spread(&lines, c * SPAN, x, self.scale, yc);
        });
        let mut z = vec![[0.0; GRAM_BLOCK]; m];
        z.par_chunks_mut(TILE).enumerate().for_each(|(c, zc)| {
            dispatch_gather(&lines[c * TILE..c * TILE + zc.len()], &y, self.scale, zc);
        });
        z
    }
}

/// Fixed row chunks of 0..n.
fn chunks(n: usize) -> Vec<(usize, usize)> {
    let size = n.div_ceil(CHUNKS).max(1);
    (0..n)
        .step_by(size)
        .map(|r0| (r0, (r0 + size).min(n)))
        .collect()
}

#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// z += Σ over `rows` of wᵢ(wᵢᵀx).
#[inline(always)]
fn fused_body<T: Scalar, const FMA: bool>(rows: &[&[T]], x: &[Row], s: f64, z: &mut [Row]) {
    let m = x.len();
    let z = &mut z[..m];
    let mut tiles = rows.chunks_exact(TILE);
    for tile in tiles.by_ref() {
        let w: [&[T]; TILE] = std::array::from_fn(|r| &tile[r][..m]);
        let mut t = [[0.0; GRAM_BLOCK]; TILE];
        for j in 0..m {
            let xj = &x[j];
            for r in 0..TILE {
                let a = w[r][j].to_f64() * s;
                for k in 0..GRAM_BLOCK {
                    t[r][k] = madd::<FMA>(a, xj[k], t[r][k]);
                }
            }
        }
        for (j, zj) in z.iter_mut().enumerate() {
            let a: [f64; TILE] = std::array::from_fn(|r| w[r][j].to_f64() * s);
            for k in 0..GRAM_BLOCK {
                let mut acc = zj[k];
                for r in 0..TILE {
                    acc = madd::<FMA>(a[r], t[r][k], acc);
                }
                zj[k] = acc;
            }
        }
    }
    for row in tiles.remainder() {
        let row = &row[..m];
        let mut t = [0.0; GRAM_BLOCK];
        for (j, xj) in x.iter().enumerate() {
            let a = row[j].to_f64() * s;
            for k in 0..GRAM_BLOCK {
                t[k] = madd::<FMA>(a, xj[k], t[k]);
            }
        }
        for (j, zj) in z.iter_mut().enumerate() {
            let a = row[j].to_f64() * s;
            for k in 0..GRAM_BLOCK {
                zj[k] = madd::<FMA>(a, t[k], zj[k]);
            }
        }
    }
}

/// y[i] = Σⱼ lineⱼ[i0 + i]·x[j] for the span of y.
#[inline(always)]
fn spread_body<T: Scalar, const FMA: bool>(
    lines: &[&[T]],
    i0: usize,
    x: &[Row],
    s: f64,
    y: &mut [Row],
) {
    let len = y.len();
    let mut j = 0;
    while j < lines.len() {
        let t = TILE.min(lines.len() - j);
        let w: [&[T]; TILE] = std::array::from_fn(|r| &lines[j + r.min(t - 1)][i0..i0 + len]);
        let xs: [Row; TILE] =
            std::array::from_fn(|r| if r < t { x[j + r] } else { [0.0; GRAM_BLOCK] });
        for (i, yi) in y.iter_mut().enumerate() {
            let a: [f64; TILE] = std::array::from_fn(|r| w[r][i].to_f64() * s);
            for k in 0..GRAM_BLOCK {
                let mut acc = yi[k];
                for r in 0..TILE {
                    acc = madd::<FMA>(a[r], xs[r][k], acc);
                }
                yi[k] = acc;
            }
        }
        j += t;
    }
}

/// z[r] = Σᵢ lines[r][i]·y[i].
#[inline(always)]
fn gather_body<T: Scalar, const FMA: bool>(lines: &[&[T]], y: &[Row], s: f64, z: &mut [Row]) {
    let t = lines.len();
    let w: [&[T]; TILE] = std::array::from_fn(|r| &lines[r.min(t - 1)][..y.len()]);
    let mut acc = [[0.0; GRAM_BLOCK]; TILE];
    for (i, yi) in y.iter().enumerate() {
        for r in 0..TILE {
            let a = w[r][i].to_f64() * s;
            for k in 0..GRAM_BLOCK {
                acc[r][k] = madd::<FMA>(a, yi[k], acc[r][k]);
            }
        }
    }
    z.copy_from_slice(&acc[..t]);
}

macro_rules! dispatch {
    ($name:ident, $avx:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx<T: Scalar>($($arg: $ty),*) {
            $body::<T, true>($($arg),*)
        }

        fn $name<T: Scalar>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { $avx($($arg),*) };
            }
            $body::<T, false>($($arg),*)
        }
    };
}

dispatch!(dispatch_fused, fused_avx2, fused_body, (rows: &[&[T]], x: &[Row], s: f64, z: &mut [Row]));
dispatch!(dispatch_spread, spread_avx2, spread_body, (lines: &[&[T]], i0: usize, x: &[Row], s: f64, y: &mut [Row]));
dispatch!(dispatch_gather, gather_avx2, gather_body, (lines: &[&[T]], y: &[Row], s: f64, z: &mut [Row]));

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn matches_the_f64_product_in_both_layouts_and_types() {
        let (n, m, b) = (37, 19, 11);
        let mut rng = SmallRng::seed_from_u64(7);
        let data: Vec<f32> = (0..n * m)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let x = Mat::<f64>::from_fn(m, b, |_, _| StandardNormal.sample(&mut rng));
        let a = Mat::<f64>::from_fn(n, m, |i, j| data[i * m + j] as f64 * 0.5);
        let expected = a.transpose() * (&a * &x);
        let tall = MatrixView::from_row_major(&data, n, m);
        let stored_wide: Vec<f32> = (0..m * n).map(|k| data[(k % n) * m + k / n]).collect();
        let wide = MatrixView::from_row_major(&stored_wide, m, n).t();
        let data64: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        let tall64 = MatrixView::from_row_major(&data64, n, m);
        let check = |z: Mat<f64>| {
            let err = (&z - &expected).norm_max() / expected.norm_max();
            assert!(err < 1e-13, "{err}");
        };
        check(GramOperator::new(tall, 0.5).unwrap().apply(x.as_ref()));
        check(GramOperator::new(wide, 0.5).unwrap().apply(x.as_ref()));
        check(GramOperator::new(tall64, 0.5).unwrap().apply(x.as_ref()));
        let op = GramOperator::new(wide, 0.5).unwrap();
        let (largest, finite, squares) = op.scan();
        assert!(finite && largest > 0.0);
        for (j, sq) in squares.iter().enumerate() {
            let want = a.col(j).squared_norm_l2();
            assert!((sq / want - 1.0).abs() < 1e-13);
        }
        let strided =
            unsafe { MatrixView::from_raw_parts(data.as_ptr(), n / 2, m / 2, 2 * m as isize, 2) };
        assert!(GramOperator::new(strided, 1.0).is_none());
    }
}
