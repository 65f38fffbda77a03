//! The partial route: σ, the bulk edges and the spike count from the leading singular values and
//! the trace, without a full decomposition, checked against the white-noise model it relies on
//! and refused (the caller falls back to the full route) whenever a check fails.
//!
//! Definition. W is N×M after orientation (N ≥ M), G = WᵀW. With c spikes s₁ ≥ … ≥ s_c,
//!
//!   σ̂² = (‖W‖_F² − Σ_{i≤c} sᵢ²) / ((N − c)(M − c)),
//!
//! and c is the fixed point of c = #{sᵢ > t(σ̂)}, t the Tracy–Widom spike threshold of the full fit
//! (`tracy_widom::upper_threshold`), iterated from c = 0 as the full fit iterates its σ. Why this
//! σ: for i.i.d. noise X of variance σ² plus strong rank-c signal, removing the c leading singular
//! triplets leaves the noise projected off c left and c right directions, an (N−c)×(M−c) noise
//! matrix, whose squared Frobenius norm has mean σ²(N−c)(M−c) and relative standard deviation
//! √(2/((N−c)(M−c))) (4e-4 at 384×1536). ‖W‖_F² is exact (one pass in f64), so σ̂ carries only
//! the error of the spike energies, which the Ritz residuals bound (below).
//!
//! Leading values. Block Krylov (block Lanczos with full reorthogonalisation, Rayleigh–Ritz on the
//! whole basis) on G from a Gaussian start of `PARTIAL_BLOCK` columns (fixed seed: the route is
//! deterministic), each step one product G·X (`gram_block`, below). A small block gives a
//! higher polynomial degree for the same dimension, which is what resolves the crowded bulk edge
//! and the spikes: measured with 32 planted spikes (2-4× the detection threshold, float32, one
//! thread), the dimension at the stop was 104-108 with blocks of 4 against 160-184 with 8 and
//! 204-480 with 12-32 at 2048×5632, 100 against 160 at 4096×11008, and 60 against 112-120 with 4
//! spikes at 32000×2048; the kernel's pass over 4 columns cost 0.6× (two-pass) to 0.75-0.86×
//! (fused) of one over 8, so `PARTIAL_BLOCK` = 4 (it was 8); the narrow kernels vectorised along
//! the lines (`gram_narrow`) took that to 0.36-0.55×. Ritz values θⱼ are
//! lower bounds of the eigenvalues λⱼ = sⱼ² (Cauchy interlacing), so a value counted above the
//! threshold is one. The stopping rule, checked after every block while that check (the d×d
//! eigenproblem and the c + 1 residuals, two products) costs at most `RITZ_CHECK_SHARE` of the
//! block's product, else after every 1/8 growth of d (checking every block, not every 1/8, took
//! the dimension at 32 spikes from 184 to 160 with blocks of 8: the stop no longer waits for the
//! next scheduled check):
//! 1. the spike count c is the same as at the previous block;
//! 2. every counted spike has ‖G yⱼ − θⱼ yⱼ‖ ≤ `SPIKE_RESIDUAL_TOLERANCE`·θⱼ, so some eigenvalue lies
//!    within that relative distance (and σ̂ moves by at most about the same relative amount);
//!    without spikes the largest value (the spectral norm, a bulk value whose residual converges
//!    slowly) must instead change by at most `TOP_CHANGE_TOLERANCE` (relative) over the last block;
//! 3. the first value below the threshold, θ_{c+1}, stays below it with room for ten times its
//!    last increase: Krylov Ritz values increase monotonically and at least linearly, so a
//!    contraction factor ≤ 0.9 per block keeps the rest of the climb within 9 increases.
//!    Rule 3 is the one that is not a proof: a spike hidden from the start block (probability 0
//!    for a Gaussian start, but slow to appear when it sits just above the threshold) could be
//!    missed. The benchmark compares every count with the full route.
//!
//! The space may grow to `PARTIAL_MAX_DIMENSION_FRACTION`·M, and for a small M to
//! min(`PARTIAL_SMALL_DIMENSION`, `PARTIAL_SMALL_DIMENSION_FRACTION`·M): the edge needs about the
//! same polynomial degree whatever M (measured: rule 3 holds at dimension 72 at 2048×256, where
//! 0.25·M = 64 refused every planted layer; measured with blocks of 8, while blocks of 4 stop at
//! 48 there), and at M ≥ 256 a space of
//! 96 (4·N·M·96 flops) costs fewer flops than the full route's Gram product (2·N·M²). A smaller
//! side under `PARTIAL_SMALLEST_SIDE` = 64 is refused as too small (the bound blocks of 8 set
//! before: two blocks within 0.25·M).
//!
//! Products (`gram_block`). G·X is computed from W as it is stored (f32 or f64, rows or columns
//! contiguous), never from an f64 copy: each entry is widened to f64 as it is read and every
//! multiply-add runs in f64. Why that is as accurate as the copy: widening f32 to f64 is exact,
//! the power-of-two scale `to_f64_mat_scaled` would apply is applied to each entry (exact), so the
//! products are those of the f64 copy up to the order of the sums (a rounding of 1e-16 relative
//! per term, as faer's); an f32 and an f64 input holding the same values give the same fit bit for
//! bit (tested). Products in f32 arithmetic were not taken: their rounding (≈ √M·6e-8 relative
//! to ‖G‖) is above `SPIKE_RESIDUAL_TOLERANCE` and the 1e-6 agreement of the leading values. Rows
//! contiguous (a tall row-major W): one fused pass Σᵢ wᵢ(wᵢᵀX) per block (an f64 tile of rows,
//! AVX2 kernels, `gram_block`); columns contiguous (stored wide): W·X then Wᵀ·Y, two passes;
//! neither stride 1: the f64 copy and faer's products. Measured per block of 8 at 32000×2048
//! f32, one thread, loaded machine: the fused pass 115 ms of CPU time (101-185 ms with the tiled
//! kernel under load, 0.80-1.04× the four-row kernel in the same runs), OpenBLAS's two products Wᵀ(W·X) 96 ms
//! in f32 and 183 ms in f64; the f64 copy with faer's two products took 3-4× the fused pass.
//! The finiteness check, the scale and the column norms share one more pass. Reorthogonalisation
//! and Rayleigh–Ritz stay in f64 on the M×d basis (3-10 % of the time at these shapes; the
//! residuals are two products, not c + 1 matrix-vector products, which at 4096×11008 with 32
//! spikes and a check every block had cost about as much as the blocks saved).
//!
//! Check of the model (`dispersion`). σ̂ is a mean; the full fit's σ is a quantile fit of the
//! bulk, refitted by the deformed law when the white-noise test fails. They agree when the bulk is
//! white noise, and the partial route tests that before answering: the bulk's second moment
//! R = (M−c)·Σ_bulk λ² / (Σ_bulk λ)², divided by its white-noise mean (N'+M'+1)/N' (N' = N−c,
//! M' = M−c; exact for Gaussian noise), must be 1 within `PARTIAL_DISPERSION_TOLERANCE`.
//! Σ_bulk λ² = ‖PGP‖_F² (P the projector off the spike Ritz vectors) is estimated from
//! its exact diagonal plus up to `PARTIAL_PROBES` columns of PGP drawn without replacement for the
//! off-diagonal part (all columns when M is smaller), with the standard error of that sample; the
//! check asks |R − 1| + 3·se ≤ tolerance. The columns are drawn `PARTIAL_PROBE_BATCH` at a time
//! and the sampling stops once the check is decided (|R − 1| + 3·se ≤ tolerance: accept;
//! |R − 1| − 3·se > tolerance: refuse; otherwise 16 more, up to `PARTIAL_PROBES`, where the rule
//! above decides). Why: each batch costs a pass over W, and at language-model shapes a white bulk
//! is decided from the first 16 (se 0.001-0.004 at M ≥ 2048), where 64 cost a third of the
//! route. The price is up to four looks at a 3-se rule, so a bulk just outside the tolerance is
//! accepted slightly more often than with one look at 64; the refusals that matter (MiniLM's R − 1
//! of +4 % to +30 %) are 2-15 tolerances away. Correlated or
//! heavy-tailed bulks (every trained MiniLM layer: R − 1 from +4 % to +30 %) are refused; white
//! noise with planted spikes measured |R − 1| < 0.5 %.
//!
//! Refusals (the caller runs the full route and says why): σ by the median estimator, the deformed
//! bulk model asked for, a smaller side M under `PARTIAL_SMALLEST_SIDE`, no convergence within the largest dimension allowed (more
//! spikes than it holds, or a threshold crowded by the edge), a zero matrix, a failed dispersion check.
//!
//! Not given (None in the report): the full spectrum and everything computed from it — the
//! KS statistics and `bulk_is_mp`, the deformed fit, low outliers, level statistics, the
//! Porter–Thomas test, the effective rank and entropy, the power-law tail α.
//!
//! Vectors (the filters' partial route, `shrinkage/filter.rs`): [`partial_fit_with_vectors`]
//! also returns the spikes' Ritz vectors V_c = K·Y_c and keeps iterating until the spike subspace
//! meets `PARTIAL_VECTOR_TOLERANCE` (its docs); the left vectors are W·vⱼ/sⱼ, with W·V_c =
//! (W·K)·Y_c from the W·Q every product computes on the way (kept, N×d, only for the vectors), so
//! the filter's rebuild makes no pass over W for it (measured at 4096×11008 f32, 32 spikes:
//! rebuild 0.93-1.37 s with its own W·V, 0.65-0.85 s from the fit's; the two W' agree to 1e-11).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par, Side};
use rand::rngs::SmallRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::linalg::decomposition::{scale_exponent, to_f64_mat_scaled};
use crate::linalg::leading_eigenvectors::{orthonormal, project_out};
use crate::matrix::{check_finite_matrix, MatrixView, Scalar};

use super::gram_block::GramOperator;
use super::mp_law::MpShape;
use super::noise_fit::{BulkModel, FitOptions, NoiseFit, SigmaMethod, SigmaSource};
use super::tracy_widom::upper_threshold;

/// Columns of the Krylov start block (and of every block after it).
pub const PARTIAL_BLOCK: usize = 4;
/// A smaller side M below this is refused (the full route is cheap there).
pub const PARTIAL_SMALLEST_SIDE: usize = 64;
/// The Krylov space may grow to this fraction of M before the route gives up.
pub const PARTIAL_MAX_DIMENSION_FRACTION: f64 = 0.25;
/// A smaller M may still grow the space to this dimension, up to
/// `PARTIAL_SMALL_DIMENSION_FRACTION`·M (module docs).
pub const PARTIAL_SMALL_DIMENSION: usize = 96;
/// The bound on that growth, as a fraction of M.
pub const PARTIAL_SMALL_DIMENSION_FRACTION: f64 = 0.375;
/// |R − 1| + 3·se allowed by the dispersion check (module docs).
pub const PARTIAL_DISPERSION_TOLERANCE: f64 = 0.02;
/// Columns of PGP the dispersion check samples at most.
pub const PARTIAL_PROBES: usize = 64;
/// Columns it samples at a time, stopping as soon as the check is decided.
pub const PARTIAL_PROBE_BATCH: usize = 16;
/// Relative residual every counted spike must reach.
pub const SPIKE_RESIDUAL_TOLERANCE: f64 = 1e-6;
/// sin of the largest angle allowed between the spike Ritz subspace and the true one
/// ([`partial_fit_with_vectors`]): the filter's reconstruction error is then at most about
/// 2·this·η₁ (η₁ its largest kept value), with the values already within 1e-12 relative.
pub const PARTIAL_VECTOR_TOLERANCE: f64 = 1e-6;
/// Relative change over one block of the largest value when there is no spike.
pub const TOP_CHANGE_TOLERANCE: f64 = 1e-5;
/// The largest cost of a Rayleigh–Ritz check after every block, as a share of the block's
/// product with G (module docs); past it the checks come every 1/8 growth of the dimension.
pub const RITZ_CHECK_SHARE: f64 = 0.1;
/// Headroom factor of stopping rule 3.
const CLIMB_FACTOR: f64 = 10.0;
const SEED: u64 = 0x5eed_5eed;

/// What the partial route gives for one matrix (in the input's units).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialFit {
    /// The oriented shape.
    pub shape: MpShape,
    /// σ̂ (module docs), or the given σ.
    pub sigma: f64,
    /// (s₋, s₊) of the white-noise law at σ̂.
    pub edges: (f64, f64),
    /// Singular values above this are spikes.
    pub spike_threshold: f64,
    /// The spike count c.
    pub n_spikes: usize,
    /// The converged leading singular values, descending: the c spikes, or s₁ alone when c = 0.
    pub leading: Vec<f64>,
    /// ‖W‖_F, exact.
    pub frobenius_norm: f64,
    /// R of the dispersion check (1 for white noise).
    pub dispersion: f64,
    /// Its standard error.
    pub dispersion_stderr: f64,
    /// Columns of PGP the check sampled.
    pub dispersion_probes: usize,
    /// Dimension of the Krylov space at the stop.
    pub krylov_dimension: usize,
}

impl PartialFit {
    /// The fit as a white-noise [`NoiseFit`] (for the shrinkers, which read σ, the shape, the
    /// edges and the threshold): σ from `Given` or `Trace`; what the route does not compute is NaN
    /// (the KS statistics) or 0 (low outliers, iterations); `bulk_is_mp` is the dispersion check,
    /// passed.
    pub fn as_noise_fit(&self, sigma_given: bool) -> NoiseFit {
        NoiseFit {
            shape: self.shape,
            sigma: self.sigma,
            method: if sigma_given {
                SigmaSource::Given
            } else {
                SigmaSource::Trace
            },
            edges: self.edges,
            spike_threshold: self.spike_threshold,
            n_spikes: self.n_spikes,
            n_low_outliers: 0,
            ks_distance: f64::NAN,
            ks_pvalue: f64::NAN,
            iterations: 0,
            deformed: None,
            bulk_is_mp: true,
            mp_ks_distance: f64::NAN,
            mp_ks_pvalue: f64::NAN,
            mp_n_spikes: self.n_spikes,
        }
    }

    /// The route's own check, as results report it.
    pub fn check_note(&self) -> String {
        format!(
            "white-noise dispersion {:.4} ± {:.4} ({} columns); Krylov dimension {}",
            self.dispersion, self.dispersion_stderr, self.dispersion_probes, self.krylov_dimension
        )
    }
}

/// Runs the partial route: `Ok(Ok(fit))`, or `Ok(Err(reason))` when a check refuses it (module
/// docs) and the full route must answer; `Err` for bad input or an interruption.
pub fn partial_fit<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FitOptions,
    stop: &Stop,
) -> CoreResult<Result<PartialFit, String>> {
    Ok(krylov_fit(w, options, stop, false)?.map(|(fit, _)| fit))
}

/// The spikes' singular vectors from the partial route (the tall orientation N ≥ M).
pub struct SpikeVectors {
    /// V_c (M×c): orthonormal columns in the order of `leading`, the Ritz vectors of the basis.
    pub right: Mat<f64>,
    /// W·V_c (N×c, the input's units): (W·K)·Y_c from the images W·Q that every Krylov product
    /// computes on the way, so the filter's rebuild needs no further pass for it.
    pub image: Mat<f64>,
}

/// [`partial_fit`] that also returns the spikes' right singular vectors V_c and W·V_c
/// ([`SpikeVectors`]). Besides the value rule it stops only once the spike subspace is accurate:
/// ‖R‖_F ≤ `PARTIAL_VECTOR_TOLERANCE`·(θ_c − t²), R = G·V_c − V_c·diag(θ) the residual block, θ_c
/// the smallest spike's Ritz value and t the spike threshold, which bounds every other eigenvalue
/// of G (stopping rule 3). By the sin Θ theorem for Rayleigh–Ritz (Davis–Kahan) the sine of the
/// largest angle between the Ritz subspace and the true spike subspace is at most ‖R‖_F/(θ_c − t²),
/// so at most `PARTIAL_VECTOR_TOLERANCE`; each Ritz value is within ‖rⱼ‖²/gapⱼ of an eigenvalue.
pub fn partial_fit_with_vectors<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FitOptions,
    stop: &Stop,
) -> CoreResult<Result<(PartialFit, SpikeVectors), String>> {
    Ok(
        krylov_fit(w, options, stop, true)?
            .map(|(fit, v)| (fit, v.expect("asked for the vectors"))),
    )
}

/// The fit and, when asked for, the spike vectors; or why the route refused.
type KrylovAnswer = Result<(PartialFit, Option<SpikeVectors>), String>;

/// The route itself; with `vectors`, also V_c and the subspace rule of
/// [`partial_fit_with_vectors`].
fn krylov_fit<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FitOptions,
    stop: &Stop,
    vectors: bool,
) -> CoreResult<KrylovAnswer> {
    let shape = MpShape::new(w.nrows(), w.ncols())?;
    let tw = options.validate()?;
    if options.sigma.is_none() && options.sigma_method == SigmaMethod::Median {
        return Ok(Err(
            "the median estimator needs the median singular value".into()
        ));
    }
    if options.bulk == BulkModel::Deformed {
        return Ok(Err(
            "the deformed law is fitted to the whole spectrum".into()
        ));
    }
    let (n, m) = (shape.n, shape.m);
    let block = PARTIAL_BLOCK.min(m);
    let max_dim = ((PARTIAL_MAX_DIMENSION_FRACTION * m as f64) as usize)
        .max(PARTIAL_SMALL_DIMENSION.min((PARTIAL_SMALL_DIMENSION_FRACTION * m as f64) as usize));
    let transposed = w.nrows() < w.ncols();
    let oriented = if transposed { w.t() } else { w };
    let (products, back, scanned) = match GramOperator::new(oriented, 1.0) {
        Some(op) => {
            let (largest, finite, column_sq) = op.scan();
            if !finite {
                check_finite_matrix(w, "weight matrix")?;
            }
            match scale_exponent(largest) {
                None => (Products::Direct(op), 1.0, Some(column_sq)),
                Some(e) => {
                    let scaled = GramOperator::new(oriented, libm::scalbn(1.0, -e));
                    let scaled = scaled.expect("the same strides as `op`");
                    (Products::Direct(scaled), libm::scalbn(1.0, e), None)
                }
            }
        }
        None => {
            check_finite_matrix(w, "weight matrix")?;
            let (a, back) = to_f64_mat_scaled(oriented);
            let par = if n * m * block < 1 << 22 {
                Par::Seq
            } else {
                Par::rayon(0)
            };
            (Products::Copied(a, par), back, None)
        }
    };
    if m < PARTIAL_SMALLEST_SIDE {
        return Ok(Err(format!(
            "M = {m} is too small: the partial route needs a smaller side of at least {PARTIAL_SMALLEST_SIDE}"
        )));
    }
    stop.check()?;
    let column_sq = scanned.unwrap_or_else(|| products.column_squares());
    let fro2: f64 = column_sq.iter().sum();
    if !(fro2 > 0.0 && fro2.is_finite()) {
        return Ok(Err("the matrix is zero".into()));
    }
    let given = options.sigma.map(|s| s / back);
    // σ and the count for a set of leading eigenvalue estimates (descending).
    let count = |theta: &[f64]| -> (usize, f64, f64) {
        let at = |c: usize| -> f64 {
            given.unwrap_or_else(|| {
                let bulk = (fro2 - theta[..c].iter().sum::<f64>()).max(0.0);
                (bulk / ((n - c) as f64 * (m - c) as f64)).sqrt()
            })
        };
        let mut c = 0;
        for _ in 0..60 {
            let sigma = at(c);
            let thr = upper_threshold(&shape, sigma, tw);
            let next = theta
                .iter()
                .take_while(|&&t| t.max(0.0).sqrt() > thr)
                .count()
                .min(m - 1);
            if next == c {
                break;
            }
            c = next;
        }
        let sigma = at(c);
        (c, sigma, upper_threshold(&shape, sigma, tw))
    };

    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut basis = Mat::<f64>::zeros(m, max_dim);
    let mut images = Mat::<f64>::zeros(m, max_dim);
    // W·Q of every block (scaled units), kept only for the vectors: W·V_c = Σ_blocks (W·Q)·Y_c.
    let mut images_w: Vec<Mat<f64>> = Vec::new();
    let mut projected = Mat::<f64>::zeros(max_dim, max_dim); // KᵀGK, grown a block at a time
    let mut next = Mat::<f64>::from_fn(m, block, |_, _| StandardNormal.sample(&mut rng));
    let mut d = 0;
    let mut previous: Option<(usize, f64)> = None;
    let mut previous_top: Option<f64> = None;
    // Rayleigh–Ritz (an eigendecomposition of the d×d projection) after every block while its
    // ≈ 10·d³ flops and the residuals' 4·M·d·(c + 1) are at most `RITZ_CHECK_SHARE` of the
    // block's product (4·N·M·b flops: every block at language-model shapes, where a check
    // skipped costs up to two more passes over W),
    // else every 1/8 growth of d (and every block up to dimension 64): its O(d³) stays below
    // the products with W.
    let mut next_check = 0;
    let mut c_last = 0;
    loop {
        stop.check()?;
        let q = orthonormal_block(next, basis.subcols(0, d), &mut rng);
        let g_q = if vectors {
            let (g_q, w_q) = products.apply_with_image(q.as_ref());
            images_w.push(w_q);
            g_q
        } else {
            products.apply(q.as_ref())
        };
        basis.subcols_mut(d, block).copy_from(&q);
        images.subcols_mut(d, block).copy_from(&g_q);
        d += block;
        extend_projection(&mut projected, basis.subcols(0, d), g_q.as_ref());
        if d < next_check && d + block <= max_dim {
            next = g_q;
            continue;
        }
        let check_flops = 10.0 * (d as f64).powi(3) + 4.0 * (m * d * (c_last + 1)) as f64;
        next_check = if check_flops <= RITZ_CHECK_SHARE * 4.0 * (n * m * block) as f64 {
            d + block
        } else {
            (d + block).max(d * 9 / 8)
        };
        let (theta, ritz) = rayleigh_ritz(projected.submatrix(0, 0, d, d))?;
        let (c, sigma, thr) = count(&theta);
        c_last = c;
        let checked = (c + 1).min(d);
        let residuals = residuals(
            basis.subcols(0, d),
            images.subcols(0, d),
            ritz.subcols(0, checked.max(1)),
            &theta,
        );
        let spikes_converged = (0..c).all(|j| residuals[j] <= SPIKE_RESIDUAL_TOLERANCE * theta[j]);
        let top_converged =
            c > 0 || previous_top.is_some_and(|t| theta[0] - t <= TOP_CHANGE_TOLERANCE * theta[0]);
        let subspace_converged = !vectors
            || c == 0
            || residuals[..c].iter().map(|r| r * r).sum::<f64>().sqrt()
                <= PARTIAL_VECTOR_TOLERANCE * (theta[c - 1] - thr * thr);
        let room = d >= c + block;
        let below = room
            && previous.is_some_and(|(pc, prev)| {
                let rise = (theta[c] - prev).max(0.0);
                pc == c && theta[c] + CLIMB_FACTOR * rise < thr * thr
            });
        if spikes_converged && top_converged && below && subspace_converged {
            let leading: Vec<f64> = theta[..c.max(1)].iter().map(|t| t.sqrt() * back).collect();
            let (dispersion, dispersion_stderr, dispersion_probes) = dispersion(
                &products,
                &column_sq,
                (basis.subcols(0, d), ritz.subcols(0, c), &theta[..c]),
                fro2 - theta[..c].iter().sum::<f64>(),
                (n, m, c),
                &mut rng,
            );
            if (dispersion - 1.0).abs() + 3.0 * dispersion_stderr > PARTIAL_DISPERSION_TOLERANCE {
                return Ok(Err(format!(
                    "the bulk is not white noise: dispersion R = {dispersion:.4} ± {dispersion_stderr:.4}, not 1 within {PARTIAL_DISPERSION_TOLERANCE}"
                )));
            }
            let sigma = sigma * back;
            let v = vectors.then(|| {
                let mut image = Mat::<f64>::zeros(n, c);
                for (b, w_q) in images_w.iter().enumerate() {
                    let coef = ritz.submatrix(b * block, 0, block, c);
                    matmul(
                        image.as_mut(),
                        Accum::Add,
                        w_q.as_ref(),
                        coef,
                        back,
                        Par::Seq,
                    );
                }
                SpikeVectors {
                    right: basis.subcols(0, d) * ritz.subcols(0, c),
                    image,
                }
            });
            return Ok(Ok((
                PartialFit {
                    shape,
                    sigma,
                    edges: shape.edges(sigma),
                    spike_threshold: thr * back,
                    n_spikes: c,
                    leading,
                    frobenius_norm: fro2.sqrt() * back,
                    dispersion,
                    dispersion_stderr,
                    dispersion_probes,
                    krylov_dimension: d,
                },
                v,
            )));
        }
        if d + block > max_dim {
            return Ok(Err(format!(
                "the leading values did not settle within a Krylov space of dimension {d} (the largest allowed at M = {m}; {c} spikes so far)"
            )));
        }
        previous = Some((c, theta.get(c).copied().unwrap_or(0.0)));
        previous_top = Some(theta[0]);
        next = g_q;
    }
}

/// Where the products with G come from: W read in place, or an f64 copy (for a view with no
/// unit stride).
enum Products<'a, T> {
    Direct(GramOperator<'a, T>),
    Copied(Mat<f64>, Par),
}

impl<T: Scalar> Products<'_, T> {
    fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        self.apply_with_image(x).0
    }

    /// G·X and W·X (both in the scaled units).
    fn apply_with_image(&self, x: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
        match self {
            Self::Direct(op) => op.apply_with_image(x),
            Self::Copied(a, par) => gram_apply(a.as_ref(), x, *par),
        }
    }

    fn column_squares(&self) -> Vec<f64> {
        match self {
            Self::Direct(op) => op.scan().2,
            Self::Copied(a, _) => (0..a.ncols())
                .map(|j| a.col(j).iter().map(|x| x * x).sum::<f64>())
                .collect(),
        }
    }
}

/// G·X = Wᵀ(W·X) and W·X for the tall f64 matrix `a`.
fn gram_apply(a: MatRef<'_, f64>, x: MatRef<'_, f64>, par: Par) -> (Mat<f64>, Mat<f64>) {
    let mut y = Mat::<f64>::zeros(a.nrows(), x.ncols());
    matmul(y.as_mut(), Accum::Replace, a, x, 1.0, par);
    let mut z = Mat::<f64>::zeros(a.ncols(), x.ncols());
    matmul(
        z.as_mut(),
        Accum::Replace,
        a.transpose(),
        y.as_ref(),
        1.0,
        par,
    );
    (z, y)
}

/// An orthonormal block spanning X off the basis K (two projections and QRs); columns that the
/// basis already holds (an invariant subspace) are replaced by fresh random ones.
fn orthonormal_block(mut x: Mat<f64>, k: MatRef<'_, f64>, rng: &mut SmallRng) -> Mat<f64> {
    let norms_before: Vec<f64> = (0..x.ncols()).map(|j| x.col(j).norm_l2()).collect();
    project_out(&mut x, k, Par::Seq);
    for (j, &before) in norms_before.iter().enumerate() {
        let after = x.col(j).norm_l2();
        if after.is_nan() || after <= 1e-10 * before {
            for i in 0..x.nrows() {
                x[(i, j)] = StandardNormal.sample(rng);
            }
        }
    }
    orthonormal(x, k, Par::Seq)
}

/// Adds the last block's columns (and, by symmetry, rows) to H = KᵀGK: Kᵀ·(G·K_new).
fn extend_projection(h: &mut Mat<f64>, k: MatRef<'_, f64>, g_new: MatRef<'_, f64>) {
    let (d, b) = (k.ncols(), g_new.ncols());
    let mut cols = Mat::<f64>::zeros(d, b);
    matmul(
        cols.as_mut(),
        Accum::Replace,
        k.transpose(),
        g_new,
        1.0,
        Par::Seq,
    );
    for j in 0..b {
        for i in 0..d {
            h[(i, d - b + j)] = cols[(i, j)];
            h[(d - b + j, i)] = cols[(i, j)];
        }
    }
}

/// Ritz values (descending) and their coefficient vectors in the basis, from H = KᵀGK.
fn rayleigh_ritz(h: MatRef<'_, f64>) -> CoreResult<(Vec<f64>, Mat<f64>)> {
    let d = h.ncols();
    let sym = Mat::from_fn(d, d, |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
    let eig = sym
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| CoreError::NoConvergence {
            algorithm: "symmetric eigensolver",
        })?;
    let s = eig.S().column_vector();
    let theta: Vec<f64> = (0..d).map(|j| s[d - 1 - j]).collect();
    let u = eig.U();
    Ok((theta, Mat::from_fn(d, d, |i, j| u[(i, d - 1 - j)])))
}

/// ‖G yⱼ − θⱼ yⱼ‖ for the Ritz vectors yⱼ = K·coefⱼ (GK holds G·K), as two products.
fn residuals(
    k: MatRef<'_, f64>,
    gk: MatRef<'_, f64>,
    coef: MatRef<'_, f64>,
    theta: &[f64],
) -> Vec<f64> {
    let y = k * coef;
    let gy = gk * coef;
    (0..coef.ncols())
        .map(|j| (gy.col(j) - y.col(j) * faer::Scale(theta[j])).norm_l2())
        .collect()
}

/// R and its standard error (module docs) from sampled columns of PGP, `PARTIAL_PROBE_BATCH`
/// columns at a time until the check is decided (or `PARTIAL_PROBES` are used). The diagonal of
/// PGP, Gᵢᵢ − Σₖ θₖVᵢₖ² (Gᵢᵢ the squared column norms), is known for every column, so its share
/// of ‖PGP‖_F² is exact and only the off-diagonal share is sampled (the diagonal dominates the
/// column-to-column variance: 2√(2/N) relative).
fn dispersion<T: Scalar>(
    products: &Products<'_, T>,
    column_sq: &[f64],
    (k, spike_coef, spikes): (MatRef<'_, f64>, MatRef<'_, f64>, &[f64]),
    bulk_trace: f64,
    (n, m, c): (usize, usize, usize),
    rng: &mut SmallRng,
) -> (f64, f64, usize) {
    let p = PARTIAL_PROBES.min(m);
    let cols: Vec<usize> = if p == m {
        (0..m).collect()
    } else {
        sample(rng, m, p).into_vec()
    };
    let v = k * spike_coef; // spike Ritz vectors, M×c
    let diagonal = |i: usize| -> f64 {
        column_sq[i]
            - (0..spikes.len())
                .map(|s| spikes[s] * v[(i, s)] * v[(i, s)])
                .sum::<f64>()
    };
    let exact: f64 = (0..m).map(|i| diagonal(i).powi(2)).sum();
    let (n1, m1) = ((n - c) as f64, (m - c) as f64);
    let white = (n1 + m1 + 1.0) / n1;
    let scale = m1 / (bulk_trace * bulk_trace) / white;
    let batch = if p == m { p } else { PARTIAL_PROBE_BATCH };
    let mut x: Vec<f64> = Vec::with_capacity(p);
    loop {
        let batch_cols = &cols[x.len()..(x.len() + batch).min(p)];
        let mut e = Mat::<f64>::from_fn(m, batch_cols.len(), |i, j| {
            if batch_cols[j] == i {
                1.0
            } else {
                0.0
            }
        });
        project_out(&mut e, v.as_ref(), Par::Seq);
        let mut z = products.apply(e.as_ref());
        project_out(&mut z, v.as_ref(), Par::Seq);
        x.extend(
            batch_cols
                .iter()
                .enumerate()
                .map(|(j, &col)| z.col(j).squared_norm_l2() - diagonal(col).powi(2)),
        );
        let used = x.len() as f64;
        let mean = x.iter().sum::<f64>() / used;
        let var = if x.len() > 1 {
            x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (used - 1.0)
        } else {
            0.0
        };
        let total = exact + m as f64 * mean;
        let se = m as f64 * (var / used * (1.0 - used / m as f64)).max(0.0).sqrt();
        let (r, se) = (total * scale, se * scale);
        let decided = (r - 1.0).abs() + 3.0 * se <= PARTIAL_DISPERSION_TOLERANCE
            || (r - 1.0).abs() - 3.0 * se > PARTIAL_DISPERSION_TOLERANCE;
        if decided || x.len() == p {
            return (r, se, x.len());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::spectral::noise_fit::fit_noise;

    /// Unit Gaussian noise plus spikes of the given strengths (random unit directions), row-major.
    pub(crate) fn planted(n: usize, m: usize, strengths: &[f64], seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut w: Vec<f64> = (0..n * m)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for &theta in strengths {
            let u: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
            let v: Vec<f64> = (0..m).map(|_| StandardNormal.sample(&mut rng)).collect();
            let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            for i in 0..n {
                for j in 0..m {
                    w[i * m + j] += theta * u[i] / nu * v[j] / nv;
                }
            }
        }
        w
    }

    /// The partial fit of `view`, which must answer with the full route's spike count and σ
    /// within 1 %; with the full route's singular values.
    fn answered_like_the_full_route(
        view: MatrixView<'_, f64>,
        label: &str,
    ) -> (PartialFit, Vec<f64>) {
        let fit = partial_fit(view, &FitOptions::default(), &Stop::never())
            .unwrap()
            .unwrap_or_else(|why| panic!("{label}: refused: {why}"));
        let s = singular_values(view, Decomposition::Auto, &Stop::never()).unwrap();
        let full = fit_noise(&s, fit.shape, FitOptions::default()).unwrap();
        assert_eq!(fit.n_spikes, full.n_spikes, "{label}");
        assert!(
            (fit.sigma / full.sigma - 1.0).abs() < 0.01,
            "{label}: {} vs {}",
            fit.sigma,
            full.sigma
        );
        (fit, s)
    }

    #[test]
    fn agrees_with_the_full_route_on_planted_spikes() {
        let (n, m) = (1200, 500);
        let bbp = ((n * m) as f64).powf(0.25);
        for (seed, k) in [(1u64, 0usize), (2, 3), (3, 6)] {
            let strengths: Vec<f64> = (0..k).map(|i| bbp * (2.5 + i as f64)).collect();
            for transposed in [false, true] {
                let data = planted(n, m, &strengths, seed);
                let view = MatrixView::from_row_major(&data, n, m);
                let view = if transposed { view.t() } else { view };
                let (fit, s) = answered_like_the_full_route(view, &format!("seed {seed}"));
                assert_eq!(fit.n_spikes, k, "seed {seed}");
                for (a, b) in fit.leading.iter().zip(&s) {
                    assert!((a / b - 1.0).abs() < 1e-6, "{a} vs {b}");
                }
                let fro = s.iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!((fit.frobenius_norm / fro - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn f32_input_a_strided_copy_and_a_scaled_copy_give_the_same_fit() {
        let (n, m) = (1000, 300);
        let bbp = ((n * m) as f64).powf(0.25);
        let data = planted(n, m, &[3.0 * bbp, 4.0 * bbp], 11);
        let single: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        let widened: Vec<f64> = single.iter().map(|&x| x as f64).collect();
        let fit = |view: MatrixView<'_, f64>| {
            partial_fit(view, &FitOptions::default(), &Stop::never())
                .unwrap()
                .unwrap()
        };
        let reference = fit(MatrixView::from_row_major(&widened, n, m));
        assert_eq!(reference.n_spikes, 2);
        // Widening is exact and the products are the same code: the same fit, bit for bit.
        let from_f32 = partial_fit(
            MatrixView::from_row_major(&single, n, m),
            &FitOptions::default(),
            &Stop::never(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(from_f32, reference);
        // No unit stride: the f64 copy and faer's products; the same answer to rounding.
        let padded: Vec<f64> = widened.iter().flat_map(|&x| [x, f64::NAN]).collect();
        // SAFETY: element (i, j) sits at 2(i·m + j) < padded.len().
        let strided =
            unsafe { MatrixView::from_raw_parts(padded.as_ptr(), n, m, 2 * m as isize, 2) };
        let copied = fit(strided);
        assert_eq!(copied.n_spikes, reference.n_spikes);
        assert!((copied.sigma / reference.sigma - 1.0).abs() < 1e-9);
        // Entries near 2^400: read with an exact power-of-two scale, the same fit scaled.
        let big = 2f64.powi(400);
        let huge: Vec<f64> = widened.iter().map(|&x| x * big).collect();
        let scaled = fit(MatrixView::from_row_major(&huge, n, m));
        assert_eq!(scaled.n_spikes, reference.n_spikes);
        assert!((scaled.sigma / (reference.sigma * big) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bfloat16_input_gives_the_fit_of_its_float32_copy_bit_for_bit() {
        // M = 301: the kernels' tails (M mod 4 ≠ 0) run too; both layouts (rows and columns
        // contiguous after orientation).
        use crate::matrix::Bf16;
        let (n, m) = (1000, 301);
        let bbp = ((n * m) as f64).powf(0.25);
        let data = planted(n, m, &[3.0 * bbp, 4.5 * bbp], 21);
        let bits: Vec<Bf16> = data.iter().map(|&x| Bf16::from_f32(x as f32)).collect();
        let single: Vec<f32> = bits.iter().map(|b| b.to_f32()).collect();
        for transposed in [false, true] {
            let fit = |view_b: MatrixView<'_, Bf16>, view_f: MatrixView<'_, f32>| {
                let (vb, vf) = if transposed {
                    (view_b.t(), view_f.t())
                } else {
                    (view_b, view_f)
                };
                let options = FitOptions::default();
                let b = partial_fit(vb, &options, &Stop::never()).unwrap().unwrap();
                let f = partial_fit(vf, &options, &Stop::never()).unwrap().unwrap();
                (b, f)
            };
            let (b, f) = fit(
                MatrixView::from_row_major(&bits, n, m),
                MatrixView::from_row_major(&single, n, m),
            );
            assert_eq!(b, f, "transposed: {transposed}");
            assert_eq!(b.n_spikes, 2);
        }
        let mut bad = bits.clone();
        bad[5 * m + 7] = Bf16::from_f32(f32::INFINITY);
        let err = partial_fit(
            MatrixView::from_row_major(&bad, n, m),
            &FitOptions::default(),
            &Stop::never(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn a_small_side_converges_within_a_quarter_of_it_and_a_white_bulk_needs_one_probe_batch() {
        let (n, m) = (2048, 256);
        let bbp = ((n * m) as f64).powf(0.25);
        let strengths: Vec<f64> = (0..4).map(|i| bbp * (2.5 + i as f64)).collect();
        let data = planted(n, m, &strengths, 12);
        let view = MatrixView::from_row_major(&data, n, m);
        let (fit, _) = answered_like_the_full_route(view, "2048×256");
        // Blocks of 8 needed more than M/4 = 64 here (hence the small-side allowance); blocks of
        // 4 reach the same answer at 48.
        assert!(fit.krylov_dimension <= m / 4, "{}", fit.krylov_dimension);
        assert_eq!(fit.dispersion_probes, PARTIAL_PROBE_BATCH);
    }

    #[test]
    fn a_small_side_may_grow_past_a_quarter_of_it_with_many_spikes() {
        // 28 spikes at M = 256: the space passes M/4 = 64 before they converge, and the small-side
        // allowance (up to 96 here) still answers, with the full route's count.
        let (n, m) = (2048, 256);
        let bbp = ((n * m) as f64).powf(0.25);
        let strengths: Vec<f64> = (0..28).map(|i| bbp * (2.5 + 0.25 * i as f64)).collect();
        let data = planted(n, m, &strengths, 13);
        let view = MatrixView::from_row_major(&data, n, m);
        let (fit, _) = answered_like_the_full_route(view, "2048×256");
        assert!(fit.krylov_dimension > m / 4, "{}", fit.krylov_dimension);
    }

    #[test]
    fn refuses_a_correlated_bulk_and_unsupported_options() {
        // Noise with column scales from 0.3 to 1.7: the bulk is not white.
        let (n, m) = (900, 400);
        let mut data = planted(n, m, &[], 4);
        for i in 0..n {
            for j in 0..m {
                data[i * m + j] *= 0.3 + 1.4 * j as f64 / m as f64;
            }
        }
        let view = MatrixView::from_row_major(&data, n, m);
        // Refused either by the dispersion check or because its heavy edge reads as many spikes.
        let why = partial_fit(view, &FitOptions::default(), &Stop::never())
            .unwrap()
            .unwrap_err();
        assert!(
            why.contains("not white noise") || why.contains("did not settle"),
            "{why}"
        );
        let median = FitOptions {
            sigma_method: SigmaMethod::Median,
            ..Default::default()
        };
        assert!(partial_fit(view, &median, &Stop::never()).unwrap().is_err());
        let deformed = FitOptions {
            bulk: BulkModel::Deformed,
            ..Default::default()
        };
        assert!(partial_fit(view, &deformed, &Stop::never())
            .unwrap()
            .is_err());
        let small = planted(60, 40, &[], 5);
        let small = MatrixView::from_row_major(&small, 60, 40);
        assert!(partial_fit(small, &FitOptions::default(), &Stop::never())
            .unwrap()
            .unwrap_err()
            .contains("too small"));
    }
}
