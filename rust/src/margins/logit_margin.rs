//! Per-sample classification margins: f_y − f_c with c the strongest (or k-th strongest) competing
//! class, on logits or on softmax probabilities.
//!
//! Conventions (they reach the user through the docs):
//! * NaN and +Inf logits are errors (they make the margin meaningless); −Inf is a legitimate
//!   masked class.
//! * A row whose logits are all −Inf is an error (no class can be predicted).
//! * If the true class itself is −Inf, the logit margin is −Inf (the sample can never be classified
//!   correctly); the probability margin is −p_c as usual.
//! * If every competitor is −Inf the logit margin is +Inf.
//! * `top_k = k` compares with the k-th largest competitor value, counted with multiplicity, i.e.
//!   `sort(f[j≠y])[-k]`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::float::MarginFloat;
use super::logit_fast;
use super::Labels;
use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::matrix::MatrixView;

crate::named_enum! {
    /// Which scores the margin compares.
    #[derive(Default)]
    pub enum MarginKind for "kind" as "margin kind" / "kinds" {
        /// f_y − f_c on the raw scores.
        #[default]
        Logit = "logit",
        /// p_y − p_c on softmax(f), computed from max-shifted exponentials.
        Probability = "probability",
    }
}

/// Default competitor rank: the strongest competing class.
pub const DEFAULT_TOP_K: usize = 1;

/// What went wrong in one row; turned into a CoreError naming the row.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RowProblem {
    LabelOutOfRange(i64),
    NonFinite { column: usize, value: f64 },
    AllMasked,
}

fn row_error(row: usize, problem: RowProblem, ncols: usize) -> CoreError {
    match problem {
        RowProblem::LabelOutOfRange(label) => CoreError::invalid(
            "labels",
            format!("row {row}: label {label} is out of range for {ncols} classes (valid: 0..={})", ncols - 1),
        ),
        RowProblem::NonFinite { column, value } => CoreError::NonFinite {
            what: "logits",
            value,
            location: format!("row {row}, column {column} (NaN and +Inf are not valid logits; -Inf masks a class)"),
        },
        RowProblem::AllMasked => CoreError::invalid(
            "logits",
            format!("row {row}: every logit is -Inf, so no class can be predicted"),
        ),
    }
}

const LANES: usize = 16;

/// The first NaN or +Inf of a row, if any.
fn first_bad<T: MarginFloat>(row: &[T]) -> Option<RowProblem> {
    let column = row.iter().position(|x| {
        let v = x.to_f64();
        v.is_nan() || v == f64::INFINITY
    })?;
    Some(RowProblem::NonFinite {
        column,
        value: row[column].to_f64(),
    })
}

#[inline(always)]
fn sweep<T: MarginFloat>(c: &[T], max: &mut [T; LANES], probe: &mut [T; LANES]) {
    for l in 0..LANES {
        let x = c[l];
        max[l] = if x > max[l] { x } else { max[l] };
        probe[l] = probe[l] + x;
    }
}

/// max_{j≠y} row[j] and a NaN probe (the sum of the competitors, NaN whenever one of them is NaN),
/// in one sweep the compiler turns into packed max/add: the chunk holding y is patched on the
/// stack instead of branching on every element.
#[inline(always)]
fn competitor_max<T: MarginFloat>(row: &[T], y: usize) -> (T, T) {
    // Rows shorter than a chunk (few classes): the length is a constant in each arm, so the whole
    // row becomes a few packed selects and a tree reduction, without a loop.
    macro_rules! short_rows {
        ($($c:literal)*) => {
            match row.len() {
                $($c => return competitor_max_short::<T, $c>(row, y),)*
                _ => {}
            }
        };
    }
    short_rows!(2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    let mut max = [T::NEG_INFINITY; LANES];
    let mut probe = [T::ZERO; LANES];
    let nfull = row.len() / LANES;
    let (full, rest) = row.split_at(nfull * LANES);
    let yc = y / LANES;
    let (before, from_y) = full.split_at(yc.min(nfull) * LANES);
    for c in before.chunks_exact(LANES) {
        sweep(c, &mut max, &mut probe);
    }
    let mut after = from_y;
    if yc < nfull {
        let mut patched = [T::NEG_INFINITY; LANES];
        patched.copy_from_slice(&from_y[..LANES]);
        patched[y % LANES] = T::NEG_INFINITY;
        sweep(&patched, &mut max, &mut probe);
        after = &from_y[LANES..];
    }
    for c in after.chunks_exact(LANES) {
        sweep(c, &mut max, &mut probe);
    }
    let mut m = T::NEG_INFINITY;
    let mut p = T::ZERO;
    for l in 0..LANES {
        m = if max[l] > m { max[l] } else { m };
        p = p + probe[l];
    }
    for (j, &x) in rest.iter().enumerate() {
        if nfull * LANES + j != y {
            m = if x > m { x } else { m };
            p = p + x;
        }
    }
    (m, p)
}

/// [`competitor_max`] of a row of exactly C < LANES classes.
#[inline(always)]
fn competitor_max_short<T: MarginFloat, const C: usize>(row: &[T], y: usize) -> (T, T) {
    let row: &[T; C] = row.try_into().expect("a row of C classes");
    let mut max = [T::NEG_INFINITY; LANES];
    let mut probe = [T::ZERO; LANES];
    for j in 0..C {
        let keep = j != y;
        max[j] = if keep { row[j] } else { T::NEG_INFINITY };
        probe[j] = if keep { row[j] } else { T::ZERO };
    }
    reduce_lanes(max, probe)
}

/// The largest lane of `max` and the sum of `probe`, pairwise (a tree of packed operations).
#[inline(always)]
fn reduce_lanes<T: MarginFloat>(mut max: [T; LANES], mut probe: [T; LANES]) -> (T, T) {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            let other = max[l + width];
            max[l] = if other > max[l] { other } else { max[l] };
            probe[l] = probe[l] + probe[l + width];
        }
        width /= 2;
    }
    (max[0], probe[0])
}

/// Below this k the insertion buffer is used alone: at most k·C shifts, and fast in practice.
const INSERTION_ONLY_BELOW_K: usize = 17;

/// Shifts per class after which the insertion buffer hands over to selection, about what selection
/// costs per class (measured at C = 80,000).
const SHIFT_BUDGET_PER_CLASS: usize = 8;

/// The k-th largest competitor (j ≠ y), counted with multiplicity; `buf` has length k.
///
/// The insertion buffer costs O(C + shifts): close to O(C) for rows in random order and small k,
/// but O(C·k) for ascending rows or large k (1.6 s per row at C = 80,000, k = 40,000). So for
/// k ≥ 17 it runs on a budget of 8·C shifts and hands over to O(C) selection once that is spent,
/// or straight away when the k²/4 shifts of filling the buffer would spend it. Both give the same
/// bits.
fn kth_competitor<T: MarginFloat>(row: &[T], y: usize, buf: &mut [T]) -> T {
    let k = buf.len();
    if k < INSERTION_ONLY_BELOW_K {
        return kth_competitor_by_insertion(row, y, buf, usize::MAX).expect("no shift budget");
    }
    let budget = SHIFT_BUDGET_PER_CLASS * row.len();
    if k * k / 4 > budget {
        return kth_competitor_by_selection(row, y, k);
    }
    kth_competitor_by_insertion(row, y, buf, budget)
        .unwrap_or_else(|| kth_competitor_by_selection(row, y, k))
}

/// The k-th largest competitor by selection on the values. Equal non-zero floats have equal bits, so
/// only a zero result needs to know which element it came from (−0 and +0 compare equal): that case
/// goes through [`kth_competitor_by_selection_of_pairs`], which returns the insertion buffer's bits.
fn kth_competitor_by_selection<T: MarginFloat>(row: &[T], y: usize, k: usize) -> T {
    thread_local! {
        static VALUES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let v = VALUES.with(|cell| {
        let mut values = cell.borrow_mut();
        values.clear();
        values.extend(
            row.iter()
                .enumerate()
                .filter(|&(j, _)| j != y)
                .map(|(_, x)| x.to_f64()),
        );
        // NaN was rejected by the caller, so partial_cmp is total here.
        let (_, v, _) = values.select_nth_unstable_by(k - 1, |a, b| {
            b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal)
        });
        *v
    });
    if v != 0.0 {
        return T::from_f64(v); // exact: every input value is representable in f64 and back
    }
    kth_competitor_by_selection_of_pairs(row, y, k)
}

/// The element at position k − 1 of the competitors sorted by descending value, equal values
/// (−0 = +0 included) in index order: exactly the element the insertion buffer keeps there, so
/// both paths return the same bits (the sign of a zero included).
fn kth_competitor_by_selection_of_pairs<T: MarginFloat>(row: &[T], y: usize, k: usize) -> T {
    use std::cmp::Ordering;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<(f64, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        let mut pairs = cell.borrow_mut();
        pairs.clear();
        pairs.extend(
            row.iter()
                .enumerate()
                .filter(|&(j, _)| j != y)
                .map(|(j, x)| (x.to_f64(), j)),
        );
        // NaN was rejected by the caller, so the value comparisons are a total preorder.
        let (_, &mut (_, j), _) = pairs.select_nth_unstable_by(k - 1, |a, b| {
            if a.0 > b.0 {
                Ordering::Less
            } else if a.0 < b.0 {
                Ordering::Greater
            } else {
                a.1.cmp(&b.1)
            }
        });
        row[j]
    })
}

/// The insertion-buffer form of [`kth_competitor`]: a stable descending top-k in `buf`, or None
/// once it has shifted more than `budget` values.
fn kth_competitor_by_insertion<T: MarginFloat>(
    row: &[T],
    y: usize,
    buf: &mut [T],
    budget: usize,
) -> Option<T> {
    buf.fill(T::NEG_INFINITY);
    let k = buf.len();
    let mut shifted = 0usize;
    for (j, &x) in row.iter().enumerate() {
        // `x <= buf` would differ only for NaN, which the caller has already rejected.
        if j == y || x <= buf[k - 1] {
            continue;
        }
        let mut p = k - 1;
        while p > 0 && x > buf[p - 1] {
            buf[p] = buf[p - 1];
            p -= 1;
        }
        buf[p] = x;
        shifted += k - 1 - p;
        if shifted > budget {
            return None;
        }
    }
    Some(buf[k - 1])
}

/// The two largest values of a slice, counted with multiplicity, and whether it holds a NaN, in
/// one vectorizable sweep (lane accumulators, branch-free min/max). With a NaN present the two
/// values are meaningless; the caller reports the NaN instead.
#[inline(always)]
fn top2_and_nan<T: MarginFloat>(xs: &[T]) -> (T, T, bool) {
    #[inline(always)]
    fn push<T: MarginFloat>(x: T, a: &mut T, b: &mut T) {
        let lo = if x < *a { x } else { *a };
        *b = if lo > *b { lo } else { *b };
        *a = if x > *a { x } else { *a };
    }
    let mut a = [T::NEG_INFINITY; LANES];
    let mut b = [T::NEG_INFINITY; LANES];
    let mut nan = [false; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            let x = c[l];
            #[allow(clippy::eq_op)]
            {
                nan[l] |= x != x;
            }
            push(x, &mut a[l], &mut b[l]);
        }
    }
    let (mut t1, mut t2) = (T::NEG_INFINITY, T::NEG_INFINITY);
    let mut any_nan = false;
    for l in 0..LANES {
        any_nan |= nan[l];
        push(a[l], &mut t1, &mut t2);
        push(b[l], &mut t1, &mut t2);
    }
    for &x in rest {
        #[allow(clippy::eq_op)]
        {
            any_nan |= x != x;
        }
        push(x, &mut t1, &mut t2);
    }
    (t1, t2, any_nan)
}

/// Margin of one contiguous row. `buf` is scratch of length `top_k`.
#[inline]
fn row_margin<T: MarginFloat>(
    row: &[T],
    label: i64,
    kind: MarginKind,
    buf: &mut [T],
) -> Result<T, RowProblem> {
    let c = row.len();
    if label < 0 || label as u64 >= c as u64 {
        return Err(RowProblem::LabelOutOfRange(label));
    }
    let y = label as usize;
    let fy = row[y];
    if kind == MarginKind::Logit && buf.len() == 1 {
        // Fast path: one packed sweep.
        let (fc, probe) = competitor_max(row, y);
        #[allow(clippy::eq_op)]
        let suspicious = fy != fy || fy == T::INFINITY || fc == T::INFINITY || probe != probe;
        if suspicious {
            // The probe is also NaN for +Inf + −Inf or an overflowing sum; only a rescan decides.
            if let Some(p) = first_bad(row) {
                return Err(p);
            }
        }
        if fy == T::NEG_INFINITY {
            return if fc == T::NEG_INFINITY {
                Err(RowProblem::AllMasked)
            } else {
                Ok(T::NEG_INFINITY)
            };
        }
        return Ok(fy - fc);
    }
    let (t1, t2, any_nan) = top2_and_nan(row);
    if any_nan || t1 == T::INFINITY {
        return Err(first_bad(row).expect("a NaN or +Inf was seen"));
    }
    if t1 == T::NEG_INFINITY {
        return Err(RowProblem::AllMasked);
    }
    // The strongest competitor: the runner-up when f_y is the (possibly tied) maximum.
    let max_comp = if fy == t1 { t2 } else { t1 };
    let fc = if buf.len() == 1 {
        max_comp
    } else {
        kth_competitor(row, y, buf)
    };
    match kind {
        MarginKind::Logit => {
            if fy == T::NEG_INFINITY {
                Ok(T::NEG_INFINITY)
            } else {
                Ok(fy - fc)
            }
        }
        MarginKind::Probability => {
            let top = t1.to_f64();
            let sum: f64 = row.iter().map(|x| (x.to_f64() - top).exp()).sum();
            let py = (fy.to_f64() - top).exp();
            let pc = (fc.to_f64() - top).exp();
            Ok(T::from_f64((py - pc) / sum))
        }
    }
}

/// Rows per parallel task: about 128k elements, so tasks are big enough to amortise scheduling
/// (at two classes a row takes about a nanosecond) and small enough to balance.
fn rows_per_task(ncols: usize) -> usize {
    (131_072 / ncols.max(1)).clamp(1, 32_768)
}

/// Copies rows `r0..r1` of a strided view into `buf` (row-major), walking memory in the view's
/// faster direction so a column-major source is read sequentially.
fn gather_rows<T: MarginFloat>(logits: &MatrixView<'_, T>, r0: usize, r1: usize, buf: &mut Vec<T>) {
    let c = logits.ncols();
    buf.clear();
    buf.resize((r1 - r0) * c, T::ZERO);
    if logits.col_stride().unsigned_abs() <= logits.row_stride().unsigned_abs() {
        for i in r0..r1 {
            let dst = &mut buf[(i - r0) * c..(i - r0 + 1) * c];
            for (j, d) in dst.iter_mut().enumerate() {
                *d = logits.get(i, j);
            }
        }
    } else {
        for j in 0..c {
            for i in r0..r1 {
                buf[(i - r0) * c + j] = logits.get(i, j);
            }
        }
    }
}

/// Margins of rows `first..first + out.len()`, stopping at the first bad row.
#[inline(always)]
fn rows_block_generic<'r, T: MarginFloat, F: Fn(usize) -> &'r [T]>(
    row_of: &F,
    first: usize,
    labels: Labels<'_>,
    kind: MarginKind,
    kbuf: &mut [T],
    out: &mut [MaybeUninit<T>],
) -> Option<(usize, RowProblem)> {
    for (k, slot) in out.iter_mut().enumerate() {
        let i = first + k;
        match row_margin(row_of(i), labels.get(i), kind, kbuf) {
            Ok(m) => {
                slot.write(m);
            }
            Err(p) => return Some((i, p)),
        }
    }
    None
}

/// The same loop compiled for AVX2 (8 f32 lanes instead of SSE2's 4), chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_block_avx2<'r, T: MarginFloat, F: Fn(usize) -> &'r [T]>(
    row_of: &F,
    first: usize,
    labels: Labels<'_>,
    kind: MarginKind,
    kbuf: &mut [T],
    out: &mut [MaybeUninit<T>],
) -> Option<(usize, RowProblem)> {
    rows_block_generic(row_of, first, labels, kind, kbuf, out)
}

fn rows_block<'r, T: MarginFloat, F: Fn(usize) -> &'r [T]>(
    row_of: &F,
    first: usize,
    labels: Labels<'_>,
    kind: MarginKind,
    kbuf: &mut [T],
    out: &mut [MaybeUninit<T>],
) -> Option<(usize, RowProblem)> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::avx2() {
        // SAFETY: the CPU supports AVX2 (crate::cpu detected it).
        return unsafe { rows_block_avx2(row_of, first, labels, kind, kbuf, out) };
    }
    rows_block_generic(row_of, first, labels, kind, kbuf, out)
}

/// Rows per fast block: small enough that a block with one unusual row costs little to redo.
const FAST_BLOCK_ROWS: usize = 256;

/// Margins of the contiguous rows `x` (first row `first`), through the branch-free fast path where
/// it applies (logit margin, top_k = 1); blocks it does not vouch for are redone exactly.
fn rows_block_contiguous<T: MarginFloat>(
    x: &[T],
    c: usize,
    first: usize,
    labels: Labels<'_>,
    kind: MarginKind,
    kbuf: &mut [T],
    out: &mut [MaybeUninit<T>],
) -> Option<(usize, RowProblem)> {
    let fast = kind == MarginKind::Logit && kbuf.len() == 1 && c <= logit_fast::FAST_MAX_CLASSES;
    let mut s0 = 0;
    while s0 < out.len() {
        let s1 = if fast {
            (s0 + FAST_BLOCK_ROWS).min(out.len())
        } else {
            out.len()
        };
        let xs = &x[s0 * c..s1 * c];
        let block_out = &mut out[s0..s1];
        let (g0, g1) = (first + s0, first + s1);
        let plain = fast
            && match labels {
                Labels::I32(l) => logit_fast::block(xs, c, &l[g0..g1], block_out),
                Labels::I64(l) => logit_fast::block(xs, c, &l[g0..g1], block_out),
            };
        if !plain {
            let row_of = |i: usize| &xs[(i - g0) * c..(i - g0 + 1) * c];
            if let Some(e) = rows_block(&row_of, g0, labels, kind, kbuf, block_out) {
                return Some(e);
            }
        }
        s0 = s1;
    }
    None
}

/// Per-row margins of an N×C logit matrix (any strides) against integer labels.
///
/// One pass over the data, parallel over row blocks. The output has the input's float type.
pub fn margins<T: MarginFloat>(
    logits: MatrixView<'_, T>,
    labels: Labels<'_>,
    kind: MarginKind,
    top_k: usize,
    stop: &Stop,
) -> CoreResult<Vec<T>> {
    let (n, c) = (logits.nrows(), logits.ncols());
    if n == 0 {
        return Err(CoreError::Empty { what: "logits" });
    }
    if c < 2 {
        return Err(CoreError::invalid(
            "logits",
            format!("a margin needs at least 2 classes, got {c} column(s)"),
        ));
    }
    if labels.len() != n {
        return Err(CoreError::invalid(
            "labels",
            format!(
                "has length {} but there are {n} rows of logits",
                labels.len()
            ),
        ));
    }
    if top_k < 1 || top_k > c - 1 {
        return Err(CoreError::invalid(
            "top_k",
            format!("must lie in 1..={} for {c} classes, got {top_k}", c - 1),
        ));
    }
    // Not zeroed (at 2 classes a memset of the output cost a fifth of the call): every row is
    // written below unless a problem is reported, and then the vector is dropped unread.
    let mut out: Vec<T> = Vec::with_capacity(n);
    let step = rows_per_task(c);
    let contiguous_rows = logits.col_stride() == 1;
    let first_problem = out.spare_capacity_mut()[..n]
        .par_chunks_mut(step)
        .enumerate()
        .filter_map(|(task, out_chunk)| {
            if stop.is_requested() {
                return None; // checked once below
            }
            let r0 = task * step;
            let r1 = r0 + out_chunk.len();
            let mut kbuf = vec![T::NEG_INFINITY; top_k];
            if let Some(x) = logits.rows_slice(r0, r1) {
                return rows_block_contiguous(x, c, r0, labels, kind, &mut kbuf, out_chunk);
            }
            if contiguous_rows {
                let row_of = |i: usize| logits.row_slice(i).expect("rows are contiguous");
                return rows_block(&row_of, r0, labels, kind, &mut kbuf, out_chunk);
            }
            // Strided input: gather small tiles of rows into a contiguous buffer first.
            let tile = (32_768 / c).max(1);
            let mut buf = Vec::new();
            let mut t0 = r0;
            while t0 < r1 {
                let t1 = (t0 + tile).min(r1);
                gather_rows(&logits, t0, t1, &mut buf);
                let out = &mut out_chunk[t0 - r0..t1 - r0];
                if let Some(e) = rows_block_contiguous(&buf, c, t0, labels, kind, &mut kbuf, out) {
                    return Some(e);
                }
                t0 = t1;
            }
            None
        })
        .min_by_key(|(row, _)| *row);
    stop.check()?;
    if let Some((row, problem)) = first_problem {
        return Err(row_error(row, problem, c));
    }
    // SAFETY: no problem was reported and no stop requested, so every task ran to its end and
    // wrote each of its rows (the kernels write every slot of a block they return None for).
    unsafe { out.set_len(n) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn margins<T: MarginFloat>(
        logits: MatrixView<'_, T>,
        labels: Labels<'_>,
        kind: MarginKind,
        top_k: usize,
    ) -> CoreResult<Vec<T>> {
        super::margins(logits, labels, kind, top_k, &Stop::never())
    }

    fn reference(row: &[f64], y: usize, k: usize) -> f64 {
        let mut comp: Vec<f64> = row
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != y)
            .map(|(_, &v)| v)
            .collect();
        comp.sort_by(|a, b| b.partial_cmp(a).unwrap());
        row[y] - comp[k - 1]
    }

    #[test]
    fn logit_margins_match_reference_with_ties_and_long_rows() {
        let (n, c) = (37, 53);
        let data: Vec<f64> = (0..n * c).map(|t| ((t * 7919) % 13) as f64 - 6.0).collect();
        let labels: Vec<i64> = (0..n).map(|i| ((i * 31) % c) as i64).collect();
        let view = MatrixView::from_row_major(&data, n, c);
        for k in [1, 2, 5] {
            let m = margins(view, Labels::I64(&labels), MarginKind::Logit, k).unwrap();
            for i in 0..n {
                let want = reference(&data[i * c..(i + 1) * c], labels[i] as usize, k);
                assert_eq!(m[i], want, "row {i} k {k}");
            }
        }
    }

    #[test]
    fn every_short_and_tailed_row_length_matches_the_reference() {
        // Rows of 2..=40 classes cover the constant-length kernels, one chunk and the scalar tail;
        // every label position, masked (−Inf) competitors, and a NaN or +Inf that must be found.
        for c in 2..=40usize {
            let n = 3 * c;
            let mut data: Vec<f32> = (0..n * c)
                .map(|t| ((t * 7919) % 23) as f32 - 11.0)
                .collect();
            for i in (0..n).step_by(4) {
                data[i * c + (i * 5) % c] = f32::NEG_INFINITY;
            }
            let labels: Vec<i32> = (0..n).map(|i| (i % c) as i32).collect();
            let view = MatrixView::from_row_major(&data, n, c);
            let m = margins(view, Labels::I32(&labels), MarginKind::Logit, 1).unwrap();
            for i in 0..n {
                let row: Vec<f64> = data[i * c..(i + 1) * c].iter().map(|&x| x as f64).collect();
                let want = reference(&row, labels[i] as usize, 1) as f32;
                assert_eq!(m[i], want, "c {c} row {i}");
            }
            for bad in [f32::NAN, f32::INFINITY] {
                let mut broken = data.clone();
                let (row, col) = (n - 2, (c * 7 + 3) % c);
                broken[row * c + col] = bad;
                let view = MatrixView::from_row_major(&broken, n, c);
                let err = margins(view, Labels::I32(&labels), MarginKind::Logit, 1).unwrap_err();
                assert!(
                    err.to_string()
                        .contains(&format!("row {row}, column {col}")),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn strided_and_transposed_views_agree_with_contiguous() {
        let (n, c) = (29, 11);
        let data: Vec<f32> = (0..n * c).map(|t| ((t * 37) % 17) as f32 * 0.5).collect();
        let labels: Vec<i32> = (0..n).map(|i| (i % c) as i32).collect();
        let base = margins(
            MatrixView::from_row_major(&data, n, c),
            Labels::I32(&labels),
            MarginKind::Logit,
            1,
        )
        .unwrap();
        // Same matrix stored column-major.
        let mut colmajor = vec![0.0f32; n * c];
        for i in 0..n {
            for j in 0..c {
                colmajor[j * n + i] = data[i * c + j];
            }
        }
        let view = MatrixView::from_row_major(&colmajor, c, n).t();
        let m = margins(view, Labels::I32(&labels), MarginKind::Logit, 1).unwrap();
        assert_eq!(m, base);
    }

    #[test]
    fn probability_margin_is_stable_for_huge_logits() {
        let row = [1000.0f64, 999.0, -1e300];
        let m = margins(
            MatrixView::from_row_major(&row, 1, 3),
            Labels::I64(&[0]),
            MarginKind::Probability,
            1,
        )
        .unwrap();
        let e = (-1.0f64).exp();
        assert!((m[0] - (1.0 - e) / (1.0 + e)).abs() < 1e-15);
    }

    #[test]
    fn negative_infinity_conventions() {
        let inf = f64::INFINITY;
        let rows = [
            0.0, -inf, -inf, /* */ -inf, 1.0, 2.0, /* */ 3.0, -inf, 1.0,
        ];
        let v = MatrixView::from_row_major(&rows, 3, 3);
        let m = margins(v, Labels::I64(&[0, 0, 0]), MarginKind::Logit, 1).unwrap();
        assert_eq!(m, vec![inf, -inf, 2.0]);
        let all = [-inf, -inf];
        let err = margins(
            MatrixView::from_row_major(&all, 1, 2),
            Labels::I64(&[1]),
            MarginKind::Logit,
            1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 0"));
    }

    #[test]
    fn errors_name_the_row() {
        let data = [0.0f64, 1.0, 2.0, f64::NAN, 0.0, 1.0];
        let v = MatrixView::from_row_major(&data, 3, 2);
        let e = margins(v, Labels::I64(&[0, 0, 0]), MarginKind::Logit, 1).unwrap_err();
        assert!(e.to_string().contains("row 1, column 1"), "{e}");
        let good = [0.0f64, 1.0, 2.0, 3.0];
        let v = MatrixView::from_row_major(&good, 2, 2);
        let e = margins(v, Labels::I64(&[0, 2]), MarginKind::Logit, 1).unwrap_err();
        assert!(e.to_string().contains("row 1: label 2"), "{e}");
        let e = margins(v, Labels::I64(&[0, -1]), MarginKind::Logit, 1).unwrap_err();
        assert!(e.to_string().contains("label -1"), "{e}");
        assert!(margins(v, Labels::I64(&[0]), MarginKind::Logit, 1).is_err());
        assert!(margins(v, Labels::I64(&[0, 1]), MarginKind::Logit, 2).is_err());
    }

    /// Rows with many ties, both signed zeros and −Inf entries.
    fn tie_heavy_row(rng: &mut rand::rngs::SmallRng, c: usize) -> Vec<f64> {
        use rand::Rng;
        (0..c)
            .map(|_| match rng.random_range(0..8) {
                0 => 0.0,
                1 => -0.0,
                2 => f64::NEG_INFINITY,
                3 => rng.random_range(-3..3) as f64,
                _ => rng.random::<f64>() - 0.5,
            })
            .collect()
    }

    /// The fast path against the exact per-row kernel, bit for bit (signed zeros included), on
    /// tie-heavy rows, for every layout it serves: each class count up to 40 and some longer rows,
    /// f32 and f64, int32 and int64 labels, plus the first error when a row is bad.
    #[test]
    fn fast_path_matches_the_exact_kernel_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        fn check<T: MarginFloat>(data: &[T], n: usize, c: usize, labels: &[i64], what: &str) {
            let labels32: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
            let mut want = Vec::with_capacity(n);
            let mut first_error = None;
            for i in 0..n {
                let mut kbuf = [T::NEG_INFINITY];
                match row_margin(
                    &data[i * c..(i + 1) * c],
                    labels[i],
                    MarginKind::Logit,
                    &mut kbuf,
                ) {
                    Ok(m) => want.push(m),
                    Err(p) => {
                        first_error = Some(row_error(i, p, c).to_string());
                        break;
                    }
                }
            }
            let view = MatrixView::from_row_major(data, n, c);
            for got in [
                margins(view, Labels::I64(labels), MarginKind::Logit, 1),
                margins(view, Labels::I32(&labels32), MarginKind::Logit, 1),
            ] {
                match (&got, &first_error) {
                    (Ok(got), None) => {
                        for i in 0..n {
                            assert_eq!(
                                got[i].to_f64().to_bits(),
                                want[i].to_f64().to_bits(),
                                "{what} C={c} row {i}: {:?} vs {:?}",
                                got[i],
                                want[i]
                            );
                        }
                    }
                    (Err(e), Some(w)) => assert_eq!(&e.to_string(), w, "{what} C={c}"),
                    _ => panic!("{what} C={c}: {got:?} vs first error {first_error:?}"),
                }
            }
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(23);
        let mut classes: Vec<usize> = (2..=40).collect();
        classes.extend([63, 64, 65, 255, 256, 257, 300]);
        for &c in &classes {
            let n = 700; // more than two fast blocks, with a partial one
            for trial in 0..6 {
                let mut data: Vec<f64> = (0..n).flat_map(|_| tie_heavy_row(&mut rng, c)).collect();
                if trial == 0 {
                    // Plain rows: random values only, so blocks take the fast path.
                    data = (0..n * c).map(|_| rng.random::<f64>() - 0.5).collect();
                }
                let mut labels: Vec<i64> = (0..n).map(|_| rng.random_range(0..c as i64)).collect();
                match trial {
                    1 => {
                        // No row of only −Inf: ties and signed zeros reach the results.
                        for (i, &label) in labels.iter().enumerate() {
                            let y = i * c + label as usize;
                            if data[y] == f64::NEG_INFINITY {
                                data[y] = if i % 2 == 0 { -0.0 } else { 0.0 };
                            }
                        }
                    }
                    2 => labels[rng.random_range(0..n)] = if c % 2 == 0 { c as i64 } else { -1 },
                    3 => data[rng.random_range(0..n * c)] = f64::NAN,
                    4 => data[rng.random_range(0..n * c)] = f64::INFINITY,
                    5 => {
                        // A row of only −Inf, and one whose true class is −0 against ±0.
                        let i = rng.random_range(0..n);
                        data[i * c..(i + 1) * c].fill(f64::NEG_INFINITY);
                        let i = rng.random_range(0..n);
                        data[i * c..(i + 1) * c].fill(0.0);
                        data[i * c + labels[i] as usize] = -0.0;
                    }
                    _ => {}
                }
                check(&data, n, c, &labels, "f64");
                let data32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
                check(&data32, n, c, &labels, "f32");
            }
        }
    }

    /// int64 labels the 2–4-class AVX2 kernels must reject although their low word is a valid
    /// class (they read int64 labels as two int32 words): the error names the first such row,
    /// wherever it sits in the 8-row steps, and the rows before it are computed as usual.
    #[test]
    fn wide_labels_with_a_high_word_are_out_of_range() {
        for c in 2..=5usize {
            let n = 61; // seven steps of 8 and a tail of 5
            let data: Vec<f32> = (0..n * c).map(|t| ((t * 31) % 19) as f32 - 9.0).collect();
            let view = MatrixView::from_row_major(&data, n, c);
            for bad in [
                1i64 << 32,
                (1 << 32) + 1,
                -(1 << 32),
                i64::MIN,
                i64::MAX,
                c as i64,
            ] {
                for row in [0, 5, 8, 37, 55, 60] {
                    let mut labels: Vec<i64> = (0..n as i64).map(|i| i % c as i64).collect();
                    labels[row] = bad;
                    let err = margins(view, Labels::I64(&labels), MarginKind::Logit, 1)
                        .unwrap_err()
                        .to_string();
                    assert!(
                        err.contains(&format!("row {row}: label {bad} is out of range")),
                        "C={c} row {row} label {bad}: {err}"
                    );
                }
            }
            let labels: Vec<i64> = (0..n as i64).map(|i| (i * 7) % c as i64).collect();
            let m = margins(view, Labels::I64(&labels), MarginKind::Logit, 1).unwrap();
            for i in 0..n {
                let row: Vec<f64> = data[i * c..(i + 1) * c].iter().map(|&x| x as f64).collect();
                assert_eq!(
                    m[i],
                    reference(&row, labels[i] as usize, 1) as f32,
                    "C={c} row {i}"
                );
            }
        }
    }

    #[test]
    fn selection_and_insertion_give_the_same_bits_for_every_k() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(17);
        for c in [2, 3, 5, 17, 18, 40, 97] {
            for trial in 0..20 {
                let row = tie_heavy_row(&mut rng, c);
                let y = (trial * 7) % c;
                for k in 1..c {
                    let mut buf = vec![0.0; k];
                    let a = kth_competitor_by_insertion(&row, y, &mut buf, usize::MAX).unwrap();
                    let b = kth_competitor_by_selection(&row, y, k);
                    assert_eq!(a.to_bits(), b.to_bits(), "C={c} k={k} y={y}: {a} vs {b}");
                    let h = kth_competitor(&row, y, &mut buf);
                    assert_eq!(a.to_bits(), h.to_bits(), "C={c} k={k} y={y}: hybrid");
                }
            }
        }
        // f32 and one large row.
        let row32: Vec<f32> = tie_heavy_row(&mut rng, 5000)
            .iter()
            .map(|&v| v as f32)
            .collect();
        for k in [1, 16, 17, 100, 2500, 4999] {
            let mut buf = vec![0.0f32; k];
            let a = kth_competitor_by_insertion(&row32, 123, &mut buf, usize::MAX).unwrap();
            let b = kth_competitor_by_selection(&row32, 123, k);
            assert_eq!(a.to_bits(), b.to_bits(), "k={k}");
        }
        let big = tie_heavy_row(&mut rng, 20_000);
        for k in [17, 1000, 10_000, 19_999] {
            let mut buf = vec![0.0; k];
            let a = kth_competitor_by_insertion(&big, 5, &mut buf, usize::MAX).unwrap();
            let b = kth_competitor_by_selection(&big, 5, k);
            assert_eq!(a.to_bits(), b.to_bits(), "k={k}");
        }
        // An ascending row (ties and signed zeros included) spends the shift budget at k = 17:
        // the hybrid hands over to selection mid-row and still returns the same bits.
        let mut asc = tie_heavy_row(&mut rng, 2000);
        asc.sort_by(f64::total_cmp);
        for k in [17, 40, 300, 1999] {
            let mut buf = vec![0.0; k];
            assert!(kth_competitor_by_insertion(&asc, 0, &mut buf, 8 * asc.len()).is_none());
            let a = kth_competitor_by_insertion(&asc, 0, &mut buf, usize::MAX).unwrap();
            let h = kth_competitor(&asc, 0, &mut buf);
            assert_eq!(a.to_bits(), h.to_bits(), "ascending k={k}");
        }
    }

    #[test]
    fn large_top_k_margins_match_the_sorted_reference() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        let (n, c) = (6, 3000);
        let mut data = Vec::new();
        for _ in 0..n {
            data.extend(tie_heavy_row(&mut rng, c));
        }
        for i in 0..n {
            data[i * c + i] = 0.25; // finite true class
        }
        let labels: Vec<i64> = (0..n as i64).collect();
        let view = MatrixView::from_row_major(&data, n, c);
        for k in [1, 16, 17, 1500, 2999] {
            let m = margins(view, Labels::I64(&labels), MarginKind::Logit, k).unwrap();
            for i in 0..n {
                let want = reference(&data[i * c..(i + 1) * c], i, k);
                assert_eq!(m[i], want, "row {i} k {k}");
            }
        }
    }

    #[test]
    #[ignore = "timing, not a check: cargo test top_k_timing -- --ignored --nocapture"]
    fn top_k_timing_at_80000_classes() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let (n, c) = (100, 80_000);
        let mut rng = SmallRng::seed_from_u64(1);
        let random: Vec<f32> = (0..n * c).map(|_| rng.random::<f32>()).collect();
        let ascending: Vec<f32> = (0..n * c).map(|t| (t % c) as f32).collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| i * 797 % c as i64).collect();
        for (name, data, k) in [
            ("random", &random, 40_000),
            ("random", &random, 20),
            ("ascending", &ascending, 20),
        ] {
            let view = MatrixView::from_row_major(data, n, c);
            let t = std::time::Instant::now();
            let m = margins(view, Labels::I64(&labels), MarginKind::Logit, k).unwrap();
            let dt = t.elapsed().as_secs_f64();
            println!(
                "margins(top_k={k}) of {n}×{c} {name} f32 on {} threads: {dt:.3} s ({:.3} ms per row), checksum {}",
                rayon::current_num_threads(),
                dt * 1e3 / n as f64,
                m.iter().map(|&v| v as f64).sum::<f64>()
            );
        }
    }
}
