//! Layer-wise L1 training by vertex descent (Hinz and van de Geer's Deep ReLU Programming, phases 1
//! and 2 as read from the author's solver; our own implementation).
//!
//! Convention, used everywhere below. The network has layers k = 0..L−1 with weights W_k (n_k ×
//! n_{k−1}) and biases b_k; a piecewise-linear activation with a kink at 0 follows every layer but
//! the last (ReLU: slopes (0, 1) below and above 0; leaky ReLU: (α, 1); absolute value: (−1, 1)).
//! Layer ℓ is trained; θ = (W_ℓ, b_ℓ) in row-major order, neuron j's row [W_ℓ[j, :], b_ℓ[j]] at
//! θ[j·(m+1)..(j+1)·(m+1)] with m = n_{ℓ−1}, so n0 = n_ℓ·(m+1). The loss is
//! F(θ) = Σᵢ‖g(xᵢ; θ) − yᵢ‖₁.
//!
//! **Units and hyperplanes.** For every data point i, each pre-activation of layers ℓ..L−2 and each
//! output residual g_o(xᵢ) − y_{i,o} is a *unit*; {θ : unit = 0} is a (bent) hyperplane. Every unit
//! carries a sign sᵤ: the sign of its value where that is non-zero, and an assigned sign where it
//! is zero. The signs fix a *region*, on whose closure every unit and F are affine in θ; a unit's
//! *normal* is its gradient there, F's gradient is g(S). Normals and gradients factor as
//! c ⊗ [h_{ℓ−1}(xᵢ); 1], with c ∈ ℝ^{n_ℓ} from back-propagation with the slopes of the signs.
//!
//! **Vertices and edges.** A vertex is a point where n0 units with linearly independent normals
//! vanish (the active set C). The edges of the current region at a vertex are ±a_k, the columns of
//! N⁻¹ for the matrix N of active normals (a_k·n_l = δ_kl), taken towards the side of unit k's
//! sign: along sₖ·a_k every other active unit stays at zero and unit k enters its own side.
//!
//! **Phase 1.** From θ₀, move along −g projected off the normals of the units already active (or,
//! where that projection vanishes, along the projected coordinate direction that changes most,
//! oriented not to increase F) to the first unit that reaches zero, make it active, and repeat
//! until n0 are active.
//!
//! **Phase 2.** At a vertex, take the steepest edge of the current region: the most negative
//! slope g·(sₖa_k)/‖a_k‖ below −[`SLOPE_TOLERANCE`]; step along it to the first inactive unit that
//! reaches zero (the adjacent vertex) and swap it into the active set, updating N⁻¹ by the
//! rank-one formula for a replaced row. When no edge of the region descends, flip the sign of the
//! next active unit (cycling through them, without undoing earlier flips, as the author's solver
//! does): that selects the region across its hyperplane, whose gradient and normals are updated
//! for the one data point concerned. After n0 flips without a descending edge the vertex is a
//! **local minimum** in the sense of the author's solver: no edge of the n0 + 1 regions explored
//! descends (not all 2^n0 regions around the vertex are checked). A step without any unit ahead
//! while F decreases is **unbounded** (cannot happen for F ≥ 0 except by rounding, but reported).
//!
//! **Degeneracy.** Units within [`ZERO_TOLERANCE`] of zero after a step are set to zero. The walk
//! follows a symbolically perturbed problem: δ_v = ε^(v+1) added to every unit v (before its
//! activation), so that no two hyperplanes coincide. Units at 0 take the sign of their leading
//! perturbation coefficient (`settle_zero_signs`), and ties in the ratio test go to the
//! lexicographically first unit (`lex_ratio`); every pivot lowers the perturbed loss, so
//! the walk cannot cycle. `max_vertices` and `time_limit` bound every run (status "limit"), and a
//! stop request ends it with status "interrupted" and the point reached.
//!
//! **Numerics.** N⁻¹ is recomputed from fresh normals every [`REFACTOR_EVERY`] vertices; the
//! largest relative change is reported as `max_drift`. Should the fresh normals be numerically
//! dependent (status **breakdown**, seen after tens of thousands of vertices on hidden layers
//! with many degenerate steps), the walk stops and returns the point reached. Unit values and the loss are
//! recomputed from a fresh forward pass at the same time.
//!
//! **Extrapolated loss.** See [`extrapolate`].

use std::time::Instant;

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;

use super::dense::{dot, inverse, norm};

/// Steepest-edge threshold on the normalised slope, relative to the loss scale Σᵢ‖xᵢ‖-free: slopes
/// are per unit length of θ.
pub const SLOPE_TOLERANCE: f64 = 1e-9;
/// Unit values within this fraction of their scale count as zero.
pub const ZERO_TOLERANCE: f64 = 1e-12;
/// A unit whose derivative along a direction d is below this fraction of its normal's size times
/// ‖d‖ counts as parallel to d (never hit): it keeps the active normals well conditioned.
pub const PARALLEL_TOLERANCE: f64 = 1e-9;
/// A normal whose part orthogonal to the active normals is below this fraction of its length is
/// dependent on them (phase 1).
pub const DEPENDENT_TOLERANCE: f64 = 1e-10;
/// Smallest relative pivot of a rank-one update of N⁻¹.
pub const PIVOT_TOLERANCE: f64 = 1e-10;
/// Relative tolerance of the lexicographic rule: perturbation coefficients and their comparisons.
pub const LEX_TOLERANCE: f64 = 1e-9;
/// Passes of the sign settlement at most (see `settle_zero_signs`).
const SETTLE_PASSES: usize = 4;
/// Units reached within this fraction of the shortest step count as reached together (a tie).
pub const TIE_TOLERANCE: f64 = 1e-12;
/// The parallel tolerance of the second ratio test before "unbounded" (above rounding noise).
pub const PARALLEL_RETRY: f64 = 1e-13;
/// A fresh unit value changes the unit's recorded sign only beyond this fraction of its scale.
pub const SIGN_TOLERANCE: f64 = 1e-9;
/// Data points per parallel chunk of the gradient (fixed, so that sums are reproducible).
const CHUNK_POINTS: usize = 256;
/// Vertices between refactorisations of N⁻¹.
pub const REFACTOR_EVERY: usize = 50;
/// Default window of the extrapolation (the last this many loss decreases).
pub const DEFAULT_WINDOW: usize = 20;
/// Default negative slope of the leaky ReLU.
pub const DEFAULT_LEAKY_SLOPE: f64 = 0.01;

crate::named_enum! {
    /// A piecewise-linear activation with its kink at 0.
    pub enum ActivationKind for "activations" as "activation" / "activations" {
        /// max(z, 0).
        Relu = "relu",
        /// z for z ≥ 0, α·z below.
        LeakyRelu = "leaky_relu",
        /// |z|.
        Abs = "abs",
    }
}

crate::named_enum! {
    /// How a descent ended.
    pub enum DescentStatus for "status" as "status" / "statuses" {
        /// No edge of the regions explored descends.
        LocalMinimum = "local_minimum",
        /// An edge descends without reaching another unit, after a second ratio test and a
        /// refactorisation (impossible for F ≥ 0 in exact arithmetic).
        Unbounded = "unbounded",
        /// `max_vertices` or `time_limit` reached.
        Limit = "limit",
        /// Stopped by the caller (Ctrl-C): the point reached, a vertex unless phase 1 was cut short.
        Interrupted = "interrupted",
        /// The fresh normals at the point reached are numerically dependent (rounding, or many
        /// units vanishing together); the point is returned but may not be a vertex.
        Breakdown = "breakdown",
    }
}

/// An activation with its two slopes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// Which.
    pub kind: ActivationKind,
    /// Slope below 0.
    pub neg: f64,
    /// Slope above 0.
    pub pos: f64,
}

impl Activation {
    /// `kind` with `leaky_slope` for the leaky ReLU.
    pub fn new(kind: ActivationKind, leaky_slope: f64) -> CoreResult<Activation> {
        let neg = match kind {
            ActivationKind::Relu => 0.0,
            ActivationKind::Abs => -1.0,
            ActivationKind::LeakyRelu => {
                if !(leaky_slope.is_finite() && leaky_slope != 1.0) {
                    return Err(CoreError::invalid(
                        "leaky_slope",
                        format!("must be finite and not 1, got {leaky_slope}"),
                    ));
                }
                leaky_slope
            }
        };
        Ok(Activation {
            kind,
            neg,
            pos: 1.0,
        })
    }

    #[inline]
    fn slope(&self, sign: i8) -> f64 {
        if sign > 0 {
            self.pos
        } else {
            self.neg
        }
    }
}

/// A fully connected network: `weights[k]` is n_k × n_{k−1} row-major, `activations[k]` follows
/// layer k (one fewer than layers).
#[derive(Debug, Clone)]
pub struct Network {
    /// Row-major weight matrices.
    pub weights: Vec<Vec<f64>>,
    /// Bias vectors.
    pub biases: Vec<Vec<f64>>,
    /// Widths n_{−1} (the input), n_0, …, n_{L−1} (the output).
    pub widths: Vec<usize>,
    /// One per hidden layer.
    pub activations: Vec<Activation>,
}

impl Network {
    /// Checks shapes and values.
    pub fn validate(&self) -> CoreResult<()> {
        let l = self.weights.len();
        if l == 0 {
            return Err(CoreError::Empty { what: "weights" });
        }
        if self.biases.len() != l || self.widths.len() != l + 1 {
            return Err(CoreError::invalid(
                "biases",
                format!("{} bias vectors for {l} weight matrices", self.biases.len()),
            ));
        }
        if self.activations.len() != l - 1 {
            return Err(CoreError::invalid(
                "activations",
                format!(
                    "a network of {l} layers needs {} activations (one after each layer but the \
                     last), got {}",
                    l - 1,
                    self.activations.len()
                ),
            ));
        }
        for k in 0..l {
            let (rows, cols) = (self.widths[k + 1], self.widths[k]);
            if self.weights[k].len() != rows * cols || self.biases[k].len() != rows || rows == 0 {
                return Err(CoreError::invalid(
                    "weights",
                    format!("layer {k}: weight, bias and width shapes disagree"),
                ));
            }
            let bad = self.weights[k]
                .iter()
                .chain(&self.biases[k])
                .find(|v| !v.is_finite());
            if let Some(v) = bad {
                return Err(CoreError::NonFinite {
                    what: "weights",
                    value: *v,
                    location: format!("layer {k}"),
                });
            }
        }
        Ok(())
    }
}

/// Options of [`vertex_descent`].
#[derive(Debug, Clone, PartialEq)]
pub struct DescentOptions {
    /// The trained layer.
    pub layer: usize,
    /// Phase-2 vertices to visit at most (`None`: no cap but the built-in 10⁷).
    pub max_vertices: Option<usize>,
    /// Seconds (`None`: none).
    pub time_limit: Option<f64>,
    /// Window of the extrapolation.
    pub window: usize,
}

impl Default for DescentOptions {
    fn default() -> Self {
        DescentOptions {
            layer: 0,
            max_vertices: None,
            time_limit: None,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Vertices visited at most when no cap is given: a guard, never reached in practice.
pub const HARD_VERTEX_CAP: usize = 10_000_000;

/// One phase-2 vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// F at the vertex.
    pub loss: f64,
    /// ‖θ_{k+1} − θ_k‖.
    pub step: f64,
    /// Regions whose edges were tested before the descending edge was found (1: the current one).
    pub regions_tried: usize,
    /// The extrapolated loss at the minimum (NaN while undefined; see [`extrapolate`]).
    pub extrapolated: f64,
}

/// A descent's result.
#[derive(Debug, Clone, PartialEq)]
pub struct DescentResult {
    /// The trained layer's weights, n_ℓ × n_{ℓ−1} row-major.
    pub weight: Vec<f64>,
    /// Its biases.
    pub bias: Vec<f64>,
    /// F at the returned point (a fresh forward pass).
    pub loss: f64,
    /// F at the start.
    pub initial_loss: f64,
    /// F at the end of phase 1 (the first vertex).
    pub phase1_loss: f64,
    /// How the run ended.
    pub status: DescentStatus,
    /// One entry per phase-2 vertex.
    pub trace: Vec<TraceEntry>,
    /// n0.
    pub n_params: usize,
    /// Active units at the end as (data point, unit index: neurons of layers ℓ..L−2 in order,
    /// then outputs), with their assigned signs.
    pub active: Vec<(usize, usize, i8)>,
    /// Largest relative change of N⁻¹ at a refactorisation.
    pub max_drift: f64,
    /// Steps of length zero.
    pub degenerate_steps: usize,
    /// Seconds.
    pub seconds: f64,
}

/// The extrapolated loss at the minimum from the losses L_0..L_K of consecutive vertices.
///
/// Model: L_k ≈ L∞ + A·e^{−λk}. Then the decreases D_k = L_k − L_{k+1} = A(1 − e^{−λ})e^{−λk}
/// are log-linear in k, and Σ_{j≥K} D_j = A·e^{−λK} = L_K − L∞. The estimator fits
/// log D_k = c − λk by least squares over the last `window` decreases that are positive (steps of
/// zero length carry no information) and returns
/// D̂_K = e^{c−λK}, the fitted decrease of the next step: L∞ = L_K − D̂_K/(1 − e^{−λ}), clamped
/// to [0, L_K]. NaN when fewer
/// than 3 positive decreases are in the window or the fit does not decay (λ ≤ 0).
pub fn extrapolate(losses: &[f64], window: usize) -> f64 {
    let k_last = losses.len().saturating_sub(1);
    let start = k_last.saturating_sub(window);
    let pts: Vec<(f64, f64)> = (start..k_last)
        .filter_map(|k| {
            let d = losses[k] - losses[k + 1];
            (d > 0.0).then(|| (k as f64, d.ln()))
        })
        .collect();
    if pts.len() < 3 {
        return f64::NAN;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return f64::NAN;
    }
    let lambda = -sxy / sxx;
    if lambda.is_nan() || lambda <= 0.0 {
        return f64::NAN;
    }
    let c = my + lambda * mx;
    let d_next = (c - lambda * k_last as f64).exp();
    let q = (-lambda).exp();
    let last = losses[k_last];
    (last - d_next / (1.0 - q)).clamp(0.0, last)
}

struct Problem<'a> {
    net: &'a Network,
    layer: usize,
    /// h_{ℓ−1}(xᵢ) with a trailing 1, N × (m+1).
    hin: Vec<f64>,
    y: &'a [f64],
    n: usize,
    m1: usize,
    /// Units per data point.
    u: usize,
    /// Offsets of the unit blocks of layers ℓ..L−1 within a data point's units.
    offsets: Vec<usize>,
    n_out: usize,
}

impl Problem<'_> {
    fn n_l(&self) -> usize {
        self.net.widths[self.layer + 1]
    }

    fn n0(&self) -> usize {
        self.n_l() * self.m1
    }

    fn hin(&self, i: usize) -> &[f64] {
        &self.hin[i * self.m1..(i + 1) * self.m1]
    }

    /// Unit values of point i at θ (signs only matter where a value is exactly 0, and then not
    /// for the values: every activation maps 0 to 0).
    fn forward_point(&self, theta: &[f64], i: usize, out: &mut [f64]) {
        let (nl, h) = (self.n_l(), self.hin(i));
        for j in 0..nl {
            out[j] = dot(&theta[j * self.m1..(j + 1) * self.m1], h);
        }
        let layers = self.net.weights.len();
        for k in self.layer + 1..layers {
            let (prev, cur) = (
                self.offsets[k - 1 - self.layer],
                self.offsets[k - self.layer],
            );
            let act = &self.net.activations[k - 1];
            let (rows, cols) = (self.net.widths[k + 1], self.net.widths[k]);
            for r in 0..rows {
                let w = &self.net.weights[k][r * cols..(r + 1) * cols];
                let mut z = self.net.biases[k][r];
                for c in 0..cols {
                    let v = out[prev + c];
                    z += w[c] * v * if v >= 0.0 { act.pos } else { act.neg };
                }
                out[cur + r] = z;
            }
        }
        let o = self.offsets[layers - 1 - self.layer];
        for r in 0..self.n_out {
            out[o + r] -= self.y[i * self.n_out + r];
        }
    }

    /// The slope of hidden unit `unit` of a point under `sign`.
    fn act_of_block(&self, block: usize) -> &Activation {
        &self.net.activations[self.layer + block]
    }

    /// c ∈ ℝ^{n_ℓ} of the gradient of Σ seed·(units of block `from`) for point i, by
    /// back-propagation with the slopes of `signs` (that point's unit signs).
    fn backprop(&self, signs: &[i8], from: usize, seed: &[f64], out: &mut Vec<f64>) {
        let layers = self.net.weights.len();
        let mut delta = seed.to_vec();
        let mut block = from;
        while block > 0 {
            let k = self.layer + block; // the layer whose pre-activations delta refers to
            let (rows, cols) = (self.net.widths[k + 1], self.net.widths[k]);
            let prev = self.offsets[block - 1];
            let act = self.act_of_block(block - 1);
            let mut next = vec![0.0; cols];
            for (r, &dr) in delta.iter().enumerate().take(rows) {
                if dr == 0.0 {
                    continue;
                }
                let w = &self.net.weights[k][r * cols..(r + 1) * cols];
                for (nc, wc) in next.iter_mut().zip(w) {
                    *nc += wc * dr;
                }
            }
            for c in 0..cols {
                next[c] *= act.slope(signs[prev + c]);
            }
            delta = next;
            block -= 1;
        }
        let _ = layers;
        *out = delta;
    }

    /// ∂(unit)/∂(pre-activation v) for the unit itself (1) and every unit v of the blocks before
    /// it at point i, with the slopes of `signs`: (v, coefficient), zeros left out.
    fn upstream(&self, signs: &[i8], unit: usize) -> Vec<(usize, f64)> {
        let (b, pos) = self.block_of(unit);
        let mut out = vec![(unit, 1.0)];
        let width = self.offsets.get(b + 1).map_or(self.u, |&o| o) - self.offsets[b];
        let mut delta = vec![0.0; width];
        delta[pos] = 1.0;
        let mut block = b;
        while block > 0 {
            let k = self.layer + block;
            let (rows, cols) = (self.net.widths[k + 1], self.net.widths[k]);
            let prev = self.offsets[block - 1];
            let act = self.act_of_block(block - 1);
            let mut next = vec![0.0; cols];
            for (r, &dr) in delta.iter().enumerate().take(rows) {
                if dr != 0.0 {
                    let w = &self.net.weights[k][r * cols..(r + 1) * cols];
                    for (nc, wc) in next.iter_mut().zip(w) {
                        *nc += wc * dr;
                    }
                }
            }
            for (c, v) in next.iter_mut().enumerate() {
                *v *= act.slope(signs[prev + c]);
                if *v != 0.0 {
                    out.push((prev + c, *v));
                }
            }
            delta = next;
            block -= 1;
        }
        out
    }

    /// Block index and position of a unit.
    fn block_of(&self, unit: usize) -> (usize, usize) {
        let b = self.offsets.partition_point(|&o| o <= unit) - 1;
        (b, unit - self.offsets[b])
    }

    /// The normal of unit `unit` of point i, as a full n0-vector.
    fn normal(&self, signs: &[i8], i: usize, unit: usize) -> Vec<f64> {
        let (b, pos) = self.block_of(unit);
        let width = self.offsets.get(b + 1).map_or(self.u, |&o| o) - self.offsets[b];
        let mut seed = vec![0.0; width];
        seed[pos] = 1.0;
        let mut c = Vec::new();
        self.backprop(signs, b, &seed, &mut c);
        self.expand(&c, i)
    }

    fn expand(&self, c: &[f64], i: usize) -> Vec<f64> {
        let h = self.hin(i);
        let mut v = vec![0.0; self.n0()];
        for (j, cj) in c.iter().enumerate() {
            if *cj != 0.0 {
                for (t, hv) in h.iter().enumerate() {
                    v[j * self.m1 + t] = cj * hv;
                }
            }
        }
        v
    }

    /// F's gradient contribution of point i: c with seed = residual signs.
    fn grad_coeff(&self, signs: &[i8]) -> Vec<f64> {
        let last = self.offsets.len() - 1;
        let o = self.offsets[last];
        let seed: Vec<f64> = (0..self.n_out).map(|r| signs[o + r] as f64).collect();
        let mut c = Vec::new();
        self.backprop(signs, last, &seed, &mut c);
        c
    }

    /// Directional derivatives of point i's units along d (signs fixed).
    fn directional(&self, d: &[f64], signs: &[i8], i: usize, out: &mut [f64]) {
        let (nl, h) = (self.n_l(), self.hin(i));
        for j in 0..nl {
            out[j] = dot(&d[j * self.m1..(j + 1) * self.m1], h);
        }
        let layers = self.net.weights.len();
        for k in self.layer + 1..layers {
            let block = k - self.layer;
            let (prev, cur) = (self.offsets[block - 1], self.offsets[block]);
            let act = self.act_of_block(block - 1);
            let (rows, cols) = (self.net.widths[k + 1], self.net.widths[k]);
            for r in 0..rows {
                let w = &self.net.weights[k][r * cols..(r + 1) * cols];
                let mut z = 0.0;
                for c in 0..cols {
                    z += w[c] * out[prev + c] * act.slope(signs[prev + c]);
                }
                out[cur + r] = z;
            }
        }
    }
}

/// The parts of the symbolic perturbation shared by every unit at one N⁻¹ and one set of signs.
struct LexContext {
    /// ‖a_k‖ for every edge.
    edge_norms: Vec<f64>,
    /// E_{C_k}: the shifts of active unit k as (unit, coefficient), from `Problem::upstream`.
    shifts: Vec<Vec<(usize, f64)>>,
}

struct State<'a> {
    p: Problem<'a>,
    theta: Vec<f64>,
    alpha: Vec<f64>,
    sign: Vec<i8>,
    scale: Vec<f64>,
    /// Size of each unit's normal (‖h_{ℓ−1}(xᵢ); 1‖ times the downstream weights' sizes).
    nscale: Vec<f64>,
    active: Vec<usize>,
    is_active: Vec<bool>,
    /// Column k (edge a_k) at [k·n0, (k+1)·n0).
    ainv: Vec<f64>,
    grad: Vec<f64>,
    loss: f64,
    max_drift: f64,
    /// A sign changed without its rank-one updates: refactorise before the next step.
    stale: bool,
}

impl State<'_> {
    fn n0(&self) -> usize {
        self.p.n0()
    }

    fn forward_all(&mut self) {
        let u = self.p.u;
        let (p, theta) = (&self.p, &self.theta);
        self.alpha
            .par_chunks_mut(u)
            .enumerate()
            .for_each(|(i, out)| p.forward_point(theta, i, out));
        for (k, a) in self.alpha.iter_mut().enumerate() {
            if self.is_active[k] || a.abs() <= ZERO_TOLERANCE * self.scale[k] {
                *a = 0.0;
            }
        }
        // Signs follow fresh values only where these are clearly away from zero: a value within
        // rounding of zero keeps the side the walk assigned it (the region stays the same).
        for ((s, a), sc) in self.sign.iter_mut().zip(&self.alpha).zip(&self.scale) {
            if a.abs() > SIGN_TOLERANCE * sc {
                *s = if *a > 0.0 { 1 } else { -1 };
            }
        }
        let o = self.p.offsets[self.p.offsets.len() - 1];
        let per_point: Vec<f64> = self
            .alpha
            .par_chunks(u)
            .map(|a| a[o..].iter().map(|v| v.abs()).sum::<f64>())
            .collect();
        self.loss = per_point.iter().sum();
    }

    fn gradient(&mut self) {
        let (p, u, n0) = (&self.p, self.p.u, self.p.n0());
        let sign = &self.sign;
        // Fixed chunks summed in order: the same gradient on every run, whatever the threads do.
        let chunks: Vec<usize> = (0..p.n).step_by(CHUNK_POINTS).collect();
        let partial: Vec<Vec<f64>> = chunks
            .par_iter()
            .map(|&start| {
                let mut acc = vec![0.0; n0];
                for i in start..(start + CHUNK_POINTS).min(p.n) {
                    let c = p.grad_coeff(&sign[i * u..(i + 1) * u]);
                    let h = p.hin(i);
                    for (j, cj) in c.iter().enumerate() {
                        if *cj != 0.0 {
                            for (t, hv) in h.iter().enumerate() {
                                acc[j * p.m1 + t] += cj * hv;
                            }
                        }
                    }
                }
                acc
            })
            .collect();
        let mut grad = vec![0.0; n0];
        for part in &partial {
            for (g, v) in grad.iter_mut().zip(part) {
                *g += v;
            }
        }
        self.grad = grad;
    }

    fn normal_of(&self, id: usize) -> Vec<f64> {
        let u = self.p.u;
        let i = id / u;
        self.p.normal(&self.sign[i * u..(i + 1) * u], i, id % u)
    }

    /// First inactive unit reached along d: (t, id, β of every unit) or None. `parallel` is the
    /// relative size below which a derivative counts as 0 ([`PARALLEL_TOLERANCE`], or
    /// [`PARALLEL_RETRY`] before "unbounded"). Ties (several units reached at the same t: at t = 0 on a
    /// degenerate vertex, or duplicated data) go to the lexicographic rule of [`Self::lex_ratio`]
    /// once N⁻¹ exists (phase 2), to the lowest unit before.
    fn ratio_test(&self, d: &[f64], parallel: f64) -> (Option<(f64, usize)>, Vec<f64>) {
        let u = self.p.u;
        let mut beta = vec![0.0; self.alpha.len()];
        let (p, sign) = (&self.p, &self.sign);
        beta.par_chunks_mut(u)
            .enumerate()
            .for_each(|(i, out)| p.directional(d, &sign[i * u..(i + 1) * u], i, out));
        let dn = norm(d);
        let (alpha, is_active, nscale) = (&self.alpha, &self.is_active, &self.nscale);
        let reach = |k: usize, b: f64| -> Option<f64> {
            if is_active[k] || b == 0.0 || b.abs() <= parallel * nscale[k] * dn {
                return None;
            }
            let a = alpha[k];
            if a == 0.0 {
                ((sign[k] as f64) * b < 0.0).then_some(0.0)
            } else if a * b < 0.0 {
                Some(-a / b)
            } else {
                None
            }
        };
        let hit = beta
            .par_iter()
            .enumerate()
            .filter_map(|(k, &b)| reach(k, b).map(|t| (t, k)))
            .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let Some((t_min, first)) = hit else {
            return (None, beta);
        };
        if self.ainv.is_empty() {
            return (hit, beta);
        }
        // Every unit reached at t_min (exactly 0, or within rounding of a positive t_min).
        let tie = TIE_TOLERANCE * t_min;
        let ties: Vec<usize> = beta
            .par_iter()
            .enumerate()
            .filter_map(|(k, &b)| reach(k, b).filter(|&t| t <= t_min + tie).map(|_| k))
            .collect();
        if ties.len() <= 1 {
            return (hit, beta);
        }
        let best = self.lex_ratio(&ties, &beta).unwrap_or(first);
        (Some((t_min, best)), beta)
    }

    /// [`Self::ratio_test`] with [`PARALLEL_TOLERANCE`], and where that finds no unit, again with
    /// [`PARALLEL_RETRY`] (still above rounding): before a direction is called unbounded.
    fn first_hit(&self, d: &[f64]) -> (Option<(f64, usize)>, Vec<f64>) {
        let (hit, beta) = self.ratio_test(d, PARALLEL_TOLERANCE);
        if hit.is_some() {
            return (hit, beta);
        }
        self.ratio_test(d, PARALLEL_RETRY)
    }

    /// ‖a_k‖ for every edge.
    fn edge_norms(&self) -> Vec<f64> {
        (0..self.active.len()).map(|k| norm(self.edge(k))).collect()
    }

    /// Coefficients of the symbolic perturbation of inactive unit `id`'s value at the current
    /// vertex, as (unit, coefficient) sorted by unit. The perturbed problem adds δ_v = ε^(v+1) (ε
    /// infinitesimal, lower units dominate) to every unit v: to each pre-activation before its
    /// activation and to each residual, so unit w moves by E_w = Σ_v (∂w/∂v)·δ_v over itself and the
    /// units upstream of it at its data point. The active units stay at 0, which moves the vertex
    /// by −Σ_k a_k·E_{C_k}, so the value becomes α + E_id − Σ_k (n·a_k)·E_{C_k}. Coefficients
    /// below [`LEX_TOLERANCE`] (n·a_k relative to ‖n‖‖a_k‖, sums relative to the largest) count as 0.
    fn perturbation(&self, id: usize, lex: &LexContext) -> Vec<(usize, f64)> {
        let u = self.p.u;
        let i = id / u;
        let nrm = self.normal_of(id);
        let nn = norm(&nrm);
        // A normal is zero outside the weight rows its unit depends on (a unit of the trained
        // layer: one neuron's row), so n·a_k is summed over its nonzero entries only, in the same
        // order: the dense dot's value at a fraction of the cost.
        let nz: Vec<usize> = (0..nrm.len()).filter(|&j| nrm[j] != 0.0).collect();
        let sparse = 2 * nz.len() < nrm.len();
        let mut out: Vec<(usize, f64)> = self
            .p
            .upstream(&self.sign[i * u..(i + 1) * u], id % u)
            .into_iter()
            .map(|(v, c)| (i * u + v, c))
            .collect();
        for k in 0..self.active.len() {
            let edge = self.edge(k);
            let c = if sparse {
                nz.iter().map(|&j| nrm[j] * edge[j]).sum::<f64>()
            } else {
                dot(&nrm, edge)
            };
            if c.abs() > LEX_TOLERANCE * nn * lex.edge_norms[k] {
                out.extend(lex.shifts[k].iter().map(|&(v, e)| (v, -c * e)));
            }
        }
        out.sort_unstable_by_key(|e| e.0);
        let mut merged: Vec<(usize, f64)> = Vec::with_capacity(out.len());
        for (v, c) in out {
            match merged.last_mut() {
                Some(last) if last.0 == v => last.1 += c,
                _ => merged.push((v, c)),
            }
        }
        let big = merged.iter().fold(0.0f64, |m, e| m.max(e.1.abs()));
        merged.retain(|e| e.1.abs() > LEX_TOLERANCE * big);
        merged
    }

    /// What every perturbation under the current N⁻¹ and signs shares: ‖a_k‖ and the shifts
    /// E_{C_k} of the active units (computed once per pass, not once per unit).
    fn lex_context(&self) -> LexContext {
        let u = self.p.u;
        let shifts = self
            .active
            .par_iter()
            .map(|&unit| {
                let i = unit / u;
                self.p
                    .upstream(&self.sign[i * u..(i + 1) * u], unit % u)
                    .into_iter()
                    .map(|(v, c)| (i * u + v, c))
                    .collect()
            })
            .collect();
        LexContext {
            edge_norms: self.edge_norms(),
            shifts,
        }
    }

    /// The sign of inactive unit `id` in the perturbed problem when its value is 0: the sign of
    /// its perturbation's leading (lowest-unit) coefficient.
    fn lex_sign(&self, id: usize, lex: &LexContext) -> i8 {
        if self.perturbation(id, lex).first().is_none_or(|e| e.1 > 0.0) {
            1
        } else {
            -1
        }
    }

    /// Among `ties` (units reached at the same t along d, with derivatives `beta`), the one whose
    /// perturbed step −(perturbation)/β is lexicographically smallest: the unit the perturbed walk
    /// reaches first. The perturbed problem has no ties, so the choice is unique and the
    /// perturbed loss falls at every pivot, which rules out cycling (the lexicographic rule of
    /// Dantzig, Orden and Wolfe).
    fn lex_ratio(&self, ties: &[usize], beta: &[f64]) -> Option<usize> {
        let lex = self.lex_context();
        let mut best: Option<(usize, Vec<(usize, f64)>)> = None;
        for &k in ties {
            let r: Vec<(usize, f64)> = self
                .perturbation(k, &lex)
                .into_iter()
                .map(|(j, c)| (j, -c / beta[k]))
                .collect();
            let better = match &best {
                None => true,
                Some((b, rb)) => match lex_cmp(&r, rb) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => k < *b,
                    std::cmp::Ordering::Greater => false,
                },
            };
            if better {
                best = Some((k, r));
            }
        }
        best.map(|b| b.0)
    }

    /// Moves by t along d with unit derivatives beta; `hit` becomes zero. Returns the other
    /// inactive units that reached 0 (within [`ZERO_TOLERANCE`]) on the way.
    fn advance(&mut self, t: f64, d: &[f64], beta: &[f64], slope: f64, hit: usize) -> Vec<usize> {
        for (th, dv) in self.theta.iter_mut().zip(d) {
            *th += t * dv;
        }
        let (is_active, scale) = (&self.is_active, &self.scale);
        let zeroed: Vec<usize> = self
            .alpha
            .par_iter_mut()
            .zip(beta.par_iter())
            .enumerate()
            .filter_map(|(k, (a, b))| {
                let was = *a != 0.0;
                *a += t * b;
                if is_active[k] || a.abs() <= ZERO_TOLERANCE * scale[k] {
                    *a = 0.0;
                    return (was && !is_active[k] && k != hit).then_some(k);
                }
                None
            })
            .collect();
        self.alpha[hit] = 0.0;
        self.loss += t * slope;
        // A unit counted as parallel to d (|β| below the tolerance) can still cross 0 within the
        // step: its new sign changes the region, so the gradient and the normals downstream of it
        // follow (without this the walk's loss drifted from the true one between refactorisations).
        let (alpha, sign) = (&self.alpha, &self.sign);
        let crossed: Vec<usize> = (0..alpha.len())
            .into_par_iter()
            .filter(|&k| alpha[k] != 0.0 && (alpha[k] > 0.0) != (sign[k] > 0))
            .collect();
        for k in crossed {
            let new = if self.alpha[k] > 0.0 { 1 } else { -1 };
            if !self.switch_sign(k, new) {
                // N⁻¹ cannot follow by a stable update: recomputed after the step.
                self.sign[k] = new;
                self.stale = true;
            }
        }
        zeroed
    }

    /// Gives unit `id` the sign `new`: that point's gradient contribution changes, and so do the
    /// normals of its active units downstream of `id` (rank-one updates of N⁻¹). If those would
    /// become dependent (the region has no vertex here) nothing changes and false is returned.
    fn switch_sign(&mut self, id: usize, new: i8) -> bool {
        let (uu, n0) = (self.p.u, self.n0());
        let i = id / uu;
        let before_sign = self.sign[i * uu..(i + 1) * uu].to_vec();
        self.sign[id] = new;
        let block = self.p.block_of(id % uu).0;
        // Phase 1 has no N⁻¹ yet (its end refactorises from fresh normals).
        let rows: Vec<usize> = if self.ainv.is_empty() {
            Vec::new()
        } else {
            (0..n0)
                .filter(|&r| {
                    let other = self.active[r];
                    other / uu == i && self.p.block_of(other % uu).0 > block
                })
                .collect()
        };
        let saved = if rows.is_empty() {
            Vec::new()
        } else {
            self.ainv.clone()
        };
        for r in rows {
            let nrm = self.normal_of(self.active[r]);
            if self.replace_row(r, &nrm).is_err() {
                self.sign[id] = before_sign[id % uu];
                self.ainv = saved;
                return false;
            }
        }
        let old = self.p.grad_coeff(&before_sign);
        let fresh = self.p.grad_coeff(&self.sign[i * uu..(i + 1) * uu]);
        let delta: Vec<f64> = fresh.iter().zip(&old).map(|(a, b)| a - b).collect();
        let dg = self.p.expand(&delta, i);
        self.grad.iter_mut().zip(&dg).for_each(|(g, d)| *g += d);
        true
    }

    /// Gives every inactive unit at exactly 0 its sign in the perturbed problem ([`Self::lex_sign`]),
    /// in unit order (upstream units of a point first). A change can move N⁻¹ (downstream normals)
    /// and so other signs: repeated until nothing changes, at most [`SETTLE_PASSES`] times.
    fn settle_zero_signs(&mut self) -> usize {
        let (alpha, is_active) = (&self.alpha, &self.is_active);
        let zeros: Vec<usize> = (0..alpha.len())
            .into_par_iter()
            .filter(|&k| alpha[k] == 0.0 && !is_active[k])
            .collect();
        self.settle(&zeros)
    }

    /// [`Self::settle_zero_signs`] for the units `zeros` only (in increasing order).
    fn settle(&mut self, zeros: &[usize]) -> usize {
        let mut changed = 0;
        for _ in 0..SETTLE_PASSES {
            let before = changed;
            // The signs wanted under this pass's N⁻¹, in parallel; then the changes in order.
            let lex = self.lex_context();
            let this = &*self;
            let wanted: Vec<i8> = zeros
                .par_iter()
                .map(|&id| this.lex_sign(id, &lex))
                .collect();
            for (&id, &want) in zeros.iter().zip(&wanted) {
                if want != self.sign[id] && self.switch_sign(id, want) {
                    changed += 1;
                }
            }
            if changed == before {
                break;
            }
        }
        changed
    }

    fn edge(&self, k: usize) -> &[f64] {
        let n0 = self.n0();
        &self.ainv[k * n0..(k + 1) * n0]
    }

    /// Replaces active row k by unit `id` with normal `nrm` (rank-one update of N⁻¹).
    fn replace_row(&mut self, k: usize, nrm: &[f64]) -> CoreResult<()> {
        let n0 = self.n0();
        let c: Vec<f64> = (0..n0).map(|j| dot(nrm, self.edge(j))).collect();
        // The ratio test only lets in pivots above 10⁻⁹ of this bound; a sign switch may propose
        // smaller ones, which would amplify rounding (the drift seen at 10⁻¹⁴): refused.
        if c[k].abs() < PIVOT_TOLERANCE * norm(nrm) * norm(self.edge(k)) {
            return Err(CoreError::NoConvergence {
                algorithm: "vertex descent (the active normals became dependent)",
            });
        }
        let inv = 1.0 / c[k];
        for v in &mut self.ainv[k * n0..(k + 1) * n0] {
            *v *= inv;
        }
        let ak = self.edge(k).to_vec();
        for j in (0..n0).filter(|&j| j != k && c[j] != 0.0) {
            for (v, a) in self.ainv[j * n0..(j + 1) * n0].iter_mut().zip(&ak) {
                *v -= c[j] * a;
            }
        }
        Ok(())
    }

    /// N⁻¹ of the fresh normals of the active units under the current signs (transposed: edge
    /// k at [k·n0, (k+1)·n0)).
    fn fresh_inverse(&self) -> CoreResult<Vec<f64>> {
        let n0 = self.n0();
        let mut m = vec![0.0; n0 * n0];
        for (k, &id) in self.active.iter().enumerate() {
            m[k * n0..(k + 1) * n0].copy_from_slice(&self.normal_of(id));
        }
        let inv = inverse(&m, n0, 1e-15).ok_or(CoreError::NoConvergence {
            algorithm: "vertex descent (the active normals are numerically dependent)",
        })?;
        let mut fresh = vec![0.0; n0 * n0];
        for k in 0..n0 {
            for j in 0..n0 {
                fresh[k * n0 + j] = inv[j * n0 + k];
            }
        }
        Ok(fresh)
    }

    fn refactor(&mut self) -> CoreResult<()> {
        // The drift compares like with like: fresh normals under the walk's own signs (not
        // measured when a forced sign change left N⁻¹ stale on purpose).
        let fresh = self.fresh_inverse()?;
        if self.ainv.len() == fresh.len() && !std::mem::take(&mut self.stale) {
            let big = fresh
                .iter()
                .fold(0.0f64, |a, v| a.max(v.abs()))
                .max(f64::MIN_POSITIVE);
            let diff = fresh
                .iter()
                .zip(&self.ainv)
                .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
            self.max_drift = self.max_drift.max(diff / big);
        }
        self.ainv = fresh;
        // Fresh values; where a sign changes (a value clearly away from 0 on the other side) the
        // normals are those of the new region.
        let before = self.sign.clone();
        self.forward_all();
        if self.sign != before {
            self.ainv = self.fresh_inverse()?;
        }
        self.gradient();
        Ok(())
    }
}

/// Lexicographic comparison of two sparse vectors sorted by index (absent entries are 0; entries
/// within [`LEX_TOLERANCE`] of each other, relative to the larger, are equal).
fn lex_cmp(a: &[(usize, f64)], b: &[(usize, f64)]) -> std::cmp::Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ia = a.get(i).map_or(usize::MAX, |e| e.0);
        let ib = b.get(j).map_or(usize::MAX, |e| e.0);
        let idx = ia.min(ib);
        let x = if ia == idx { a[i].1 } else { 0.0 };
        let y = if ib == idx { b[j].1 } else { 0.0 };
        i += (ia == idx) as usize;
        j += (ib == idx) as usize;
        if (x - y).abs() > LEX_TOLERANCE * x.abs().max(y.abs()) {
            return x.total_cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

/// Scale of each unit for the zero tolerance: |value| plus the size of what produced it.
fn unit_scales(p: &Problem<'_>, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let u = p.u;
    let tn = norm(theta).max(1.0);
    let ymax = p.y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let wmax: f64 = p
        .net
        .weights
        .iter()
        .skip(p.layer + 1)
        .map(|w| w.iter().fold(1.0f64, |a, v| a.max(v.abs())))
        .product();
    let values = (0..p.n * u)
        .map(|k| norm(p.hin(k / u)) * tn * wmax + ymax + 1e-300)
        .collect();
    let normals = (0..p.n * u).map(|k| norm(p.hin(k / u)) * wmax).collect();
    (values, normals)
}

/// Trains layer `options.layer` of `net` on (x, y) by vertex descent; see the module docs.
/// `x` is N × n_{−1} row-major, `y` N × n_{L−1}.
pub fn vertex_descent(
    net: &Network,
    x: &[f64],
    y: &[f64],
    options: &DescentOptions,
    stop: &Stop,
) -> CoreResult<DescentResult> {
    let started = Instant::now();
    net.validate()?;
    let layers = net.weights.len();
    let layer = options.layer;
    if layer >= layers {
        return Err(CoreError::invalid(
            "layer",
            format!(
                "the network has {layers} layers (0..{}), got {layer}",
                layers - 1
            ),
        ));
    }
    if options.window < 3 {
        return Err(CoreError::invalid(
            "window",
            format!("must be at least 3, got {}", options.window),
        ));
    }
    if let Some(t) = options.time_limit {
        if t.is_nan() || t < 0.0 {
            return Err(CoreError::invalid(
                "time_limit",
                format!("must be ≥ 0 seconds, got {t}"),
            ));
        }
    }
    let d_in = net.widths[0];
    let n_out = net.widths[layers];
    if x.is_empty() || x.len() % d_in != 0 {
        return Err(CoreError::invalid(
            "X",
            format!("must have {d_in} columns (the network's input width)"),
        ));
    }
    let n = x.len() / d_in;
    if y.len() != n * n_out {
        return Err(CoreError::invalid(
            "y",
            format!(
                "must hold {n} × {n_out} values (N × the output width), got {}",
                y.len()
            ),
        ));
    }
    crate::matrix::check_finite_slice(x, "X")?;
    crate::matrix::check_finite_slice(y, "y")?;
    // Inputs of layer ℓ.
    let m = net.widths[layer];
    let m1 = m + 1;
    let mut hin = vec![0.0; n * m1];
    hin.par_chunks_mut(m1).enumerate().for_each(|(i, out)| {
        let mut h = x[i * d_in..(i + 1) * d_in].to_vec();
        for k in 0..layer {
            let (rows, cols) = (net.widths[k + 1], net.widths[k]);
            let act = &net.activations[k];
            h = (0..rows)
                .map(|r| {
                    let z = dot(&net.weights[k][r * cols..(r + 1) * cols], &h) + net.biases[k][r];
                    z * if z >= 0.0 { act.pos } else { act.neg }
                })
                .collect();
        }
        out[..m].copy_from_slice(&h);
        out[m] = 1.0;
    });
    // The inputs of layer ℓ must span ℝ^{m+1}, or no vertex exists.
    let mut gram = vec![0.0; m1 * m1];
    for i in 0..n {
        let h = &hin[i * m1..(i + 1) * m1];
        for a in 0..m1 {
            for b in 0..m1 {
                gram[a * m1 + b] += h[a] * h[b];
            }
        }
    }
    if inverse(&gram, m1, 1e-10).is_none() {
        return Err(CoreError::invalid(
            "X",
            format!(
                "the inputs of layer {layer} (with a constant 1) do not span {m1} dimensions (too \
                 few data points, or a unit of the layer before is dead on all of them), so the \
                 loss has no vertex"
            ),
        ));
    }
    let mut offsets = vec![0usize];
    for k in layer..layers - 1 {
        offsets.push(offsets.last().unwrap() + net.widths[k + 1]);
    }
    let u = offsets.last().unwrap() + n_out;
    let p = Problem {
        net,
        layer,
        hin,
        y,
        n,
        m1,
        u,
        offsets,
        n_out,
    };
    let n0 = p.n0();
    let theta: Vec<f64> = (0..net.widths[layer + 1])
        .flat_map(|j| {
            let mut row = net.weights[layer][j * m..(j + 1) * m].to_vec();
            row.push(net.biases[layer][j]);
            row
        })
        .collect();
    let (scale, nscale) = unit_scales(&p, &theta);
    let mut s = State {
        alpha: vec![0.0; n * u],
        sign: vec![1; n * u],
        is_active: vec![false; n * u],
        scale,
        nscale,
        p,
        theta,
        active: Vec::with_capacity(n0),
        ainv: Vec::new(),
        grad: vec![0.0; n0],
        loss: 0.0,
        max_drift: 0.0,
        stale: false,
    };
    s.forward_all();
    s.gradient();
    let initial_loss = s.loss;
    let cap = options.max_vertices.unwrap_or(HARD_VERTEX_CAP);
    let out_of_time = |st: &Instant| {
        options
            .time_limit
            .is_some_and(|t| st.elapsed().as_secs_f64() >= t)
    };

    // Phase 1.
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(n0); // orthonormal basis of the active normals
    let mut status = None;
    while s.active.len() < n0 {
        if stop.is_requested() {
            status = Some(DescentStatus::Interrupted);
            break;
        }
        // Gram–Schmidt twice ("twice is enough"): one pass lost orthogonality at n0 = 1000, so
        // d was not orthogonal to the active normals and phase 1 took units whose normals were
        // dependent on them (condition 10¹⁸, drift 0.65–5 at the refactorisations).
        let project = |v: &mut Vec<f64>| {
            for _ in 0..2 {
                for q in &basis {
                    let c = dot(q, v);
                    for (a, b) in v.iter_mut().zip(q) {
                        *a -= c * b;
                    }
                }
            }
        };
        let mut d: Vec<f64> = s.grad.iter().map(|g| -g).collect();
        project(&mut d);
        if norm(&d) <= 1e-10 * norm(&s.grad).max(1e-300) {
            // F is flat on the face: the projected coordinate direction that changes most.
            let mut best = (0.0, Vec::new());
            for j in 0..n0 {
                let mut e = vec![0.0; n0];
                e[j] = 1.0;
                project(&mut e);
                let len = norm(&e);
                if len > best.0 {
                    best = (len, e);
                }
            }
            d = best.1;
            if dot(&s.grad, &d) > 0.0 {
                d.iter_mut().for_each(|v| *v = -*v);
            }
        }
        let slope = dot(&s.grad, &d);
        let (mut hit, mut beta) = s.first_hit(&d);
        // Where F is flat along d (within rounding) either direction does.
        if hit.is_none() && slope >= -SLOPE_TOLERANCE * norm(&d) {
            d.iter_mut().for_each(|v| *v = -*v);
            (hit, beta) = s.first_hit(&d);
        }
        let Some((t, id)) = hit else {
            status = Some(DescentStatus::Unbounded);
            break;
        };
        let slope = dot(&s.grad, &d);
        let _ = s.advance(t, &d, &beta, slope, id);
        s.is_active[id] = true;
        s.active.push(id);
        let mut q = s.normal_of(id);
        let full = norm(&q);
        project(&mut q);
        let len = norm(&q);
        if len <= DEPENDENT_TOLERANCE * full {
            status = Some(DescentStatus::Breakdown);
            break;
        }
        q.iter_mut().for_each(|v| *v /= len);
        basis.push(q);
    }
    drop(basis);
    let phase1_loss = s.loss;
    let mut trace: Vec<TraceEntry> = Vec::new();
    let mut losses = vec![];
    let mut degenerate = 0usize;
    if status.is_none() && s.refactor().is_err() {
        status = Some(DescentStatus::Breakdown);
    }
    if status.is_none() {
        losses.push(s.loss);
        let mut regions = 1usize;
        let mut flips = 0usize;
        let mut next_flip = 0usize;
        let mut rechecked = false;
        s.settle_zero_signs();
        loop {
            if trace.len() >= cap || out_of_time(&started) {
                status = Some(DescentStatus::Limit);
                break;
            }
            if stop.is_requested() {
                status = Some(DescentStatus::Interrupted);
                break;
            }
            // The steepest descending edge of the current region.
            let mut best: Option<(usize, f64, f64)> = None;
            for k in 0..n0 {
                let a = s.edge(k);
                let sg = s.sign[s.active[k]] as f64;
                let slope = sg * dot(&s.grad, a);
                let key = slope / norm(a);
                if key >= -SLOPE_TOLERANCE {
                    continue;
                }
                if best.is_none_or(|b| key < b.2) {
                    best = Some((k, slope, key));
                }
            }
            let Some((k, slope, _)) = best else {
                if flips >= n0 {
                    status = Some(DescentStatus::LocalMinimum);
                    break;
                }
                // The region across the next active unit's hyperplane.
                let c = next_flip % n0;
                next_flip += 1;
                flips += 1;
                regions += 1;
                let id = s.active[c];
                // A flip that would make the normals dependent (the region has no vertex here)
                // is undone and skipped.
                if s.switch_sign(id, -s.sign[id]) {
                    s.settle_zero_signs();
                }
                continue;
            };
            let sg = s.sign[s.active[k]] as f64;
            let d: Vec<f64> = s.edge(k).iter().map(|v| sg * v).collect();
            let (hit, beta) = s.first_hit(&d);
            if hit.is_none() {
                // F ≥ 0 with slope < 0 along d: some residual must reach 0, so this is rounding.
                // Recompute N⁻¹, values and gradient once and choose again; "unbounded" only if
                // that changes nothing.
                if !rechecked {
                    rechecked = true;
                    if s.refactor().is_err() {
                        status = Some(DescentStatus::Breakdown);
                        break;
                    }
                    s.settle_zero_signs();
                    continue;
                }
            }
            let Some((t, id)) = hit else {
                status = Some(DescentStatus::Unbounded);
                break;
            };
            rechecked = false;
            let zeroed = s.advance(t, &d, &beta, slope, id);
            let leaving = s.active[k];
            s.is_active[leaving] = false;
            // The leaving unit now sits on its own side: its value is t·(n·d) = t·sg.
            s.alpha[leaving] = t * sg;
            if t > 0.0 {
                s.sign[leaving] = sg as i8;
            }
            s.is_active[id] = true;
            s.active[k] = id;
            let nrm = s.normal_of(id);
            if s.replace_row(k, &nrm).is_err() {
                status = Some(DescentStatus::Breakdown);
                break;
            }
            degenerate += (t == 0.0) as usize;
            let vertex = trace.len() + 1;
            if vertex % REFACTOR_EVERY == 0 || s.stale {
                if s.refactor().is_err() {
                    status = Some(DescentStatus::Breakdown);
                    break;
                }
                s.settle_zero_signs();
            } else {
                // A lexicographic pivot keeps the perturbed signs of the units already at 0 (none
                // of them is crossed): only units that reached 0 by coincidence need theirs.
                s.settle(&zeroed);
            }
            losses.push(s.loss);
            trace.push(TraceEntry {
                loss: s.loss,
                step: t * norm(&d),
                regions_tried: regions,
                extrapolated: extrapolate(&losses, options.window),
            });
            regions = 1;
            flips = 0;
        }
    }
    // The returned loss is a fresh forward pass.
    s.forward_all();
    let nl = s.p.n_l();
    let weight: Vec<f64> = (0..nl)
        .flat_map(|j| s.theta[j * m1..j * m1 + m].to_vec())
        .collect();
    let bias: Vec<f64> = (0..nl).map(|j| s.theta[j * m1 + m]).collect();
    let uu = s.p.u;
    let mut active: Vec<(usize, usize, i8)> = s
        .active
        .iter()
        .map(|&id| (id / uu, id % uu, s.sign[id]))
        .collect();
    active.sort_unstable();
    Ok(DescentResult {
        weight,
        bias,
        loss: s.loss,
        initial_loss,
        phase1_loss,
        status: status.unwrap_or(DescentStatus::Limit),
        trace,
        n_params: n0,
        active,
        max_drift: s.max_drift,
        degenerate_steps: degenerate,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l1::lad::{lad_fit, LadOptions};
    use crate::matrix::MatrixView;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn random_net(rng: &mut SmallRng, widths: &[usize], kind: ActivationKind) -> Network {
        let l = widths.len() - 1;
        Network {
            weights: (0..l)
                .map(|k| {
                    (0..widths[k] * widths[k + 1])
                        .map(|_| rng.random_range(-1.0..1.0))
                        .collect()
                })
                .collect(),
            biases: (0..l)
                .map(|k| {
                    (0..widths[k + 1])
                        .map(|_| rng.random_range(-1.0..1.0))
                        .collect()
                })
                .collect(),
            widths: widths.to_vec(),
            activations: vec![Activation::new(kind, 0.1).unwrap(); l - 1],
        }
    }

    fn forward_loss(net: &Network, x: &[f64], y: &[f64]) -> f64 {
        let d = net.widths[0];
        let n = x.len() / d;
        let o = *net.widths.last().unwrap();
        (0..n)
            .map(|i| {
                let mut h = x[i * d..(i + 1) * d].to_vec();
                for k in 0..net.weights.len() {
                    let cols = net.widths[k];
                    let mut z: Vec<f64> = (0..net.widths[k + 1])
                        .map(|r| {
                            dot(&net.weights[k][r * cols..(r + 1) * cols], &h) + net.biases[k][r]
                        })
                        .collect();
                    if k + 1 < net.weights.len() {
                        let a = net.activations[k];
                        z.iter_mut()
                            .for_each(|v| *v *= if *v >= 0.0 { a.pos } else { a.neg });
                    }
                    h = z;
                }
                (0..o).map(|r| (h[r] - y[i * o + r]).abs()).sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn extrapolation_recovers_an_exact_exponential() {
        let losses: Vec<f64> = (0..30)
            .map(|k| 2.0 + 5.0 * (-0.3 * k as f64).exp())
            .collect();
        let est = extrapolate(&losses, 10);
        assert!((est - 2.0).abs() < 1e-9, "{est}");
        assert!(extrapolate(&losses[..3], 10).is_nan());
        assert!(extrapolate(&[3.0, 3.0, 3.0, 3.0, 3.0], 10).is_nan());
    }

    #[test]
    fn one_affine_layer_reaches_the_lad_optimum() {
        let mut rng = SmallRng::seed_from_u64(5);
        let (n, d) = (60, 3);
        let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| x[i * d] - 0.5 * x[i * d + 2] + rng.random_range(-1.0..1.0))
            .collect();
        let net = random_net(&mut rng, &[d, 1], ActivationKind::Relu);
        let res = vertex_descent(&net, &x, &y, &DescentOptions::default(), &Stop::never()).unwrap();
        let lad = lad_fit(
            MatrixView::from_row_major(&x, n, d),
            &y,
            &LadOptions::default(),
            &Stop::never(),
        )
        .unwrap();
        assert_eq!(res.status, DescentStatus::LocalMinimum);
        assert!(
            (res.loss - lad.loss).abs() < 1e-9 * lad.loss,
            "{} vs {}",
            res.loss,
            lad.loss
        );
    }

    #[test]
    fn every_layer_of_a_deep_network_descends_monotonically() {
        let mut skipped = 0;
        for (seed, kind) in [
            (1, ActivationKind::Relu),
            (2, ActivationKind::LeakyRelu),
            (3, ActivationKind::Abs),
        ] {
            let mut rng = SmallRng::seed_from_u64(seed);
            let (n, d) = (200, 4);
            let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            let net = random_net(&mut rng, &[4, 5, 4, 2, 1], kind);
            for layer in 0..4 {
                let opts = DescentOptions {
                    layer,
                    ..DescentOptions::default()
                };
                let res = match vertex_descent(&net, &x, &y, &opts, &Stop::never()) {
                    Ok(r) => r,
                    // A unit dead on all data leaves the next layer without vertices: a clear error.
                    Err(e) if e.to_string().contains("do not span") => {
                        skipped += 1;
                        continue;
                    }
                    Err(e) => panic!("{kind:?} layer {layer}: {e}"),
                };
                assert_ne!(res.status, DescentStatus::Unbounded);
                assert!(res.phase1_loss <= res.initial_loss * (1.0 + 1e-12));
                let mut prev = res.phase1_loss;
                for e in &res.trace {
                    assert!(
                        e.loss <= prev * (1.0 + 1e-9) + 1e-12,
                        "{kind:?} layer {layer}"
                    );
                    prev = e.loss;
                }
                let mut trained = net.clone();
                trained.weights[layer] = res.weight.clone();
                trained.biases[layer] = res.bias.clone();
                let fresh = forward_loss(&trained, &x, &y);
                assert!(
                    (fresh - res.loss).abs() <= 1e-9 * fresh.max(1.0),
                    "{fresh} vs {}",
                    res.loss
                );
                assert_eq!(res.active.len(), res.n_params);
                assert!(res.max_drift < 1e-6, "{}", res.max_drift);
            }
        }
        assert!(skipped <= 2, "{skipped} layers had dead inputs");
    }

    /// Runs every layer and checks the claims that degeneracy could break: the run ends at a local
    /// minimum (never "breakdown" or "unbounded", never at the cap), the loss never increases and
    /// equals a fresh forward pass.
    fn assert_clean_descent(net: &Network, x: &[f64], y: &[f64], what: &str) -> usize {
        let mut degenerate = 0;
        for layer in 0..net.weights.len() {
            let opts = DescentOptions {
                layer,
                max_vertices: Some(200_000),
                ..DescentOptions::default()
            };
            let res = match vertex_descent(net, x, y, &opts, &Stop::never()) {
                Ok(r) => r,
                Err(e) if e.to_string().contains("do not span") => continue,
                Err(e) => panic!("{what} layer {layer}: {e}"),
            };
            assert_eq!(
                res.status,
                DescentStatus::LocalMinimum,
                "{what} layer {layer} after {} vertices",
                res.trace.len()
            );
            let mut prev = res.phase1_loss;
            for e in &res.trace {
                assert!(
                    e.loss <= prev * (1.0 + 1e-9) + 1e-12,
                    "{what} layer {layer}"
                );
                prev = e.loss;
            }
            let mut trained = net.clone();
            trained.weights[layer] = res.weight.clone();
            trained.biases[layer] = res.bias.clone();
            let fresh = forward_loss(&trained, x, y);
            assert!(
                (fresh - res.loss).abs() <= 1e-9 * fresh.max(1.0),
                "{what} {layer}"
            );
            degenerate += res.degenerate_steps;
        }
        degenerate
    }

    #[test]
    fn duplicated_points_and_dead_inputs_end_at_a_local_minimum() {
        // Each point three times (identical hyperplanes everywhere), and a third of the points
        // with every first-layer unit dead (inputs [0, …, 0, 1] of layer 1: many hyperplanes
        // {b_j = 0} through one point).
        let mut rng = SmallRng::seed_from_u64(11);
        let mut net = random_net(&mut rng, &[3, 4, 3, 1], ActivationKind::Relu);
        let base: Vec<Vec<f64>> = (0..60)
            .map(|_| (0..3).map(|_| rng.random_range(-3.0..3.0)).collect())
            .collect();
        // Push a third of the points where every layer-0 unit is negative: far along −Σ_j W_j.
        let dir: Vec<f64> = (0..3)
            .map(|c| -(0..4).map(|j| net.weights[0][j * 3 + c]).sum::<f64>())
            .collect();
        net.biases[0].iter_mut().for_each(|b| *b = -b.abs());
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (i, p) in base.iter().enumerate() {
            let q: Vec<f64> = if i % 3 == 0 {
                p.iter()
                    .zip(&dir)
                    .map(|(a, d)| 0.1 * a + 20.0 * d)
                    .collect()
            } else {
                p.clone()
            };
            let target = (rng.random_range(-3..=3)) as f64;
            for _ in 0..3 {
                x.extend_from_slice(&q);
                y.push(target);
            }
        }
        assert_clean_descent(&net, &x, &y, "duplicated");
    }

    #[test]
    fn integer_data_with_exact_ties_and_zero_residuals_end_at_a_local_minimum() {
        for (seed, kind) in [(21, ActivationKind::Relu), (22, ActivationKind::Abs)] {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut net = random_net(&mut rng, &[2, 3, 2, 1], kind);
            // Integer weights and data: many units vanish together and many ratios tie exactly.
            for w in net.weights.iter_mut().chain(net.biases.iter_mut()) {
                w.iter_mut()
                    .for_each(|v| *v = (rng.random_range(-2..=2) as f64).max(-1.0));
            }
            let n = 120;
            let x: Vec<f64> = (0..2 * n)
                .map(|_| rng.random_range(-2..=2) as f64)
                .collect();
            let mut y: Vec<f64> = (0..n).map(|_| rng.random_range(-2..=2) as f64).collect();
            // Half the targets equal the network's output at the start: zero residuals there.
            for i in (0..n).step_by(2) {
                let xi = &x[2 * i..2 * i + 2];
                let out = forward_loss(&net, xi, &[0.0]); // |g(xᵢ)|
                y[i] = if forward_loss(&net, xi, &[out]) == 0.0 {
                    out
                } else {
                    -out
                };
            }
            assert_clean_descent(&net, &x, &y, &format!("{kind:?}"));
        }
    }

    #[test]
    fn a_requested_stop_returns_the_point_reached() {
        let mut rng = SmallRng::seed_from_u64(4);
        let net = random_net(&mut rng, &[2, 3, 1], ActivationKind::Relu);
        let x: Vec<f64> = (0..200).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f64> = (0..100).map(|_| rng.random_range(-1.0..1.0)).collect();
        let stop = Stop::new();
        stop.request();
        let res = vertex_descent(&net, &x, &y, &DescentOptions::default(), &stop).unwrap();
        assert_eq!(res.status, DescentStatus::Interrupted);
        assert!(res.trace.is_empty());
        assert_eq!(res.loss, res.initial_loss);
    }

    #[test]
    fn caps_and_bad_input() {
        let mut rng = SmallRng::seed_from_u64(9);
        let net = random_net(&mut rng, &[2, 3, 1], ActivationKind::Relu);
        let x: Vec<f64> = (0..100).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f64> = (0..50).map(|_| rng.random_range(-1.0..1.0)).collect();
        let opts = DescentOptions {
            max_vertices: Some(2),
            ..DescentOptions::default()
        };
        let res = vertex_descent(&net, &x, &y, &opts, &Stop::never()).unwrap();
        assert!(res.trace.len() <= 2);
        let bad = DescentOptions {
            layer: 2,
            ..DescentOptions::default()
        };
        assert!(vertex_descent(&net, &x, &y, &bad, &Stop::never())
            .unwrap_err()
            .to_string()
            .contains("layer"));
        assert!(vertex_descent(
            &net,
            &x,
            &y[..49],
            &DescentOptions::default(),
            &Stop::never()
        )
        .is_err());
        // Too few points for the inputs of layer 0 to span 3 dimensions.
        let e = vertex_descent(
            &net,
            &x[..4],
            &y[..2],
            &DescentOptions::default(),
            &Stop::never(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("span"), "{e}");
    }
}
