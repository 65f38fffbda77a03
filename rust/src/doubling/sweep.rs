//! The doubling ratios of all slabs centred on the data, for one direction and every width: one
//! pass over the sorted projections per width with four monotone pointers.
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

/// Sweeps every width of `deltas` over the slabs centred on the sorted projections `p`. Widths are
/// taken from the largest down, and once no slab of a width holds `min_points`, none of a smaller
/// width can (each slab only loses points as δ shrinks): the rest are left empty without a pass.
pub fn sweep_widths(p: &[f64], deltas: &[f64], min_points: usize) -> Vec<WidthSweep> {
    let mut order: Vec<usize> = (0..deltas.len()).collect();
    order.sort_by(|&a, &b| deltas[b].total_cmp(&deltas[a]));
    let mut out = vec![WidthSweep::default(); deltas.len()];
    for g in order {
        out[g] = sweep_width(p, deltas[g], min_points);
        if out[g].n_slabs == 0 {
            break;
        }
    }
    out
}

/// One width: see the module docs.
pub fn sweep_width(p: &[f64], delta: f64, min_points: usize) -> WidthSweep {
    let n = p.len();
    let (h1, h2) = (delta, 2.0 * delta);
    let (mut lo1, mut hi1, mut lo2, mut hi2) = (0usize, 0usize, 0usize, 0usize);
    let mut best = WidthSweep::default();
    let (mut n_slabs, mut ratio_sum) = (0usize, 0.0f64);
    for j in 0..n {
        let c = p[j];
        while lo1 < n && p[lo1] - c <= -h1 {
            lo1 += 1;
        }
        while hi1 < n && p[hi1] - c < h1 {
            hi1 += 1;
        }
        let inner = hi1 - lo1;
        if inner < min_points {
            continue;
        }
        // The doubled slab's pointers catch up only for centres that qualify (both only move
        // forward, so the skipped steps are taken here at once).
        while lo2 < n && p[lo2] - c <= -h2 {
            lo2 += 1;
        }
        while hi2 < n && p[hi2] - c < h2 {
            hi2 += 1;
        }
        let outer = hi2 - lo2;
        n_slabs += 1;
        ratio_sum += outer as f64 / inner as f64;
        if (outer as u128) * (best.inner as u128) > (best.outer as u128) * (inner as u128)
            || best.inner == 0
        {
            best = WidthSweep {
                n_slabs: 0,
                ratio_sum: 0.0,
                outer,
                inner,
                centre: c,
            };
        }
    }
    best.n_slabs = n_slabs;
    best.ratio_sum = ratio_sum;
    best
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
            for delta in [0.25, 0.5, 1.0, 1.7] {
                for m in [1, 3, 10] {
                    let got = sweep_width(&p, delta, m);
                    let (mut best, mut count, mut sum) = (f64::NAN, 0, 0.0);
                    for &c in &p {
                        let inner = count_in_slab(&p, -c, delta);
                        let outer = count_in_slab(&p, -c, 2.0 * delta);
                        if inner >= m {
                            count += 1;
                            let r = outer as f64 / inner as f64;
                            sum += r;
                            if best.is_nan() || r > best {
                                best = r;
                            }
                        }
                    }
                    assert_eq!(got.n_slabs, count);
                    // Several widths at once (in any order, smaller ones skipped once one is empty)
                    // give each width's own sweep.
                    let widths = [delta / 4.0, delta, delta / 2.0];
                    for (w, s) in widths.iter().zip(sweep_widths(&p, &widths, m)) {
                        assert_eq!(s, sweep_width(&p, *w, m));
                    }
                    assert!((got.ratio_sum - sum).abs() <= 1e-9 * sum.max(1.0));
                    if count > 0 {
                        assert_eq!(got.ratio(), best);
                        assert_eq!(count_in_slab(&p, -got.centre, delta), got.inner);
                        assert_eq!(count_in_slab(&p, -got.centre, 2.0 * delta), got.outer);
                    } else {
                        assert!(got.ratio().is_nan());
                    }
                }
            }
        }
    }
}
