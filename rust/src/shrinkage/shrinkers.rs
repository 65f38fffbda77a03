//! Maps from an observed singular value s to its shrunk value η(s) under the additive model
//! W = Σₖ θₖ aₖbₖᵀ + X, X an N×M (N ≥ M) noise matrix with i.i.d. entries of variance σ².
//!
//! Work in normalised units y = s/(σ√N), β = M/N, bulk edge y₊ = 1 + √β. Sources:
//! - BBP forward map (Benaych-Georges & Nadakuditi 2012): a signal x = θ/(σ√N) > β^¼ shows up at
//!   y(x) = √((x + 1/x)(x + β/x)); weaker signals are absorbed into the bulk.
//! - Its inverse, the de-repelled signal strength (Gavish & Donoho 2017, operator-norm optimal;
//!   the level-repulsion correction of Staats, Thamm & Rosenow 2023):
//!   x(y) = √(½[(y² − β − 1) + √((y² − β − 1)² − 4β)]) for y > y₊, else 0. In raw units
//!   θ̂(s)² = ½[(s² − σ²(N+M)) + √((s² − σ²(N+M))² − 4σ⁴NM)].
//! - Frobenius-optimal (Gavish & Donoho 2017, eq. for η_fro): η(y) = √((y² − β − 1)² − 4β)/y for
//!   y > y₊, else 0 (the indicator keeps it from blowing up below the edge).
//! - Nuclear-optimal (same paper): η(y) = max(0, (x⁴ − √β·x·y − β)/(x²·y)) for y > y₊, else 0.
//! - Hard: η(y) = y above the cut, 0 below.
//!
//! Every map satisfies 0 ≤ η(s) ≤ s and is non-decreasing above the edge.
//!
//! Scale: y⁴ (in x⁴ and in the squared discriminant) overflows from y ≈ 1e77 on, y² from 1e154, and a
//! small σ makes y huge (σ = 1e-80 gives y ≈ 1e80). So every map is evaluated as a ratio η/y ∈ [0, 1]
//! written in powers of 1/y, with √((y² − β − 1)² − 4β) = y²·√((1 − y₊/y)(1 + y₊/y)(1 − y₋/y)(1 + y₋/y)),
//! y₋ = 1 − √β, and returned as s·(η/y): the same η/s at every σ, and η → s as y → ∞. The BBP
//! forward map is θ·√(1 + 1/x²)·√(1 + β/x²).

use crate::spectral::mp_law::MpShape;

/// A shrinker of singular values for one matrix shape and noise level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shrinker {
    /// The de-repelled value θ̂(s), operator-norm optimal.
    Operator,
    /// The Frobenius-loss optimal shrinker.
    Frobenius,
    /// The nuclear-norm-loss optimal shrinker.
    Nuclear,
}

/// Normalisation of one matrix: s = scale·y with scale = σ√N.
#[derive(Debug, Clone, Copy)]
pub struct Normalised {
    /// β = M/N.
    pub beta: f64,
    /// σ√N, the unit of the normalised singular values y = s/scale.
    pub scale: f64,
}

impl Normalised {
    /// The normalisation of an N×M matrix with noise level σ.
    pub fn new(shape: &MpShape, sigma: f64) -> Self {
        Self {
            beta: shape.beta(),
            scale: sigma * (shape.n as f64).sqrt(),
        }
    }

    fn upper_edge(&self) -> f64 {
        1.0 + self.beta.sqrt()
    }

    /// g(y) = √D/y² with D = (y² − β − 1)² − 4β = (y² − y₊²)(y² − y₋²), y± = 1 ± √β, as
    /// √((1 − y₊/y)(1 + y₊/y)(1 − y₋/y)(1 + y₋/y)) ∈ [0, 1]: neither y² nor D is formed, and the
    /// factor 1 − y₊/y carries no cancellation at the edge. Only for y > y₊.
    fn edge_factor(&self, y: f64) -> f64 {
        let r = self.beta.sqrt();
        let (p, q) = ((1.0 + r) / y, (1.0 - r) / y);
        ((1.0 - p) * (1.0 + p) * (1.0 - q) * (1.0 + q))
            .max(0.0)
            .sqrt()
    }

    /// x(y)/y = √(½[(1 − (1 + β)/y²) + g(y)]) ∈ (0, 1] above the edge (0 inside the bulk).
    fn derepel_ratio(&self, y: f64) -> f64 {
        if y <= self.upper_edge() {
            return 0.0;
        }
        let a = 1.0 - (1.0 + self.beta) / y / y;
        (0.5 * (a + self.edge_factor(y))).max(0.0).sqrt()
    }

    /// x(y), the inverse BBP map in normalised units (0 inside the bulk); the unit-free form of
    /// [`Normalised::derepel`], kept for callers and tests.
    pub fn derepel_normalised(&self, y: f64) -> f64 {
        y * self.derepel_ratio(y)
    }

    /// θ̂(s): the signal strength whose BBP image is s (0 for s inside the bulk).
    pub fn derepel(&self, s: f64) -> f64 {
        s * self.derepel_ratio(s / self.scale)
    }

    /// The observed singular value of a planted signal θ (the BBP forward map; the reference the
    /// inverse is tested against), as
    /// θ·√(1 + 1/x²)·√(1 + β/x²) so that nothing overflows for x ≫ 1.
    pub fn bbp_forward(&self, theta: f64) -> f64 {
        let x = theta / self.scale;
        if x <= self.beta.powf(0.25) {
            return self.scale * self.upper_edge();
        }
        theta * (1.0 + 1.0 / x / x).sqrt() * (1.0 + self.beta / x / x).sqrt()
    }

    /// η(s) for one of the optimal shrinkers, computed as s·(η/y)(y): every ratio lies in [0, 1]
    /// and tends to 1 as y → ∞, so nothing overflows even where y = s/(σ√N) does.
    pub fn shrink(&self, shrinker: Shrinker, s: f64) -> f64 {
        let y = s / self.scale;
        if y <= self.upper_edge() {
            return 0.0;
        }
        let ratio = match shrinker {
            Shrinker::Operator => self.derepel_ratio(y),
            Shrinker::Frobenius => self.edge_factor(y),
            Shrinker::Nuclear => {
                // (x⁴ − √β·x·y − β)/(x²·y²) = h − √β/(y²√h) − β/(y⁴h) with h = (x/y)².
                let root_h = self.derepel_ratio(y);
                let h = root_h * root_h;
                let ratio = h - self.beta.sqrt() / y / y / root_h - self.beta / y / y / y / y / h;
                if ratio > 0.0 {
                    ratio
                } else {
                    0.0
                }
            }
        };
        // Round-off guard: η ≤ s holds exactly for every map.
        (s * ratio).clamp(0.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(n: usize, m: usize, sigma: f64) -> Normalised {
        Normalised::new(&MpShape::new(n, m).unwrap(), sigma)
    }

    #[test]
    fn derepel_inverts_the_bbp_map() {
        for &(n, m) in &[(1000, 500), (800, 200), (300, 300)] {
            let p = norm(n, m, 0.7);
            let theta_c = 0.7 * ((n * m) as f64).powf(0.25);
            for &k in &[1.01, 1.5, 2.0, 4.0, 30.0] {
                let theta = k * theta_c;
                let s = p.bbp_forward(theta);
                assert!((p.derepel(s) / theta - 1.0).abs() < 1e-10, "{n}x{m} k={k}");
            }
            assert_eq!(p.derepel(p.bbp_forward(0.5 * theta_c)), 0.0);
        }
    }

    #[test]
    fn raw_unit_formulas_agree() {
        // θ̂(s)² and η_F(s) written in raw units, as in the research notes (s₊ ≈ 15.5 here).
        let (n, m, sigma) = (1000.0, 400.0, 0.3);
        let p = norm(1000, 400, sigma);
        for &s in &[16.0, 20.0, 40.0, 100.0] {
            let a = s * s - sigma * sigma * (n + m);
            let d = (a * a - 4.0 * sigma.powi(4) * n * m).sqrt();
            let theta2 = 0.5 * (a + d);
            assert!((p.derepel(s) - theta2.sqrt()).abs() < 1e-9 * s);
            assert!((p.shrink(Shrinker::Frobenius, s) - d / s).abs() < 1e-9 * s);
        }
    }

    #[test]
    fn square_frobenius_matches_the_closed_form() {
        // Gavish–Donoho's abstract for n×n: s ↦ √(s² − 4nσ²); in normalised units
        // √((y² − 2)² − 4)/y = √(y² − 4).
        let p = norm(500, 500, 1.0);
        let c = 500f64.sqrt();
        for &y in &[2.1, 3.0, 10.0] {
            let s = y * c;
            let want = (s * s - 4.0 * 500.0).sqrt();
            assert!((p.shrink(Shrinker::Frobenius, s) - want).abs() < 1e-9 * s);
        }
    }

    #[test]
    fn shrinkers_are_bounded_monotone_and_zero_in_the_bulk() {
        for &(n, m) in &[(1000, 500), (1000, 10), (200, 200)] {
            let p = norm(n, m, 1.0);
            let edge = p.scale * p.upper_edge();
            for shrinker in [Shrinker::Operator, Shrinker::Frobenius, Shrinker::Nuclear] {
                let mut prev = 0.0;
                for k in 0..4000 {
                    let s = edge * (0.5 + k as f64 * 0.001);
                    let eta = p.shrink(shrinker, s);
                    assert!(eta >= 0.0 && eta <= s, "{shrinker:?} {s}: {eta}");
                    assert!(eta >= prev - 1e-12 * s, "{shrinker:?} not monotone at {s}");
                    if s <= edge {
                        assert_eq!(eta, 0.0);
                    }
                    prev = eta;
                }
            }
            // Ordering of the losses: nuclear ≤ Frobenius ≤ operator.
            for k in 1..100 {
                let s = edge * (1.0 + 0.05 * k as f64);
                let (o, f, nu) = (
                    p.shrink(Shrinker::Operator, s),
                    p.shrink(Shrinker::Frobenius, s),
                    p.shrink(Shrinker::Nuclear, s),
                );
                assert!(
                    nu <= f + 1e-12 * s && f <= o + 1e-12 * s,
                    "{s}: {nu} {f} {o}"
                );
            }
        }
    }

    #[test]
    fn shrinkers_are_scale_exact_from_1e_minus_300_to_1e300() {
        // shrink(W, "nuclear", sigma=1e-80) returned the zero matrix: y ≈ 1e80 and x⁴ overflowed;
        // y² overflows from y ≈ 1e154 on, (y² − β − 1)² from 1e77.
        let all = [Shrinker::Operator, Shrinker::Frobenius, Shrinker::Nuclear];
        for &(n, m) in &[(1000, 400), (300, 300), (2000, 20)] {
            let unit = norm(n, m, 1.0);
            let edge1 = unit.scale * unit.upper_edge();
            for &sigma in &[1e-300, 1e-200, 1e-160, 1e-80, 1e80, 1e160, 1e200, 1e300] {
                let p = norm(n, m, sigma);
                let edge = p.scale * p.upper_edge();
                for &k in &[1.01, 1.5, 3.0, 10.0, 1e3, 1e5, 1e80, 1e160] {
                    let (s, s1) = (k * edge, k * edge1);
                    if !s.is_finite() {
                        continue;
                    }
                    for shrinker in all {
                        let (r, r1) = (p.shrink(shrinker, s) / s, unit.shrink(shrinker, s1) / s1);
                        assert!((0.0..=1.0).contains(&r1), "{shrinker:?} k={k}: {r1}");
                        assert!(
                            (r - r1).abs() <= 1e-12 * r1,
                            "{shrinker:?} σ={sigma:e} k={k}: {r} vs {r1}"
                        );
                    }
                    let (r, r1) = (p.derepel(s) / s, unit.derepel(s1) / s1);
                    assert!((r - r1).abs() <= 1e-12 * r1, "derepel σ={sigma:e} k={k}");
                    let theta = k * sigma * ((n * m) as f64).powf(0.25);
                    let theta1 = k * ((n * m) as f64).powf(0.25);
                    let (b, b1) = (
                        p.bbp_forward(theta) / theta,
                        unit.bbp_forward(theta1) / theta1,
                    );
                    assert!(
                        (b - b1).abs() <= 1e-12 * b1,
                        "bbp σ={sigma:e} k={k}: {b} vs {b1}"
                    );
                }
            }
        }
    }

    #[test]
    fn signals_far_above_the_noise_are_kept() {
        // σ = 1e-80 for a matrix of unit-sized singular values (y ≈ 1e80), and s/(σ√N) beyond the
        // largest double: every shrinker returns s to within (1 + β)/y², the de-repelled value too.
        let all = [Shrinker::Operator, Shrinker::Frobenius, Shrinker::Nuclear];
        for &(sigma, s) in &[
            (1e-80, 30.0),
            (1e-160, 1e-3),
            (1e-300, 1e10),
            (1e-300, 1e300),
        ] {
            let p = norm(1000, 400, sigma);
            for shrinker in all {
                let eta = p.shrink(shrinker, s);
                assert!(
                    (eta / s - 1.0).abs() < 1e-15,
                    "{shrinker:?} σ={sigma:e} s={s:e}: {eta}"
                );
            }
            assert!(
                (p.derepel(s) / s - 1.0).abs() < 1e-15,
                "σ={sigma:e} s={s:e}"
            );
            assert!(
                (p.bbp_forward(s) / s - 1.0).abs() < 1e-15,
                "σ={sigma:e} s={s:e}"
            );
        }
    }
}
