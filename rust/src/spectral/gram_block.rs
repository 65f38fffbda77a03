//! G·X = WᵀW·X for a block X of `GRAM_BLOCK` columns, read straight from the input matrix
//! without a float64 copy of W (the partial route's products, `partial`).
//!
//! Accuracy: every element of W is widened to f64 as it is read (exact for f32 and f64), scaled
//! by a power of two (exact), and every product and sum runs in f64, so the result is the product
//! the f64 copy of W gave, up to the order of the sums; the input's precision costs nothing.
//! Speed: W is read once per block when its rows (length M) are contiguous (the fused product
//! Σᵢ wᵢ(wᵢᵀX)), twice when its columns are (stored wide: W·X, then Wᵀ·Y), in the input's own
//! width (half the bytes of the f64 copy for f32), with AVX2/FMA where the CPU has it (checked at
//! run time). The fused product widens `TILE` = 6 rows at a time, `SPAN` = 128 elements of each,
//! into an f64 tile, so that its AVX2 kernels (intrinsics) take each element by one broadcast
//! load and keep the accumulators (6 rows × 8 columns, or 12 × 4) in 12 registers, and goes over `GROUP` = 48 rows a piece
//! of X (then of Z) at a time, so that piece stays in L1; the sums run in the same order as
//! before (row by row, element by element), so the results are bit for bit those of the
//! four-row kernel it replaced. Measured at 32000×2048 f32, one thread, loaded machine (load
//! 2.5-5; OpenBLAS dgemm reached 26 GFLOP/s in the same minutes), per block of 8 in five runs
//! against the four-row kernel in the same run: 0.101/0.114, 0.143/0.179, 0.185/0.178,
//! 0.150/0.161, 0.132/0.131 s, i.e. 0.80-1.04×: no clear gain at 8 columns; at 4 columns (12-row
//! tiles) a pass took 0.75-0.86× of one over 8, not the 0.5× of its flops (the widening and
//! broadcasts do not halve). Blocks of at most `NARROW` = 4 columns (the Krylov blocks) therefore
//! go to the kernels of `gram_narrow`, vectorised along the lines instead (4 elements of a line
//! widened by one instruction, no tile, X, Y and Z in a span-blocked layout), in both layouts;
//! the two-pass product's W·X goes over fixed chunks of lines, `GROUP` lines a span of Y at a
//! time, each chunk its own Y added in order (lines read in long runs: one span of every line at a
//! time touched a page per line). Measured per pass, one thread, f32, best of 5, three runs on a
//! loaded machine (load 2.8-3.3), the narrow kernels against the 4- and 8-column tile kernels
//! in the same runs: fused 32000×2048 45-64 ms against 79-91 and 126 ms, 5632×2048 10-16 ms
//! against 18-30 and 17-29 ms; two-pass 11008×4096 (the last run, with the chunked W·X) 51 ms
//! against 65 and 98 ms, 5632×2048 stored wide 23 ms against 27 and 44 ms: a pass of 4 columns
//! now costs 0.36-0.55× of one over 8. The 8-column kernels below serve wider blocks (the
//! dispersion probes). Every product also returns W·X, which it computes on the way (the
//! rows wᵢᵀX of the fused pass, Y of the two-pass one): the filter's rebuild takes W·V from
//! them (`partial`). Determinism: the rows (lines) are split into a fixed number of chunks
//! (`CHUNKS` = 16, finer than the 8 before so that two threads under load share the work more
//! evenly) whatever the thread count, and the chunks' sums are added in order.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use crate::matrix::{MatrixView, Scalar};

use super::gram_narrow::{self, axpy_lines, blocked_len, dot_lines};

/// Columns of the block each product takes.
pub const GRAM_BLOCK: usize = 8;
/// The narrow kernel's columns (the Krylov block, `PARTIAL_BLOCK`): half the work of a pass of
/// `GRAM_BLOCK` columns (`gram_narrow`).
pub const NARROW: usize = gram_narrow::NARROW;
/// Row chunks of the fused product and the scan, line chunks of the narrow two-pass W·X (fixed,
/// so the sums' order does not depend on the threads).
const CHUNKS: usize = 16;
/// Accumulator registers of the fused kernels (of the 16 AVX2 ones): a tile of 6 rows at 8
/// columns (two registers a row), 12 rows at 4.
const ACCUMULATORS: usize = 12;

/// Rows of W widened together into an f64 tile, whose products share each load of X or Z.
const fn tile_rows(columns: usize) -> usize {
    ACCUMULATORS * 4 / columns
}
/// Elements of a line widened at a time (the tile, 6·128 f64, and the piece of X, Y or Z the
/// tile multiplies, 128·8 f64, stay in L1).
const SPAN: usize = 128;
/// Lines the two-pass product takes together, each element widened as it is read (widening
/// into a tile first, as the fused product does, measured slower there: its pieces of the lines
/// are short, spread over many pages).
const LINE_TILE: usize = 4;
/// Elements of W·X each task of the two-pass product computes.
const SPREAD_SPAN: usize = 512;
/// Rows of the fused product that share each piece of X and Z read into L1.
const GROUP: usize = 48;

/// A row of a block of C columns (C = 4 or `GRAM_BLOCK`).
type Row<const C: usize> = [f64; C];

/// Rows 0..m of columns c0..c0 + b of X, as rows of C zero-padded past b.
fn block_rows<const C: usize>(x: MatRef<'_, f64>, m: usize, c0: usize, b: usize) -> Vec<Row<C>> {
    (0..m)
        .map(|i| std::array::from_fn(|k| if k < b { x[(i, c0 + k)] } else { 0.0 }))
        .collect()
}

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
    /// W's columns (scaled), in f64, by the AVX2 kernels of `gram_narrow::scan_row`/`scan_line`
    /// (the sums of the portable loops, in the same order: a line's squares summed lane by lane,
    /// the lanes added as (q₀ + q₁) + (q₂ + q₃); a non-finite entry shows as a NaN in w·0).
    /// Measured at 32000×2048, 2 threads, load 5-7: 25-36 ms, 99-122 ms as compiled loops.
    pub fn scan(&self) -> (f64, bool, Vec<f64>) {
        let (n, m) = self.shape();
        let s = self.scale;
        if self.rows_contiguous {
            let parts: Vec<([f64; 4], [f64; 4], Vec<f64>)> = chunks(n)
                .into_par_iter()
                .map(|(r0, r1)| {
                    let mut acc = vec![0.0; m];
                    let (mut largest, mut poison) = ([0.0f64; 4], [0.0f64; 4]);
                    for i in r0..r1 {
                        gram_narrow::scan_row(self.line(i), s, &mut acc, &mut largest, &mut poison);
                    }
                    (largest, poison, acc)
                })
                .collect();
            let (mut largest, mut finite, mut total) = (0.0f64, true, vec![0.0; m]);
            for (l, p, acc) in parts {
                largest = l.iter().fold(largest, |a, &b| a.max(b));
                finite &= p.iter().all(|x| *x == 0.0);
                total.iter_mut().zip(acc).for_each(|(t, x)| *t += x);
            }
            (largest, finite, total)
        } else {
            let per_line: Vec<(f64, bool, f64)> = (0..m)
                .into_par_iter()
                .map(|j| {
                    let (mut largest, mut poison) = ([0.0f64; 4], [0.0f64; 4]);
                    let acc = gram_narrow::scan_line(self.line(j), s, &mut largest, &mut poison);
                    let largest = largest.iter().fold(0.0f64, |a, &b| a.max(b));
                    (largest, poison.iter().all(|x| *x == 0.0), acc)
                })
                .collect();
            let largest = per_line.iter().fold(0.0f64, |a, p| a.max(p.0));
            let finite = per_line.iter().all(|p| p.1);
            (largest, finite, per_line.into_iter().map(|p| p.2).collect())
        }
    }

    /// G·X for X of M rows and any number of columns (taken `GRAM_BLOCK` at a time).
    pub fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        self.apply_with_image(x).0
    }

    /// G·X and W·X (N×b, scaled like G·X's factors: the scale times W·X), which every product
    /// computes on the way: the filter's rebuild reuses W·K (`partial`).
    pub fn apply_with_image(&self, x: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
        let (n, m) = self.shape();
        assert_eq!(x.nrows(), m);
        let mut out = Mat::<f64>::zeros(m, x.ncols());
        let mut image = Mat::<f64>::zeros(n, x.ncols());
        for c0 in (0..x.ncols()).step_by(GRAM_BLOCK) {
            let b = GRAM_BLOCK.min(x.ncols() - c0);
            if b <= NARROW {
                self.apply_narrow(x, c0, b, &mut out, &mut image);
            } else {
                self.apply_rows::<GRAM_BLOCK>(x, c0, b, &mut out, &mut image);
            }
        }
        (out, image)
    }

    /// Columns c0..c0 + b of G·X and W·X, with a kernel of C ≥ b columns.
    fn apply_rows<const C: usize>(
        &self,
        x: MatRef<'_, f64>,
        c0: usize,
        b: usize,
        out: &mut Mat<f64>,
        image: &mut Mat<f64>,
    ) {
        let (_, m) = self.shape();
        let xr = block_rows::<C>(x, m, c0, b);
        let (z, y) = if self.rows_contiguous {
            self.fused::<C>(&xr)
        } else {
            self.two_pass::<C>(&xr)
        };
        for (i, zi) in z.iter().enumerate() {
            for k in 0..b {
                out[(i, c0 + k)] = zi[k];
            }
        }
        for (i, yi) in y.iter().enumerate() {
            for k in 0..b {
                image[(i, c0 + k)] = yi[k];
            }
        }
    }

    /// Columns c0..c0 + b (b ≤ `NARROW`) of G·X and W·X by the kernels vectorised along the
    /// lines (`gram_narrow`).
    fn apply_narrow(
        &self,
        x: MatRef<'_, f64>,
        c0: usize,
        b: usize,
        out: &mut Mat<f64>,
        image: &mut Mat<f64>,
    ) {
        let (n, m) = self.shape();
        let at =
            |i: usize| (i / gram_narrow::SPAN) * NARROW * gram_narrow::SPAN + i % gram_narrow::SPAN;
        let span = gram_narrow::SPAN;
        if self.rows_contiguous {
            let mut xb = vec![0.0; blocked_len(m)];
            for k in 0..b {
                for i in 0..m {
                    xb[at(i) + k * span] = x[(i, c0 + k)];
                }
            }
            let (z, y) = self.fused_narrow(&xb);
            for k in 0..b {
                for i in 0..m {
                    out[(i, c0 + k)] = z[at(i) + k * span];
                }
                for i in 0..n {
                    image[(i, c0 + k)] = y[i][k];
                }
            }
        } else {
            let xr = block_rows::<NARROW>(x, m, c0, b);
            let (z, y) = self.two_pass_narrow(&xr);
            for k in 0..b {
                for i in 0..m {
                    out[(i, c0 + k)] = z[i][k];
                }
                for i in 0..n {
                    image[(i, c0 + k)] = y[at(i) + k * span];
                }
            }
        }
    }

    /// `fused` at `NARROW` columns, x and G·X in the span-blocked layout (`gram_narrow`): per
    /// `GROUP` of rows, t = W_group·x, then z += W_groupᵀ·t one span at a time.
    fn fused_narrow(&self, x: &[f64]) -> (Vec<f64>, Vec<Row<NARROW>>) {
        let (n, m) = self.shape();
        let span = gram_narrow::SPAN;
        let mut image = vec![[0.0; NARROW]; n];
        let parts: Vec<Vec<f64>> = chunks(n)
            .into_par_iter()
            .zip(image.par_chunks_mut(chunk_size(n)))
            .map(|((r0, r1), image)| {
                let mut z = vec![0.0; blocked_len(m)];
                for (g0, t) in (r0..r1).step_by(GROUP).zip(image.chunks_mut(GROUP)) {
                    let rows: Vec<&[T]> =
                        (g0..(g0 + GROUP).min(r1)).map(|i| self.line(i)).collect();
                    dot_lines(&rows, x, m, self.scale, t);
                    for (s, a) in (0..m).step_by(span).enumerate() {
                        let len = span.min(m - a);
                        let pieces: Vec<&[T]> = rows.iter().map(|row| &row[a..a + len]).collect();
                        let block = &mut z[s * NARROW * span..(s + 1) * NARROW * span];
                        axpy_lines(&pieces, t, self.scale, block, len);
                    }
                }
                z
            })
            .collect();
        let mut parts = parts.into_iter();
        let mut z = parts.next().unwrap_or_else(|| vec![0.0; blocked_len(m)]);
        for p in parts {
            z.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        (z, image)
    }

    /// `two_pass` at `NARROW` columns: Y = W·X one span of Y at a time (every line's piece
    /// added in the lines' order), in the span-blocked layout, then Wᵀ·Y `GROUP` lines at a time.
    fn two_pass_narrow(&self, x: &[Row<NARROW>]) -> (Vec<Row<NARROW>>, Vec<f64>) {
        let (n, m) = self.shape();
        let span = gram_narrow::SPAN;
        let lines: Vec<&[T]> = (0..m).map(|j| self.line(j)).collect();
        // Fixed chunks of lines, each its own Y, added in order; within a chunk `GROUP` lines go
        // over Y a span at a time, so each line is read in long runs (few pages at a time).
        let parts: Vec<Vec<f64>> = chunks(m)
            .into_par_iter()
            .map(|(j0, j1)| {
                let mut y = vec![0.0; blocked_len(n)];
                for g0 in (j0..j1).step_by(GROUP) {
                    let g1 = (g0 + GROUP).min(j1);
                    for (s, block) in y.chunks_mut(NARROW * span).enumerate() {
                        let (a, len) = (s * span, span.min(n - s * span));
                        let pieces: Vec<&[T]> =
                            lines[g0..g1].iter().map(|line| &line[a..a + len]).collect();
                        axpy_lines(&pieces, &x[g0..g1], self.scale, block, len);
                    }
                }
                y
            })
            .collect();
        let mut parts = parts.into_iter();
        let mut y = parts.next().unwrap_or_else(|| vec![0.0; blocked_len(n)]);
        for p in parts {
            y.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        let mut z = vec![[0.0; NARROW]; m];
        z.par_chunks_mut(GROUP).enumerate().for_each(|(g, t)| {
            dot_lines(&lines[g * GROUP..g * GROUP + t.len()], &y, n, self.scale, t);
        });
        (z, y)
    }

    /// Σᵢ wᵢ(wᵢᵀX) over the rows, in fixed chunks added in order, and W·X.
    fn fused<const C: usize>(&self, x: &[Row<C>]) -> (Vec<Row<C>>, Vec<Row<C>>) {
        let (n, m) = self.shape();
        let mut image = vec![[0.0; C]; n];
        let parts: Vec<Vec<Row<C>>> = chunks(n)
            .into_par_iter()
            .zip(image.par_chunks_mut(chunk_size(n)))
            .map(|((r0, r1), image)| {
                let mut z = vec![[0.0; C]; m];
                let rows: Vec<&[T]> = (r0..r1).map(|i| self.line(i)).collect();
                dispatch_fused::<T, C>(&rows, x, self.scale, &mut z, image);
                z
            })
            .collect();
        (add_in_order(parts, m), image)
    }

    /// Y = W·X (over the stored columns of W), then Wᵀ·Y; each output element sums in one
    /// fixed order.
    fn two_pass<const C: usize>(&self, x: &[Row<C>]) -> (Vec<Row<C>>, Vec<Row<C>>) {
        let (n, m) = self.shape();
        let lines: Vec<&[T]> = (0..m).map(|j| self.line(j)).collect();
        let mut y = vec![[0.0; C]; n];
        y.par_chunks_mut(SPREAD_SPAN)
            .enumerate()
            .for_each(|(c, yc)| {
                dispatch_spread::<T, C>(&lines, c * SPREAD_SPAN, x, self.scale, yc);
            });
        let mut z = vec![[0.0; C]; m];
        z.par_chunks_mut(LINE_TILE).enumerate().for_each(|(c, zc)| {
            dispatch_gather::<T, C>(
                &lines[c * LINE_TILE..c * LINE_TILE + zc.len()],
                &y,
                self.scale,
                zc,
            );
        });
        (z, y)
    }
}

/// The chunks' partial sums added in their fixed order.
fn add_in_order<const C: usize>(parts: Vec<Vec<Row<C>>>, m: usize) -> Vec<Row<C>> {
    let mut parts = parts.into_iter();
    let mut z = parts.next().unwrap_or_else(|| vec![[0.0; C]; m]);
    for p in parts {
        for (a, b) in z.iter_mut().zip(p) {
            for k in 0..C {
                a[k] += b[k];
            }
        }
    }
    z
}

fn chunk_size(n: usize) -> usize {
    n.div_ceil(CHUNKS).max(1)
}

/// Fixed row chunks of 0..n.
fn chunks(n: usize) -> Vec<(usize, usize)> {
    let size = chunk_size(n);
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

/// W's lines widened and scaled into `out` (exact), the f64 tile the kernels below read: the
/// multiply-adds then take each element by a plain broadcast load instead of a load, a widening,
/// a scaling and a broadcast per use.
#[inline(always)]
fn widen<T: Scalar>(line: &[T], s: f64, out: &mut [f64]) {
    if s == 1.0 {
        for (o, &v) in out.iter_mut().zip(line) {
            *o = v.to_f64();
        }
    } else {
        for (o, &v) in out.iter_mut().zip(line) {
            *o = v.to_f64() * s;
        }
    }
}

/// t[r] += Σₗ tile[r·stride + l]·x[l] for the R lines of the tile (t in registers).
#[inline(always)]
fn tile_dot<const C: usize, const R: usize, const FMA: bool>(
    tile: &[f64],
    stride: usize,
    x: &[Row<C>],
    t: &mut [Row<C>; R],
) {
    let len = x.len();
    assert!(R == 0 || (R - 1) * stride + len <= tile.len());
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: FMA is true only in the functions compiled for (and run on) AVX2 and FMA; the
        // tile holds R lines of `len` at `stride` (checked above).
        return unsafe { avx2::dot::<C, R>(tile, stride, x, t) };
    }
    let lines: [&[f64]; R] = std::array::from_fn(|r| &tile[r * stride..r * stride + len]);
    let mut acc = *t;
    for (l, xl) in x.iter().enumerate() {
        for r in 0..R {
            let a = lines[r][l];
            for k in 0..C {
                acc[r][k] = madd::<FMA>(a, xl[k], acc[r][k]);
            }
        }
    }
    *t = acc;
}

/// z[l] += Σ_r tile[r·stride + l]·t[r] for the R lines of the tile (t in registers).
#[inline(always)]
fn tile_axpy<const C: usize, const R: usize, const FMA: bool>(
    tile: &[f64],
    stride: usize,
    t: &[Row<C>; R],
    z: &mut [Row<C>],
) {
    let len = z.len();
    assert!(R == 0 || (R - 1) * stride + len <= tile.len());
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: as in `tile_dot`.
        return unsafe { avx2::axpy::<C, R>(tile, stride, t, z) };
    }
    let lines: [&[f64]; R] = std::array::from_fn(|r| &tile[r * stride..r * stride + len]);
    let t = *t;
    for (l, zl) in z.iter_mut().enumerate() {
        let mut acc = *zl;
        for r in 0..R {
            let a = lines[r][l];
            for k in 0..C {
                acc[k] = madd::<FMA>(a, t[r][k], acc[k]);
            }
        }
        *zl = acc;
    }
}

/// The two kernels with AVX2 intrinsics: each accumulator pair (8 columns) stays in two
/// registers, each tile element is one broadcast load (what the portable versions above compute,
/// in the same order).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Row;
    use std::arch::x86_64::*;

    /// t[r] += Σₗ tile[r·stride + l]·x[l].
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `tile` holds (R − 1)·stride + x.len() elements.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot<const C: usize, const R: usize>(
        tile: &[f64],
        stride: usize,
        x: &[Row<C>],
        t: &mut [Row<C>; R],
    ) {
        let tp = tile.as_ptr();
        let xp = x.as_ptr() as *const f64;
        let mut lo = [_mm256_setzero_pd(); R];
        let mut hi = [_mm256_setzero_pd(); R];
        let wide = C == 8;
        for r in 0..R {
            lo[r] = _mm256_loadu_pd(t[r].as_ptr());
            if wide {
                hi[r] = _mm256_loadu_pd(t[r].as_ptr().add(4));
            }
        }
        for l in 0..x.len() {
            let x0 = _mm256_loadu_pd(xp.add(C * l));
            let x1 = if wide {
                _mm256_loadu_pd(xp.add(C * l + 4))
            } else {
                x0
            };
            for r in 0..R {
                let a = _mm256_broadcast_sd(&*tp.add(r * stride + l));
                lo[r] = _mm256_fmadd_pd(a, x0, lo[r]);
                if wide {
                    hi[r] = _mm256_fmadd_pd(a, x1, hi[r]);
                }
            }
        }
        for r in 0..R {
            _mm256_storeu_pd(t[r].as_mut_ptr(), lo[r]);
            if wide {
                _mm256_storeu_pd(t[r].as_mut_ptr().add(4), hi[r]);
            }
        }
    }

    /// z[l] += Σ_r tile[r·stride + l]·t[r], summed in the order of r.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `tile` holds (R − 1)·stride + z.len() elements.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy<const C: usize, const R: usize>(
        tile: &[f64],
        stride: usize,
        t: &[Row<C>; R],
        z: &mut [Row<C>],
    ) {
        let tp = tile.as_ptr();
        let mut lo = [_mm256_setzero_pd(); R];
        let mut hi = [_mm256_setzero_pd(); R];
        let wide = C == 8;
        for r in 0..R {
            lo[r] = _mm256_loadu_pd(t[r].as_ptr());
            if wide {
                hi[r] = _mm256_loadu_pd(t[r].as_ptr().add(4));
            }
        }
        for l in 0..z.len() {
            let zp = z.as_mut_ptr().add(l) as *mut f64;
            let mut z0 = _mm256_loadu_pd(zp);
            let mut z1 = if wide { _mm256_loadu_pd(zp.add(4)) } else { z0 };
            for r in 0..R {
                let a = _mm256_broadcast_sd(&*tp.add(r * stride + l));
                z0 = _mm256_fmadd_pd(a, lo[r], z0);
                if wide {
                    z1 = _mm256_fmadd_pd(a, hi[r], z1);
                }
            }
            _mm256_storeu_pd(zp, z0);
            if wide {
                _mm256_storeu_pd(zp.add(4), z1);
            }
        }
    }
}

/// Runs `$body::<R, FMA>` for the tile's line count R (1..=12).
macro_rules! by_lines {
    ($r:expr, $body:ident::<$($gen:tt),*>, $fma:ident, ($($arg:expr),*)) => {
        match $r {
            1 => $body::<$($gen,)* 1, $fma>($($arg),*),
            2 => $body::<$($gen,)* 2, $fma>($($arg),*),
            3 => $body::<$($gen,)* 3, $fma>($($arg),*),
            4 => $body::<$($gen,)* 4, $fma>($($arg),*),
            5 => $body::<$($gen,)* 5, $fma>($($arg),*),
            6 => $body::<$($gen,)* 6, $fma>($($arg),*),
            7 => $body::<$($gen,)* 7, $fma>($($arg),*),
            8 => $body::<$($gen,)* 8, $fma>($($arg),*),
            9 => $body::<$($gen,)* 9, $fma>($($arg),*),
            10 => $body::<$($gen,)* 10, $fma>($($arg),*),
            11 => $body::<$($gen,)* 11, $fma>($($arg),*),
            _ => $body::<$($gen,)* 12, $fma>($($arg),*),
        }
    };
}

/// t += W_tile·x for the R lines of the tile (t: R rows of W·X).
#[inline(always)]
fn dot_rows<const C: usize, const R: usize, const FMA: bool>(
    tile: &[f64],
    x: &[Row<C>],
    t: &mut [Row<C>],
) {
    let mut acc: [Row<C>; R] = std::array::from_fn(|r| t[r]);
    tile_dot::<C, R, FMA>(tile, SPAN, x, &mut acc);
    t.copy_from_slice(&acc);
}

/// z += W_tileᵀ·t for the R lines of the tile.
#[inline(always)]
fn axpy_rows<const C: usize, const R: usize, const FMA: bool>(
    tile: &[f64],
    t: &[Row<C>],
    z: &mut [Row<C>],
) {
    let acc: [Row<C>; R] = std::array::from_fn(|r| t[r]);
    tile_axpy::<C, R, FMA>(tile, SPAN, &acc, z);
}

/// Widens `SPAN`-long pieces [a, a + len) of the lines into the tile (stride `SPAN`).
#[inline(always)]
fn widen_tile<T: Scalar>(lines: &[&[T]], a: usize, len: usize, s: f64, tile: &mut [f64]) {
    for (r, line) in lines.iter().enumerate() {
        widen(&line[a..a + len], s, &mut tile[r * SPAN..r * SPAN + len]);
    }
}

/// z += Σ over `rows` of wᵢ(wᵢᵀx); image[i] = wᵢᵀx (a row of W·X). Rows go `GROUP` at a time:
/// first t = W_group·x, then z += W_groupᵀ·t, each over `SPAN` columns at a time, so the piece of
/// x (then of z) stays in L1 while every tile of the group uses it.
#[inline(always)]
fn fused_body<T: Scalar, const FMA: bool, const C: usize>(
    rows: &[&[T]],
    x: &[Row<C>],
    s: f64,
    z: &mut [Row<C>],
    image: &mut [Row<C>],
) {
    let m = x.len();
    let z = &mut z[..m];
    let tile_rows = tile_rows(C);
    let mut tile = vec![0.0; tile_rows * SPAN];
    for (group, image) in rows.chunks(GROUP).zip(image.chunks_mut(GROUP)) {
        image.fill([0.0; C]);
        for a in (0..m).step_by(SPAN) {
            let len = SPAN.min(m - a);
            for (lines, t) in group.chunks(tile_rows).zip(image.chunks_mut(tile_rows)) {
                widen_tile(lines, a, len, s, &mut tile);
                by_lines!(lines.len(), dot_rows::<C>, FMA, (&tile, &x[a..a + len], t));
            }
        }
        for a in (0..m).step_by(SPAN) {
            let len = SPAN.min(m - a);
            for (lines, t) in group.chunks(tile_rows).zip(image.chunks(tile_rows)) {
                widen_tile(lines, a, len, s, &mut tile);
                by_lines!(
                    lines.len(),
                    axpy_rows::<C>,
                    FMA,
                    (&tile, t, &mut z[a..a + len])
                );
            }
        }
    }
}

/// y[i] = Σⱼ lineⱼ[i0 + i]·x[j] for the span of y.
#[inline(always)]
fn spread_body<T: Scalar, const FMA: bool, const C: usize>(
    lines: &[&[T]],
    i0: usize,
    x: &[Row<C>],
    s: f64,
    y: &mut [Row<C>],
) {
    let len = y.len();
    let mut j = 0;
    while j < lines.len() {
        let t = LINE_TILE.min(lines.len() - j);
        let w: [&[T]; LINE_TILE] = std::array::from_fn(|r| &lines[j + r.min(t - 1)][i0..i0 + len]);
        let xs: [Row<C>; LINE_TILE] =
            std::array::from_fn(|r| if r < t { x[j + r] } else { [0.0; C] });
        for (i, yi) in y.iter_mut().enumerate() {
            let a: [f64; LINE_TILE] = std::array::from_fn(|r| w[r][i].to_f64() * s);
            for k in 0..C {
                let mut acc = yi[k];
                for r in 0..LINE_TILE {
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
fn gather_body<T: Scalar, const FMA: bool, const C: usize>(
    lines: &[&[T]],
    y: &[Row<C>],
    s: f64,
    z: &mut [Row<C>],
) {
    let t = lines.len();
    let w: [&[T]; LINE_TILE] = std::array::from_fn(|r| &lines[r.min(t - 1)][..y.len()]);
    let mut acc = [[0.0; C]; LINE_TILE];
    for (i, yi) in y.iter().enumerate() {
        for r in 0..LINE_TILE {
            let a = w[r][i].to_f64() * s;
            for k in 0..C {
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
        fn $avx<T: Scalar, const C: usize>($($arg: $ty),*) {
            $body::<T, true, C>($($arg),*)
        }

        fn $name<T: Scalar, const C: usize>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { $avx::<T, C>($($arg),*) };
            }
            $body::<T, false, C>($($arg),*)
        }
    };
}

dispatch!(dispatch_fused, fused_avx2, fused_body, (rows: &[&[T]], x: &[Row<C>], s: f64, z: &mut [Row<C>], image: &mut [Row<C>]));
dispatch!(dispatch_spread, spread_avx2, spread_body, (lines: &[&[T]], i0: usize, x: &[Row<C>], s: f64, y: &mut [Row<C>]));
dispatch!(dispatch_gather, gather_avx2, gather_body, (lines: &[&[T]], y: &[Row<C>], s: f64, z: &mut [Row<C>]));

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
