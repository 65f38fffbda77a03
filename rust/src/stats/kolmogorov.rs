//! The one-sample Kolmogorov–Smirnov statistic and its asymptotic p-value.

/// sup_x |F_emp(x) − F(x)| for a sample sorted ascending, checking both sides of every step.
pub fn ks_distance_sorted(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            let above = (i as f64 + 1.0) / n - f;
            let below = f - i as f64 / n;
            above.max(below)
        })
        .fold(0.0, f64::max)
}

/// The KS distance of probability-integral transforms uᵢ = F(xᵢ) ∈ [0, 1] against the uniform law,
/// in O(n) without sorting. Equal to `ks_distance_sorted` of the sorted xᵢ against F. Kept as the
/// reference the bucketed `ks_distance_uniform_of` is tested against.
pub fn ks_distance_uniform(u: &[f64]) -> f64 {
    ks_distance_uniform_of(u, &|v: f64| v)
}

/// A continuous distribution function as the O(n) KS kernel uses it: F(x) for single values, and
/// the bucket indices ⌊n·F(xᵢ)⌋ (clamped to 0..n−1) of a whole sample, which an implementation
/// may compute vectorised. Any `Fn(f64) -> f64` is one.
pub trait Cdf {
    /// The CDF at `x`.
    fn cdf(&self, x: f64) -> f64;

    /// Writes ⌊n·F(xᵢ)⌋ for n = x.len() into `out` (resized to n).
    fn bucket_indices(&self, x: &[f64], out: &mut Vec<u32>) {
        let n = x.len();
        out.clear();
        out.extend(x.iter().map(|&xi| bucket_index(self.cdf(xi), n)));
    }
}

impl<F: Fn(f64) -> f64> Cdf for F {
    fn cdf(&self, x: f64) -> f64 {
        self(x)
    }
}

/// The bucket of width 1/n that holds u (u = 1 goes to the last one).
#[inline]
pub fn bucket_index(u: f64, n: usize) -> u32 {
    ((u.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1) as u32
}

/// [`ks_distance_uniform`] of `cdf(xᵢ)`, transforming on the fly (no copy of the sample).
///
/// Values go into n buckets of width 1/n by u. Within a bucket the values differ by less than 1/n
/// while their ranks step by 1/n, so (i+1)/n − u₍ᵢ₎ peaks at the bucket's largest value and
/// u₍ᵢ₎ − i/n at its smallest. A first pass only counts, in an array small enough for L1 (random
/// access into a larger per-bucket min/max array was the bottleneck); the counts bound each
/// bucket's contribution to within 1/n, and a second pass over the bucket indices finds the exact
/// extremes of the few buckets that can still hold the maximum.
pub fn ks_distance_uniform_of<C: Cdf + ?Sized>(x: &[f64], cdf: &C) -> f64 {
    let n = x.len();
    if n == 0 {
        return f64::NAN;
    }
    // Scratch reused per thread: fresh arrays per vector cost page faults.
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = const { std::cell::RefCell::new(Scratch::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => scratch.ks(x, cdf),
        Err(_) => Scratch::new().ks(x, cdf),
    })
}

struct Candidate {
    bucket: usize,
    below: u32,
    count: u32,
    lo: f64,
    hi: f64,
}

struct Scratch {
    buckets: Vec<u32>,
    counts16: Vec<u16>,
    counts32: Vec<u32>,
    marks: Vec<u64>,
}

impl Scratch {
    const fn new() -> Self {
        Self {
            buckets: Vec::new(),
            counts16: Vec::new(),
            counts32: Vec::new(),
            marks: Vec::new(),
        }
    }

    fn ks<C: Cdf + ?Sized>(&mut self, x: &[f64], cdf: &C) -> f64 {
        let n = x.len();
        let nf = n as f64;
        cdf.bucket_indices(x, &mut self.buckets);
        // Counts in 16 bits while they cannot overflow keep the array inside L1 for n ≤ 32768.
        let mut candidates = if n <= u16::MAX as usize {
            candidates(
                bucket_counts(&self.buckets, &mut self.counts16),
                &mut self.marks,
            )
        } else {
            candidates(
                bucket_counts(&self.buckets, &mut self.counts32),
                &mut self.marks,
            )
        };
        // Only the values in marked buckets are transformed a second time.
        for (&b, &xi) in self.buckets.iter().zip(x) {
            let b = b as usize;
            if self.marks[b / 64] >> (b % 64) & 1 == 1 {
                let v = cdf.cdf(xi);
                let slot = candidates.partition_point(|c| c.bucket < b);
                let c = &mut candidates[slot];
                c.lo = c.lo.min(v);
                c.hi = c.hi.max(v);
            }
        }
        let step = 1.0 / nf;
        candidates.iter().fold(0.0, |d: f64, c| {
            let above = (c.below + c.count) as f64 * step - c.hi;
            let under = c.lo - c.below as f64 * step;
            d.max(above).max(under)
        })
    }
}

/// How many of the n values fall in each of the n buckets.
fn bucket_counts<'a, C>(buckets: &[u32], counts: &'a mut Vec<C>) -> &'a [C]
where
    C: Copy + Default + std::ops::AddAssign + From<u8>,
{
    counts.clear();
    counts.resize(buckets.len(), C::default());
    for &b in buckets {
        counts[b as usize] += C::from(1);
    }
    counts
}

/// The buckets that can hold the maximum, marked in a bitset. In units of 1/n, an occupied bucket
/// b holding ranks below..below+c (values in [b, b+1]/n) contributes to n·D between
/// max(below+c−b−1, b−below) and max(below+c−b, b+1−below): integers, no division per bucket.
fn candidates<C: Copy + Into<u32>>(counts: &[C], marks: &mut Vec<u64>) -> Vec<Candidate> {
    // Empty buckets may join in without a branch: their terms never exceed a neighbour's.
    let mut lower_bound: i64 = 0;
    let mut below: i64 = 0;
    for (b, &c) in counts.iter().enumerate() {
        let (b, c) = (b as i64, c.into() as i64);
        lower_bound = lower_bound.max(below + c - b - 1).max(b - below);
        below += c;
    }
    marks.clear();
    marks.resize(counts.len().div_ceil(64), 0);
    let mut found = Vec::new();
    let mut below: i64 = 0;
    for (b, &c) in counts.iter().enumerate() {
        let c = c.into();
        let (bi, ci) = (b as i64, c as i64);
        // One unit of slack covers the rounding of v·n at bucket edges; one rarely taken branch.
        if (c > 0) & ((below + ci - bi).max(bi + 1 - below) >= lower_bound - 1) {
            marks[b / 64] |= 1 << (b % 64);
            found.push(Candidate {
                bucket: b,
                below: below as u32,
                count: c,
                lo: f64::INFINITY,
                hi: f64::NEG_INFINITY,
            });
        }
        below += ci;
    }
    found
}

/// P(D_n > d) under the null, from the Kolmogorov distribution with Stephens' finite-n
/// correction λ = (√n + 0.12 + 0.11/√n)·d (Stephens 1970; accurate to about 1e-2 for n ≥ 5).
pub fn ks_pvalue(d: f64, n: usize) -> f64 {
    if n == 0 || !d.is_finite() {
        return f64::NAN;
    }
    let sn = (n as f64).sqrt();
    kolmogorov_sf((sn + 0.12 + 0.11 / sn) * d)
}

/// Survival function of the Kolmogorov distribution, Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    // The alternating series converges slowly for small λ; the theta form is fast there.
    if lambda < 1.0 {
        (1.0 - kolmogorov_cdf_theta(lambda)).clamp(0.0, 1.0)
    } else {
        kolmogorov_sf_alternating(lambda).clamp(0.0, 1.0)
    }
}

/// Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}.
fn kolmogorov_sf_alternating(lambda: f64) -> f64 {
    let mut sum = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * lambda * lambda).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-18 {
            break;
        }
    }
    2.0 * sum
}

/// K(λ) = √(2π)/λ Σ_{k≥1} exp(−(2k−1)²π²/(8λ²)), the same distribution through Jacobi's identity.
fn kolmogorov_cdf_theta(lambda: f64) -> f64 {
    let pi2 = std::f64::consts::PI * std::f64::consts::PI;
    let mut cdf = 0.0;
    for k in 1..=50 {
        let odd = (2 * k - 1) as f64;
        let term = (-(odd * odd) * pi2 / (8.0 * lambda * lambda)).exp();
        cdf += term;
        if term < 1e-18 {
            break;
        }
    }
    cdf * (2.0 * std::f64::consts::PI).sqrt() / lambda
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolmogorov_reference_values() {
        // Classic critical values: Q(1.358) ≈ 0.05, Q(1.628) ≈ 0.01, Q(1.224) ≈ 0.10.
        assert!((kolmogorov_sf(1.3581) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_sf(1.6276) - 0.01).abs() < 1e-3);
        assert!((kolmogorov_sf(1.2238) - 0.10).abs() < 1e-3);
        // The two series agree where they meet (and elsewhere).
        for &l in &[0.6, 1.0, 1.4] {
            assert!((kolmogorov_sf_alternating(l) - (1.0 - kolmogorov_cdf_theta(l))).abs() < 1e-12);
        }
        assert_eq!(kolmogorov_sf(0.0), 1.0);
        assert!(kolmogorov_sf(10.0) < 1e-40);
    }

    #[test]
    fn bucket_ks_equals_sorted_ks() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for &n in &[1usize, 2, 7, 100, 1000] {
            for skew in [1.0, 3.0] {
                let mut u: Vec<f64> = (0..n).map(|_| next().powf(skew)).collect();
                if n > 3 {
                    u[1] = u[2]; // ties
                }
                u[0] = 1.0; // the top edge lands in the last bucket
                let mut sorted = u.clone();
                sorted.sort_by(f64::total_cmp);
                let expected = ks_distance_sorted(&sorted, |x| x);
                // Equal up to rounding: ranks are scaled by 1/n here and divided by n there.
                assert!(
                    (ks_distance_uniform(&u) - expected).abs() < 1e-15,
                    "n = {n}"
                );
            }
        }
    }

    #[test]
    fn bucket_ks_handles_piled_up_values_and_transforms() {
        // An informative vector piles many values into one bucket; the transform runs on the fly.
        let n = 1000;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    0.0
                } else {
                    (i as f64 / n as f64) * 4.0 - 2.0
                }
            })
            .collect();
        let cdf = |t: f64| crate::stats::normal_cdf(t);
        let mut u: Vec<f64> = x.iter().map(|&t| cdf(t)).collect();
        u.sort_by(f64::total_cmp);
        let expected = ks_distance_sorted(&u, |v| v);
        assert!((ks_distance_uniform_of(&x, &cdf) - expected).abs() < 1e-15);
        assert!(expected > 1.0 / 6.0 - 1e-3); // a jump of 1/3 in the empirical CDF
    }

    #[test]
    fn ks_distance_of_perfect_grid_is_half_step() {
        let n = 100;
        let sample: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let d = ks_distance_sorted(&sample, |x| x.clamp(0.0, 1.0));
        assert!((d - 0.5 / n as f64).abs() < 1e-12);
    }
}
