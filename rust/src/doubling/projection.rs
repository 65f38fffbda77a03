//! Projections w·x of every point on a few directions, and their sorting.
//!
//! One accumulation order everywhere (float64, coordinates ascending, multiply then add, never
//! fused), so that `slab_counts` and the doubling condition see bit-identical projections, on
//! every CPU: the AVX2 path only runs eight directions side by side, each with the scalar
//! operations of the fallback.

use crate::error::{CoreError, CoreResult};
use crate::matrix::{MatrixView, Scalar};

/// Directions projected together: one point's coordinates are read once for all of them.
pub const BLOCK: usize = 16;

/// The points as a float64 row-major copy (the input may be float32 and any strides).
pub struct Points {
    values: Vec<f64>,
    n: usize,
    dim: usize,
}

impl Points {
    /// Copies a finite (N, d) matrix; the caller has checked finiteness and size.
    pub fn from_view<T: Scalar>(x: MatrixView<'_, T>) -> Self {
        let (n, dim) = (x.nrows(), x.ncols());
        let mut values = Vec::with_capacity(n * dim);
        for i in 0..n {
            match x.row_slice(i) {
                Some(row) => values.extend(row.iter().map(|v| v.to_f64())),
                None => values.extend((0..dim).map(|k| x.get(i, k).to_f64())),
            }
        }
        Points { values, n, dim }
    }

    /// The points whose indices are given, in that order.
    pub fn subset(&self, rows: &[usize]) -> Self {
        let mut values = Vec::with_capacity(rows.len() * self.dim);
        for &i in rows {
            values.extend_from_slice(self.row(i));
        }
        Points {
            values,
            n: rows.len(),
            dim: self.dim,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Point `i`.
    #[inline(always)]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// `w / ‖w‖`, refusing zero and non-finite directions (`what` names the argument, `index` the row).
pub fn unit(w: &[f64], what: &'static str, index: usize) -> CoreResult<Vec<f64>> {
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(CoreError::invalid(
            what,
            format!("direction {index} has norm {norm}; directions must be non-zero and finite"),
        ));
    }
    Ok(w.iter().map(|v| v / norm).collect())
}

/// w·x in the one accumulation order (what `project` computes for each direction).
#[inline(always)]
pub fn dot(x: &[f64], w: &[f64]) -> f64 {
    let mut acc = 0.0;
    for (a, b) in x.iter().zip(w) {
        acc += a * b;
    }
    acc
}

/// Projects every point on up to [`BLOCK`] unit directions; `out[b][i]` = w_b·x_i.
///
/// The points are read once for all the directions: at N·d far beyond the caches the pass is
/// bound by memory, so more directions per pass cost little more. A single direction takes the
/// plain dot product, a few take eight lanes, more take sixteen.
pub fn project(points: &Points, directions: &[&[f64]], out: &mut [Vec<f64>]) {
    assert!(directions.len() <= BLOCK && directions.len() == out.len());
    for o in out.iter_mut() {
        o.resize(points.n, 0.0);
    }
    match directions.len() {
        0 => {}
        1 => {
            for (o, x) in out[0]
                .iter_mut()
                .zip(points.values.chunks_exact(points.dim))
            {
                *o = dot(x, directions[0]);
            }
        }
        2..=8 => project_with::<8>(points, directions, out),
        _ => project_with::<BLOCK>(points, directions, out),
    }
}

fn project_with<const L: usize>(points: &Points, directions: &[&[f64]], out: &mut [Vec<f64>]) {
    let dim = points.dim;
    // Transposed and zero-padded: the L lanes of coordinate k sit side by side.
    let mut wt = vec![0.0; dim * L];
    for (b, w) in directions.iter().enumerate() {
        for k in 0..dim {
            wt[k * L + b] = w[k];
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if crate::cpu::avx2() {
            // SAFETY: the CPU supports AVX2 (the dispatch checked it).
            unsafe { project_avx2::<L>(points, &wt, out) };
            return;
        }
    }
    project_lanes::<L>(points, &wt, out);
}

#[inline(always)]
fn project_lanes<const L: usize>(points: &Points, wt: &[f64], out: &mut [Vec<f64>]) {
    let dim = points.dim;
    for (i, row) in points.values.chunks_exact(dim).enumerate() {
        let mut acc = [0.0f64; L];
        for (&v, w) in row.iter().zip(wt.chunks_exact(L)) {
            for b in 0..L {
                acc[b] += v * w[b];
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            o[i] = a;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn project_avx2<const L: usize>(points: &Points, wt: &[f64], out: &mut [Vec<f64>]) {
    project_lanes::<L>(points, wt, out)
}

/// A u64 whose unsigned order is the order of the finite float (−0 sorts just before +0).
#[inline(always)]
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

#[inline(always)]
fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

const DIGIT_BITS: u32 = 11;
const BUCKETS: usize = 1 << DIGIT_BITS;
/// Radix passes over the top 33 bits of the keys (sign, exponent and 21 bits of mantissa); the
/// few keys that share those are then ordered by a comparison sort of each run.
const PASSES: usize = 3;
const LOW_BITS: u32 = 64 - PASSES as u32 * DIGIT_BITS;

/// Sorts finite values ascending: a least-significant-digit radix sort of the top bits of their
/// order keys, which skips the digits that all values share (the exponent bits of data on one
/// scale), then a comparison sort of each run of keys equal in those bits (on continuous data,
/// runs of two or three, so the second step is one cheap pass).
pub fn sort_values(values: &mut [f64], scratch: &mut Vec<u64>) {
    let n = values.len();
    if n < 256 {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    let digit =
        |k: u64, p: usize| ((k >> (LOW_BITS + p as u32 * DIGIT_BITS)) as usize) & (BUCKETS - 1);
    // The keys and the histograms of all their digits in one pass.
    let mut counts = vec![[0u32; BUCKETS]; PASSES];
    let mut keys: Vec<u64> = Vec::with_capacity(n);
    keys.extend(values.iter().map(|&v| {
        let k = key(v);
        for (p, c) in counts.iter_mut().enumerate() {
            c[digit(k, p)] += 1;
        }
        k
    }));
    scratch.resize(n, 0);
    let mut src = &mut keys;
    let mut dst = scratch;
    for (p, c) in counts.iter().enumerate() {
        if c.iter().any(|&x| x as usize == n) {
            continue; // every key has the same digit here
        }
        let mut offsets = [0usize; BUCKETS];
        let mut total = 0usize;
        for (o, &x) in offsets.iter_mut().zip(c.iter()) {
            *o = total;
            total += x as usize;
        }
        for &k in src.iter() {
            let o = &mut offsets[digit(k, p)];
            // The offsets of a bucket stay below the start of the next (they are prefix sums of
            // the counts of these very keys), so every write lands in 0..n.
            debug_assert!(*o < n);
            // SAFETY: *o < n = dst.len() (above).
            unsafe { *dst.get_unchecked_mut(*o) = k };
            *o += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    // Back to values, ordering the runs of keys equal in the radix-sorted bits on the way.
    let mut start = 0;
    for i in 0..n {
        values[i] = unkey(src[i]);
        let run_ends = i + 1 == n || src[i + 1] >> LOW_BITS != src[start] >> LOW_BITS;
        if run_ends {
            if i > start {
                values[start..=i].sort_unstable_by(f64::total_cmp);
            }
            start = i + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn radix_sort_matches_the_comparison_sort_with_ties_signs_and_scales() {
        let mut rng = SmallRng::seed_from_u64(3);
        for n in [0usize, 1, 5, 255, 256, 1000, 5000] {
            let mut v: Vec<f64> = (0..n)
                .map(|i| match i % 6 {
                    0 => rng.random_range(-1e3..1e3),
                    // Long runs that agree in the radix-sorted top bits.
                    5 => 1.0 + rng.random_range(0..1000) as f64 * f64::EPSILON,
                    1 => (rng.random_range(-5..5)) as f64,
                    2 => -0.0,
                    3 => rng.random_range(-1e-300..1e-300),
                    _ => rng.random_range(-1e300..1e300),
                })
                .collect();
            let mut want = v.clone();
            want.sort_by(f64::total_cmp);
            sort_values(&mut v, &mut Vec::new());
            let same = v.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "n = {n}");
        }
    }

    #[test]
    fn block_projection_equals_the_scalar_dot_bit_for_bit() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (n, d) = (37, 13);
        let data: Vec<f64> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let points = Points::from_view(MatrixView::from_row_major(&data, n, d));
        // One direction (the plain dot), eight lanes, and sixteen (full and partly padded).
        for count in [1, 5, 8, 11, BLOCK] {
            let dirs: Vec<Vec<f64>> = (0..count)
                .map(|i| {
                    unit(
                        &(0..d)
                            .map(|_| rng.random_range(-1.0..1.0))
                            .collect::<Vec<_>>(),
                        "w",
                        i,
                    )
                    .unwrap()
                })
                .collect();
            let refs: Vec<&[f64]> = dirs.iter().map(|w| w.as_slice()).collect();
            let mut out = vec![Vec::new(); count];
            project(&points, &refs, &mut out);
            for (b, w) in dirs.iter().enumerate() {
                for (i, p) in out[b].iter().enumerate() {
                    assert_eq!(
                        p.to_bits(),
                        dot(points.row(i), w).to_bits(),
                        "{count} lanes"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_directions_are_refused_by_name() {
        let e = unit(&[0.0, 0.0], "directions", 3).unwrap_err();
        assert!(e.to_string().contains("direction 3"));
    }
}
