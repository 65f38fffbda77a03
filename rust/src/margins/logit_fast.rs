//! Fast paths of the logit margin f_y − max_{j≠y} f_j (top_k = 1, rows stored contiguously).
//!
//! They compute a block of rows without branches and report whether every row was *plain*: label in
//! range, no NaN or +Inf, a finite result or one the exact kernel gives the same way, and no zero
//! tie that could decide the sign of a zero result. Any other block is recomputed by the exact
//! per-row kernel in [`super::logit_margin`], which owns every convention (errors naming the row,
//! −Inf rules, which of two tied zeros is the competitor), so the results are bit-identical to it.
//!
//! Why the plain rows need no tie rule: equal non-zero floats have equal bits, and f_y − (+0) and
//! f_y − (−0) differ only when f_y is −0; so a row whose f_y and result are both zero goes to the
//! exact kernel. Without NaN or +Inf, f_y − f_c is what the exact kernel returns too: f_y = −Inf
//! gives −Inf, or NaN (flagged) when every competitor is −Inf as well.

use std::mem::MaybeUninit;

use super::float::MarginFloat;
#[cfg(target_arch = "x86_64")]
use super::logit_small;

/// An integer label type read in place (int32 or int64).
pub(super) trait LabelInt: Copy + Send + Sync {
    /// The label widened to i64.
    fn to_i64(self) -> i64;

    /// The labels as int32 words for the AVX2 kernels, and whether they are int64 (then each
    /// label is two words, low then high).
    #[cfg(target_arch = "x86_64")]
    fn words(labels: &[Self]) -> (&[i32], bool);
}

impl LabelInt for i32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }

    #[cfg(target_arch = "x86_64")]
    fn words(labels: &[i32]) -> (&[i32], bool) {
        (labels, false)
    }
}

impl LabelInt for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }

    #[cfg(target_arch = "x86_64")]
    fn words(labels: &[i64]) -> (&[i32], bool) {
        // SAFETY: an i64 is two i32 words (x86_64: low word first), with looser alignment.
        let words =
            unsafe { std::slice::from_raw_parts(labels.as_ptr() as *const i32, 2 * labels.len()) };
        (words, true)
    }
}

/// Whether a row's result can be kept without the exact kernel; `probe` is the sum of the whole
/// row (NaN or +Inf whenever the row holds a NaN or +Inf; an overflow only costs a recomputation).
#[inline(always)]
fn plain<T: MarginFloat>(label_ok: bool, fy: T, r: T, probe: T) -> bool {
    #[allow(clippy::eq_op)]
    let nan = r != r;
    let zero_tie = fy == T::ZERO && r == T::ZERO;
    label_ok & !nan & clean(probe) & !zero_tie
}

/// Whether a probe sum saw no NaN and no +Inf.
#[inline(always)]
fn clean<T: MarginFloat>(probe: T) -> bool {
    #[allow(clippy::eq_op)]
    let nan = probe != probe;
    !nan & (probe != T::INFINITY)
}

/// Rows of exactly C ≤ 24 classes, one row per loop iteration with the class loop unrolled, so the
/// compiler vectorises across rows (measured, one thread: 3× faster than the chunked sweep at 8 to
/// 10 classes, 1.5–1.7× at 17 and 24; at 32 classes, with two threads, slower than the sweep). Returns false if some row is not plain (`out` is then
/// unspecified for the block).
#[inline(always)]
fn few_classes<T: MarginFloat, L: LabelInt, const C: usize>(
    x: &[T],
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> bool {
    let n = out.len();
    let (x, labels) = (&x[..n * C], &labels[..n]);
    let mut all_plain = true;
    for ((row, &label), slot) in x.chunks_exact(C).zip(labels).zip(out.iter_mut()) {
        let row: &[T; C] = row.try_into().expect("a row of C classes");
        let label = label.to_i64();
        let label_ok = (label as u64) < C as u64;
        // Truncation is harmless: a label out of range is flagged above.
        let y = label as u32;
        let mut fy = T::NEG_INFINITY;
        let mut fc = T::NEG_INFINITY;
        let mut probe = T::ZERO;
        for (j, &v) in row.iter().enumerate() {
            let is_y = j as u32 == y;
            fy = if is_y { v } else { fy };
            let w = if is_y { T::NEG_INFINITY } else { v };
            fc = if w > fc { w } else { fc };
            probe = probe + v;
        }
        let r = fy - fc;
        slot.write(r);
        all_plain &= plain(label_ok, fy, r, probe);
    }
    all_plain
}

/// Lanes of the row-wise sweep.
const W: usize = 8;

/// Rows of C > 24 classes: per row, a sweep of W-wide chunks, the last one overlapping the previous
/// (max ignores repeats), the true class masked by lane index; then a tree reduction of the lanes.
#[inline(always)]
fn many_classes<T: MarginFloat, L: LabelInt>(
    x: &[T],
    c: usize,
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> bool {
    debug_assert!(c >= W && c <= u32::MAX as usize);
    let n = out.len();
    let (x, labels) = (&x[..n * c], &labels[..n]);
    let mut all_plain = true;
    #[inline(always)]
    fn chunk<T: MarginFloat>(v: &[T], base: u32, y: u32, max: &mut [T; W], probe: &mut [T; W]) {
        let v: &[T; W] = v.try_into().expect("a chunk of W");
        for l in 0..W {
            let w = if base + l as u32 == y {
                T::NEG_INFINITY
            } else {
                v[l]
            };
            max[l] = if w > max[l] { w } else { max[l] };
            probe[l] = probe[l] + v[l];
        }
    }
    // One probe for the whole block (a NaN or +Inf anywhere sends the block to the exact kernel),
    // so that a row pays only for the reduction of its maximum.
    let mut probe = [T::ZERO; W];
    for ((row, &label), slot) in x.chunks_exact(c).zip(labels).zip(out.iter_mut()) {
        let label = label.to_i64();
        let label_ok = (label as u64) < c as u64;
        let y = if label_ok { label as usize } else { 0 };
        let mut max = [T::NEG_INFINITY; W];
        let mut base = 0;
        while base + W <= c {
            chunk(
                &row[base..base + W],
                base as u32,
                y as u32,
                &mut max,
                &mut probe,
            );
            base += W;
        }
        if base < c {
            chunk(
                &row[c - W..],
                (c - W) as u32,
                y as u32,
                &mut max,
                &mut probe,
            );
        }
        let mut width = W / 2;
        while width > 0 {
            for l in 0..width {
                max[l] = if max[l + width] > max[l] {
                    max[l + width]
                } else {
                    max[l]
                };
            }
            width /= 2;
        }
        let fy = row[y];
        let r = fy - max[0];
        slot.write(r);
        all_plain &= plain(label_ok, fy, r, T::ZERO);
    }
    let probe = probe.iter().fold(T::ZERO, |a, &b| a + b);
    all_plain & clean(probe)
}

/// Largest class count with a fast path: beyond it a row is long enough for the exact kernel's
/// sweep to run at memory speed.
pub(super) const FAST_MAX_CLASSES: usize = 256;

#[inline(always)]
fn block_generic<T: MarginFloat, L: LabelInt>(
    x: &[T],
    c: usize,
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> bool {
    macro_rules! few {
        ($($k:literal)*) => {
            match c {
                $($k => return few_classes::<T, L, $k>(x, labels, out),)*
                _ => {}
            }
        };
    }
    few!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24);
    many_classes(x, c, labels, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2<T: MarginFloat, L: LabelInt>(
    x: &[T],
    c: usize,
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> bool {
    block_generic(x, c, labels, out)
}

/// Margins of the `out.len()` contiguous rows of `x` (C = `c` classes, 2 ≤ C ≤
/// [`FAST_MAX_CLASSES`]), written to every slot of `out`; true when every row was plain, false
/// when the block must be recomputed by the exact kernel.
pub(super) fn block<T: MarginFloat, L: LabelInt>(
    x: &[T],
    c: usize,
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> bool {
    debug_assert!((2..=FAST_MAX_CLASSES).contains(&c));
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::avx2() {
        if let Some(plain) = small_f32(x, c, labels, out) {
            return plain;
        }
        // SAFETY: the CPU supports AVX2 (crate::cpu detected it).
        return unsafe { block_avx2(x, c, labels, out) };
    }
    block_generic(x, c, labels, out)
}

/// float32 rows of 2–4 classes through [`logit_small`] (the rows past the last multiple of 8
/// through `block_avx2`); None for other types and class counts. Needs AVX2.
#[cfg(target_arch = "x86_64")]
fn small_f32<T: MarginFloat, L: LabelInt>(
    x: &[T],
    c: usize,
    labels: &[L],
    out: &mut [MaybeUninit<T>],
) -> Option<bool> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() || !logit_small::has_kernel(c) {
        return None;
    }
    let n = out.len();
    let head = n / logit_small::STEP * logit_small::STEP;
    // SAFETY: T is f32 (same TypeId), so the slices are reinterpreted as themselves.
    let (x32, out32) = unsafe {
        (
            std::slice::from_raw_parts(x.as_ptr() as *const f32, x.len()),
            std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut MaybeUninit<f32>, n),
        )
    };
    let (words, wide) = L::words(&labels[..n]);
    // SAFETY: the caller checked AVX2; x holds n·c values (block's contract), words n labels.
    let plain_head = unsafe { logit_small::block(x32, c, words, wide, &mut out32[..head]) };
    // SAFETY: as above.
    let plain_tail = unsafe { block_avx2(&x[head * c..], c, &labels[head..n], &mut out[head..]) };
    Some(plain_head & plain_tail)
}
