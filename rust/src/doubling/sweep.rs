//! The doubling ratios of all slabs centred on the data, for one direction and every width: one
//! pass over the sorted projections with two monotone pointers per half-width.
//!
//! The slab centred on point j has b = −p_j, so point i is inside when |fl(p_i − p_j)| < δ. For
//! fixed i that difference falls as p_j rises, so the first index inside and the first index past
//! the slab only move forward as j walks the sorted projections: O(N) per width, after one sort.

/// The largest ratio among the slabs of one width, and what the slabs look like on average.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WidthSweep {
    /// Slabs with at least `min_points` inside (each centre counts once).
    pub n_slabs: usize,
    /// Sum of their ratios (for the mean).
    pub ratio_sum: f64,
    /// #(T ∩ S(2δ)) of the slab with the largest ratio (0 when no slab qualifies).
    pub outer: usize,
    /// #(T ∩ S(δ)) of that slab.
    pub inner: usize,
    /// Its centre, a projection value p_j (b = −centre).
    pub centre: f64,
}

impl WidthSweep {
    /// outer / inner, or NaN when no slab qualified.
    pub fn ratio(&self) -> f64 {
        if self.inner == 0 {
            f64::NAN
        } else {
            self.outer as f64 / self.inner as f64
        }
    }

    /// Whether this sweep's best slab beats `other`'s (exact, by cross-multiplication).
    pub fn beats(&self, other: &WidthSweep) -> bool {
        self.inner > 0
            && (other.inner == 0
                || (self.outer as u128) * (other.inner as u128)
                    > (other.outer as u128) * (self.inner as u128))
    }
}

/// Centres whose counts are gathered before the ratios of a block are taken (along the block,
/// so that the divisions and comparisons run on whole vectors).
const CENTRES: usize = 256;

/// The most half-widths whose pointers walk one block of centres together: their pointers and
/// bounds stay in registers, and their independent steps overlap in the CPU.
const GROUP: usize = 4;

/// The fewest groups of at most [`GROUP`] half-widths, as equal in size as can be (a group of one
/// would walk a block with nothing to overlap its steps with).
fn group_sizes(halves: usize) -> impl Iterator<Item = usize> {
    let groups = halves.div_ceil(GROUP);
    (0..groups).map(move |g| halves / groups + usize::from(g < halves % groups))
}

/// Sweeps every width of `deltas` over the slabs centred on the sorted, finite projections `p`
/// (fewer than 2³¹ of them: counts are kept in 32 bits and converted as signed integers).
///
/// One pass over the centres moves a pair of pointers for every half-width the grid needs (each
/// δ and each 2δ, shared where 2δ of one width is δ of another, as on a dyadic grid), block by
/// block of [`CENTRES`] centres, [`GROUP`] half-widths at a time. Each step tests four values at
/// once without a branch (a pointer mostly moves 0–3 places per centre). Widths that no slab of
/// m points fits are left out before the pass (see [`narrowest_span`]).
pub fn sweep_widths(p: &[f64], deltas: &[f64], min_points: usize) -> Vec<WidthSweep> {
    let mut padded = Vec::with_capacity(p.len() + PAD);
    padded.extend_from_slice(p);
    sweep_widths_in_place(&mut padded, deltas, min_points)
}

/// [`sweep_widths`] of the values in `p`, which it borrows to append the pointers' padding (and
/// gives back as they were), so that a caller's buffer is not copied.
pub fn sweep_widths_in_place(
    p: &mut Vec<f64>,
    deltas: &[f64],
    min_points: usize,
) -> Vec<WidthSweep> {
    let n = p.len();
    p.extend([f64::INFINITY; PAD]);
    let out = sweep_padded(p, n, deltas, min_points);
    p.truncate(n);
    out
}

fn sweep_padded(padded: &[f64], n: usize, deltas: &[f64], min_points: usize) -> Vec<WidthSweep> {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::cpu::avx2() && std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports AVX2 and POPCNT (checked just above).
            return unsafe { sweep_widths_avx2(padded, n, deltas, min_points) };
        }
    }
    sweep_widths_lanes::<ScalarSteps>(padded, n, deltas, min_points)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn sweep_widths_avx2(
    padded: &[f64],
    n: usize,
    deltas: &[f64],
    min_points: usize,
) -> Vec<WidthSweep> {
    sweep_widths_lanes::<Avx2Steps>(padded, n, deltas, min_points)
}

/// How a pointer moves over the sorted projections followed by [`PAD`] infinities: the first
/// index from `k` on where fl(x − c) < h (`hi`) or fl(x − c) ≤ −h (`lo`, given −h) fails. The
/// test holds on a prefix and never on the infinities, so a pointer stops at n at the latest and
/// four values can always be read from it. Four values are tested at a time and the ones that
/// pass are counted: a move of 0–3 places takes no branch.
trait Steps {
    fn hi(p: &[f64], k: usize, c: f64, h: f64) -> usize;
    fn lo(p: &[f64], k: usize, c: f64, minus_h: f64) -> usize;
}

/// Infinities after the projections, so that eight values can always be read from a pointer.
const PAD: usize = 8;

/// The four values from `k` on. Pointers never pass n (see [`Steps`]), so `k + 4` is within the
/// padded slice: checked in debug builds, and left unchecked in the hot loop.
#[inline(always)]
fn eight(p: &[f64], k: usize) -> &[f64; 8] {
    debug_assert!(k + 8 <= p.len());
    // SAFETY: k + 8 ≤ p.len() (above), and [f64; 8] has the alignment of f64.
    unsafe { &*(p.as_ptr().add(k) as *const [f64; 8]) }
}

#[inline(always)]
fn four(p: &[f64], k: usize) -> &[f64; 4] {
    debug_assert!(k + 4 <= p.len());
    // SAFETY: k + 4 ≤ p.len() (above), and [f64; 4] has the alignment of f64.
    unsafe { &*(p.as_ptr().add(k) as *const [f64; 4]) }
}

struct ScalarSteps;

impl ScalarSteps {
    #[inline(always)]
    fn advance(p: &[f64], mut k: usize, ahead: impl Fn(f64) -> bool) -> usize {
        loop {
            let passed: usize = four(p, k).iter().map(|&x| ahead(x) as usize).sum();
            k += passed;
            if passed < 4 {
                return k;
            }
        }
    }
}

impl Steps for ScalarSteps {
    #[inline(always)]
    fn hi(p: &[f64], k: usize, c: f64, h: f64) -> usize {
        Self::advance(p, k, |x| x - c < h)
    }
    #[inline(always)]
    fn lo(p: &[f64], k: usize, c: f64, minus_h: f64) -> usize {
        Self::advance(p, k, |x| x - c <= minus_h)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2Steps;

#[cfg(target_arch = "x86_64")]
impl Avx2Steps {
    /// The same subtraction and comparison as the scalar steps, on one 256-bit vector.
    #[inline(always)]
    fn advance<const LE: bool>(p: &[f64], mut k: usize, c: f64, bound: f64) -> usize {
        use std::arch::x86_64::*;
        loop {
            // SAFETY: `eight` gives eight readable values, and callers run only where AVX2 is
            // present.
            let mask = unsafe {
                let w = eight(p, k).as_ptr();
                let c = _mm256_set1_pd(c);
                let b = _mm256_set1_pd(bound);
                let d0 = _mm256_sub_pd(_mm256_loadu_pd(w), c);
                let d1 = _mm256_sub_pd(_mm256_loadu_pd(w.add(4)), c);
                let (m0, m1) = if LE {
                    (
                        _mm256_cmp_pd::<_CMP_LE_OQ>(d0, b),
                        _mm256_cmp_pd::<_CMP_LE_OQ>(d1, b),
                    )
                } else {
                    (
                        _mm256_cmp_pd::<_CMP_LT_OQ>(d0, b),
                        _mm256_cmp_pd::<_CMP_LT_OQ>(d1, b),
                    )
                };
                _mm256_movemask_pd(m0) | (_mm256_movemask_pd(m1) << 4)
            };
            let passed = mask.count_ones() as usize;
            k += passed;
            if passed < 8 {
                return k;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Steps for Avx2Steps {
    #[inline(always)]
    fn hi(p: &[f64], k: usize, c: f64, h: f64) -> usize {
        Self::advance::<false>(p, k, c, h)
    }
    #[inline(always)]
    fn lo(p: &[f64], k: usize, c: f64, minus_h: f64) -> usize {
        Self::advance::<true>(p, k, c, minus_h)
    }
}

/// The pointers of K half-widths, walked over one block of centres; `rows[t][i]` gets the count
/// of half-width t at centre i.
#[inline(always)]
fn walk<S: Steps, const K: usize>(
    padded: &[f64],
    block: &[f64],
    halves: &[f64],
    pointers: &mut [(usize, usize)],
    rows: &mut [u32],
) {
    let mut h = [0.0; K];
    let mut minus_h = [0.0; K];
    let mut lo = [0usize; K];
    let mut hi = [0usize; K];
    for t in 0..K {
        (h[t], minus_h[t]) = (halves[t], -halves[t]);
        (lo[t], hi[t]) = pointers[t];
    }
    let rows = &mut rows[..K * CENTRES];
    for (i, &c) in block.iter().enumerate() {
        for t in 0..K {
            lo[t] = S::lo(padded, lo[t], c, minus_h[t]);
            hi[t] = S::hi(padded, hi[t], c, h[t]);
            rows[t * CENTRES + i] = (hi[t] - lo[t]) as u32;
        }
    }
    for t in 0..K {
        pointers[t] = (lo[t], hi[t]);
    }
}

#[inline(always)]
fn sweep_widths_lanes<S: Steps>(
    padded: &[f64],
    n: usize,
    deltas: &[f64],
    min_points: usize,
) -> Vec<WidthSweep> {
    let p = &padded[..n];
    let mut out = vec![WidthSweep::default(); deltas.len()];
    let m = min_points.max(1);
    if p.len() < m {
        return out;
    }
    let span = narrowest_span(p, m);
    // A slab centred on the data holding m points spans less than 2δ (exactly, see
    // narrowest_span), so a width with 2δ < span has none; ties are kept.
    let live: Vec<usize> = (0..deltas.len())
        .filter(|&g| span <= 2.0 * deltas[g])
        .collect();
    if live.is_empty() {
        return out;
    }
    let mut halves: Vec<f64> = live
        .iter()
        .flat_map(|&g| [deltas[g], 2.0 * deltas[g]])
        .collect();
    halves.sort_by(f64::total_cmp);
    halves.dedup();
    let at = |h: f64| halves.partition_point(|&x| x < h);
    let pairs: Vec<(usize, usize)> = live
        .iter()
        .map(|&g| (at(deltas[g]), at(2.0 * deltas[g])))
        .collect();
    // (lo, hi) of each half-width, and counts[t * CENTRES + i]: the points in the slab of
    // half-width halves[t] centred on the block's i-th centre.
    let mut pointers = vec![(0usize, 0usize); halves.len()];
    let mut counts = vec![0u32; halves.len() * CENTRES];
    let mut acc = vec![Best::default(); live.len()];
    for block in p.chunks(CENTRES) {
        let mut t = 0;
        for k in group_sizes(halves.len()) {
            let (h, ptr, rows) = (&halves[t..], &mut pointers[t..], &mut counts[t * CENTRES..]);
            match k {
                1 => walk::<S, 1>(padded, block, h, ptr, rows),
                2 => walk::<S, 2>(padded, block, h, ptr, rows),
                3 => walk::<S, 3>(padded, block, h, ptr, rows),
                4 => walk::<S, 4>(padded, block, h, ptr, rows),
                _ => walk::<S, GROUP>(padded, block, h, ptr, rows),
            }
            t += k;
        }
        let row = |t: usize| &counts[t * CENTRES..t * CENTRES + block.len()];
        for (a, &(i, o)) in acc.iter_mut().zip(&pairs) {
            a.add_block(row(o), row(i), m as u32, block);
        }
    }
    for (&g, a) in live.iter().zip(acc) {
        out[g] = a.sweep;
    }
    out
}

/// The shortest stretch fl(p[i+m−1] − p[i]) of m consecutive sorted projections. If the slab
/// centred on c holds p[i] … p[i+m−1], then fl(p[i+m−1] − c) < δ and fl(p[i] − c) > −δ; rounding
/// is monotone and δ is a float, so p[i+m−1] − p[i] < 2δ exactly and its rounding is ≤ 2δ.
pub fn narrowest_span(p: &[f64], m: usize) -> f64 {
    p.iter()
        .zip(&p[m - 1..])
        .map(|(a, b)| b - a)
        .fold(f64::INFINITY, f64::min)
}

/// The running best slab of one width and the sums for its mean.
#[derive(Clone, Copy, Default)]
struct Best {
    sweep: WidthSweep,
    ratio: f64,
}

impl Best {
    /// Adds the slabs of one block of centres.
    #[inline(always)]
    fn add_block(&mut self, outer: &[u32], inner: &[u32], m: u32, centres: &[f64]) {
        // Four running sums and maxima, so that the divisions and additions run on vectors.
        // Counts are below 2³¹ (checked with the options), so they convert as signed integers.
        let (mut counted, mut sums, mut tops) = ([0u32; 4], [0.0f64; 4], [0.0f64; 4]);
        let mut lanes = |o: &[u32; 4], i: &[u32; 4]| {
            for l in 0..4 {
                let ok = i[l] >= m;
                let q = o[l] as i32 as f64 / i[l].max(1) as i32 as f64;
                let q = if ok { q } else { 0.0 };
                counted[l] += ok as u32;
                sums[l] += q;
                tops[l] = if q > tops[l] { q } else { tops[l] };
            }
        };
        let (oc, ic) = (outer.chunks_exact(4), inner.chunks_exact(4));
        let (o_rest, i_rest) = (oc.remainder(), ic.remainder());
        for (o, i) in oc.zip(ic) {
            lanes(o.try_into().unwrap(), i.try_into().unwrap());
        }
        // The last few centres, padded with empty slabs (which do not qualify).
        let (mut o4, mut i4) = ([0u32; 4], [0u32; 4]);
        o4[..o_rest.len()].copy_from_slice(o_rest);
        i4[..i_rest.len()].copy_from_slice(i_rest);
        lanes(&o4, &i4);
        let n_slabs = counted.iter().map(|&c| c as usize).sum::<usize>();
        let sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
        let top = tops.iter().fold(0.0f64, |a, &b| a.max(b));
        let s = &mut self.sweep;
        s.n_slabs += n_slabs;
        s.ratio_sum += sum;
        // The rounded ratios decide almost always: only a block that reaches the best so far
        // is walked, and equal ones are settled exactly (the first centre wins a tie).
        if n_slabs == 0 || top < self.ratio {
            return;
        }
        for (j, (&o, &i)) in outer.iter().zip(inner).enumerate() {
            let (o, i) = (o as u64, i as u64);
            if i >= m as u64 && (s.inner == 0 || o * s.inner as u64 > s.outer as u64 * i) {
                (s.outer, s.inner, s.centre) = (o as usize, i as usize, centres[j]);
                self.ratio = o as f64 / i as f64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doubling::slab_counts::count_in_slab;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn the_sweep_equals_counting_each_centred_slab_separately() {
        let mut rng = SmallRng::seed_from_u64(7);
        for trial in 0..20 {
            let n = rng.random_range(1..300);
            let mut p: Vec<f64> = (0..n)
                .map(|_| {
                    if trial % 2 == 0 {
                        rng.random_range(-6..6) as f64 * 0.5 // ties and exact faces
                    } else {
                        rng.random_range(-3.0..3.0)
                    }
                })
                .collect();
            p.sort_by(f64::total_cmp);
            // Widths in any order, a dyadic pair sharing a half-width, and one too thin for m.
            let widths = [1.7, 0.25, 1.0, 0.5, 0.125, 1e-3];
            for m in [1, 3, 10] {
                let sweeps = sweep_widths(&p, &widths, m);
                // In place: the same sweeps, and the buffer given back as it was.
                let mut buffer = p.clone();
                assert_eq!(sweep_widths_in_place(&mut buffer, &widths, m), sweeps);
                assert_eq!(buffer, p);
                // The portable steps give the same as the dispatched ones.
                let padded: Vec<f64> = p.iter().copied().chain([f64::INFINITY; PAD]).collect();
                let portable = sweep_widths_lanes::<ScalarSteps>(&padded, p.len(), &widths, m);
                assert_eq!(sweeps, portable);
                for (&delta, got) in widths.iter().zip(&sweeps) {
                    let (mut best, mut count, mut sum, mut at) = (f64::NAN, 0, 0.0, f64::NAN);
                    for &c in &p {
                        let inner = count_in_slab(&p, -c, delta);
                        let outer = count_in_slab(&p, -c, 2.0 * delta);
                        if inner >= m {
                            count += 1;
                            let r = outer as f64 / inner as f64;
                            sum += r;
                            if best.is_nan() || r > best {
                                (best, at) = (r, c); // the first centre attaining it
                            }
                        }
                    }
                    assert_eq!(got.n_slabs, count);
                    assert!((got.ratio_sum - sum).abs() <= 1e-9 * sum.max(1.0));
                    if count > 0 {
                        assert_eq!(got.ratio(), best);
                        assert_eq!(got.centre, at);
                        assert_eq!(count_in_slab(&p, -got.centre, delta), got.inner);
                        assert_eq!(count_in_slab(&p, -got.centre, 2.0 * delta), got.outer);
                    } else {
                        assert!(got.ratio().is_nan());
                        assert_eq!(*got, WidthSweep::default());
                    }
                }
            }
        }
    }
}
