//! AVX2 kernels of the logit margin for float32 rows of 2, 3 or 4 classes (issue #16: at so few
//! classes the loop of [`super::logit_fast`] is bound by arithmetic, not memory, 3–4× above the
//! floor of reading the logits and labels and writing the output).
//!
//! Each step takes 8 rows, transposes them in registers (one vector per class, one lane per row)
//! and runs exactly the per-row loop of `few_classes` lane-wise: the same selects, the same
//! `w > fc ? w : fc` maximum (`vmaxps`), the same order of the probe sum and the same `plain`
//! rule, so every row it keeps has the bits that kernel gives. The last `n mod 8` rows go to
//! `few_classes` itself.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Rows per step.
pub(super) const STEP: usize = 8;

/// Puts back the rows of a `vshufps` result, which come in the order 0 1 4 5 2 3 6 7.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rows_in_order(v: __m256) -> __m256 {
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(v)))
}

/// The classes of 8 rows of 2 classes starting at `p`, one vector per class.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn columns2(p: *const f32) -> [__m256; 2] {
    let a = _mm256_loadu_ps(p);
    let b = _mm256_loadu_ps(p.add(8));
    [
        rows_in_order(_mm256_shuffle_ps::<0x88>(a, b)),
        rows_in_order(_mm256_shuffle_ps::<0xDD>(a, b)),
    ]
}

/// The classes of 8 rows of 3 classes: class j of row i sits at 3i + j, in vector (3i + j) / 8 and
/// lane (3i + j) mod 8; for each class those lanes are distinct, so two blends gather them into one
/// vector and one permutation puts them in row order.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn columns3(p: *const f32) -> [__m256; 3] {
    let a = _mm256_loadu_ps(p);
    let b = _mm256_loadu_ps(p.add(8));
    let c = _mm256_loadu_ps(p.add(16));
    let t0 = _mm256_blend_ps::<0x24>(_mm256_blend_ps::<0x92>(a, b), c);
    let t1 = _mm256_blend_ps::<0x49>(_mm256_blend_ps::<0x24>(a, b), c);
    let t2 = _mm256_blend_ps::<0x92>(_mm256_blend_ps::<0x49>(a, b), c);
    [
        _mm256_permutevar8x32_ps(t0, _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5)),
        _mm256_permutevar8x32_ps(t1, _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6)),
        _mm256_permutevar8x32_ps(t2, _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7)),
    ]
}

/// The classes of 8 rows of 4 classes: rows i and i + 4 side by side in the two halves, then a
/// 4×4 transposition within each half.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn columns4(p: *const f32) -> [__m256; 4] {
    let a = _mm256_loadu_ps(p);
    let b = _mm256_loadu_ps(p.add(8));
    let c = _mm256_loadu_ps(p.add(16));
    let d = _mm256_loadu_ps(p.add(24));
    let r04 = _mm256_permute2f128_ps::<0x20>(a, c);
    let r15 = _mm256_permute2f128_ps::<0x31>(a, c);
    let r26 = _mm256_permute2f128_ps::<0x20>(b, d);
    let r37 = _mm256_permute2f128_ps::<0x31>(b, d);
    let t0 = _mm256_castps_pd(_mm256_unpacklo_ps(r04, r15));
    let t1 = _mm256_castps_pd(_mm256_unpackhi_ps(r04, r15));
    let t2 = _mm256_castps_pd(_mm256_unpacklo_ps(r26, r37));
    let t3 = _mm256_castps_pd(_mm256_unpackhi_ps(r26, r37));
    [
        _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2)),
        _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2)),
        _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3)),
        _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3)),
    ]
}

/// 8 labels starting at label `i`, as int32 lanes, and a mask of those in 0..C. `WIDE`: the labels
/// are int64, `words` their (low, high) int32 halves (x86_64 is little-endian).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn labels8<const WIDE: bool, const C: usize>(words: *const i32) -> (__m256i, __m256i) {
    let (low, high_zero) = if WIDE {
        let a = _mm256_castsi256_ps(_mm256_loadu_si256(words as *const __m256i));
        let b = _mm256_castsi256_ps(_mm256_loadu_si256(words.add(8) as *const __m256i));
        let low = _mm256_castps_si256(rows_in_order(_mm256_shuffle_ps::<0x88>(a, b)));
        let high = _mm256_castps_si256(rows_in_order(_mm256_shuffle_ps::<0xDD>(a, b)));
        (low, _mm256_cmpeq_epi32(high, _mm256_setzero_si256()))
    } else {
        let low = _mm256_loadu_si256(words as *const __m256i);
        (low, _mm256_set1_epi32(-1))
    };
    let below = _mm256_cmpgt_epi32(_mm256_set1_epi32(C as i32), low);
    let non_negative = _mm256_cmpgt_epi32(low, _mm256_set1_epi32(-1));
    (
        low,
        _mm256_and_si256(high_zero, _mm256_and_si256(below, non_negative)),
    )
}

/// Margins of `n` = `out.len()` rows of C classes in steps of 8, `n` a multiple of 8; true when
/// every row was plain (the rule of `logit_fast::plain`).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn steps<const WIDE: bool, const C: usize>(
    x: &[f32],
    words: &[i32],
    out: &mut [MaybeUninit<f32>],
) -> bool {
    let n = out.len();
    debug_assert!(n % STEP == 0 && x.len() >= n * C);
    debug_assert!(words.len() >= if WIDE { 2 * n } else { n });
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let inf = _mm256_set1_ps(f32::INFINITY);
    let zero = _mm256_setzero_ps();
    let mut bad = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        let p = x.as_ptr().add(i * C);
        let mut cols = [_mm256_setzero_ps(); C];
        match C {
            2 => cols[..2].copy_from_slice(&columns2(p)),
            3 => cols[..3].copy_from_slice(&columns3(p)),
            _ => cols[..4].copy_from_slice(&columns4(p)),
        }
        let (y, label_ok) = labels8::<WIDE, C>(words.as_ptr().add(if WIDE { 2 * i } else { i }));
        let mut fy = neg_inf;
        let mut fc = neg_inf;
        let mut probe = zero;
        for (j, &v) in cols.iter().enumerate() {
            let is_y = _mm256_castsi256_ps(_mm256_cmpeq_epi32(y, _mm256_set1_epi32(j as i32)));
            fy = _mm256_blendv_ps(fy, v, is_y);
            let w = _mm256_blendv_ps(v, neg_inf, is_y);
            // vmaxps(w, fc) is `w > fc ? w : fc`, the scalar kernel's select.
            fc = _mm256_max_ps(w, fc);
            probe = _mm256_add_ps(probe, v);
        }
        let r = _mm256_sub_ps(fy, fc);
        _mm256_storeu_ps((out.as_mut_ptr() as *mut f32).add(i), r);
        // Not plain: label out of range, NaN result, NaN or +Inf in the row, or a zero tie.
        let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(r, r);
        let dirty = _mm256_cmp_ps::<_CMP_NLT_UQ>(probe, inf);
        let zero_tie = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_EQ_OQ>(fy, zero),
            _mm256_cmp_ps::<_CMP_EQ_OQ>(r, zero),
        );
        let label_bad = _mm256_castsi256_ps(_mm256_xor_si256(label_ok, _mm256_set1_epi32(-1)));
        bad = _mm256_or_ps(
            bad,
            _mm256_or_ps(_mm256_or_ps(nan, dirty), _mm256_or_ps(zero_tie, label_bad)),
        );
        i += STEP;
    }
    _mm256_movemask_ps(bad) == 0
}

/// [`steps`] for C = 2, with the same results in fewer operations: the rows stay in the order of
/// `vshufps` (0 1 4 5 2 3 6 7: int64 labels split into words come out in that order too, int32
/// labels are permuted to it) and only the result is put back; with one competitor the loop's
/// selects reduce to f_y = z[y], f_c = z[1 − y]; a label is in range when no bit other than the
/// lowest is set in any of them (int64: in either word, so the high word must be 0); the zero tie f_y = r = 0 is f_y = f_c = 0,
/// i.e. f_y | f_c = ±0.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn steps2<const WIDE: bool>(x: &[f32], words: &[i32], out: &mut [MaybeUninit<f32>]) -> bool {
    let n = out.len();
    debug_assert!(n % STEP == 0 && x.len() >= n * 2);
    debug_assert!(words.len() >= if WIDE { 2 * n } else { n });
    let inf = _mm256_set1_ps(f32::INFINITY);
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_epi32(1);
    let mut bad = _mm256_setzero_ps();
    let mut label_bits = _mm256_setzero_si256();
    let mut i = 0;
    while i < n {
        let a = _mm256_loadu_ps(x.as_ptr().add(2 * i));
        let b = _mm256_loadu_ps(x.as_ptr().add(2 * i + 8));
        let z0 = _mm256_shuffle_ps::<0x88>(a, b);
        let z1 = _mm256_shuffle_ps::<0xDD>(a, b);
        let y = if WIDE {
            let la = _mm256_loadu_si256(words.as_ptr().add(2 * i) as *const __m256i);
            let lb = _mm256_loadu_si256(words.as_ptr().add(2 * i + 8) as *const __m256i);
            label_bits = _mm256_or_si256(label_bits, _mm256_or_si256(la, lb));
            _mm256_castps_si256(_mm256_shuffle_ps::<0x88>(
                _mm256_castsi256_ps(la),
                _mm256_castsi256_ps(lb),
            ))
        } else {
            let l = _mm256_loadu_si256(words.as_ptr().add(i) as *const __m256i);
            label_bits = _mm256_or_si256(label_bits, l);
            _mm256_permute4x64_epi64::<0xD8>(l)
        };
        let is1 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(y, one));
        let fy = _mm256_blendv_ps(z0, z1, is1);
        let fc = _mm256_blendv_ps(z1, z0, is1);
        let r = _mm256_sub_ps(fy, fc);
        _mm256_storeu_ps((out.as_mut_ptr() as *mut f32).add(i), rows_in_order(r));
        let probe = _mm256_add_ps(z0, z1);
        let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(r, r);
        let dirty = _mm256_cmp_ps::<_CMP_NLT_UQ>(probe, inf);
        let zero_tie = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_or_ps(fy, fc), zero);
        bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_or_ps(nan, dirty), zero_tie));
        i += STEP;
    }
    // int64: the high word must be 0 too.
    let allowed = if WIDE {
        _mm256_set1_epi64x(!1)
    } else {
        _mm256_set1_epi32(!1)
    };
    let labels_ok = _mm256_testz_si256(label_bits, allowed) == 1;
    labels_ok & (_mm256_movemask_ps(bad) == 0)
}

#[target_feature(enable = "avx2")]
unsafe fn dispatch<const WIDE: bool>(
    x: &[f32],
    c: usize,
    words: &[i32],
    out: &mut [MaybeUninit<f32>],
) -> bool {
    match c {
        2 => steps2::<WIDE>(x, words, out),
        3 => steps::<WIDE, 3>(x, words, out),
        _ => steps::<WIDE, 4>(x, words, out),
    }
}

/// Whether [`block`] has a kernel for C classes.
pub(super) fn has_kernel(c: usize) -> bool {
    (2..=4).contains(&c)
}

/// Margins of the first `out.len()` rows (a multiple of [`STEP`]) of C classes, `has_kernel(c)`;
/// `words` holds the labels (int32, or the int32 halves of int64 labels when `wide`). The caller
/// has checked that the CPU supports AVX2.
///
/// # Safety
/// AVX2 must be available; `x` must hold `out.len() · c` values and `words` `out.len()` labels
/// (twice as many words when `wide`).
pub(super) unsafe fn block(
    x: &[f32],
    c: usize,
    words: &[i32],
    wide: bool,
    out: &mut [MaybeUninit<f32>],
) -> bool {
    assert!(has_kernel(c) && out.len() % STEP == 0 && x.len() >= out.len() * c);
    assert!(words.len() >= if wide { 2 * out.len() } else { out.len() });
    if wide {
        dispatch::<true>(x, c, words, out)
    } else {
        dispatch::<false>(x, c, words, out)
    }
}
