//! The deformed Marchenko–Pastur law: singular values of correlated noise σ·A·Z·B.
//!
//! Model. W is N×M after orientation (N ≥ M, β = M/N, as in `mp_law.rs`), W = σ·A·Z·B with Z i.i.d.
//! N(0, 1), A (N×N) and B (M×M) fixed, and the population spectra of AAᵀ and BᵀB both the law of
//! a = e^(τ·x)/c, x a Beta(a, b) variable standardised to mean 0 and variance 1, c the mean (so σ
//! is still the root-mean-square entry, E‖W‖²_F = σ²NM). τ, the spread, is the standard deviation
//! of log a; the population shape (a, b) is one of `POPULATION_SHAPES` (U-shaped, flat, peaked,
//! skewed). τ = 0 is white noise and the law is exactly MP. One population for both sides keeps
//! the law invariant under transposition. The population is bounded on purpose: an unbounded one
//! (log-normal, gamma) has no limiting upper edge, which then depends on the dimension.
//!
//! Equations (separable covariance; Zhang 2006, Couillet & Debbah 2011 §6). With λ = s²/(σ²N) the
//! eigenvalues of the M×M matrix S = WᵀW/(σ²N), ⟨·⟩ the mean over the population atoms a, and
//! G(e) = ⟨a/(1 + e·a)⟩, the pair (e, ẽ) with ẽ = −G(e)/z solves
//!   e = β·⟨a/(a·G(e) − z)⟩,  and the Stieltjes transform of S is m(z) = ⟨1/(a·G(e) − z)⟩.
//! (A = B = I gives βzm² + (z + β − 1)m + 1 = 0, the MP equation.) The density is Im m(λ + i0)/π.
//!
//! Edges. For real e the equation is solved for z instead (it is monotone there): on
//! e ∈ (−1/a_max, 0) the root z(e) > G·a_max exists and λ₊ = min z(e); for β < 1, on
//! e ∈ (e_c, ∞) with e_c·G(e_c) = β, the root z(e) ∈ (0, G·a_min) exists and λ₋ = max z(e)
//! (λ₋ = 0 at β = 1). The extrema are folds: near λ₊, z ≈ λ₊ + ½z''(e*)(e − e*)², so the density is
//! ρ(λ) ≈ A·√(λ₊ − λ) with A = |∂m/∂e|·√(2/z'')/π, which sets the Tracy–Widom scale of the largest
//! of M eigenvalues, (π·A·M)^(−2/3) (for MP this is Johnstone's scale, derived in the tests).
//!
//! Numerics. The population is a quadrature: atoms at the equal-probability cell midpoints
//! (`atoms_for`). The density is computed on `CELLS` Chebyshev-spaced cell midpoints of [λ₋, λ₊]
//! (λ = λ₋ + (λ₊ − λ₋)(1 − cos θ)/2, so the square-root edges are integrated smoothly) by Newton's
//! method in e, continued from cell to cell; the CDF is the midpoint rule in θ, normalised.

use faer::c64;

use crate::error::{CoreError, CoreResult};
use crate::stats::beta::regularized_incomplete_beta;

use super::mp_law::MpShape;

fn no_convergence() -> CoreError {
    CoreError::NoConvergence {
        algorithm: "the deformed Marchenko–Pastur equation",
    }
}

/// Population atoms per side at β ≥ 1/4; more for smaller β (`atoms_for`).
pub const ATOMS: usize = 64;

/// The quadrature must be finer than the broadening of each atom, which shrinks like √β: with
/// too few atoms a small-β law splits into one interval per atom. 32/√β atoms (at least `ATOMS`).
fn atoms_for(beta: f64) -> usize {
    ((32.0 / beta.sqrt()).ceil() as usize).max(ATOMS)
}
/// Cells of the density/CDF table.
pub const CELLS: usize = 160;

/// The deformed law for one shape and spread, tabulated (λ units; see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct DeformedLaw {
    shape: MpShape,
    spread: f64,
    population_shape: (f64, f64),
    /// (λ₋, λ₊).
    edges: (f64, f64),
    /// Tracy–Widom scales (π·A·M)^(−2/3) at the lower and upper edge (λ units; 0 at a hard edge).
    tw_scales: (f64, f64),
    /// CDF at the cell boundaries θ_j = jπ/CELLS, j = 0..=CELLS.
    cdf: Vec<f64>,
    /// Density at the cell midpoints, normalised with the CDF.
    density: Vec<f64>,
}

/// The population shapes (a, b) the fits try: log a ~ a standardised Beta(a, b). Symmetric:
/// U-shaped (½, ½), flat (1, 1: a power-law density ∝ 1/a), peaked (2, 2) and (4, 4) (towards
/// log-normal); skewed: most variances low with a long upper tail (½, 2) — the log-spectrum of a
/// strongly correlated Toeplitz AR(1) covariance looks like this — and its mirror (2, ½).
pub const POPULATION_SHAPES: [(f64, f64); 6] = [
    (0.5, 0.5),
    (1.0, 1.0),
    (2.0, 2.0),
    (4.0, 4.0),
    (0.5, 2.0),
    (2.0, 0.5),
];

/// White noise's population is one atom; its nominal shape is flat.
pub const WHITE_SHAPE: (f64, f64) = (1.0, 1.0);

/// Largest range of log a the solver is checked for: a condition number e^4.8 ≈ 120 per side.
/// Every (τ, shape) up to it is tabulated for β ≥ 0.1; below, the peaked and skewed shapes at
/// some spreads are refused (NoConvergence: the continuation from the centre of the support
/// fails), and the fit skips them.
const MAX_LOG_RANGE: f64 = 4.8;

/// Mean and standard deviation of Beta(a, b).
fn beta_moments((a, b): (f64, f64)) -> (f64, f64) {
    let mean = a / (a + b);
    (mean, (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt())
}

/// The largest spread the fits consider for a population shape: log a spans τ/sd, at most
/// `MAX_LOG_RANGE`.
pub fn max_spread(population_shape: (f64, f64)) -> f64 {
    MAX_LOG_RANGE * beta_moments(population_shape).1
}

/// Standardised atom positions (Xⱼ − mean)/sd, Xⱼ the Beta(a, b) quantiles at (j + ½)/k: mean 0,
/// variance 1 in the limit. Cached per (shape, k): the bisection runs once.
fn standard_atoms(population_shape: (f64, f64), k: usize) -> Vec<f64> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<HashMap<(u64, u64, usize), Vec<f64>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let (a, b) = population_shape;
    let key = (a.to_bits(), b.to_bits(), k);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return v;
    }
    let (mean, sd) = beta_moments(population_shape);
    let v: Vec<f64> = (0..k)
        .map(|j| {
            let p = (j as f64 + 0.5) / k as f64;
            let x = if (a, b) == (1.0, 1.0) {
                p
            } else {
                let (mut lo, mut hi) = (0.0f64, 1.0f64);
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    if regularized_incomplete_beta(a, b, mid) < p {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                0.5 * (lo + hi)
            };
            (x - mean) / sd
        })
        .collect();
    if let Ok(mut c) = cache.lock() {
        c.insert(key, v.clone());
    }
    v
}

/// Population variances of spread τ and shape (a, b): `k` atoms e^(τ·xⱼ) at the standardised
/// Beta(a, b) quantiles xⱼ (so τ is the standard deviation of log a), scaled to mean 1.
pub fn population(spread: f64, population_shape: (f64, f64), k: usize) -> Vec<f64> {
    let raw: Vec<f64> = standard_atoms(population_shape, k)
        .into_iter()
        .map(|x| (spread * x).exp())
        .collect();
    let mean = raw.iter().sum::<f64>() / k as f64;
    raw.into_iter().map(|a| a / mean).collect()
}

/// G(e) = ⟨a/(1 + e·a)⟩ and G'(e) = −⟨a²/(1 + e·a)²⟩ for real e.
fn g_real(atoms: &[f64], e: f64) -> (f64, f64) {
    let (mut g, mut dg) = (0.0, 0.0);
    for &a in atoms {
        let r = a / (1.0 + e * a);
        g += r;
        dg -= r * r;
    }
    let k = atoms.len() as f64;
    (g / k, dg / k)
}

/// z(e): the real root of β·⟨a/(a·G − z)⟩ = e on the branch named by `upper` (module docs), with
/// G = G(e). Monotone in z, solved by safeguarded Newton on the bracket.
fn edge_root(atoms: &[f64], beta: f64, e: f64, upper: bool) -> f64 {
    let (g, _) = g_real(atoms, e);
    let a_max = atoms.iter().cloned().fold(f64::MIN, f64::max);
    let a_min = atoms.iter().cloned().fold(f64::MAX, f64::min);
    let phi = |z: f64| {
        let (mut v, mut dv) = (0.0, 0.0);
        for &a in atoms {
            let d = a * g - z;
            v += a / d;
            dv += a / (d * d);
        }
        let k = atoms.len() as f64;
        (beta * v / k - e, beta * dv / k)
    };
    // φ increases in z on both branches.
    let (mut lo, mut hi) = if upper {
        let lo = g * a_max;
        let mut hi = lo + (beta / -e).max(1e-300) + lo;
        while phi(hi).0 < 0.0 {
            hi = lo + 2.0 * (hi - lo);
        }
        (lo, hi)
    } else {
        (0.0, g * a_min)
    };
    let mut z = 0.5 * (lo + hi);
    for _ in 0..200 {
        let (v, dv) = phi(z);
        if v == 0.0 || (v / dv).abs() <= 1e-15 * z.abs() || (hi - lo) <= 1e-15 * hi {
            break;
        }
        if v > 0.0 {
            hi = z;
        } else {
            lo = z;
        }
        let newton = z - v / dv;
        z = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
    }
    z
}

/// Minimises (upper edge) or maximises (lower edge) z over a parameter t mapped to e by `e_of`:
/// a scan, then golden-section refinement between the neighbours of the best scan point.
fn fold(atoms: &[f64], beta: f64, upper: bool, e_of: impl Fn(f64) -> f64) -> (f64, f64) {
    const SCAN: usize = 32;
    let (t0, t1) = (-12.0, 12.0);
    let value = |t: f64| {
        let z = edge_root(atoms, beta, e_of(t), upper);
        if upper {
            z
        } else {
            -z
        }
    };
    let ts: Vec<f64> = (0..SCAN)
        .map(|i| t0 + (t1 - t0) * i as f64 / (SCAN - 1) as f64)
        .collect();
    let vals: Vec<f64> = ts.iter().map(|&t| value(t)).collect();
    let best = (0..SCAN)
        .min_by(|&i, &j| vals[i].total_cmp(&vals[j]))
        .unwrap_or(0);
    let (mut a, mut b) = (ts[best.saturating_sub(1)], ts[(best + 1).min(SCAN - 1)]);
    let r = 0.5 * (5f64.sqrt() - 1.0);
    let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
    let (mut fc, mut fd) = (value(c), value(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - r * (b - a);
            fc = value(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + r * (b - a);
            fd = value(d);
        }
        if (b - a).abs() < 1e-10 {
            break;
        }
    }
    let t = 0.5 * (a + b);
    (e_of(t), edge_root(atoms, beta, e_of(t), upper))
}

/// ∂m/∂e at fixed real z: m = ⟨1/(a·G(e) − z)⟩.
fn dm_de(atoms: &[f64], e: f64, z: f64) -> f64 {
    let (g, dg) = g_real(atoms, e);
    let mut s = 0.0;
    for &a in atoms {
        let d = a * g - z;
        s -= a * dg / (d * d);
    }
    s / atoms.len() as f64
}

/// The Tracy–Widom scale (π·A·M)^(−2/3) at a fold e* (module docs).
fn tw_scale(atoms: &[f64], beta: f64, upper: bool, e_star: f64, z_star: f64, m: usize) -> f64 {
    let h = 1e-3 * e_star.abs().max(1e-6);
    let zp = edge_root(atoms, beta, e_star + h, upper);
    let zm = edge_root(atoms, beta, e_star - h, upper);
    let curvature = ((zp - 2.0 * z_star + zm) / (h * h)).abs();
    let a_coef =
        dm_de(atoms, e_star, z_star).abs() * (2.0 / curvature).sqrt() / std::f64::consts::PI;
    (std::f64::consts::PI * a_coef * m as f64).powf(-2.0 / 3.0)
}

/// Per-atom terms of [`g_complex`] and [`solve_at`]: computed elementwise (a loop the compiler
/// vectorises, where a loop that also sums cannot be) and then summed in atom order, so every sum
/// is the one a single loop gives, bit for bit.
struct Terms([Vec<f64>; 4]);

impl Terms {
    fn new(atoms: usize) -> Self {
        Self(std::array::from_fn(|_| vec![0.0; atoms]))
    }
}

/// Σ of the terms (t₀ + i·t₁) and (t₂ + i·t₃) over the atoms, in atom order.
fn sum_terms(t: &Terms, k: usize) -> (c64, c64) {
    let [a, b, c, d] = &t.0;
    let (mut x, mut y) = (c64::new(0.0, 0.0), c64::new(0.0, 0.0));
    for i in 0..k {
        x += c64::new(a[i], b[i]);
        y += c64::new(c[i], d[i]);
    }
    (x, y)
}

/// G(e) for complex e, with G'(e).
fn g_complex(atoms: &[f64], e: c64, t: &mut Terms) -> (c64, c64) {
    let k = atoms.len();
    let [re, im, sq_re, sq_im] = &mut t.0;
    for (i, &a) in atoms.iter().enumerate() {
        let r = c64::new(a, 0.0) / (c64::new(1.0, 0.0) + e * a);
        let minus_sq = -(r * r);
        (re[i], im[i], sq_re[i], sq_im[i]) = (r.re, r.im, minus_sq.re, minus_sq.im);
    }
    let (g, dg) = sum_terms(t, k);
    (g / k as f64, dg / k as f64)
}

/// Newton's method for e at complex z from `start`; returns (e, m) or None when it did not
/// converge onto the physical branch (Im e ≥ 0).
fn solve_at(atoms: &[f64], beta: f64, z: c64, start: c64, t: &mut Terms) -> Option<(c64, c64)> {
    let k = atoms.len() as f64;
    let mut e = start;
    for _ in 0..200 {
        let (g, dg) = g_complex(atoms, e, t);
        let [v_re, v_im, dv_re, dv_im] = &mut t.0;
        for (i, &a) in atoms.iter().enumerate() {
            let inv = (g * a - z).inv();
            let (v, dv) = (inv * a, inv * inv * (a * a));
            (v_re[i], v_im[i], dv_re[i], dv_im[i]) = (v.re, v.im, dv.re, dv.im);
        }
        let (v, dv) = sum_terms(t, atoms.len());
        let f = e - v * (beta / k);
        let df = c64::new(1.0, 0.0) + dg * dv * (beta / k);
        let mut step = f / df;
        // Damped: a step longer than |e| may jump to the unphysical branch.
        let limit = 0.5 * e.norm().max(1e-300);
        if step.norm() > limit {
            step = step * (limit / step.norm());
        }
        e -= step;
        if !(e.re.is_finite() && e.im.is_finite()) {
            return None;
        }
        if step.norm() <= 1e-13 * e.norm().max(1e-300) {
            let (g, _) = g_complex(atoms, e, t);
            let mut m = c64::new(0.0, 0.0);
            for &a in atoms {
                m += (g * a - z).inv();
            }
            let m = m / k;
            return (e.im >= -1e-12 * e.norm() && m.im >= -1e-12 * m.norm()).then_some((e, m));
        }
    }
    None
}

/// Solves at real x, from a good start or, failing that, by continuation in Im z from far above.
fn solve_real(
    atoms: &[f64],
    beta: f64,
    x: f64,
    width: f64,
    start: Option<c64>,
    t: &mut Terms,
) -> Option<(c64, c64)> {
    if let Some(st) = start {
        if let Some(r) = solve_at(atoms, beta, c64::new(x, 0.0), st, t) {
            if r.1.im > 0.0 {
                return Some(r);
            }
        }
    }
    // Far from the axis the fixed-point map is a contraction: it gives Newton its first start.
    let mut eta = width.max(x.abs());
    let z = c64::new(x, eta);
    let k = atoms.len() as f64;
    let mut e = -c64::new(beta, 0.0) / z;
    for _ in 0..500 {
        let (g, _) = g_complex(atoms, e, t);
        let mut v = c64::new(0.0, 0.0);
        for &a in atoms {
            v += (g * a - z).inv() * a;
        }
        let next = v * (beta / k);
        let done = (next - e).norm() <= 1e-14 * next.norm();
        e = next;
        if done {
            break;
        }
    }
    while eta > 1e-14 * width {
        e = solve_at(atoms, beta, c64::new(x, eta), e, t)?.0;
        eta *= 0.5;
    }
    solve_at(atoms, beta, c64::new(x, 0.0), e, t)
}

/// Most laws [`DeformedLaw::shared`] keeps (about 2.7 kB each); the store is emptied when full.
const SHARED_LAWS: usize = 2048;

/// A tabulated law, or why it could not be tabulated.
pub type SharedLaw = CoreResult<std::sync::Arc<DeformedLaw>>;

impl DeformedLaw {
    /// [`Self::new`], solved once per process for each (N, M, τ, population shape): the deformed
    /// fit's τ scan is the same grid for every matrix of a shape, and the golden-section searches
    /// of similar spectra (a batch of same-shaped layers) pass through the same points. The law is
    /// a pure function of its key, so a stored law is the one `new` would return, bit for bit.
    pub fn shared(shape: MpShape, spread: f64, population_shape: (f64, f64)) -> SharedLaw {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        type Key = (usize, usize, u64, u64, u64);
        static STORE: OnceLock<Mutex<HashMap<Key, SharedLaw>>> = OnceLock::new();
        let key = (
            shape.n,
            shape.m,
            spread.to_bits(),
            population_shape.0.to_bits(),
            population_shape.1.to_bits(),
        );
        let store = STORE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(law) = store.lock().ok().and_then(|s| s.get(&key).cloned()) {
            return law;
        }
        // Solved outside the lock: the other threads of a batch keep using the store meanwhile.
        let law = Self::new(shape, spread, population_shape).map(Arc::new);
        if let Ok(mut s) = store.lock() {
            if s.len() >= SHARED_LAWS {
                s.clear();
            }
            s.insert(key, law.clone());
        }
        law
    }

    /// Tabulates the law for `shape`, spread τ ∈ [0, `max_spread(shape)`] and a population shape
    /// of [`POPULATION_SHAPES`] (any shape at τ = 0, white noise).
    pub fn new(shape: MpShape, spread: f64, population_shape: (f64, f64)) -> CoreResult<Self> {
        if spread != 0.0 && !POPULATION_SHAPES.contains(&population_shape) {
            return Err(CoreError::invalid(
                "population_shape",
                format!("must be one of {POPULATION_SHAPES:?}, got {population_shape:?}"),
            ));
        }
        let limit = max_spread(population_shape);
        if !(spread.is_finite() && (0.0..=limit).contains(&spread)) {
            return Err(CoreError::invalid(
                "spread",
                format!("the population spread τ must lie in [0, {limit:.4}] for population shape {population_shape:?}, got {spread}"),
            ));
        }
        let atoms = if spread == 0.0 {
            vec![1.0]
        } else {
            population(spread, population_shape, atoms_for(shape.beta()))
        };
        let beta = shape.beta();
        let a_max = atoms.iter().cloned().fold(f64::MIN, f64::max);
        // Upper fold on e = −w/a_max, w = logistic(t) ∈ (0, 1).
        let (e_hi, lam_hi) = fold(&atoms, beta, true, |t| -1.0 / a_max / (1.0 + (-t).exp()));
        let tw_hi = tw_scale(&atoms, beta, true, e_hi, lam_hi, shape.m);
        let (lam_lo, tw_lo) = if shape.m < shape.n {
            // e_c·G(e_c) = β, e·G(e) increasing from 0 to 1: bisection in log e.
            let (mut lo, mut hi) = (-60f64, 60f64);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                let e = mid.exp();
                if e * g_real(&atoms, e).0 < beta {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let e_c = hi.exp();
            let (e_lo, lam_lo) = fold(&atoms, beta, false, |t| e_c * (1.0 + t.exp()));
            (lam_lo, tw_scale(&atoms, beta, false, e_lo, lam_lo, shape.m))
        } else {
            (0.0, 0.0)
        };
        if !(lam_hi.is_finite() && lam_lo.is_finite() && lam_hi > lam_lo && lam_lo >= 0.0) {
            return Err(no_convergence());
        }
        let width = lam_hi - lam_lo;
        let mid = |j: usize| std::f64::consts::PI * (j as f64 + 0.5) / CELLS as f64;
        let lam_at = |theta: f64| lam_lo + 0.5 * width * (1.0 - theta.cos());
        let mut density = vec![0.0; CELLS];
        // Continue outward from the centre cell.
        let centre = CELLS / 2;
        // In the outermost cells (a few 1e-5 of the width from an edge) Newton may land on the
        // real branch; there the density follows the square-root edge law from its neighbour.
        let edge_cells = CELLS / 32;
        let mut terms = Terms::new(atoms.len());
        let mut solve_from = |j: usize, start: Option<c64>, inner: usize| -> CoreResult<c64> {
            let x = lam_at(mid(j));
            match solve_real(&atoms, beta, x, width, start, &mut terms) {
                Some((e, m)) => {
                    density[j] = m.im.max(0.0) / std::f64::consts::PI;
                    Ok(e)
                }
                None if j < edge_cells || j >= CELLS - edge_cells => {
                    let edge = if j < centre { lam_lo } else { lam_hi };
                    let (d, d_in) = ((x - edge).abs(), (lam_at(mid(inner)) - edge).abs());
                    density[j] = density[inner] * (d / d_in).sqrt();
                    Ok(start.unwrap_or_default())
                }
                None => Err(no_convergence()),
            }
        };
        let e_centre = solve_from(centre, None, centre)?;
        let mut e = e_centre;
        for j in centre + 1..CELLS {
            e = solve_from(j, Some(e), j - 1)?;
        }
        e = e_centre;
        for j in (0..centre).rev() {
            e = solve_from(j, Some(e), j + 1)?;
        }
        // Midpoint rule in θ: dλ = (width/2)·sin θ dθ.
        let h = std::f64::consts::PI / CELLS as f64;
        let mut cdf = Vec::with_capacity(CELLS + 1);
        cdf.push(0.0);
        for (j, d) in density.iter().enumerate() {
            let w = d * 0.5 * width * mid(j).sin() * h;
            cdf.push(cdf[j] + w);
        }
        let total = cdf[CELLS];
        if !(total.is_finite() && (total - 1.0).abs() < 0.05) {
            return Err(no_convergence());
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        density.iter_mut().for_each(|d| *d /= total);
        Ok(Self {
            shape,
            spread,
            population_shape,
            edges: (lam_lo, lam_hi),
            tw_scales: (tw_lo, tw_hi),
            cdf,
            density,
        })
    }

    /// The spread τ.
    pub fn spread(&self) -> f64 {
        self.spread
    }

    /// The population shape (a, b).
    pub fn population_shape(&self) -> (f64, f64) {
        self.population_shape
    }

    /// (λ₋, λ₊), λ = s²/(σ²N).
    pub fn standard_edges(&self) -> (f64, f64) {
        self.edges
    }

    /// Bulk edges (s₋, s₊) in singular-value units.
    pub fn edges(&self, sigma: f64) -> (f64, f64) {
        let r = sigma * (self.shape.n as f64).sqrt();
        (r * self.edges.0.sqrt(), r * self.edges.1.sqrt())
    }

    /// Singular values above this are outliers: λ₊ plus `tw` Tracy–Widom scales.
    pub fn upper_threshold(&self, sigma: f64, tw: f64) -> f64 {
        sigma * (self.shape.n as f64).sqrt() * (self.edges.1 + tw * self.tw_scales.1).sqrt()
    }

    /// Singular values below this are low outliers (0 when M = N).
    pub fn lower_threshold(&self, sigma: f64, tw: f64) -> f64 {
        if self.shape.m == self.shape.n {
            return 0.0;
        }
        sigma
            * (self.shape.n as f64).sqrt()
            * (self.edges.0 - tw * self.tw_scales.0).max(0.0).sqrt()
    }

    fn theta_of(&self, lam: f64) -> f64 {
        let (lo, hi) = self.edges;
        (1.0 - 2.0 * (lam - lo) / (hi - lo)).clamp(-1.0, 1.0).acos()
    }

    /// CDF of λ (linear in θ within a cell).
    pub fn standard_cdf(&self, lam: f64) -> f64 {
        if lam.is_nan() {
            return f64::NAN;
        }
        if lam <= self.edges.0 {
            return 0.0;
        }
        if lam >= self.edges.1 {
            return 1.0;
        }
        let pos = self.theta_of(lam) / std::f64::consts::PI * CELLS as f64;
        let j = (pos as usize).min(CELLS - 1);
        let t = pos - j as f64;
        self.cdf[j] + t * (self.cdf[j + 1] - self.cdf[j])
    }

    /// Quantile of λ, the inverse of [`Self::standard_cdf`].
    pub fn standard_quantile(&self, p: f64) -> f64 {
        let (lo, hi) = self.edges;
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return lo;
        }
        if p >= 1.0 {
            return hi;
        }
        let j = self.cdf.partition_point(|&c| c <= p).clamp(1, CELLS) - 1;
        let step = self.cdf[j + 1] - self.cdf[j];
        let t = if step > 0.0 {
            (p - self.cdf[j]) / step
        } else {
            0.5
        };
        let theta = std::f64::consts::PI * (j as f64 + t) / CELLS as f64;
        lo + 0.5 * (hi - lo) * (1.0 - theta.cos())
    }

    /// Density of λ (piecewise constant over the cells).
    pub fn standard_pdf(&self, lam: f64) -> f64 {
        if lam.is_nan() {
            return f64::NAN;
        }
        if lam <= self.edges.0 || lam >= self.edges.1 {
            return 0.0;
        }
        let pos = self.theta_of(lam) / std::f64::consts::PI * CELLS as f64;
        self.density[(pos as usize).min(CELLS - 1)]
    }

    fn lam_of(&self, s: f64, sigma: f64) -> f64 {
        let u = s / sigma / (self.shape.n as f64).sqrt();
        u * u
    }

    /// P(singular value ≤ s).
    pub fn cdf(&self, s: f64, sigma: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        if s <= 0.0 {
            return 0.0;
        }
        self.standard_cdf(self.lam_of(s, sigma))
    }

    /// Density of the singular values: ρ(s) = f(λ)·dλ/ds, dλ/ds = 2s/(σ²N).
    pub fn pdf(&self, s: f64, sigma: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        if s <= 0.0 {
            return 0.0;
        }
        let root = sigma * (self.shape.n as f64).sqrt();
        self.standard_pdf(self.lam_of(s, sigma)) * 2.0 * (s / root) / root
    }

    /// Quantile of the singular values.
    pub fn quantile(&self, p: f64, sigma: f64) -> f64 {
        sigma * (self.shape.n as f64).sqrt() * self.standard_quantile(p).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::matrix::MatrixView;
    use crate::spectral::tracy_widom::upper_threshold as mp_upper_threshold;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn zero_spread_is_the_marchenko_pastur_law() {
        for &(n, m) in &[(1000, 1000), (2000, 500), (4000, 100)] {
            let shape = MpShape::new(n, m).unwrap();
            let law = DeformedLaw::new(shape, 0.0, WHITE_SHAPE).unwrap();
            let (a, b) = shape.standard_edges();
            let (lo, hi) = law.standard_edges();
            assert!(
                (lo - a).abs() < 1e-9 && (hi - b).abs() < 1e-9,
                "{lo} {hi} vs {a} {b}"
            );
            for &p in &[0.01, 0.1, 0.5, 0.9, 0.99] {
                let q = law.quantile(p, 1.0);
                let q_mp = shape.quantile(p, 1.0);
                assert!(
                    (q / q_mp - 1.0).abs() < 3e-4,
                    "{n}x{m} p={p}: {q} vs {q_mp}"
                );
            }
            // The Tracy–Widom threshold from the fold agrees with Johnstone's (up to N − 1 vs N).
            let t = law.upper_threshold(1.0, 2.0234);
            let t_mp = mp_upper_threshold(&shape, 1.0, 2.0234);
            let margin = t_mp - shape.edges(1.0).1;
            assert!((t - t_mp).abs() < 0.05 * margin + 1e-3, "{t} vs {t_mp}");
        }
    }

    #[test]
    fn the_law_matches_simulated_correlated_noise() {
        // W = A·Z·B with the model's population on both sides (orthogonal eigenvectors do not
        // change the spectrum, so diagonal A and B suffice).
        let (n, m) = (1200, 600);
        let shape = MpShape::new(n, m).unwrap();
        for &(tau, kappa) in &[
            (0.3, (1.0, 1.0)),
            (0.7, (1.0, 1.0)),
            (0.6, (0.5, 0.5)),
            (0.5, (4.0, 4.0)),
            (0.8, (0.5, 2.0)),
        ] {
            let law = DeformedLaw::new(shape, tau, kappa).unwrap();
            let mut rng = SmallRng::seed_from_u64(7);
            let a = population(tau, kappa, n);
            let b = population(tau, kappa, m);
            let w: Vec<f64> = (0..n * m)
                .map(|t| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    a[t / m].sqrt() * z * b[t % m].sqrt()
                })
                .collect();
            let s = singular_values(
                MatrixView::from_row_major(&w, n, m),
                Decomposition::Auto,
                &Stop::never(),
            )
            .unwrap();
            let mut asc = s.clone();
            asc.reverse();
            let d = crate::stats::kolmogorov::ks_distance_sorted(&asc, |x| law.cdf(x, 1.0));
            assert!(d < 0.02, "τ = {tau}, shape {kappa:?}: KS {d}");
            let (_, hi) = law.edges(1.0);
            assert!(
                (s[0] / hi - 1.0).abs() < 0.03,
                "τ = {tau}: s_max {} vs edge {hi}",
                s[0]
            );
            assert!(
                hi > shape.edges(1.0).1 * 1.02,
                "wider than MP of the same σ"
            );
        }
    }

    #[test]
    fn the_solver_covers_every_spread_and_aspect_ratio() {
        for &(n, m) in &[
            (4096, 4096),
            (1001, 1000),
            (800, 400),
            (1536, 384),
            (2000, 100),
            (4000, 100),
            (30522, 384),
        ] {
            let shape = MpShape::new(n, m).unwrap();
            for &kappa in &POPULATION_SHAPES {
                for i in 0..=12 {
                    let tau = max_spread(kappa) * (i as f64 / 12.0);
                    match DeformedLaw::new(shape, tau, kappa) {
                        Ok(law) => {
                            let (lo, hi) = law.standard_edges();
                            assert!(hi > lo && lo >= 0.0);
                        }
                        // Below β = 0.1 the peaked and skewed shapes are not all tabulated.
                        Err(e) => assert!(
                            shape.beta() < 0.1 && kappa != (0.5, 0.5) && kappa != (1.0, 1.0),
                            "{n}×{m} τ={tau} shape {kappa:?}: {e}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn cdf_quantile_and_pdf_are_consistent() {
        let shape = MpShape::new(800, 300).unwrap();
        let law = DeformedLaw::new(shape, 0.5, (2.0, 2.0)).unwrap();
        for &p in &[0.001, 0.2, 0.5, 0.8, 0.999] {
            let q = law.quantile(p, 2.5);
            assert!((law.cdf(q, 2.5) - p).abs() < 1e-9, "{p}");
        }
        let (lo, hi) = law.edges(2.5);
        let k = 4000;
        let h = (hi - lo) / k as f64;
        let mass: f64 = (0..k)
            .map(|i| law.pdf(lo + (i as f64 + 0.5) * h, 2.5) * h)
            .sum();
        assert!((mass - 1.0).abs() < 0.01, "{mass}");
        assert_eq!(law.cdf(lo * 0.5, 2.5), 0.0);
        assert_eq!(law.cdf(hi * 2.0, 2.5), 1.0);
        assert!(law.cdf(f64::NAN, 2.5).is_nan());
        assert!(DeformedLaw::new(shape, -0.1, WHITE_SHAPE).is_err());
        assert!(DeformedLaw::new(shape, f64::NAN, WHITE_SHAPE).is_err());
        assert!(DeformedLaw::new(shape, 9.0, WHITE_SHAPE).is_err());
        assert!(DeformedLaw::new(shape, 0.5, (3.0, 3.0)).is_err());
    }
}
