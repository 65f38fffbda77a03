//! The narrow products of `gram_block` (blocks of `NARROW` = 4 columns, the Krylov blocks of
//! `partial`), vectorised along W's lines instead of along the block's columns.
//!
//! Why: at 4 columns the column-vectorised kernels (one broadcast of each element of W against a
//! register of 4 columns) spend as many loads and widenings as multiply-adds, so a pass cost
//! 0.75-0.86× of one over 8 columns, not the 0.5× of its flops. Here 4 consecutive elements of a
//! line are widened by one instruction straight from W (no f64 tile) and meet 4 elements of each
//! column of X (stored column by column): per 4 elements of 3 lines, 3 widening loads and 4 loads
//! of X feed 12 multiply-adds (`dot`); the update z += Σ_r w_r·t_r (`axpy`) keeps the 3×4
//! factors in registers and reads and writes each element of z once per 3 lines.
//!
//! Order of the sums (fixed, whatever the threads): `dot` keeps 4 lanes, lane q summing the
//! elements l ≡ q (mod 4) of each `SPAN` in order, adds the lanes as (q₀ + q₁) + (q₂ + q₃), then
//! the tail's elements in order, then adds that span's sum to the total, span after span; `axpy`
//! adds the lines' terms to each element of z in the lines' order. The portable versions compute
//! the same sums in the same order (fused multiply-adds), so the results do not depend on AVX2.
//!
//! Element types: f32 and f64, and bfloat16 (`Bf16`, read in place from checkpoints: 4 entries
//! widened by a zero-extension, a shift and two conversions, exact), so a bf16 matrix gives its
//! float32 copy's products bit for bit while each pass reads half the bytes. The scan of
//! `GramOperator::scan` (`scan_row`, `scan_line`) runs here too, on the same loads.

use std::any::TypeId;

use crate::matrix::{Bf16, Scalar};

/// Columns of the narrow block.
pub const NARROW: usize = 4;
/// Lines a kernel takes together (3 × 4 accumulators or factors of the 16 AVX2 registers).
const LINES: usize = 3;
/// Elements of the lines each `dot` call takes (the span of every column of X, 4·512 f64 =
/// 16 KiB, stays in L1 while a group of lines uses it).
pub const SPAN: usize = 512;

/// The span-blocked layout of a block of 4 columns of length `len`: span s (elements
/// s·`SPAN`.. of every column) is the s-th piece of 4·`SPAN` f64, column k at offset k·`SPAN`
/// in it, so a span of all 4 columns is contiguous (a task's piece of the output) and sits in L1.
pub fn blocked_len(len: usize) -> usize {
    len.div_ceil(SPAN) * NARROW * SPAN
}

/// t[r][k] += Σ_l lines[r][l]·x_k[l] over the lines (any count), l in 0..len, x in the
/// span-blocked layout (module docs: the order of the sums); each line's entries times `scale`
/// (a power of two: exact).
pub fn dot_lines<T: Scalar>(
    lines: &[&[T]],
    x: &[f64],
    len: usize,
    scale: f64,
    t: &mut [[f64; NARROW]],
) {
    assert!(x.len() >= blocked_len(len) && t.len() >= lines.len());
    for (s, a) in (0..len).step_by(SPAN).enumerate() {
        let span = SPAN.min(len - a);
        let block = &x[s * NARROW * SPAN..];
        let cols: [&[f64]; NARROW] = std::array::from_fn(|k| &block[k * SPAN..k * SPAN + span]);
        for (tile, t) in lines.chunks(LINES).zip(t.chunks_mut(LINES)) {
            let pieces: [&[T]; LINES] =
                std::array::from_fn(|r| &tile[r.min(tile.len() - 1)][a..a + span]);
            let pieces = &pieces[..tile.len()];
            dispatch(|fma| match pieces.len() {
                1 => dot::<T, 1>(pieces, &cols, scale, t, fma),
                2 => dot::<T, 2>(pieces, &cols, scale, t, fma),
                _ => dot::<T, 3>(pieces, &cols, scale, t, fma),
            });
        }
    }
}

/// z_k[l] += Σ_r lines[r][l]·t[r][k] for l in 0..len ≤ `SPAN`, z one span of the blocked layout
/// (column k at k·`SPAN`), the lines' terms added in their order; each entry times `scale`.
pub fn axpy_lines<T: Scalar>(
    lines: &[&[T]],
    t: &[[f64; NARROW]],
    scale: f64,
    z: &mut [f64],
    len: usize,
) {
    assert!(len <= SPAN && z.len() >= (NARROW - 1) * SPAN + len && t.len() >= lines.len());
    for (tile, t) in lines.chunks(LINES).zip(t.chunks(LINES)) {
        let pieces: [&[T]; LINES] = std::array::from_fn(|r| &tile[r.min(tile.len() - 1)][..len]);
        let pieces = &pieces[..tile.len()];
        dispatch(|fma| match pieces.len() {
            1 => axpy::<T, 1>(pieces, t, scale, z, SPAN, len, fma),
            2 => axpy::<T, 2>(pieces, t, scale, z, SPAN, len, fma),
            _ => axpy::<T, 3>(pieces, t, scale, z, SPAN, len, fma),
        });
    }
}

/// One row of `GramOperator::scan` (rows contiguous): acc[l] += (line[l]·scale)² for every l
/// (a product, then a sum, whatever the kernel: the same bits), and the line's largest |entry|
/// and Σ entry·0 (NaN once a non-finite entry is seen) folded into 4 lanes.
pub fn scan_row<T: Scalar>(
    line: &[T],
    scale: f64,
    acc: &mut [f64],
    largest: &mut [f64; 4],
    poison: &mut [f64; 4],
) {
    assert_eq!(acc.len(), line.len());
    let mut done = 0;
    dispatch(|fma| {
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: `fma` is true only where the CPU has AVX2 and FMA; lengths checked above.
            done = unsafe { avx2::scan_row(line, scale, acc, largest, poison) };
        }
        let _ = fma;
    });
    for (a, &x) in acc[done..].iter_mut().zip(&line[done..]) {
        let w = x.to_f64();
        let v = w * scale;
        *a += v * v;
        largest[0] = largest[0].max(w.abs());
        poison[0] += w * 0.0;
    }
}

/// One line of `GramOperator::scan` (columns contiguous): Σ (line[l]·scale)² summed in 4 lanes
/// (lane q the entries l ≡ q mod 4, in order; each square a product, then a sum), the lanes added
/// as (q₀ + q₁) + (q₂ + q₃), then the tail in order; with the largest |entry| and Σ entry·0 as
/// in [`scan_row`].
pub fn scan_line<T: Scalar>(
    line: &[T],
    scale: f64,
    largest: &mut [f64; 4],
    poison: &mut [f64; 4],
) -> f64 {
    let main = line.len() & !3;
    let mut lanes = [0.0f64; 4];
    let mut vectorised = false;
    dispatch(|fma| {
        #[cfg(target_arch = "x86_64")]
        if fma {
            // SAFETY: as in `scan_row`.
            lanes = unsafe { avx2::scan_line(line, main, scale, largest, poison) };
            vectorised = true;
        }
        let _ = fma;
    });
    if !vectorised {
        for quad in line[..main].chunks_exact(4) {
            for q in 0..4 {
                let w = quad[q].to_f64();
                let v = w * scale;
                lanes[q] += v * v;
                largest[q] = largest[q].max(w.abs());
                poison[q] += w * 0.0;
            }
        }
    }
    let mut sum = add_lanes(lanes);
    for &x in &line[main..] {
        let w = x.to_f64();
        let v = w * scale;
        sum += v * v;
        largest[0] = largest[0].max(w.abs());
        poison[0] += w * 0.0;
    }
    sum
}

/// Runs `f(true)` where the CPU has AVX2 and FMA, else `f(false)`.
#[inline(always)]
fn dispatch(f: impl FnOnce(bool)) {
    #[cfg(target_arch = "x86_64")]
    {
        f(
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"),
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    f(false)
}

/// Four consecutive entries of a line, widened (and scaled).
#[inline(always)]
fn widened4<T: Scalar>(line: &[T], l: usize, scale: f64) -> [f64; 4] {
    std::array::from_fn(|q| line[l + q].to_f64() * scale)
}

#[inline(always)]
fn add_lanes(a: [f64; 4]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

/// One `SPAN` of `dot_lines` for R lines.
#[inline(always)]
fn dot<T: Scalar, const R: usize>(
    lines: &[&[T]],
    x: &[&[f64]; NARROW],
    scale: f64,
    t: &mut [[f64; NARROW]],
    fma: bool,
) {
    let len = x[0].len();
    assert!(lines.len() == R && t.len() >= R && lines.iter().all(|l| l.len() == len));
    assert!(x.iter().all(|c| c.len() == len));
    #[cfg(target_arch = "x86_64")]
    if fma {
        // SAFETY: `fma` is true only where the CPU has AVX2 and FMA; lengths checked above.
        let sums = unsafe { avx2::dot::<T, R>(lines, x, len, scale) };
        return finish_dot::<T, R>(lines, x, len & !3, scale, sums, t);
    }
    let _ = fma;
    let mut acc = [[[0.0f64; 4]; NARROW]; R];
    let main = len & !3;
    for l in (0..main).step_by(4) {
        let w: [[f64; 4]; R] = std::array::from_fn(|r| widened4(lines[r], l, scale));
        for k in 0..NARROW {
            for r in 0..R {
                for q in 0..4 {
                    acc[r][k][q] = w[r][q].mul_add(x[k][l + q], acc[r][k][q]);
                }
            }
        }
    }
    let sums: [[f64; NARROW]; R] =
        std::array::from_fn(|r| std::array::from_fn(|k| add_lanes(acc[r][k])));
    finish_dot::<T, R>(lines, x, main, scale, sums, t)
}

/// Adds the tail l ≥ main to the lanes' sums, then the span's sums to t.
#[inline(always)]
fn finish_dot<T: Scalar, const R: usize>(
    lines: &[&[T]],
    x: &[&[f64]; NARROW],
    main: usize,
    scale: f64,
    mut sums: [[f64; NARROW]; R],
    t: &mut [[f64; NARROW]],
) {
    for r in 0..R {
        for l in main..x[0].len() {
            let w = lines[r][l].to_f64() * scale;
            for k in 0..NARROW {
                sums[r][k] = w.mul_add(x[k][l], sums[r][k]);
            }
        }
        for k in 0..NARROW {
            t[r][k] += sums[r][k];
        }
    }
}

/// `axpy_lines` for R lines.
#[inline(always)]
fn axpy<T: Scalar, const R: usize>(
    lines: &[&[T]],
    t: &[[f64; NARROW]],
    scale: f64,
    z: &mut [f64],
    stride: usize,
    len: usize,
    fma: bool,
) {
    assert!(lines.len() == R && t.len() >= R && lines.iter().all(|l| l.len() == len));
    assert!(z.len() >= (NARROW - 1) * stride + len);
    let main = len & !3;
    #[cfg(target_arch = "x86_64")]
    if fma {
        // SAFETY: as in `dot`; z holds the 4 columns of `len` at `stride` (checked above).
        unsafe { avx2::axpy::<T, R>(lines, t, scale, z.as_mut_ptr(), stride, main) };
    }
    let first = if cfg!(target_arch = "x86_64") && fma {
        main
    } else {
        0
    };
    for l in first..len {
        let w: [f64; R] = std::array::from_fn(|r| lines[r][l].to_f64() * scale);
        for k in 0..NARROW {
            let mut acc = z[k * stride + l];
            for r in 0..R {
                acc = w[r].mul_add(t[r][k], acc);
            }
            z[k * stride + l] = acc;
        }
    }
}

/// The kernels with AVX2 intrinsics (the portable loops above, in the same order).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// 4 entries of a line from `p`, widened to f64 and scaled.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load4<T: Scalar>(p: *const T, scale: __m256d, scaled: bool) -> __m256d {
        let v = if TypeId::of::<T>() == TypeId::of::<f32>() {
            _mm256_cvtps_pd(_mm_loadu_ps(p as *const f32))
        } else if TypeId::of::<T>() == TypeId::of::<Bf16>() {
            // bfloat16: the 16 bits are the f32's upper half (exact), then widened to f64.
            let bits = _mm_cvtepu16_epi32(_mm_loadl_epi64(p as *const __m128i));
            _mm256_cvtps_pd(_mm_castsi128_ps(_mm_slli_epi32::<16>(bits)))
        } else if TypeId::of::<T>() == TypeId::of::<f64>() {
            _mm256_loadu_pd(p as *const f64)
        } else {
            let e = |q: usize| (*p.add(q)).to_f64();
            _mm256_setr_pd(e(0), e(1), e(2), e(3))
        };
        if scaled {
            _mm256_mul_pd(v, scale)
        } else {
            v
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_lanes(v: __m256d) -> f64 {
        let mut a = [0.0; 4];
        _mm256_storeu_pd(a.as_mut_ptr(), v);
        super::add_lanes(a)
    }

    /// The lanes' sums over l < len & !3 (module docs).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; every line and column holds `len` elements.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot<T: Scalar, const R: usize>(
        lines: &[&[T]],
        x: &[&[f64]; NARROW],
        len: usize,
        scale: f64,
    ) -> [[f64; NARROW]; R] {
        let wp: [*const T; R] = std::array::from_fn(|r| lines[r].as_ptr());
        let xp: [*const f64; NARROW] = std::array::from_fn(|k| x[k].as_ptr());
        let s = _mm256_set1_pd(scale);
        let scaled = scale != 1.0;
        let mut acc = [[_mm256_setzero_pd(); NARROW]; R];
        let mut l = 0;
        while l + 4 <= len {
            let w: [__m256d; R] = std::array::from_fn(|r| load4(wp[r].add(l), s, scaled));
            for k in 0..NARROW {
                let xk = _mm256_loadu_pd(xp[k].add(l));
                for r in 0..R {
                    acc[r][k] = _mm256_fmadd_pd(w[r], xk, acc[r][k]);
                }
            }
            l += 4;
        }
        std::array::from_fn(|r| std::array::from_fn(|k| add_lanes(acc[r][k])))
    }

    /// |v| of each lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn abs(v: __m256d) -> __m256d {
        _mm256_andnot_pd(_mm256_set1_pd(-0.0), v)
    }

    /// `scan_row` over l < len & !3; returns that count.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `acc` holds as many elements as `line`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scan_row<T: Scalar>(
        line: &[T],
        scale: f64,
        acc: &mut [f64],
        largest: &mut [f64; 4],
        poison: &mut [f64; 4],
    ) -> usize {
        let main = line.len() & !3;
        let (wp, ap) = (line.as_ptr(), acc.as_mut_ptr());
        let s = _mm256_set1_pd(scale);
        let zero = _mm256_setzero_pd();
        let mut big = _mm256_loadu_pd(largest.as_ptr());
        let mut bad = _mm256_loadu_pd(poison.as_ptr());
        let mut l = 0;
        while l < main {
            let w = load4(wp.add(l), s, false);
            let v = _mm256_mul_pd(w, s);
            let a = _mm256_add_pd(_mm256_loadu_pd(ap.add(l)), _mm256_mul_pd(v, v));
            _mm256_storeu_pd(ap.add(l), a);
            // Finite entries only matter (a non-finite one shows in the poison): maxpd's NaN
            // rule does not change the largest of finite values.
            big = _mm256_max_pd(big, abs(w));
            bad = _mm256_add_pd(bad, _mm256_mul_pd(w, zero));
            l += 4;
        }
        _mm256_storeu_pd(largest.as_mut_ptr(), big);
        _mm256_storeu_pd(poison.as_mut_ptr(), bad);
        main
    }

    /// The 4 lanes of `scan_line` over l < main (a multiple of 4).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `line` holds at least `main` elements.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scan_line<T: Scalar>(
        line: &[T],
        main: usize,
        scale: f64,
        largest: &mut [f64; 4],
        poison: &mut [f64; 4],
    ) -> [f64; 4] {
        let wp = line.as_ptr();
        let s = _mm256_set1_pd(scale);
        let zero = _mm256_setzero_pd();
        let mut big = _mm256_loadu_pd(largest.as_ptr());
        let mut bad = _mm256_loadu_pd(poison.as_ptr());
        let mut sq = _mm256_setzero_pd();
        let mut l = 0;
        while l < main {
            let w = load4(wp.add(l), s, false);
            let v = _mm256_mul_pd(w, s);
            sq = _mm256_add_pd(sq, _mm256_mul_pd(v, v));
            big = _mm256_max_pd(big, abs(w));
            bad = _mm256_add_pd(bad, _mm256_mul_pd(w, zero));
            l += 4;
        }
        _mm256_storeu_pd(largest.as_mut_ptr(), big);
        _mm256_storeu_pd(poison.as_mut_ptr(), bad);
        let mut lanes = [0.0; 4];
        _mm256_storeu_pd(lanes.as_mut_ptr(), sq);
        lanes
    }

    /// z_k[l] += Σ_r w_r[l]·t[r][k] for l < main (a multiple of 4).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; every line holds `main` elements, z the 4 columns of `main` at
    /// `stride`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy<T: Scalar, const R: usize>(
        lines: &[&[T]],
        t: &[[f64; NARROW]],
        scale: f64,
        z: *mut f64,
        stride: usize,
        main: usize,
    ) {
        let wp: [*const T; R] = std::array::from_fn(|r| lines[r].as_ptr());
        // f[k][r] = t[r][k], broadcast.
        let f: [[__m256d; R]; NARROW] =
            std::array::from_fn(|k| std::array::from_fn(|r| _mm256_set1_pd(t[r][k])));
        let s = _mm256_set1_pd(scale);
        let scaled = scale != 1.0;
        let mut l = 0;
        while l < main {
            let w: [__m256d; R] = std::array::from_fn(|r| load4(wp[r].add(l), s, scaled));
            for (k, fk) in f.iter().enumerate() {
                let zp = z.add(k * stride + l);
                let mut acc = _mm256_loadu_pd(zp);
                for (&wr, &c) in w.iter().zip(fk) {
                    acc = _mm256_fmadd_pd(wr, c, acc);
                }
                _mm256_storeu_pd(zp, acc);
            }
            l += 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised scan gives the portable loop's bits, for each element type, and sees a
    /// non-finite entry.
    #[test]
    fn scans_agree_with_the_portable_loops() {
        use crate::matrix::Bf16;
        let len = 1037;
        let data: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0)
            .collect();
        let bits: Vec<Bf16> = data.iter().map(|&x| Bf16::from_f32(x)).collect();
        let wide: Vec<f64> = data.iter().map(|&x| x as f64).collect();
        fn portable<T: Scalar>(line: &[T], scale: f64) -> (Vec<f64>, f64, f64, bool) {
            let mut acc = vec![0.25; line.len()];
            let (mut lanes, mut largest, mut poison) = ([0.0f64; 4], 0.0f64, 0.0);
            let main = line.len() & !3;
            for (l, &x) in line.iter().enumerate() {
                let w = x.to_f64();
                let v = w * scale;
                acc[l] += v * v;
                if l < main {
                    lanes[l % 4] += v * v;
                }
                largest = largest.max(w.abs());
                poison += w * 0.0;
            }
            let mut sum = add_lanes(lanes);
            for &x in &line[main..] {
                let v = x.to_f64() * scale;
                sum += v * v;
            }
            (acc, sum, largest, poison == 0.0)
        }
        fn fast<T: Scalar>(line: &[T], scale: f64) -> (Vec<f64>, f64, f64, bool) {
            let mut acc = vec![0.25; line.len()];
            let (mut largest, mut poison) = ([0.0f64; 4], [0.0f64; 4]);
            scan_row(line, scale, &mut acc, &mut largest, &mut poison);
            let (mut l2, mut p2) = ([0.0f64; 4], [0.0f64; 4]);
            let sum = scan_line(line, scale, &mut l2, &mut p2);
            assert_eq!(l2, largest);
            let largest = largest.iter().fold(0.0f64, |a, &b| a.max(b));
            (
                acc,
                sum,
                largest,
                poison.iter().chain(&p2).all(|p| *p == 0.0),
            )
        }
        for scale in [1.0, 0.5] {
            assert_eq!(fast(&data, scale), portable(&data, scale));
            assert_eq!(fast(&bits, scale), portable(&bits, scale));
            assert_eq!(fast(&wide, scale), portable(&wide, scale));
        }
        let mut bad = bits.clone();
        bad[1001] = Bf16::from_f32(f32::NAN);
        assert!(!fast(&bad, 1.0).3);
        bad[1001] = Bf16::from_f32(f32::NEG_INFINITY);
        assert!(!fast(&bad, 1.0).3);
    }

    /// The AVX2 and the portable kernels give the same bits, and the sums are right.
    #[test]
    fn kernels_agree_with_each_other_and_with_plain_sums() {
        let (count, len) = (7, 1037);
        let data: Vec<f32> = (0..count * len)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0)
            .collect();
        let lines: Vec<&[f32]> = data.chunks(len).collect();
        let plain: Vec<f64> = (0..NARROW * len)
            .map(|i| ((i * 104_729 % 2003) as f64 - 1001.0) / 311.0)
            .collect();
        let at = |k: usize, l: usize| (l / SPAN) * NARROW * SPAN + k * SPAN + l % SPAN;
        let mut x = vec![0.0; blocked_len(len)];
        for k in 0..NARROW {
            for l in 0..len {
                x[at(k, l)] = plain[k * len + l];
            }
        }
        let mut fast = vec![[0.0; NARROW]; count];
        dot_lines(&lines, &x, len, 0.5, &mut fast);
        for (r, line) in lines.iter().enumerate() {
            for k in 0..NARROW {
                let want: f64 = (0..len)
                    .map(|l| line[l] as f64 * 0.5 * plain[k * len + l])
                    .sum();
                assert!((fast[r][k] - want).abs() < 1e-10 * want.abs().max(1.0));
            }
        }
        let mut portable = vec![[0.0; NARROW]; count];
        for (s, a) in (0..len).step_by(SPAN).enumerate() {
            let span = SPAN.min(len - a);
            let cols: [&[f64]; NARROW] =
                std::array::from_fn(|k| &x[s * NARROW * SPAN + k * SPAN..][..span]);
            for (tile, t) in lines.chunks(LINES).zip(portable.chunks_mut(LINES)) {
                let pieces: Vec<&[f32]> = tile.iter().map(|line| &line[a..a + span]).collect();
                match pieces.len() {
                    1 => dot::<f32, 1>(&pieces, &cols, 0.5, t, false),
                    2 => dot::<f32, 2>(&pieces, &cols, 0.5, t, false),
                    _ => dot::<f32, 3>(&pieces, &cols, 0.5, t, false),
                }
            }
        }
        assert_eq!(fast, portable);
        let span = 301;
        let pieces: Vec<&[f32]> = lines.iter().map(|l| &l[..span]).collect();
        let mut z_fast = x[..NARROW * SPAN].to_vec();
        axpy_lines(&pieces, &fast, 0.5, &mut z_fast, span);
        let mut z_portable = x[..NARROW * SPAN].to_vec();
        for (tile, t) in pieces.chunks(LINES).zip(fast.chunks(LINES)) {
            match tile.len() {
                1 => axpy::<f32, 1>(tile, t, 0.5, &mut z_portable, SPAN, span, false),
                2 => axpy::<f32, 2>(tile, t, 0.5, &mut z_portable, SPAN, span, false),
                _ => axpy::<f32, 3>(tile, t, 0.5, &mut z_portable, SPAN, span, false),
            }
        }
        assert_eq!(z_fast, z_portable);
        for k in 0..NARROW {
            for l in 0..span {
                let want = x[at(k, l)]
                    + (0..count)
                        .map(|r| lines[r][l] as f64 * 0.5 * fast[r][k])
                        .sum::<f64>();
                assert!((z_fast[k * SPAN + l] - want).abs() < 1e-9 * want.abs().max(1.0));
            }
        }
    }
}
