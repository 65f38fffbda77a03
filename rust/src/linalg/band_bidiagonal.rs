//! Two-stage bidiagonalisation: a dense tall matrix → upper bidiagonal with the same singular
//! values, for singular values only (no orthogonal factor is kept).
//!
//! faer's SVD (LAPACK dgebrd's algorithm) reduces to bidiagonal form one column and row at a time,
//! half of its flops in matrix–vector products that stream the trailing matrix from memory. As for
//! the symmetric eigenvalues (`symmetric_eigenvalues`), two stages move that work into
//! matrix–matrix products:
//! 0. a tall A (N > [`QR_FIRST_RATIO`]·M, LAPACK dgesdd's rule) is first replaced by the R of its
//!    Householder QR (faer's blocked QR), which has the same singular values and costs less to
//!    reduce than the extra rows;
//! 1. dense → upper band of half-width b ([`reduce_to_upper_band`]): alternately the Householder QR
//!    of a b-column panel, applied from the left to the columns right of it, and the LQ of the
//!    b-row panel right of the band, applied from the right to the rows below it, both as
//!    compact-WY products (I − V·T·Vᵀ, faer matmul);
//! 2. upper band → upper bidiagonal by bulge chasing ([`UpperBand::chase`], the non-symmetric
//!    analogue of `band_chase`, as PLASMA's gbbrd): sweep i annihilates row i beyond its
//!    superdiagonal with a right reflector of length ≤ b, which fills a bulge below the diagonal;
//!    a left reflector annihilates the bulge's first column, which fills a bulge right of the band;
//!    a right reflector b columns further annihilates that one's first row, and so on until the
//!    bulge leaves the matrix. Only first rows/columns of bulges are annihilated; the rest is
//!    annihilated by the following sweeps, so fill stays within 2b above and b below the diagonal.
//!
//! Flops for an M×M matrix: 8/3·M³ in stage 1 (as dgebrd, but at matrix–matrix speed) and
//! ~8·b·M² in stage 2. Every transformation is orthogonal, so the bidiagonal's singular values
//! differ from A's by about ε·‖A‖ (backward stable, as dgebrd).
//!
//! Threads: the QR and stage 1's products run on `par` (faer); stage 2 runs on one thread (the
//! pipelined sweeps of `band_chase` are not ported to the non-symmetric chase yet). One thread,
//! loaded machine: at 1024² stage 1 took 0.12 s, stage 2 0.04 s; at 5632×2048 the QR and stage 1
//! took ~3.2 s, stage 2 0.14 s.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::linalg::householder::dot;
use crate::linalg::householder::make_reflector;
use crate::linalg::symmetric_eigenvalues::panel_reflectors;

/// A tall matrix with more than this many rows per column is QR-factorised first (dgesdd's rule).
pub const QR_FIRST_RATIO: f64 = 11.0 / 6.0;

/// An upper bidiagonal matrix.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bidiagonal {
    /// The diagonal (length M).
    pub diag: Vec<f64>,
    /// The superdiagonal (length M − 1).
    pub superdiag: Vec<f64>,
}

/// An upper bidiagonal matrix with the singular values of the tall `a` (N×M, N ≥ M), by the two
/// stages of the module docs with band half-width `band_width`; `a` is overwritten. `stop` is
/// checked after every panel of stage 1 and every 64 sweeps of stage 2.
pub fn bidiagonalise(
    a: &mut Mat<f64>,
    band_width: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<Bidiagonal> {
    let (n, m) = (a.nrows(), a.ncols());
    assert!(n >= m, "bidiagonalise takes the tall orientation");
    if m == 0 {
        return Ok(Bidiagonal::default());
    }
    let b = band_width.clamp(1, m);
    let band = if n as f64 > QR_FIRST_RATIO * m as f64 {
        let mut r = triangular_factor(a, par);
        stop.check()?;
        reduce_to_upper_band(r.as_mut(), b, par, stop)?;
        UpperBand::from_upper(r.as_ref(), b)
    } else {
        reduce_to_upper_band(a.as_mut(), b, par, stop)?;
        UpperBand::from_upper(a.as_ref().submatrix(0, 0, m, m), b)
    };
    band.into_bidiagonal(b, stop)
}

/// R (M×M, upper triangular) of the Householder QR of the tall `a`, by faer's blocked QR; `a` is
/// overwritten.
fn triangular_factor(a: &mut Mat<f64>, par: Par) -> Mat<f64> {
    use faer::linalg::qr::no_pivoting::factor;
    let (n, m) = (a.nrows(), a.ncols());
    let block = factor::recommended_block_size::<f64>(n, m);
    let mut householder = Mat::<f64>::zeros(block, m);
    let scratch = factor::qr_in_place_scratch::<f64>(n, m, block, par, Default::default());
    factor::qr_in_place(
        a.as_mut(),
        householder.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    );
    Mat::from_fn(m, m, |i, j| if i <= j { a[(i, j)] } else { 0.0 })
}

/// Stage 1: reduces `a` (rows ≥ columns) in place to upper band form of half-width b: on return
/// A[i, j] = 0 unless 0 ≤ j − i ≤ b (rows from M on are zero), with A's singular values.
pub fn reduce_to_upper_band(
    mut a: MatMut<'_, f64>,
    b: usize,
    par: Par,
    stop: &Stop,
) -> CoreResult<()> {
    let (n, m) = (a.nrows(), a.ncols());
    assert!(n >= m && b >= 1);
    let mut k = 0;
    while k < m {
        stop.check()?;
        let w = b.min(m - k);
        // Column panel k..k+w: A ← Qᵀ·A on rows k.., R left in the panel.
        let mut panel = a.rb().submatrix(k, k, n - k, w).to_owned();
        let (v, t) = panel_reflectors(&mut panel, par);
        a.rb_mut()
            .submatrix_mut(k, k, n - k, w)
            .copy_from(panel.as_ref());
        if k + w < m {
            let right = a.rb_mut().submatrix_mut(k, k + w, n - k, m - k - w);
            apply_transpose_from_left(right, v.as_ref(), t.as_ref(), par);
        }
        // Row panel k..k+b, columns k+b..: the LQ (QR of its transpose), A ← A·Q on rows k+b..;
        // with a single column it is already inside the band.
        if k + b + 1 < m {
            let c = m - k - b;
            let mut panel = a.rb().submatrix(k, k + b, b, c).transpose().to_owned();
            let (v, t) = panel_reflectors(&mut panel, par);
            a.rb_mut()
                .submatrix_mut(k, k + b, b, c)
                .copy_from(panel.as_ref().transpose());
            let below = a.rb_mut().submatrix_mut(k + b, k + b, n - k - b, c);
            apply_from_right(below, v.as_ref(), t.as_ref(), par);
        }
        k += b;
    }
    Ok(())
}

/// A ← Qᵀ·A with Q = I − V·T·Vᵀ: A − V·(Tᵀ·(Vᵀ·A)).
fn apply_transpose_from_left(
    mut a: MatMut<'_, f64>,
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    par: Par,
) {
    let (k, cols) = (v.ncols(), a.ncols());
    let mut vta = Mat::<f64>::zeros(k, cols);
    matmul(
        vta.as_mut(),
        Accum::Replace,
        v.transpose(),
        a.rb(),
        1.0,
        par,
    );
    let mut w = Mat::<f64>::zeros(k, cols);
    matmul(
        w.as_mut(),
        Accum::Replace,
        t.transpose(),
        vta.as_ref(),
        1.0,
        par,
    );
    matmul(a.rb_mut(), Accum::Add, v, w.as_ref(), -1.0, par);
}

/// A ← A·Q with Q = I − V·T·Vᵀ: A − ((A·V)·T)·Vᵀ.
fn apply_from_right(mut a: MatMut<'_, f64>, v: MatRef<'_, f64>, t: MatRef<'_, f64>, par: Par) {
    let (rows, k) = (a.nrows(), v.ncols());
    let mut av = Mat::<f64>::zeros(rows, k);
    matmul(av.as_mut(), Accum::Replace, a.rb(), v, 1.0, par);
    let mut y = Mat::<f64>::zeros(rows, k);
    matmul(y.as_mut(), Accum::Replace, av.as_ref(), t, 1.0, par);
    matmul(a.rb_mut(), Accum::Add, y.as_ref(), v.transpose(), -1.0, par);
}

/// Sweeps of stage 2 between checks of `stop`.
const SWEEPS_PER_CHECK: usize = 64;

/// A square matrix with nonzeros only from b below to 2b above the diagonal (the upper band of
/// half-width b plus room for both bulges), column-major: A[r, c] for c − 2b ≤ r ≤ c + b at
/// `data[r + 2b − c + (3b + 1)·c]`, so each column's segment is contiguous.
pub struct UpperBand {
    n: usize,
    above: usize,
    stride: usize,
    data: Vec<f64>,
}

impl UpperBand {
    /// Copies the upper band of half-width b of the square `a` (entries outside it are ignored).
    pub fn from_upper(a: MatRef<'_, f64>, b: usize) -> Self {
        let n = a.nrows();
        assert_eq!(n, a.ncols());
        let (above, stride) = (2 * b, 3 * b + 1);
        let mut data = vec![0.0; stride * n];
        for c in 0..n {
            for r in c.saturating_sub(b)..=c {
                data[r + above - c + stride * c] = a[(r, c)];
            }
        }
        UpperBand {
            n,
            above,
            stride,
            data,
        }
    }

    /// Entries r0..r0+len of column c (the caller keeps them inside the stored band).
    #[inline(always)]
    fn column(&mut self, r0: usize, c: usize, len: usize) -> &mut [f64] {
        let start = r0 + self.above - c + self.stride * c;
        &mut self.data[start..start + len]
    }

    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r + self.above - c + self.stride * c]
    }

    /// Stage 2: the bidiagonal form (module docs), for a band of half-width `b`.
    pub fn into_bidiagonal(mut self, b: usize, stop: &Stop) -> CoreResult<Bidiagonal> {
        let mut scratch = vec![0.0; 3 * b + 2];
        for i in 0..self.n.saturating_sub(2) {
            if i % SWEEPS_PER_CHECK == 0 {
                stop.check()?;
            }
            self.sweep(i, b, &mut scratch);
        }
        let n = self.n;
        Ok(Bidiagonal {
            diag: (0..n).map(|i| self.at(i, i)).collect(),
            superdiag: (1..n).map(|i| self.at(i - 1, i)).collect(),
        })
    }

    /// Sweep i: leaves row i with its diagonal and superdiagonal entries only.
    fn sweep(&mut self, i: usize, b: usize, scratch: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (crate::cpu detected them).
            return unsafe { self.sweep_avx2(i, b, scratch) };
        }
        self.sweep_generic(i, b, scratch)
    }

    /// The same loop compiled for AVX2 (4 f64 lanes instead of SSE2's 2), chosen at run time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sweep_avx2(&mut self, i: usize, b: usize, scratch: &mut [f64]) {
        self.sweep_generic(i, b, scratch)
    }

    #[inline(always)]
    fn sweep_generic(&mut self, i: usize, b: usize, scratch: &mut [f64]) {
        let n = self.n;
        let (mut row, mut start) = (i, i + 1);
        while start + 1 < n {
            let len = b.min(n - start);
            self.annihilate_row(row, start, len, b, scratch);
            self.annihilate_column(start, len, b, scratch);
            row = start;
            start += b;
        }
    }

    /// The right reflector on columns start..start+len that maps row `row`'s entries there to
    /// (β, 0, …), applied to the rows row..start+len (those with nonzeros in these columns).
    #[inline(always)]
    fn annihilate_row(&mut self, row: usize, start: usize, len: usize, b: usize, buf: &mut [f64]) {
        let (v, y) = buf.split_at_mut(b + 1);
        let v = &mut v[..len];
        for (t, x) in v.iter_mut().enumerate() {
            *x = self.at(row, start + t);
        }
        let (tau, beta) = make_reflector(v);
        for t in 0..len {
            self.column(row, start + t, 1)[0] = if t == 0 { beta } else { 0.0 };
        }
        if tau == 0.0 {
            return;
        }
        // y = A[rows, C]·v, then A[rows, C] −= τ·y·vᵀ, column by column (contiguous segments).
        let (first, rows) = (row + 1, start + len - row - 1);
        let y = &mut y[..rows];
        y.fill(0.0);
        for (t, &vt) in v.iter().enumerate() {
            let seg = self.column(first, start + t, rows);
            for (yr, &x) in y.iter_mut().zip(seg.iter()) {
                *yr += x * vt;
            }
        }
        for (t, &vt) in v.iter().enumerate() {
            let f = tau * vt;
            let seg = self.column(first, start + t, rows);
            for (x, &yr) in seg.iter_mut().zip(y.iter()) {
                *x -= f * yr;
            }
        }
    }

    /// The left reflector on rows start..start+len that maps column `start`'s entries there to
    /// (β, 0, …), applied to the columns start+1..start+len+b (those with nonzeros in these rows).
    #[inline(always)]
    fn annihilate_column(&mut self, start: usize, len: usize, b: usize, buf: &mut [f64]) {
        let v = &mut buf[..len];
        let target = self.column(start, start, len);
        v.copy_from_slice(target);
        let (tau, beta) = make_reflector(v);
        target[0] = beta;
        target[1..].fill(0.0);
        if tau == 0.0 {
            return;
        }
        let v = &buf[..len];
        for c in start + 1..self.n.min(start + len + b) {
            let seg = self.column(start, c, len);
            let s = tau * dot(v, seg);
            for (x, &vi) in seg.iter_mut().zip(v) {
                *x -= s * vi;
            }
        }
    }

    /// The largest entry off the two bidiagonals (tests: what stage 2 leaves behind).
    #[cfg(test)]
    fn largest_off_bidiagonal(&self) -> f64 {
        let mut largest = 0.0f64;
        for c in 0..self.n {
            for r in c.saturating_sub(self.above)..self.n.min(c + self.stride - self.above) {
                if r != c && r + 1 != c {
                    largest = largest.max(self.at(r, c).abs());
                }
            }
        }
        largest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    fn random(n: usize, m: usize, seed: u64) -> Mat<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        Mat::from_fn(n, m, |_, _| rng.random::<f64>() - 0.5)
    }

    fn norm(a: MatRef<'_, f64>) -> f64 {
        a.norm_l2()
    }

    fn bidiagonal_matrix(bd: &Bidiagonal) -> Mat<f64> {
        let m = bd.diag.len();
        Mat::from_fn(m, m, |i, j| {
            if i == j {
                bd.diag[i]
            } else if j == i + 1 {
                bd.superdiag[i]
            } else {
                0.0
            }
        })
    }

    fn assert_same_values(a: &Mat<f64>, bd: &Bidiagonal, tol: f64) {
        let want = a.singular_values().unwrap();
        let got = bidiagonal_matrix(bd).singular_values().unwrap();
        let scale = want.first().copied().unwrap_or(0.0).max(f64::MIN_POSITIVE);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= tol * scale, "{g} vs {w}");
        }
    }

    #[test]
    fn stage_one_leaves_an_upper_band() {
        for &(n, m, b) in &[
            (40, 40, 4),
            (90, 61, 8),
            (130, 100, 32),
            (33, 33, 1),
            (20, 7, 3),
        ] {
            let a = random(n, m, n as u64 * 7 + b as u64);
            let mut work = a.clone();
            reduce_to_upper_band(work.as_mut(), b, Par::Seq, &Stop::never()).unwrap();
            let scale = norm(a.as_ref());
            for j in 0..m {
                for i in 0..n {
                    if !(i <= j && j - i <= b) {
                        assert!(work[(i, j)].abs() <= 1e-14 * scale, "({i},{j}) of {n}×{m}");
                    }
                }
            }
            let band = Mat::from_fn(m, m, |i, j| work[(i, j)]);
            let want = a.singular_values().unwrap();
            let got = band.singular_values().unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-13 * want[0]);
            }
        }
    }

    #[test]
    fn stage_two_leaves_a_bidiagonal() {
        for &(m, b) in &[
            (1, 4),
            (2, 4),
            (3, 1),
            (10, 3),
            (64, 8),
            (257, 32),
            (300, 7),
        ] {
            let a = random(m, m, 3 * m as u64 + b as u64);
            let mut band_matrix =
                Mat::from_fn(
                    m,
                    m,
                    |i, j| if i <= j && j - i <= b { a[(i, j)] } else { 0.0 },
                );
            let band = UpperBand::from_upper(band_matrix.as_ref(), b);
            let mut copy = UpperBand::from_upper(band_matrix.as_ref(), b);
            for i in 0..m.saturating_sub(2) {
                copy.sweep(i, b, &mut vec![0.0; 3 * b + 2]);
            }
            let scale = norm(band_matrix.as_ref()).max(f64::MIN_POSITIVE);
            assert!(
                copy.largest_off_bidiagonal() <= 1e-14 * scale,
                "m={m} b={b}"
            );
            let bd = band.into_bidiagonal(b, &Stop::never()).unwrap();
            assert_same_values(&band_matrix, &bd, 1e-13);
            band_matrix.fill(0.0);
        }
    }

    #[test]
    fn both_stages_keep_the_singular_values() {
        for &(n, m, b) in &[
            (1, 1, 32),
            (5, 1, 32),
            (2, 2, 32),
            (7, 2, 32),
            (3, 3, 1),
            (50, 50, 32),
            (200, 150, 16),
            (300, 100, 8),
            (257, 129, 32),
        ] {
            let a = random(n, m, 11 * n as u64 + m as u64);
            let bd = bidiagonalise(&mut a.clone(), b, Par::Seq, &Stop::never()).unwrap();
            assert_eq!(bd.diag.len(), m);
            assert_same_values(&a, &bd, 1e-13);
            let threaded = bidiagonalise(&mut a.clone(), b, Par::rayon(2), &Stop::never()).unwrap();
            assert_same_values(&a, &threaded, 1e-13);
        }
    }

    #[test]
    fn a_requested_stop_interrupts() {
        let stop = Stop::new();
        stop.request();
        let err = bidiagonalise(&mut random(80, 60, 1), 8, Par::Seq, &stop).unwrap_err();
        assert!(matches!(err, crate::error::CoreError::Interrupted));
    }
}
