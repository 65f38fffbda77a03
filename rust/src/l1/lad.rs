//! Least-absolute-deviation and quantile regression by the Barrodale–Roberts simplex: the special
//! case of layer-wise L1 descent with one affine layer and no hidden units.
//!
//! Convention, used everywhere below: the design X is N×q (the data's p columns, then a column of
//! ones when an intercept is fitted), residuals are r = y − Xβ, and the loss of quantile τ ∈ (0, 1)
//! is the check loss Σᵢ ρ_τ(rᵢ) with ρ_τ(r) = r·(τ − 1[r < 0]). At τ = ½ it is half of Σᵢ|rᵢ|, so
//! LAD is the case τ = ½ and the extension to quantiles is exact: only the two costs of leaving a
//! hyperplane change (τ upward, 1 − τ downward), the ratio test and the pivots are the same.
//!
//! **Vertices and edges.** A vertex is fixed by q hyperplanes with independent normals, held as the
//! rows of a q×q basis matrix M: an observation row xᵢ (residual rᵢ = 0) or, before phase 1 has
//! replaced it, a coordinate row e_j (β_j = 0). The columns d_k of M⁻¹ are the edge directions:
//! along ±d_k every basis row stays on its hyperplane except row k. Every other observation carries
//! a sign σᵢ = ±1 with σᵢrᵢ ≥ 0 (ties at rᵢ = 0 keep the sign they were given: this is the LP
//! basis, so "no edge descends" certifies the LP optimum by duality). With
//! u = Σ_{σᵢ=+1} τ·xᵢ − Σ_{σᵢ=−1} (1−τ)·xᵢ and z_k = u·d_k, the slope of the loss along an edge is
//! −z_k (+d_k) and +z_k (−d_k) for a coordinate row, and (1−τ) − z_k (+d_k) and τ + z_k (−d_k) for
//! an observation row (its own residual becomes ∓t).
//!
//! **The pivot.** Phase 1 replaces the coordinate rows, largest |z_k|/‖d_k‖ first, moving in the
//! descending direction (either one when the slope is zero: the loss never increases). Phase 2 takes
//! the steepest edge: the most negative slope/‖d_k‖. Along the chosen direction d the residuals
//! move as rᵢ − t·aᵢ with aᵢ = xᵢ·d; observation i reaches its hyperplane at tᵢ = rᵢ/aᵢ when
//! σᵢaᵢ > 0, and crossing it raises the slope by |aᵢ|. Barrodale and Roberts' multi-pivot ratio
//! test walks past these breakpoints in order of (tᵢ, i) until the slope turns non-negative: the
//! exact minimum along the line, found by a weighted selection in O(N), not a sort. The observation
//! reached enters the basis at row k; the ones passed flip their signs.
//!
//! **Degeneracy.** Integer data, duplicated rows and zero residuals make vertices where more than q
//! residuals vanish, and the simplex can stall there for very long (Bland's rule alone visited
//! thousands of bases of one such vertex in our tests). So the walk runs first on y + δ, with
//! δᵢ = [`PERTURBATION`]·max|y|·(½ + ½hᵢ) and hᵢ ∈ [0, 1) a fixed hash of i: generically no more
//! than q residuals vanish at any vertex, and every pivot lowers the loss. Every basis is a vertex
//! for any y, so the final basis is then re-solved with the exact y, residuals that are non-zero
//! take their exact signs, zero ones keep theirs (a valid LP basis), and the walk continues on the
//! exact problem until no edge descends: the optimality certificate is always that of the exact
//! problem. In that second walk (usually zero or a few pivots), a pivot with t = 0 (more than q residuals at zero; residuals within
//! [`ZERO_TOLERANCE`] of zero count as zero) does not lower the loss. After such a pivot the solver
//! follows Bland's rule until a pivot lowers the loss again: the descending edge of the
//! lowest-numbered hyperplane (coordinate rows first, then observations by index) and the textbook
//! single ratio test, the first breakpoint with ties to the lowest observation index. Bland's rule
//! cannot cycle, and every other pivot lowers the loss strictly, so no vertex repeats. A pivot cap
//! (status `"limit"`) bounds the run whatever happens.
//!
//! **Numerics.** M⁻¹ is updated by the rank-one formula for a replaced row; every
//! [`REFACTOR_EVERY`] pivots and at the end it is recomputed from the basis rows, β solved from it
//! and the residuals recomputed from the data, so rounding does not accumulate.
//!
//! Sources: I. Barrodale and F. D. K. Roberts, *An improved algorithm for discrete l1 linear
//! approximation*, SIAM J. Numer. Anal. 10 (1973); R. Koenker and V. d'Orey, *Computing
//! regression quantiles*, Appl. Statist. 36 (1987); P. Hinz and S. van de Geer, *Deep ReLU
//! Programming*, arXiv 2011.14895 (LAD as the one-layer case).

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::matrix::{MatrixView, Scalar};

use super::dense::{dot, inverse, norm, Design, CHUNK};

/// Default of `fit_intercept`.
pub const DEFAULT_FIT_INTERCEPT: bool = true;
/// Default of `quantile` (½: least absolute deviations).
pub const DEFAULT_QUANTILE: f64 = 0.5;
/// Pivots between refactorisations of the basis inverse.
pub const REFACTOR_EVERY: usize = 32;
/// An edge descends when its slope per unit ‖d_k‖, relative to the data scale, is below −this.
/// Slopes are sums of O(1) weights times xᵢ·d_k, which are invariant under rescaling X.
pub const SLOPE_TOLERANCE: f64 = 1e-10;
/// Relative size below which xᵢ·d counts as zero (the observation is parallel to the edge).
const PARALLEL_TOLERANCE: f64 = 1e-12;
/// A residual within this fraction of |yᵢ| + ‖xᵢ‖·‖β‖ of zero is set to exactly zero, so that a
/// degenerate vertex is recognised as one (t = 0) rather than through rounding noise.
pub const ZERO_TOLERANCE: f64 = 1e-13;
/// Size of the tie-breaking perturbation of y, relative to max|yᵢ|.
pub const PERTURBATION: f64 = 1e-8;

/// A fixed pseudo-random number in [0, 1) for observation i (SplitMix64 of its index).
fn unit_hash(i: usize) -> f64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

crate::named_enum! {
    /// How a fit ended.
    pub enum LadStatus for "status" as "status" / "statuses" {
        /// No edge descends: the LP optimum.
        Optimal = "optimal",
        /// The pivot cap was reached; the result is the last vertex.
        Limit = "limit",
    }
}

/// Options of [`lad_fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct LadOptions {
    /// Append a column of ones.
    pub fit_intercept: bool,
    /// τ of the check loss, in (0, 1).
    pub quantile: f64,
    /// Pivot cap; `None` is [`LadOptions::default_pivot_cap`].
    pub max_pivots: Option<usize>,
}

impl Default for LadOptions {
    fn default() -> Self {
        LadOptions {
            fit_intercept: DEFAULT_FIT_INTERCEPT,
            quantile: DEFAULT_QUANTILE,
            max_pivots: None,
        }
    }
}

impl LadOptions {
    /// Checks the options.
    pub fn validate(&self) -> CoreResult<()> {
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return Err(CoreError::invalid(
                "quantile",
                format!("must lie strictly between 0 and 1, got {}", self.quantile),
            ));
        }
        Ok(())
    }

    /// The cap used when none is given: 10·(N + q) pivots, far above what the algorithm needs
    /// (a few times q·log N in practice), so it only ends runs that would otherwise not end.
    pub fn default_pivot_cap(n: usize, q: usize) -> usize {
        10usize.saturating_mul(n.saturating_add(q))
    }
}

/// A fitted regression.
#[derive(Debug, Clone, PartialEq)]
pub struct LadFit {
    /// The p coefficients.
    pub coef: Vec<f64>,
    /// The intercept (0 without one).
    pub intercept: f64,
    /// Σᵢ|rᵢ|.
    pub loss: f64,
    /// Σᵢ ρ_τ(rᵢ), the minimised check loss (loss/2 at τ = ½).
    pub objective: f64,
    /// Pivots taken (phase 1 and 2).
    pub n_pivots: usize,
    /// How the run ended.
    pub status: LadStatus,
    /// The observations whose hyperplanes fix the final vertex, ascending (fewer than q only when
    /// the cap stopped phase 1).
    pub basis: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Row {
    Coord(usize),
    Obs(usize),
}

struct Candidate {
    t: f64,
    i: usize,
    weight: f64,
}

fn before(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.t.total_cmp(&b.t).then(a.i.cmp(&b.i))
}

/// The position, after partial reordering, of the first candidate in (t, i) order at which the
/// accumulated weight reaches `need`; every candidate before it in that order ends up in front of
/// it. `None` when the total weight falls short. Expected O(len) by repeated selection.
fn first_crossing(c: &mut [Candidate], need: f64) -> Option<usize> {
    let (mut lo, mut hi, mut need) = (0usize, c.len(), need);
    while lo < hi {
        let mid = (hi - lo) / 2;
        c[lo..hi].select_nth_unstable_by(mid, before);
        let m = lo + mid;
        let left: f64 = c[lo..m].iter().map(|x| x.weight).sum();
        if left >= need && m > lo {
            hi = m;
        } else if left + c[m].weight >= need {
            return Some(m);
        } else {
            need -= left + c[m].weight;
            lo = m + 1;
        }
    }
    None
}

struct Solver<'a> {
    x: &'a Design,
    y: &'a [f64],
    tau: f64,
    q: usize,
    rows: Vec<Row>,
    /// Column k of M⁻¹ (the edge d_k) at [k·q, (k+1)·q).
    dinv: Vec<f64>,
    beta: Vec<f64>,
    r: Vec<f64>,
    /// +1/−1 for non-basic observations, 0 for basic ones.
    sigma: Vec<i8>,
    u: Vec<f64>,
    row_norm: Vec<f64>,
}

impl Solver<'_> {
    /// Sets residuals within [`ZERO_TOLERANCE`] of zero to zero, and those of basic rows exactly.
    fn snap(&mut self) {
        let bn = norm(&self.beta);
        let (y, rn) = (self.y, &self.row_norm);
        self.r
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (k, r) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK + k;
                    if r.abs() <= ZERO_TOLERANCE * (y[i].abs() + rn[i] * bn) {
                        *r = 0.0;
                    }
                }
            });
        for row in &self.rows {
            if let Row::Obs(i) = *row {
                self.r[i] = 0.0;
            }
        }
    }

    fn weight(&self, s: i8) -> f64 {
        if s > 0 {
            self.tau
        } else {
            -(1.0 - self.tau)
        }
    }

    fn edge(&self, k: usize) -> &[f64] {
        &self.dinv[k * self.q..(k + 1) * self.q]
    }

    /// Slopes of (+d_k, −d_k).
    fn slopes(&self, k: usize) -> (f64, f64) {
        let z = dot(&self.u, self.edge(k));
        match self.rows[k] {
            Row::Coord(_) => (-z, z),
            Row::Obs(_) => ((1.0 - self.tau) - z, self.tau + z),
        }
    }

    fn recompute_u(&mut self) {
        let q = self.q;
        let (x, sigma, tau) = (self.x, &self.sigma, self.tau);
        // Fixed chunks summed in order: reproducible whatever the threads do.
        let partial: Vec<Vec<f64>> = (0..x.n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut acc = vec![0.0; q];
                let end = ((c + 1) * CHUNK).min(x.n);
                for (i, &sg) in sigma.iter().enumerate().take(end).skip(c * CHUNK) {
                    let w = match sg {
                        0 => continue,
                        s if s > 0 => tau,
                        _ => -(1.0 - tau),
                    };
                    for (a, v) in acc.iter_mut().zip(x.row(i)) {
                        *a += w * v;
                    }
                }
                acc
            })
            .collect();
        let mut u = vec![0.0; q];
        for part in &partial {
            for (a, v) in u.iter_mut().zip(part) {
                *a += v;
            }
        }
        self.u = u;
    }

    /// Recomputes M⁻¹, β and the residuals from the basis rows.
    fn refactor(&mut self) -> CoreResult<()> {
        let q = self.q;
        let mut m = vec![0.0; q * q];
        let mut rhs = vec![0.0; q];
        for (k, row) in self.rows.iter().enumerate() {
            match *row {
                Row::Coord(j) => m[k * q + j] = 1.0,
                Row::Obs(i) => {
                    m[k * q..(k + 1) * q].copy_from_slice(self.x.row(i));
                    rhs[k] = self.y[i];
                }
            }
        }
        let inv = inverse(&m, q, 1e-13).ok_or(CoreError::NoConvergence {
            algorithm: "the LAD simplex (the basis became numerically singular)",
        })?;
        // inv is row-major M⁻¹; its column k is edge k.
        for k in 0..q {
            for j in 0..q {
                self.dinv[k * q + j] = inv[j * q + k];
            }
        }
        for j in 0..q {
            self.beta[j] = (0..q).map(|k| inv[j * q + k] * rhs[k]).sum();
        }
        let (x, y, beta) = (self.x, self.y, &self.beta);
        self.r
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (k, r) in chunk.iter_mut().enumerate() {
                    let i = c * CHUNK + k;
                    *r = y[i] - dot(x.row(i), beta);
                }
            });
        self.snap();
        self.recompute_u();
        Ok(())
    }

    /// Signs from the residuals where they are non-zero (after y changed); zeros keep theirs.
    fn resign(&mut self) {
        for (sg, &r) in self.sigma.iter_mut().zip(&self.r) {
            if *sg != 0 && r != 0.0 {
                *sg = if r > 0.0 { 1 } else { -1 };
            }
        }
        self.recompute_u();
    }

    /// Pivots until no edge descends or `pivots` reaches `cap`.
    fn descend(
        &mut self,
        pivots: &mut usize,
        cap: usize,
        a: &mut [f64],
        stop: &Stop,
    ) -> CoreResult<LadStatus> {
        let (mut bland, mut retried) = (false, false);
        while let Some((k, sign, slope)) = self.choose(bland) {
            if *pivots >= cap {
                return Ok(LadStatus::Limit);
            }
            stop.check()?;
            let t = match self.pivot(k, sign, slope, bland, a) {
                Ok(t) => t,
                // The slope promised more breakpoints than the data hold: the incremental state
                // drifted. Rebuild it from the basis once and choose again.
                Err(CoreError::NoConvergence { .. }) if !retried => {
                    retried = true;
                    self.refactor()?;
                    self.resign();
                    continue;
                }
                Err(e) => return Err(e),
            };
            retried = false;
            *pivots += 1;
            bland = t == 0.0;
            if *pivots % REFACTOR_EVERY == 0 {
                self.refactor()?;
            }
        }
        Ok(LadStatus::Optimal)
    }

    /// The edge to take next as (row, sign, slope), or `None` when none descends.
    fn choose(&self, bland: bool) -> Option<(usize, f64, f64)> {
        let q = self.q;
        let coords: Vec<usize> = (0..q)
            .filter(|&k| matches!(self.rows[k], Row::Coord(_)))
            .collect();
        if !coords.is_empty() {
            // Phase 1: every coordinate row leaves, steepest first, never uphill.
            let pick = |k: usize| {
                let (sp, sm) = self.slopes(k);
                let (sign, s) = if sp <= sm { (1.0, sp) } else { (-1.0, sm) };
                (k, sign, s.min(0.0))
            };
            let best = if bland {
                coords
                    .iter()
                    .map(|&k| pick(k))
                    .min_by_key(|&(k, _, _)| match self.rows[k] {
                        Row::Coord(j) => j,
                        Row::Obs(_) => usize::MAX,
                    })
            } else {
                coords.iter().map(|&k| pick(k)).min_by(|a, b| {
                    (a.2 / norm(self.edge(a.0))).total_cmp(&(b.2 / norm(self.edge(b.0))))
                })
            };
            return best;
        }
        let mut best: Option<(usize, f64, f64, f64)> = None; // (k, sign, slope, key)
        for k in 0..q {
            let (sp, sm) = self.slopes(k);
            let nk = norm(self.edge(k));
            for (sign, s) in [(1.0, sp), (-1.0, sm)] {
                if s / nk >= -SLOPE_TOLERANCE {
                    continue;
                }
                let key = if bland {
                    match self.rows[k] {
                        Row::Obs(i) => i as f64,
                        Row::Coord(j) => j as f64 - q as f64,
                    }
                } else {
                    s / nk
                };
                if best.is_none_or(|b| key < b.3) {
                    best = Some((k, sign, s, key));
                }
            }
        }
        best.map(|(k, sign, s, _)| (k, sign, s))
    }

    /// One pivot along `sign`·d_k with initial slope `slope`; returns the step length t. `single`
    /// stops at the first breakpoint (the textbook ratio test, used under Bland's rule) instead of
    /// the exact minimum along the line.
    fn pivot(
        &mut self,
        k: usize,
        sign: f64,
        slope: f64,
        single: bool,
        a: &mut [f64],
    ) -> CoreResult<f64> {
        let q = self.q;
        let d: Vec<f64> = self.edge(k).iter().map(|v| sign * v).collect();
        let dn = norm(&d);
        self.x.times(&d, a);
        let (sigma, r, row_norm) = (&self.sigma, &self.r, &self.row_norm);
        let mut cands: Vec<Candidate> = a
            .par_iter()
            .enumerate()
            .filter_map(|(i, &ai)| {
                let s = sigma[i];
                if s == 0 || (s as f64) * ai <= PARALLEL_TOLERANCE * row_norm[i] * dn {
                    return None;
                }
                Some(Candidate {
                    t: (r[i] / ai).max(0.0),
                    i,
                    weight: ai.abs(),
                })
            })
            .collect();
        let need = if single { 0.0 } else { -slope };
        let Some(m) = first_crossing(&mut cands, need) else {
            return Err(
                if cands.is_empty() && matches!(self.rows[k], Row::Coord(_)) {
                    CoreError::invalid(
                        "X",
                        "the design is rank deficient (a column, or the intercept, is a linear \
                     combination of the others), so the coefficients are not unique",
                    )
                } else {
                    CoreError::NoConvergence {
                        algorithm: "the LAD simplex (the loss seemed unbounded below: rounding)",
                    }
                },
            );
        };
        let t = cands[m].t;
        let enter = cands[m].i;
        // Observations passed before the entering one change sides.
        for c in &cands[..m] {
            let old = self.sigma[c.i];
            let dw = self.weight(-old) - self.weight(old);
            self.sigma[c.i] = -old;
            for (uj, xj) in self.u.iter_mut().zip(self.x.row(c.i)) {
                *uj += dw * xj;
            }
        }
        let w_enter = self.weight(self.sigma[enter]);
        for (uj, xj) in self.u.iter_mut().zip(self.x.row(enter)) {
            *uj -= w_enter * xj;
        }
        self.sigma[enter] = 0;
        if let Row::Obs(l) = self.rows[k] {
            // Its residual becomes −sign·t.
            let s: i8 = if sign > 0.0 { -1 } else { 1 };
            self.sigma[l] = s;
            let w = self.weight(s);
            for (uj, xj) in self.u.iter_mut().zip(self.x.row(l)) {
                *uj += w * xj;
            }
        }
        for (b, dj) in self.beta.iter_mut().zip(&d) {
            *b += t * dj;
        }
        self.r
            .par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(rc, ac)| rc.iter_mut().zip(ac).for_each(|(r, a)| *r -= t * a));
        let leaving = self.rows[k];
        // Row k of M becomes x_enter: d'_k = d_k/c_k, d'_i = d_i − c_i·d'_k with c_i = x_enter·d_i.
        let xe = self.x.row(enter);
        let c: Vec<f64> = (0..q).map(|i| dot(xe, self.edge(i))).collect();
        let pivot = c[k];
        for j in 0..q {
            self.dinv[k * q + j] /= pivot;
        }
        let dk: Vec<f64> = self.edge(k).to_vec();
        for i in (0..q).filter(|&i| i != k && c[i] != 0.0) {
            for (v, d) in self.dinv[i * q..(i + 1) * q].iter_mut().zip(&dk) {
                *v -= c[i] * d;
            }
        }
        self.rows[k] = Row::Obs(enter);
        self.snap();
        if let Row::Obs(l) = leaving {
            self.r[l] = -sign * t;
        }
        Ok(t)
    }
}

/// Fits quantile `options.quantile` of y given X (LAD at ½) exactly, by the simplex described in
/// the module documentation.
pub fn lad_fit<T: Scalar>(
    x: MatrixView<'_, T>,
    y: &[f64],
    options: &LadOptions,
    stop: &Stop,
) -> CoreResult<LadFit> {
    options.validate()?;
    if y.len() != x.nrows() {
        return Err(CoreError::invalid(
            "y",
            format!("has {} values but X has {} rows", y.len(), x.nrows()),
        ));
    }
    crate::matrix::check_finite_slice(y, "y")?;
    let design = Design::new(x, options.fit_intercept, "X")?;
    let (n, q) = (design.n, design.q);
    if n < q {
        return Err(CoreError::invalid(
            "X",
            format!("has {n} rows, fewer than the {q} coefficients to fit"),
        ));
    }
    let row_norm: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| norm(design.row(i)))
        .collect();
    // Ties broken by a perturbation of y (see the module docs); the exact y takes over at the end.
    let y_max = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let size = PERTURBATION * if y_max > 0.0 { y_max } else { 1.0 };
    let perturbed: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, v)| v + size * (0.5 + 0.5 * unit_hash(i)))
        .collect();
    let mut s = Solver {
        x: &design,
        y: &perturbed,
        tau: options.quantile,
        q,
        rows: (0..q).map(Row::Coord).collect(),
        dinv: vec![0.0; q * q],
        beta: vec![0.0; q],
        r: perturbed.clone(),
        sigma: perturbed
            .iter()
            .map(|&v| if v >= 0.0 { 1 } else { -1 })
            .collect(),
        u: vec![0.0; q],
        row_norm,
    };
    s.refactor()?;
    let cap = options
        .max_pivots
        .unwrap_or_else(|| LadOptions::default_pivot_cap(n, q));
    let mut a = vec![0.0; n];
    let mut pivots = 0usize;
    let mut status = s.descend(&mut pivots, cap, &mut a, stop)?;
    s.y = y;
    s.refactor()?;
    s.resign();
    if status == LadStatus::Optimal {
        status = s.descend(&mut pivots, cap, &mut a, stop)?;
    }
    s.refactor()?;
    let tau = options.quantile;
    let (loss, objective) = s.r.iter().fold((0.0, 0.0), |acc, &r| {
        (
            acc.0 + r.abs(),
            acc.1 + if r < 0.0 { (tau - 1.0) * r } else { tau * r },
        )
    });
    let p = q - options.fit_intercept as usize;
    let mut basis: Vec<usize> = s
        .rows
        .iter()
        .filter_map(|r| match r {
            Row::Obs(i) => Some(*i),
            Row::Coord(_) => None,
        })
        .collect();
    basis.sort_unstable();
    Ok(LadFit {
        coef: s.beta[..p].to_vec(),
        intercept: if options.fit_intercept {
            s.beta[p]
        } else {
            0.0
        },
        loss,
        objective,
        n_pivots: pivots,
        status,
        basis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn brute_force_1d(x: &[f64], y: &[f64]) -> f64 {
        // Some optimum of a line fit passes through two data points: try all pairs.
        let mut best = f64::INFINITY;
        for i in 0..x.len() {
            for j in 0..x.len() {
                if x[i] == x[j] {
                    continue;
                }
                let b = (y[j] - y[i]) / (x[j] - x[i]);
                let c = y[i] - b * x[i];
                let l: f64 = x.iter().zip(y).map(|(u, v)| (v - c - b * u).abs()).sum();
                best = best.min(l);
            }
        }
        best
    }

    fn fit(x: &[f64], n: usize, p: usize, y: &[f64], opts: &LadOptions) -> LadFit {
        lad_fit(MatrixView::from_row_major(x, n, p), y, opts, &Stop::never()).unwrap()
    }

    #[test]
    fn a_line_fit_matches_the_best_line_through_two_points() {
        let mut rng = SmallRng::seed_from_u64(1);
        for trial in 0..30 {
            let n = 5 + trial % 20;
            // Integer data: many ties and degenerate vertices.
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            if x.iter().all(|&v| v == x[0]) {
                continue;
            }
            let f = fit(&x, n, 1, &y, &LadOptions::default());
            assert_eq!(f.status, LadStatus::Optimal);
            let want = brute_force_1d(&x, &y);
            assert!(
                (f.loss - want).abs() <= 1e-9 * want.max(1.0),
                "{} vs {want}",
                f.loss
            );
            assert_eq!(f.basis.len(), 2);
            for &i in &f.basis {
                assert!((y[i] - f.intercept - f.coef[0] * x[i]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn quantile_fit_of_a_constant_is_the_sample_quantile() {
        // Intercept only: the τ-quantile of y minimises the check loss.
        let y: Vec<f64> = (0..11).map(|i| (i * 7 % 11) as f64).collect();
        let x = vec![0.0; 0];
        for (tau, want) in [(0.5, 5.0), (0.2, 2.0), (0.9, 9.0)] {
            let opts = LadOptions {
                quantile: tau,
                ..LadOptions::default()
            };
            let f = lad_fit(
                MatrixView::from_row_major(&x, 11, 0),
                &y,
                &opts,
                &Stop::never(),
            )
            .unwrap();
            let obj = |c: f64| -> f64 {
                y.iter()
                    .map(|v| {
                        let r = v - c;
                        if r < 0.0 {
                            (tau - 1.0) * r
                        } else {
                            tau * r
                        }
                    })
                    .sum()
            };
            assert!(
                (f.objective - obj(want)).abs() < 1e-12,
                "tau {tau}: {}",
                f.intercept
            );
        }
    }

    #[test]
    fn the_optimum_has_no_descending_direction_among_random_ones() {
        let mut rng = SmallRng::seed_from_u64(7);
        let (n, p) = (300, 5);
        let x: Vec<f64> = (0..n * p).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| x[i * p] * 2.0 + rng.random_range(-1.0f64..1.0).powi(3) * 10.0)
            .collect();
        let f = fit(&x, n, p, &y, &LadOptions::default());
        let loss_at = |c: &[f64], b: f64| -> f64 {
            (0..n)
                .map(|i| (y[i] - b - dot(&x[i * p..(i + 1) * p], c)).abs())
                .sum()
        };
        assert!((loss_at(&f.coef, f.intercept) - f.loss).abs() < 1e-9 * f.loss);
        for _ in 0..200 {
            let dir: Vec<f64> = (0..=p).map(|_| rng.random_range(-1e-4..1e-4)).collect();
            let c: Vec<f64> = f.coef.iter().zip(&dir).map(|(a, b)| a + b).collect();
            assert!(loss_at(&c, f.intercept + dir[p]) >= f.loss - 1e-9 * f.loss);
        }
    }

    #[test]
    fn duplicated_rows_and_a_pivot_cap_terminate() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (n, p) = (200, 3);
        let base: Vec<f64> = (0..20 * p).map(|_| rng.random_range(0..3) as f64).collect();
        let x: Vec<f64> = (0..n)
            .flat_map(|i| base[(i % 20) * p..(i % 20 + 1) * p].to_vec())
            .collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
        let full = fit(&x, n, p, &y, &LadOptions::default());
        // 20 distinct rows of 3 integer columns may be rank deficient; either a clear error or an
        // optimal fit, never a hang.
        assert_eq!(full.status, LadStatus::Optimal);
        let capped = fit(
            &x,
            n,
            p,
            &y,
            &LadOptions {
                max_pivots: Some(2),
                ..LadOptions::default()
            },
        );
        assert_eq!(capped.status, LadStatus::Limit);
        assert_eq!(capped.n_pivots, 2);
        assert!(capped.loss >= full.loss - 1e-9);
    }

    #[test]
    fn bad_input_is_named() {
        let x = [1.0, 2.0, 3.0];
        let e = lad_fit(
            MatrixView::from_row_major(&x, 3, 1),
            &[1.0, 2.0],
            &LadOptions::default(),
            &Stop::never(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`y`"), "{e}");
        let e = lad_fit(
            MatrixView::from_row_major(&x, 1, 3),
            &[1.0],
            &LadOptions::default(),
            &Stop::never(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("fewer than"), "{e}");
        let e = lad_fit(
            MatrixView::from_row_major(&[1.0, 1.0, 1.0], 3, 1),
            &[1.0, 2.0, 0.0],
            &LadOptions::default(),
            &Stop::never(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("rank deficient"), "{e}");
        let opts = LadOptions {
            quantile: 1.0,
            ..LadOptions::default()
        };
        assert!(lad_fit(
            MatrixView::from_row_major(&x, 3, 1),
            &[1.0, 2.0, 3.0],
            &opts,
            &Stop::never()
        )
        .is_err());
    }
}
