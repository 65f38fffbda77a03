//! The regularized incomplete beta function and the distributions built on it.

use crate::stats::kolmogorov::{bucket_index, Cdf};

/// ln Γ(x) for x > 0.
fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a+1)/(a+b+2).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Regularized incomplete beta I_x(a, b) for a, b > 0 and x in [0, 1].
pub fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// CDF of one coordinate x of a vector drawn uniformly from the unit sphere in ℝⁿ.
/// x² ~ Beta(½, (n−1)/2), so F(x) = ½ + sign(x)·½·I_{x²}(½, (n−1)/2). Equivalently
/// √(n−1)·x/√(1−x²) follows Student's t with n−1 degrees of freedom.
pub fn sphere_coordinate_cdf(x: f64, n: usize) -> f64 {
    if n > WALLACE_MIN_N {
        return sphere_coordinate_cdf_wallace(x, n);
    }
    let half = 0.5 * regularized_incomplete_beta(0.5, 0.5 * (n as f64 - 1.0), (x * x).min(1.0));
    if x >= 0.0 {
        0.5 + half
    } else {
        0.5 - half
    }
}

/// Above this dimension the Wallace approximation replaces the continued fraction: its absolute
/// error is below 1.2e-6 there (checked in the tests), far below the KS distances it feeds
/// (≈ 1/√n), and it costs one logarithm and one erfc instead of dozens of iterations.
const WALLACE_MIN_N: usize = 100;

/// Wallace (1959): for t ~ Student t_ν, Φ(z) with z = sign(t)·√(ν·ln(1 + t²/ν))·(8ν+1)/(8ν+3).
/// With t = √ν·x/√(1−x²) (ν = n−1) the logarithm is −ln(1 − x²).
fn sphere_coordinate_cdf_wallace(x: f64, n: usize) -> f64 {
    SphereCoordinateCdf::new(n).eval(x)
}

/// The sphere-coordinate CDF for one dimension n, with its constants computed once.
#[derive(Clone, Copy)]
pub struct SphereCoordinateCdf {
    n: usize,
    nu: f64,
    factor: f64,
    scale: f64, // √ν·factor
    table: crate::stats::NormalCdfTable,
}

impl SphereCoordinateCdf {
    /// The CDF for vectors of length `n`.
    pub fn new(n: usize) -> Self {
        let nu = n as f64 - 1.0;
        Self {
            n,
            nu,
            factor: (8.0 * nu + 1.0) / (8.0 * nu + 3.0),
            scale: nu.sqrt() * (8.0 * nu + 1.0) / (8.0 * nu + 3.0),
            table: crate::stats::NormalCdfTable::get(),
        }
    }

    /// P(x ≤ value) for one component.
    #[inline]
    pub fn eval(&self, x: f64) -> f64 {
        if self.n <= WALLACE_MIN_N {
            return sphere_coordinate_cdf(x, self.n);
        }
        if x.abs() >= 1.0 {
            return if x > 0.0 { 1.0 } else { 0.0 };
        }
        let u = x * x;
        if u < 0.01 {
            // The typical component (u ≈ 1/n): −ln(1 − u) = u(1 + ε) with ε = u/2 + u²/3 + u³/4 < 0.0051,
            // and √(1 + ε) by its series; relative error of z below 3e-11, no sqrt or log needed.
            let eps = u * (0.5 + u * (1.0 / 3.0 + u * 0.25));
            let root = 1.0 + eps * (0.5 + eps * (-0.125 + eps * 0.0625));
            return self.table.eval(x * self.scale * root);
        }
        let z = (self.nu * -(-u).ln_1p()).sqrt() * self.factor;
        self.table.eval(if x < 0.0 { -z } else { z })
    }
}

/// [`SphereCoordinateCdf`] for one n > 100 as a piecewise cubic in x (Hermite interpolation of the
/// Wallace law and its exact derivative on 1088 intervals covering |z| ≤ 8.5): one multiply, one
/// table row and three fused steps per value, for the millions of components of a Porter–Thomas
/// test. Agrees with [`SphereCoordinateCdf::eval`] to 1e-9 (tested). Build once per vector length.
#[derive(Clone)]
pub struct SphereCoordinateTable {
    exact: SphereCoordinateCdf,
    /// Half-width X of the tabulated range [−X, X]; outside it F is 0 or 1 to below 1e-16.
    half_width: f64,
    inv_step: f64,
    /// Cubic coefficients (c₀, c₁, c₂, c₃) in t ∈ [0, 1) per interval.
    coefficients: Vec<[f64; 4]>,
}

/// 1088 intervals × 32 bytes: the table stays in a 64 KB L1 data cache.
const TABLE_INTERVALS: usize = 1088;

impl SphereCoordinateTable {
    /// The table for vectors of length `n`.
    pub fn new(n: usize) -> Self {
        let exact = SphereCoordinateCdf::new(n);
        if n <= WALLACE_MIN_N {
            return Self {
                exact,
                half_width: 0.0,
                inv_step: 0.0,
                coefficients: Vec::new(),
            };
        }
        // z = scale·x·r(u) with r ≥ 1, so |x| ≥ 8.5/scale already has |z| ≥ 8.5.
        let half_width = (8.5 / exact.scale).min(1.0);
        let step = 2.0 * half_width / TABLE_INTERVALS as f64;
        let node = |k: usize| {
            let x = -half_width + k as f64 * step;
            let u = x * x;
            let r = if u == 0.0 {
                1.0
            } else {
                (-(-u).ln_1p() / u).sqrt()
            };
            let z = exact.scale * x * r;
            let density = (-0.5 * z * z).exp() * 0.398_942_280_401_432_7;
            // dz/dx = scale / ((1 − u)·r(u)), the derivative of the Wallace map.
            let slope = density * exact.scale / ((1.0 - u) * r);
            (crate::stats::normal_cdf(z), slope * step)
        };
        let mut coefficients = Vec::with_capacity(TABLE_INTERVALS);
        let mut left = node(0);
        for k in 0..TABLE_INTERVALS {
            let right = node(k + 1);
            let ((f0, d0), (f1, d1)) = (left, right);
            coefficients.push([
                f0,
                d0,
                3.0 * (f1 - f0) - 2.0 * d0 - d1,
                2.0 * (f0 - f1) + d0 + d1,
            ]);
            left = right;
        }
        Self {
            exact,
            half_width,
            inv_step: 1.0 / step,
            coefficients,
        }
    }

    /// P(x ≤ value) for one component, from the table.
    #[inline]
    pub fn eval(&self, x: f64) -> f64 {
        if x.is_nan() || x.abs() >= self.half_width {
            return self.exact.eval(x);
        }
        let pos = (x + self.half_width) * self.inv_step;
        // SAFETY: |x| < X puts pos in [0, TABLE_INTERVALS], where the conversion is exact.
        let i = unsafe { pos.to_int_unchecked::<usize>() }.min(TABLE_INTERVALS - 1);
        let t = pos - i as f64;
        let [c0, c1, c2, c3] = self.coefficients[i];
        c0 + t * (c1 + t * (c2 + t * c3))
    }
}

impl Cdf for SphereCoordinateTable {
    fn cdf(&self, x: f64) -> f64 {
        self.eval(x)
    }

    fn bucket_indices(&self, x: &[f64], out: &mut Vec<u32>) {
        let n = x.len();
        out.clear();
        out.resize(n, 0);
        #[cfg(target_arch = "x86_64")]
        if n <= i32::MAX as usize && !self.coefficients.is_empty() && crate::cpu::avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (crate::cpu detected them); `out` has x's length.
            return unsafe { self.bucket_indices_avx2(x, out) };
        }
        for (o, &xi) in out.iter_mut().zip(x) {
            *o = bucket_index(self.eval(xi), n);
        }
    }
}

impl SphereCoordinateTable {
    /// Four values at a time: the interval index, a gather of its four coefficients, three FMAs.
    /// Blocks with a value outside the table go through the scalar path.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn bucket_indices_avx2(&self, x: &[f64], out: &mut [u32]) {
        use std::arch::x86_64::*;
        let n = x.len();
        let half = _mm256_set1_pd(self.half_width);
        let inv_step = _mm256_set1_pd(self.inv_step);
        let last_interval = _mm_set1_epi32(TABLE_INTERVALS as i32 - 1);
        let scale = _mm256_set1_pd(n as f64);
        let (zero, one) = (_mm256_setzero_pd(), _mm256_set1_pd(1.0));
        let last_bucket = _mm_set1_epi32(n as i32 - 1);
        let magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let table = self.coefficients.as_ptr() as *const f64;
        let blocks = n / 4;
        for k in 0..blocks {
            let xs = _mm256_loadu_pd(x.as_ptr().add(4 * k));
            let inside = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_and_pd(xs, magnitude), half);
            if _mm256_movemask_pd(inside) != 0b1111 {
                for j in 4 * k..4 * k + 4 {
                    out[j] = bucket_index(self.eval(x[j]), n);
                }
                continue;
            }
            let pos = _mm256_mul_pd(_mm256_add_pd(xs, half), inv_step);
            let interval = _mm_min_epi32(_mm256_cvttpd_epi32(pos), last_interval);
            let t = _mm256_sub_pd(pos, _mm256_cvtepi32_pd(interval));
            let row = _mm_slli_epi32::<2>(interval);
            let c0 = _mm256_i32gather_pd::<8>(table, row);
            let c1 = _mm256_i32gather_pd::<8>(table.add(1), row);
            let c2 = _mm256_i32gather_pd::<8>(table.add(2), row);
            let c3 = _mm256_i32gather_pd::<8>(table.add(3), row);
            let f = _mm256_fmadd_pd(t, _mm256_fmadd_pd(t, _mm256_fmadd_pd(t, c3, c2), c1), c0);
            let f = _mm256_min_pd(_mm256_max_pd(f, zero), one);
            let bucket = _mm_min_epi32(_mm256_cvttpd_epi32(_mm256_mul_pd(f, scale)), last_bucket);
            _mm_storeu_si128(out.as_mut_ptr().add(4 * k) as *mut __m128i, bucket);
        }
        for j in 4 * blocks..n {
            out[j] = bucket_index(self.eval(x[j]), n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_beta_reference_values() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1−x)^b; symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
        assert!((regularized_incomplete_beta(1.0, 1.0, 0.3) - 0.3).abs() < 1e-13);
        assert!((regularized_incomplete_beta(2.5, 1.0, 0.4) - 0.4f64.powf(2.5)).abs() < 1e-13);
        assert!(
            (regularized_incomplete_beta(1.0, 7.0, 0.2) - (1.0 - 0.8f64.powi(7))).abs() < 1e-13
        );
        let (a, b, x) = (0.5, 37.0, 0.05);
        let lhs = regularized_incomplete_beta(a, b, x);
        let rhs = 1.0 - regularized_incomplete_beta(b, a, 1.0 - x);
        assert!((lhs - rhs).abs() < 1e-12);
    }

    #[test]
    fn wallace_approximation_is_accurate_above_its_threshold() {
        for &n in &[WALLACE_MIN_N + 1, 384, 1536, 30_522] {
            let half = 0.5 * regularized_incomplete_beta(0.5, 0.5 * (n as f64 - 1.0), 0.0);
            assert_eq!(half, 0.0);
            let mut worst: f64 = 0.0;
            for k in -400..=400 {
                let x = k as f64 * 8.0 / 400.0 / (n as f64).sqrt();
                let exact = 0.5
                    + x.signum()
                        * 0.5
                        * regularized_incomplete_beta(0.5, 0.5 * (n as f64 - 1.0), x * x);
                worst = worst.max((sphere_coordinate_cdf_wallace(x, n) - exact).abs());
            }
            assert!(worst < 1.2e-6, "n = {n}: {worst}");
        }
    }

    #[test]
    fn wallace_series_path_matches_the_closed_form() {
        for &n in &[101usize, 384, 30_522] {
            let cdf = SphereCoordinateCdf::new(n);
            let nu = n as f64 - 1.0;
            for k in -1000..=1000 {
                let x = k as f64 * 0.1 / 1000.0; // |x| < 0.1, the series region u < 0.01
                let z = (nu * -(-x * x).ln_1p()).sqrt() * (8.0 * nu + 1.0) / (8.0 * nu + 3.0);
                let closed = crate::stats::normal_cdf(if x < 0.0 { -z } else { z });
                assert!((cdf.eval(x) - closed).abs() < 2e-9, "n {n} x {x}");
            }
        }
    }

    #[test]
    fn table_matches_the_direct_evaluation() {
        for &n in &[WALLACE_MIN_N + 1, 384, 1536, 30_522, 1_000_000] {
            let (direct, table) = (SphereCoordinateCdf::new(n), SphereCoordinateTable::new(n));
            let mut worst: f64 = 0.0;
            for k in -20_000..=20_000 {
                let x = k as f64 * 10.0 / 20_000.0 / (n as f64).sqrt();
                worst = worst.max((table.eval(x) - direct.eval(x)).abs());
            }
            assert!(worst < 1e-9, "n = {n}: {worst}");
            assert_eq!(table.eval(1.5), 1.0);
            assert_eq!(table.eval(-1.0), 0.0);
        }
        // Small n is not tabulated: the exact law is used.
        let table = SphereCoordinateTable::new(3);
        assert!((table.eval(0.35) - 0.675).abs() < 1e-12);
    }

    #[test]
    fn vectorised_buckets_match_scalar_ones() {
        for &n in &[384usize, 1537, 30_522] {
            let table = SphereCoordinateTable::new(n);
            let scale = 1.0 / (n as f64).sqrt();
            // Spread over the table, past both of its ends, and exactly on the edges.
            let mut x: Vec<f64> = (0..n)
                .map(|i| ((i as f64 * 0.618_033_988_7).fract() - 0.5) * 24.0 * scale)
                .collect();
            x[1] = table.half_width;
            x[2] = -table.half_width;
            x[3] = 0.0;
            let mut fast = Vec::new();
            table.bucket_indices(&x, &mut fast);
            let mismatches = x
                .iter()
                .zip(&fast)
                .filter(|(&xi, &b)| {
                    let exact = table.eval(xi) * n as f64;
                    // FMA rounding may move a value sitting on a bucket edge to its neighbour.
                    let slack = 1e-9;
                    !((b as f64 - slack..b as f64 + 1.0 + slack)
                        .contains(&exact.min(n as f64 - 0.5)))
                })
                .count();
            assert_eq!(mismatches, 0, "n = {n}");
            assert!(fast.iter().all(|&b| (b as usize) < n));
        }
    }

    #[test]
    fn sphere_coordinate_matches_known_cases() {
        // n = 3: x is uniform on [−1, 1] (Archimedes).
        for &x in &[-0.9, -0.2, 0.0, 0.35, 0.8] {
            assert!((sphere_coordinate_cdf(x, 3) - (x + 1.0) / 2.0).abs() < 1e-12);
        }
        // Large n: √n·x is nearly standard normal.
        let n = 20_000;
        let x = 1.3 / (n as f64).sqrt();
        assert!((sphere_coordinate_cdf(x, n) - crate::stats::normal_cdf(1.3)).abs() < 1e-4);
    }
}
