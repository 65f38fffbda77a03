//! The Marchenko–Pastur law of the **singular values** of an N×M noise matrix.
//!
//! Convention (used everywhere in netsieve): W is N×M after orientation, N ≥ M, β = M/N ≤ 1, with
//! i.i.d. entries of mean 0 and variance σ². With t = s²/(σ²N) the squared, rescaled singular values
//! follow f_β(t) = √((b−t)(t−a)) / (2πβt) on [a, b] = [(1−√β)², (1+√β)²]. In singular-value units the
//! bulk is [s₋, s₊] = [σ(√N − √M), σ(√N + √M)] and the density is
//! ρ(s) = √((s₊² − s²)(s² − s₋²)) / (π σ² M s).
//!
//! Scale: σ² and s² overflow beyond about 1e154 and underflow below 1e-154, so nothing here squares
//! them. `MpShape` works with u = s/(σ√N) = √t, computed as (s/σ)/√N (σ√N would round in the
//! subnormal range), and the law of u: density g(u) = 2u·f_β(u²) =
//! √((√b − u)(√b + u)(u − √a)(u + √a)) / (πβu) (each factor under its own root, so u·u is never
//! formed) and CDF G(u) = F_β(u²). Then ρ(s) = g(u)/√N/σ, F(s) = G(u) and Q(p) = σ·(√N·G⁻¹(p)), each
//! σ-independent up to one rounding. At the hard edge of β = 1, G(u) = (2/π)(u − u³/24 + …): for
//! u < 1e-100, where u² would underflow, G(u) = 2u/π exactly to double precision.
//!
//! Limits: ρ = 0 outside the open bulk (s₋, s₊), for s < 0 and s = ±∞; F(−∞) = 0, F(+∞) = 1;
//! Q(0) = s₋ and Q(1) = s₊ exactly as `edges` gives them. A NaN argument gives NaN.

use crate::error::{CoreError, CoreResult};

/// An oriented matrix shape: `n` ≥ `m` ≥ 2 (a single row or column has no spectrum to fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpShape {
    /// The larger side N.
    pub n: usize,
    /// The smaller side M.
    pub m: usize,
}

impl MpShape {
    /// Orients `(rows, cols)` so that n ≥ m.
    pub fn new(rows: usize, cols: usize) -> CoreResult<Self> {
        let (n, m) = if rows >= cols {
            (rows, cols)
        } else {
            (cols, rows)
        };
        if m == 0 {
            return Err(CoreError::invalid(
                "shape",
                format!("the {rows}×{cols} matrix is empty"),
            ));
        }
        if m < 2 {
            return Err(CoreError::invalid(
                "shape",
                format!("a {rows}×{cols} matrix has fewer than 2 singular values; spectral analysis needs at least 2 rows and 2 columns"),
            ));
        }
        Ok(Self { n, m })
    }

    /// β = M/N ≤ 1.
    pub fn beta(&self) -> f64 {
        self.m as f64 / self.n as f64
    }

    /// Support [a, b] of the standardized law f_β.
    pub fn standard_edges(&self) -> (f64, f64) {
        standard_edges(self.beta())
    }

    /// Bulk edges (s₋, s₊) in singular-value units.
    pub fn edges(&self, sigma: f64) -> (f64, f64) {
        let (n, m) = (self.n as f64, self.m as f64);
        (sigma * (n.sqrt() - m.sqrt()), sigma * (n.sqrt() + m.sqrt()))
    }

    /// The shape of the bulk that k spikes leave: (N − k)×(M − k), at least one value.
    ///
    /// Why: for i.i.d. noise X plus a rank-k signal whose singular vectors are (nearly) those of
    /// the k spikes, the values below the spikes are those of X compressed off k left and k right
    /// directions independent of X; by rotation invariance that compression is an (N − k)×(M − k)
    /// white-noise matrix with the same σ. Read against the N×M law instead, the m − k bulk values
    /// sit k ranks off their quantiles: σ comes out high by O(k/M) and the KS count n·D grows by
    /// O(k), which the rigid-spectrum test (`stats/spectral_ks.rs`) resolves at k = 1.
    pub fn without_spikes(&self, k: usize) -> Self {
        let k = k.min(self.m - 1);
        Self {
            n: self.n - k,
            m: self.m - k,
        }
    }

    /// u = s/(σ√N), the singular value in units of the bulk scale.
    fn ratio(&self, s: f64, sigma: f64) -> f64 {
        s / sigma / (self.n as f64).sqrt()
    }

    /// ρ(s) = g(u)/(σ√N): 0 outside the open bulk, for s < 0 and at ±∞; NaN for NaN.
    pub fn pdf(&self, s: f64, sigma: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        root_pdf(self.ratio(s, sigma), self.beta()) / (self.n as f64).sqrt() / sigma
    }

    /// P(singular value ≤ s).
    pub fn cdf(&self, s: f64, sigma: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        if s <= 0.0 {
            return 0.0;
        }
        root_cdf(self.ratio(s, sigma), self.beta())
    }

    /// Q(p) for p ∈ [0, 1]: s₋ at p ≤ 0 and s₊ at p ≥ 1, exactly the `edges`.
    pub fn quantile(&self, p: f64, sigma: f64) -> f64 {
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return self.edges(sigma).0;
        }
        if p >= 1.0 {
            return self.edges(sigma).1;
        }
        sigma * ((self.n as f64).sqrt() * root_quantile(p, self.beta()))
    }
}

/// Below this u, u² may underflow: the hard-edge series G(u) = 2u/π takes over (its next term is
/// u²/24 ≈ 1e-200 relative).
const HARD_EDGE_SERIES_BELOW: f64 = 1e-100;

/// g(u) = 2u·f_β(u²), the density of u = √t, on the open support (√a, √b); 0 elsewhere.
fn root_pdf(u: f64, beta: f64) -> f64 {
    let r = beta.sqrt();
    let (lo, hi) = (1.0 - r, 1.0 + r);
    if !(u > lo && u < hi) {
        return 0.0;
    }
    (hi - u).sqrt() * (hi + u).sqrt() * (u - lo).sqrt() * (u + lo).sqrt()
        / (std::f64::consts::PI * beta * u)
}

/// G(u) = F_β(u²), with the hard-edge series where u² would underflow.
fn root_cdf(u: f64, beta: f64) -> f64 {
    if u <= 0.0 {
        return 0.0;
    }
    if beta == 1.0 && u < HARD_EDGE_SERIES_BELOW {
        return std::f64::consts::FRAC_2_PI * u;
    }
    standard_cdf(u * u, beta)
}

/// Support [(1 − √β)², (1 + √β)²] of the standardised law f_β.
pub fn standard_edges(beta: f64) -> (f64, f64) {
    let r = beta.sqrt();
    ((1.0 - r) * (1.0 - r), (1.0 + r) * (1.0 + r))
}

/// f_β(t), the density of t = s²/(σ²N) (the textbook form; [`MpShape::pdf`] evaluates it without
/// squaring s or σ).
pub fn standard_pdf(t: f64, beta: f64) -> f64 {
    let (a, b) = standard_edges(beta);
    if t <= a || t >= b || t <= 0.0 {
        return 0.0;
    }
    ((b - t) * (t - a)).sqrt() / (2.0 * std::f64::consts::PI * beta * t)
}

/// F_β(t) in closed form: with R = √((b−t)(t−a)),
/// F = ½ + [R + (1+β)·asin((2t−a−b)/(b−a)) − (1−β)·asin(((a+b)t − 2ab)/(t(b−a)))] / (2πβ).
/// Evaluated without cancellation: the ½ and the ±π/2 limits of the arcsines cancel exactly, and
/// asin(x) + π/2 = 2·asin(√((1+x)/2)) with 1 + x in closed form, so F near the lower edge (and 1 − F
/// near the upper edge) keeps its absolute accuracy even for tiny β.
pub fn standard_cdf(t: f64, beta: f64) -> f64 {
    let (a, b) = standard_edges(beta);
    if t <= a {
        return 0.0;
    }
    if t >= b {
        return 1.0;
    }
    let r = ((b - t) * (t - a)).sqrt();
    let w = b - a;
    let scale = 2.0 * std::f64::consts::PI * beta;
    let half_angle = |x: f64| 2.0 * x.clamp(0.0, 1.0).sqrt().asin();
    if t <= 0.5 * (a + b) {
        // 1 + x₁ = 2(t−a)/w and 1 + x₂ = 2b(t−a)/(t·w).
        let first = half_angle((t - a) / w);
        let second = if beta < 1.0 {
            half_angle(b * (t - a) / (t * w))
        } else {
            0.0
        };
        ((r + (1.0 + beta) * first - (1.0 - beta) * second) / scale).clamp(0.0, 1.0)
    } else {
        // 1 − x₁ = 2(b−t)/w and 1 − x₂ = 2a(b−t)/(t·w).
        let first = half_angle((b - t) / w);
        let second = if beta < 1.0 {
            half_angle(a * (b - t) / (t * w))
        } else {
            0.0
        };
        (1.0 - (-r + (1.0 + beta) * first - (1.0 - beta) * second) / scale).clamp(0.0, 1.0)
    }
}

/// F_β⁻¹(p), the square of [`root_quantile`] (exactly a and b at p ≤ 0 and p ≥ 1).
pub fn standard_quantile(p: f64, beta: f64) -> f64 {
    let (a, b) = standard_edges(beta);
    if p <= 0.0 {
        return a;
    }
    if p >= 1.0 {
        return b;
    }
    root_quantile(p, beta).powi(2)
}

/// G⁻¹(p) = √F_β⁻¹(p) by safeguarded Newton iteration. It runs in u = √t (singular-value units),
/// where the density g(u) stays bounded even at the hard edge t = 0 of β = 1, so tiny p converge
/// too (to u ≈ πp/2, which t = u² could not hold below p ≈ 1e-154).
fn root_quantile(p: f64, beta: f64) -> f64 {
    let r = beta.sqrt();
    let (mut lo, mut hi) = (1.0 - r, 1.0 + r);
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return lo;
    }
    if p >= 1.0 {
        return hi;
    }
    let mut u = lo + p * (hi - lo);
    for _ in 0..200 {
        let f = root_cdf(u, beta) - p;
        if f == 0.0 {
            return u;
        }
        if f > 0.0 {
            hi = u;
        } else {
            lo = u;
        }
        let d = root_pdf(u, beta);
        let mut next = if d > 0.0 { u - f / d } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - u).abs() <= 1e-15 * next.abs() || hi - lo <= 1e-15 * hi {
            return next;
        }
        u = next;
    }
    u
}

/// Validates a noise level: finite and strictly positive.
pub fn check_sigma(sigma: f64) -> CoreResult<()> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CoreError::invalid(
            "sigma",
            format!("the noise level must be a finite positive number, got {sigma}"),
        ));
    }
    Ok(())
}

crate::named_enum! {
    /// Which function of the law [`evaluate`] computes.
    pub enum MpFunction for "which" as "function of the law" / "functions" {
        /// The density ρ(s).
        Pdf = "pdf",
        /// P(singular value ≤ s).
        Cdf = "cdf",
        /// The inverse of the CDF, for probabilities in [0, 1].
        Quantile = "quantile",
    }
}

/// Evaluates the law elementwise, after checking σ, and that the arguments are not NaN (and lie
/// in [0, 1] for the quantile). A positive `spread` evaluates the deformed law of correlated noise
/// of that spread and population shape instead (`deformed_law.rs`); 0 is this closed form.
pub fn evaluate(
    f: MpFunction,
    xs: &[f64],
    shape: MpShape,
    sigma: f64,
    spread: f64,
    population_shape: (f64, f64),
) -> CoreResult<Vec<f64>> {
    check_sigma(sigma)?;
    let deformed = if spread == 0.0 {
        None
    } else {
        Some(super::deformed_law::DeformedLaw::new(
            shape,
            spread,
            population_shape,
        )?)
    };
    if let Some(i) = xs.iter().position(|x| x.is_nan()) {
        return Err(CoreError::NonFinite {
            what: if f == MpFunction::Quantile {
                "the probabilities"
            } else {
                "the singular values"
            },
            value: f64::NAN,
            location: format!("index {i}"),
        });
    }
    if f == MpFunction::Quantile {
        if let Some(p) = xs.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(CoreError::invalid(
                "p",
                format!("probabilities must lie in [0, 1], got {p}"),
            ));
        }
    }
    let each = |g: &dyn Fn(f64) -> f64| xs.iter().map(|&x| g(x)).collect();
    Ok(match (&deformed, f) {
        (None, MpFunction::Pdf) => each(&|s| shape.pdf(s, sigma)),
        (None, MpFunction::Cdf) => each(&|s| shape.cdf(s, sigma)),
        (None, MpFunction::Quantile) => each(&|p| shape.quantile(p, sigma)),
        (Some(law), MpFunction::Pdf) => each(&|s| law.pdf(s, sigma)),
        (Some(law), MpFunction::Cdf) => each(&|s| law.cdf(s, sigma)),
        (Some(law), MpFunction::Quantile) => each(&|p| law.quantile(p, sigma)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Composite Simpson on the angle substitution t = (a+b)/2 − (b−a)/2·cos φ, which removes the
    /// square-root endpoints; an independent check of the closed form.
    fn cdf_by_quadrature(t: f64, beta: f64) -> f64 {
        let (a, b) = standard_edges(beta);
        let phi_t = ((a + b - 2.0 * t) / (b - a)).clamp(-1.0, 1.0).acos();
        let k = 20_000;
        let h = phi_t / k as f64;
        let g = |phi: f64| {
            let tt = 0.5 * (a + b) - 0.5 * (b - a) * phi.cos();
            let half_w = 0.5 * (b - a);
            if tt <= 0.0 {
                // Only at φ = 0 when a = 0 (β = 1): the limit of sin²φ/(1 − cos φ) is 1 + cos φ.
                return half_w * (1.0 + phi.cos()) / (2.0 * std::f64::consts::PI * beta);
            }
            half_w * half_w * phi.sin().powi(2) / (2.0 * std::f64::consts::PI * beta * tt)
        };
        let mut acc = g(0.0) + g(phi_t);
        for i in 1..k {
            acc += g(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        acc * h / 3.0
    }

    #[test]
    fn closed_form_cdf_matches_quadrature() {
        for &beta in &[0.01, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0] {
            let (a, b) = standard_edges(beta);
            for k in 1..20 {
                let t = a + (b - a) * k as f64 / 20.0;
                let q = cdf_by_quadrature(t, beta);
                let c = standard_cdf(t, beta);
                assert!(
                    (q - c).abs() < 2e-6,
                    "beta {beta} t {t}: closed {c} vs quadrature {q}"
                );
            }
        }
    }

    #[test]
    fn cdf_edges_and_monotone() {
        for &beta in &[0.05, 0.5, 1.0] {
            let (a, b) = standard_edges(beta);
            assert_eq!(standard_cdf(a, beta), 0.0);
            assert_eq!(standard_cdf(b, beta), 1.0);
            let mut prev = 0.0;
            for k in 0..=1000 {
                let f = standard_cdf(a + (b - a) * k as f64 / 1000.0, beta);
                assert!(f >= prev - 1e-15);
                prev = f;
            }
        }
    }

    #[test]
    fn quantile_inverts_cdf() {
        for &beta in &[0.02, 0.3, 0.77, 1.0] {
            for k in 1..100 {
                let p = k as f64 / 100.0;
                let t = standard_quantile(p, beta);
                assert!(
                    (standard_cdf(t, beta) - p).abs() < 1e-10,
                    "beta {beta} p {p}"
                );
            }
        }
    }

    #[test]
    fn singular_value_pdf_integrates_to_one_and_matches_edges() {
        let shape = MpShape::new(300, 1200).unwrap();
        assert_eq!((shape.n, shape.m), (1200, 300));
        let sigma = 0.3;
        let (lo, hi) = shape.edges(sigma);
        assert!((lo - sigma * (1200f64.sqrt() - 300f64.sqrt())).abs() < 1e-12);
        let k = 200_000;
        let h = (hi - lo) / k as f64;
        let integral: f64 = (0..k)
            .map(|i| shape.pdf(lo + (i as f64 + 0.5) * h, sigma) * h)
            .sum();
        assert!((integral - 1.0).abs() < 1e-4, "integral {integral}");
        // cdf in s-units agrees with the integral of the pdf up to the median
        let med = shape.quantile(0.5, sigma);
        assert!((shape.cdf(med, sigma) - 0.5).abs() < 1e-10);
    }

    #[test]
    fn rejects_degenerate_shapes_and_sigma() {
        assert!(MpShape::new(1, 10).is_err());
        assert!(MpShape::new(10, 1).is_err());
        assert!(check_sigma(-1.0).is_err());
        assert!(check_sigma(f64::NAN).is_err());
        assert!(check_sigma(0.0).is_err());
        assert!(check_sigma(1e-3).is_ok());
    }

    #[test]
    fn pdf_cdf_quantile_at_infinities_negatives_and_probability_limits() {
        for &(n, m) in &[(300, 100), (200, 200)] {
            let shape = MpShape::new(n, m).unwrap();
            for &sigma in &[1e-300, 1.0, 1e300] {
                assert_eq!(shape.pdf(f64::INFINITY, sigma), 0.0);
                assert_eq!(shape.pdf(f64::NEG_INFINITY, sigma), 0.0);
                assert_eq!(shape.pdf(-1e-300, sigma), 0.0);
                // A negative s mirrors no bulk value: the density is 0, not ρ(|s|).
                let inside = shape.quantile(0.5, sigma);
                assert!(shape.pdf(inside, sigma) > 0.0);
                assert_eq!(shape.pdf(-inside, sigma), 0.0);
                assert_eq!(shape.cdf(f64::INFINITY, sigma), 1.0);
                assert_eq!(shape.cdf(f64::NEG_INFINITY, sigma), 0.0);
                assert_eq!(shape.quantile(0.0, sigma), shape.edges(sigma).0);
                assert_eq!(shape.quantile(1.0, sigma), shape.edges(sigma).1);
                assert!(shape.pdf(f64::NAN, sigma).is_nan());
                assert!(shape.cdf(f64::NAN, sigma).is_nan());
                assert!(shape.quantile(f64::NAN, sigma).is_nan());
            }
        }
    }

    #[test]
    fn pdf_cdf_quantile_are_scale_exact_from_1e_minus_300_to_1e300() {
        // ρ_σ(kσ)·σ, F_σ(kσ) and Q_σ(p)/σ do not depend on σ; s and σ are never squared. With σ a
        // power of two, kσ and s/σ are exact, so the values agree to the last bit.
        for &(n, m) in &[(1000, 400), (500, 500), (4000, 10)] {
            let shape = MpShape::new(n, m).unwrap();
            let (lo, hi) = shape.edges(1.0);
            for &e in &[-996, -664, -530, -332, 332, 515, 530, 664, 996] {
                let sigma = libm::scalbn(1.0, e); // 1.5e-300 … 6.7e299
                for j in 0..=40 {
                    let k = lo + (hi - lo) * (j as f64 - 2.0) / 36.0;
                    let s = k * sigma;
                    // ρ itself may be subnormal at σ = 2^996: allow one subnormal ulp, times σ.
                    let (p, p1) = (shape.pdf(s, sigma) * sigma, shape.pdf(k, 1.0));
                    let ulp = 5e-324 * sigma;
                    assert!((p - p1).abs() <= ulp, "{n}x{m} σ=2^{e} k={k}: {p} vs {p1}");
                    assert_eq!(
                        shape.cdf(s, sigma),
                        shape.cdf(k, 1.0),
                        "{n}x{m} σ=2^{e} k={k}"
                    );
                    assert!(shape.pdf(k, 1.0).is_finite());
                }
                for j in 0..=20 {
                    let p = j as f64 / 20.0;
                    assert_eq!(
                        shape.quantile(p, sigma) / sigma,
                        shape.quantile(p, 1.0),
                        "p={p}"
                    );
                }
            }
            // Decimal σ: the same up to the rounding of kσ, which moves u by an ulp.
            for &sigma in &[1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300] {
                for j in 0..=40 {
                    let k = lo + (hi - lo) * (j as f64 + 0.5) / 40.0;
                    let s = k * sigma;
                    let (p1, c1) = (shape.pdf(s / sigma, 1.0), shape.cdf(s / sigma, 1.0));
                    let (p, c) = (shape.pdf(s, sigma) * sigma, shape.cdf(s, sigma));
                    assert!((p - p1).abs() <= 1e-14 * p1, "σ={sigma} k={k}: {p} vs {p1}");
                    assert!((c - c1).abs() <= 1e-14 * c1, "σ={sigma} k={k}: {c} vs {c1}");
                }
                let (q, q1) = (shape.quantile(0.3, sigma) / sigma, shape.quantile(0.3, 1.0));
                assert!((q - q1).abs() <= 1e-15 * q1);
            }
        }
    }

    #[test]
    fn hard_edge_is_resolved_below_the_square_root_of_the_smallest_double() {
        // β = 1: near s = 0 the law of u = s/(σ√N) has density 2/π, so F ≈ 2u/π and Q(p) ≈ πp/2·σ√N
        // even where u² underflows.
        let shape = MpShape::new(100, 100).unwrap();
        let c = 10.0; // σ√N for σ = 1
        for &u in &[1e-20, 1e-170, 1e-300] {
            let f = shape.cdf(u * c, 1.0);
            assert!(
                (f / (std::f64::consts::FRAC_2_PI * u) - 1.0).abs() < 1e-12,
                "u={u}: {f}"
            );
            let rho = shape.pdf(u * c, 1.0) * c;
            assert!(
                (rho / std::f64::consts::FRAC_2_PI - 1.0).abs() < 1e-12,
                "u={u}: {rho}"
            );
        }
        for &p in &[1e-20, 1e-200, 1e-300] {
            let q = shape.quantile(p, 1.0) / c;
            assert!(
                (q / (std::f64::consts::FRAC_PI_2 * p) - 1.0).abs() < 1e-12,
                "p={p}: {q}"
            );
        }
    }
}
