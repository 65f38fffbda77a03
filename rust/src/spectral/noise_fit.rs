//! Fitting the Marchenko–Pastur law to a spectrum: a spike-robust noise level σ, the bulk edges,
//! outliers above (and below) the bulk, and the goodness of fit of the bulk.
//!
//! σ estimation ("quantile" method):
//! 1. for a spike count k (from k = 0), fit σ(k) by least squares between the m − k values below
//!    the spikes and the quantiles qᵢ of their law at their ranks, over the central 10–90 %:
//!    σ = Σ sᵢqᵢ / Σ qᵢ²;
//! 2. count the spikes above the upper edge plus a Tracy–Widom margin at σ(k);
//! 3. repeat with that count until it is k again: the least fixed point from k = 0 (σ(k) falls
//!    with k, so a larger fixed point, a noise value kept as a spike because calling it one
//!    lowered σ, is not reached). Gavish–Donoho median matching, σ₀ = median(s)/√(N·μ_β), μ_β the
//!    median of f_β, is the "median" estimator and the fallback when the range holds no rank.
//!
//! The quantiles in step 1 and the KS test of the bulk are those of the law the bulk follows when
//! k spikes sit above it: the (N − k)×(M − k) law at the bulk's own m − k ranks
//! ([`MpShape::without_spikes`]). Against the N×M law a strong spike shifts every bulk rank by
//! one, which biased σ up by O(k/M) (+0.2 % at k = 4, M = 1024) and made the white-noise test
//! reject every planted-spike draw (`benches/check_bulk_test_with_spikes.py`). The edges, the
//! spike threshold and the low outliers stay those of the N×M noise: its (k+1)-th value is
//! tested against a threshold higher by about k/(2√(NM)) of the edge, a conservative count.
//!
//! Numerically low-rank matrices. An f64 SVD (and the `Auto` route, which falls back to it for
//! ill-conditioned spectra) returns the exact singular values of W + E with
//! ‖E‖₂ ≤ p(M, N)·ε·s_max, p a modest polynomial that grows like √M in practice; by Weyl's inequality
//! every computed sᵢ is within ‖E‖₂ of the true one. So singular values at or below ε·√M·s_max carry
//! no information: those of an exactly low-rank matrix (a constant matrix, an outer product) land
//! there, measured at 0 to 2·ε·s_max for ranks up to M/3 and M up to 1000, i.e. at most 0.08·ε·√M·s_max.
//! When σ is estimated and the median singular value is ≤ c·ε·√M·s_max with c = 1 (`LOW_RANK_FACTOR`),
//! the bulk is rounding noise and the fit is refused rather than returning σ at the rounding level.
//! A genuine noise bulk stays far above: under a spike θ ≫ σ√N the median is ≈ σ√N·μ_β, refused
//! only once θ/(σ√N) > 1/(ε√M) ≈ 3e14 at M = 200, where the SVD's own error reaches the bulk.
//! The test sees only the median: a matrix of rank ≥ M/2 passes, and its zero singular values
//! show up as low outliers or in the KS distance. (The `Gram` route's trailing values sit at
//! √ε·s_max, above this floor: use `Auto` or `Direct`.)
//!
//! Bulk model. The fit above assumes white noise. Its verdict `bulk_is_mp` is the KS test of the
//! bulk against the fitted MP law, with the p-value calibrated for the rigidity of singular values
//! (`stats/spectral_ks.rs`) at level `BULK_TEST_LEVEL`. With `bulk = "auto"` (the default) a bulk
//! that fails it is refitted by the deformed law of correlated noise (`deformed_fit.rs`) unless σ
//! is given or the estimator is "median" (both parameterise white noise) or M < 16, and σ,
//! the edges, the spikes and the KS statistics are then those of the deformed fit; `"mp"` keeps the
//! white-noise fit, `"deformed"` always uses the deformed one. The white-noise verdict, p-value and
//! spike count are reported either way.
//!
//! KS of an empty bulk. With σ given (or in a degenerate fit) every singular value may be a spike or
//! a low outlier; then the law with this σ holds none of the spectrum and the fit reports the
//! largest possible disagreement, ks_distance = 1 and ks_pvalue = 0, not NaN.

use crate::error::{CoreError, CoreResult};
use crate::stats::kolmogorov::ks_distance_sorted;
use crate::stats::spectral_ks::{bulk_ks_pvalue, DEFORMED_NULL, MP_NULL};

use super::deformed_fit::{fit_deformed, MIN_BULK};
use super::deformed_law::DeformedLaw;
use super::mp_law::{check_sigma, standard_quantile, MpShape};
use super::tracy_widom::{
    lower_threshold, tw1_quantile, upper_threshold, DEFAULT_SPIKE_CONFIDENCE,
};

crate::named_enum! {
    /// The estimator of σ when it is not given.
    #[derive(Default)]
    pub enum SigmaMethod for "sigma_method" as "σ estimator" / "estimators" {
        /// Gavish–Donoho median matching refined by spike-excluding quantile least squares.
        #[default]
        Quantile = "quantile",
        /// Gavish–Donoho median matching alone.
        Median = "median",
    }
}

crate::named_enum! {
    /// The noise model of the bulk (module docs).
    #[derive(Default)]
    pub enum BulkModel for "bulk" as "bulk model" / "models" {
        /// White noise where its test passes, the deformed law where it fails.
        #[default]
        Auto = "auto",
        /// White noise: the Marchenko–Pastur law.
        Mp = "mp" | "white",
        /// Correlated noise: the deformed Marchenko–Pastur law.
        Deformed = "deformed",
    }
}

/// The level of the white-noise test behind `bulk_is_mp` and `bulk = "auto"`: pure white noise is
/// refitted as correlated in 5 % of draws (and then fitted with a spread near 0).
pub const BULK_TEST_LEVEL: f64 = 0.05;

/// Where a fit's σ came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigmaSource {
    /// Supplied by the caller.
    Given,
    /// Estimated by this method.
    Fitted(SigmaMethod),
    /// Estimated by the partial route from the trace less the spike energies (`partial.rs`).
    Trace,
}

impl SigmaSource {
    /// "given", "quantile", "median" or "trace", as results report it.
    pub fn name(self) -> &'static str {
        match self {
            SigmaSource::Given => "given",
            SigmaSource::Fitted(m) => m.name(),
            SigmaSource::Trace => "trace",
        }
    }
}

/// c in the low-rank test median ≤ c·ε·√M·s_max (module docs).
const LOW_RANK_FACTOR: f64 = 1.0;

/// Options of the fit.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// A known noise level; None fits it.
    pub sigma: Option<f64>,
    /// The estimator used when `sigma` is None.
    pub sigma_method: SigmaMethod,
    /// Confidence that a spike is not an edge fluctuation of pure noise: one of
    /// [`super::tracy_widom::SPIKE_CONFIDENCES`], whose Tracy–Widom quantile is the margin above the bulk edge.
    pub spike_confidence: f64,
    /// The noise model of the bulk.
    pub bulk: BulkModel,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            sigma: None,
            sigma_method: SigmaMethod::Quantile,
            spike_confidence: DEFAULT_SPIKE_CONFIDENCE,
            bulk: BulkModel::Auto,
        }
    }
}

impl FitOptions {
    /// Checks the options; returns the spike margin in Tracy–Widom units.
    pub fn validate(&self) -> CoreResult<f64> {
        if let Some(sigma) = self.sigma {
            check_sigma(sigma)?;
        }
        tw1_quantile(self.spike_confidence)
    }
}

/// The result of fitting the MP law to the singular values of one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseFit {
    /// The oriented shape.
    pub shape: MpShape,
    /// The noise level per entry.
    pub sigma: f64,
    /// Where σ came from.
    pub method: SigmaSource,
    /// (s₋, s₊) in singular-value units.
    pub edges: (f64, f64),
    /// Singular values above this are spikes.
    pub spike_threshold: f64,
    /// Number of leading (descending) singular values above `spike_threshold`.
    pub n_spikes: usize,
    /// Number of trailing singular values below the lower edge minus its margin.
    pub n_low_outliers: usize,
    /// KS distance between the bulk and the fitted law (1 for an empty bulk).
    pub ks_distance: f64,
    /// Its p-value, calibrated for rigid spectra (0 for an empty bulk).
    pub ks_pvalue: f64,
    /// Fit iterations (0 for a given σ).
    pub iterations: usize,
    /// The deformed law, when the bulk was fitted by it; None for white noise.
    pub deformed: Option<DeformedLaw>,
    /// Whether the white-noise fit passes its test (p ≥ `BULK_TEST_LEVEL`).
    pub bulk_is_mp: bool,
    /// The white-noise fit's KS distance.
    pub mp_ks_distance: f64,
    /// The white-noise fit's p-value.
    pub mp_ks_pvalue: f64,
    /// The white-noise fit's spike count.
    pub mp_n_spikes: usize,
}

impl NoiseFit {
    /// The model the spikes were counted against: "mp" or "deformed".
    pub fn bulk(&self) -> &'static str {
        if self.deformed.is_some() {
            BulkModel::Deformed.name()
        } else {
            BulkModel::Mp.name()
        }
    }

    /// τ of the deformed law; 0 for white noise.
    pub fn spread(&self) -> f64 {
        self.deformed.as_ref().map_or(0.0, |d| d.spread())
    }

    /// The deformed law's population shape (a, b); (1, 1) for white noise.
    pub fn population_shape(&self) -> (f64, f64) {
        self.deformed
            .as_ref()
            .map_or(super::deformed_law::WHITE_SHAPE, |d| d.population_shape())
    }

    /// The fitted bulk's CDF of the singular values (white noise: the law of the
    /// (N − k)×(M − k) bulk the k spikes leave, [`MpShape::without_spikes`]).
    pub fn bulk_cdf(&self, s: f64) -> f64 {
        match &self.deformed {
            Some(law) => law.cdf(s, self.sigma),
            None => self.shape.without_spikes(self.n_spikes).cdf(s, self.sigma),
        }
    }
}

/// Matrices whose smaller side is below this are skipped by the model-level tools (analysis,
/// filtering): with fewer singular values the fit cannot tell a bulk from spikes.
pub const DEFAULT_MIN_DIM: usize = 16;

/// Rejects singular values that are not finite or negative.
fn check_values(s: &[f64]) -> CoreResult<()> {
    crate::matrix::check_finite_slice(s, "singular values")?;
    if let Some(i) = s.iter().position(|&v| v < 0.0) {
        return Err(CoreError::invalid(
            "singular values",
            format!(
                "singular values are non-negative, got {} at index {i}",
                s[i]
            ),
        ));
    }
    Ok(())
}

/// User-given singular values as the fit wants them: finite, non-negative, sorted descending
/// (any input order is accepted, e.g. the ascending square roots of `eigvalsh`).
pub fn sorted_spectrum(values: &[f64]) -> CoreResult<Vec<f64>> {
    check_values(values)?;
    let mut s = values.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    Ok(s)
}

/// Checks singular values: finite, non-negative, sorted descending.
pub fn check_descending(s: &[f64]) -> CoreResult<()> {
    check_values(s)?;
    if let Some(i) = s.windows(2).position(|w| w[0] < w[1]) {
        return Err(CoreError::invalid(
            "singular values",
            format!(
                "singular values must be sorted in descending order (index {i} < index {})",
                i + 1
            ),
        ));
    }
    Ok(())
}

/// Checks a spectrum: finite, non-negative, sorted descending, one value per min(N, M).
pub fn check_spectrum(s: &[f64], shape: &MpShape) -> CoreResult<()> {
    crate::matrix::check_finite_slice(s, "singular values")?;
    if s.len() != shape.m {
        return Err(CoreError::invalid(
            "shape",
            format!(
                "a {}×{} matrix has {} singular values, but {} were given",
                shape.n,
                shape.m,
                shape.m,
                s.len()
            ),
        ));
    }
    check_descending(s)
}

/// Fits the MP law to `s` (descending, length `shape.m`).
pub fn fit_noise(s: &[f64], shape: MpShape, options: FitOptions) -> CoreResult<NoiseFit> {
    check_spectrum(s, &shape)?;
    let tw = options.validate()?;
    let m = shape.m;
    let beta = shape.beta();
    let scale = (shape.n as f64).sqrt(); // s = σ·√N·√t
    let spikes_at = |sigma: f64| {
        let thr = upper_threshold(&shape, sigma, tw);
        (thr, s.iter().take_while(|&&v| v > thr).count())
    };

    let (sigma, method, iterations) = match options.sigma {
        Some(sigma) => (sigma, SigmaSource::Given, 0),
        None => {
            let median = median_of_descending(s);
            // The ratio stays exact for subnormal s; median = 0 (and s_max = 0) land here too.
            let floor = LOW_RANK_FACTOR * f64::EPSILON * (m as f64).sqrt();
            let ratio = median / s[0];
            if ratio.is_nan() || ratio <= floor {
                return Err(CoreError::invalid(
                    "singular values",
                    format!(
                        "the matrix is numerically low-rank, too low-rank to hold a noise bulk: the median singular value {median:e} is at most ε·√M = {floor:.2e} times the largest, {:e}, i.e. at the rounding level of an f64 SVD, so σ cannot be fitted (pass sigma= explicitly)",
                        s[0]
                    ),
                ));
            }
            let mu = standard_quantile(0.5, beta).sqrt(); // median of √t
            let sigma0 = median / (scale * mu);
            if sigma0.is_nan() || sigma0 <= 0.0 {
                return Err(CoreError::invalid(
                    "singular values",
                    "the median singular value is zero; the matrix is too low-rank to hold a noise bulk (pass sigma= explicitly)",
                ));
            }
            match options.sigma_method {
                SigmaMethod::Median => (sigma0, SigmaSource::Fitted(SigmaMethod::Median), 1),
                SigmaMethod::Quantile => {
                    // From k = 0 up: the least count k with #{s > t(σ(k))} = k (module docs).
                    let fit = |k: usize| {
                        quantile_least_squares(s, shape.without_spikes(k)).unwrap_or(sigma0)
                    };
                    let (mut k, mut sigma) = (0, fit(0));
                    let mut iterations = 1;
                    while iterations < 50 {
                        let (_, count) = spikes_at(sigma);
                        if count == k {
                            break;
                        }
                        k = count;
                        sigma = fit(k);
                        iterations += 1;
                    }
                    (
                        sigma,
                        SigmaSource::Fitted(SigmaMethod::Quantile),
                        iterations,
                    )
                }
            }
        }
    };

    let (threshold, n_spikes) = spikes_at(sigma);
    let low = lower_threshold(&shape, sigma, tw);
    let n_low_outliers = if shape.m < shape.n {
        s[n_spikes..].iter().rev().take_while(|&&v| v < low).count()
    } else {
        0
    };
    let bulk_law = shape.without_spikes(n_spikes);
    let (ks_distance, ks_pvalue) = bulk_ks(s, n_spikes, n_low_outliers, &MP_NULL, |x| {
        bulk_law.cdf(x, sigma)
    });
    let bulk_is_mp = ks_pvalue >= BULK_TEST_LEVEL;
    let white = NoiseFit {
        shape,
        sigma,
        method,
        edges: shape.edges(sigma),
        spike_threshold: threshold,
        n_spikes,
        n_low_outliers,
        ks_distance,
        ks_pvalue,
        iterations,
        deformed: None,
        bulk_is_mp,
        mp_ks_distance: ks_distance,
        mp_ks_pvalue: ks_pvalue,
        mp_n_spikes: n_spikes,
    };
    let deform = match options.bulk {
        BulkModel::Mp => false,
        BulkModel::Deformed => true,
        // A given σ or the median estimator are white-noise parameterisations: kept as asked.
        BulkModel::Auto => {
            !bulk_is_mp
                && options.sigma.is_none()
                && options.sigma_method == SigmaMethod::Quantile
                && shape.m >= MIN_BULK
        }
    };
    if !deform {
        return Ok(white);
    }
    let fit = match fit_deformed(s, shape, options.sigma, tw) {
        Ok(fit) => fit,
        // "auto" asked for the better of two models; a spectrum the deformed fit refuses
        // (a bulk of zero width) keeps the white one. "deformed" asked for that model only.
        Err(CoreError::InvalidArgument { .. }) if options.bulk == BulkModel::Auto => {
            return Ok(white)
        }
        Err(e) => return Err(e),
    };
    let (ks_distance, ks_pvalue) =
        bulk_ks(s, fit.n_spikes, fit.n_low_outliers, &DEFORMED_NULL, |x| {
            fit.law.cdf(x, fit.sigma)
        });
    Ok(NoiseFit {
        sigma: fit.sigma,
        // The deformed fit estimates σ by quantile matching whatever estimator was asked for.
        method: match options.sigma {
            Some(_) => SigmaSource::Given,
            None => SigmaSource::Fitted(SigmaMethod::Quantile),
        },
        edges: fit.law.edges(fit.sigma),
        spike_threshold: fit.spike_threshold,
        n_spikes: fit.n_spikes,
        n_low_outliers: fit.n_low_outliers,
        ks_distance,
        ks_pvalue,
        iterations: white.iterations + fit.iterations,
        deformed: Some(fit.law),
        ..white
    })
}

/// KS distance and calibrated p-value of the bulk s[spikes..m − low] against `cdf`.
fn bulk_ks(
    s: &[f64],
    spikes: usize,
    low: usize,
    null: &crate::stats::spectral_ks::NullTable,
    cdf: impl Fn(f64) -> f64,
) -> (f64, f64) {
    let m = s.len();
    if spikes + low >= m {
        return (1.0, 0.0); // the law holds none of the spectrum (module docs)
    }
    let bulk: Vec<f64> = s[spikes..m - low].iter().rev().copied().collect();
    let d = ks_distance_sorted(&bulk, cdf);
    (d, bulk_ks_pvalue(d, bulk.len(), null))
}

fn median_of_descending(s: &[f64]) -> f64 {
    let m = s.len();
    if m % 2 == 1 {
        s[m / 2]
    } else {
        0.5 * (s[m / 2 - 1] + s[m / 2])
    }
}

/// σ from least squares of the bulk values s_(i), i ≥ k, against the quantiles σ·q(pᵢ) of the bulk's
/// law `bulk` = (N − k)×(M − k) at its own ranks, over the central 10–90 %.
fn quantile_least_squares(s: &[f64], bulk: MpShape) -> Option<f64> {
    let k = s.len() - bulk.m;
    let (mut num, mut den) = (0.0, 0.0);
    for (j, &v) in s[k..].iter().enumerate() {
        let p = 1.0 - (j as f64 + 0.5) / bulk.m as f64; // ascending quantile level of bulk rank j
        if !(0.1..=0.9).contains(&p) {
            continue;
        }
        let q = bulk.quantile(p, 1.0);
        num += v * q;
        den += q * q;
    }
    (den > 0.0 && num > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Stop;
    use crate::linalg::decomposition::{singular_values, Decomposition};
    use crate::matrix::MatrixView;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// An idealised spectrum: MP quantiles at the rank midpoints, which a correct fit recovers exactly.
    fn ideal_spectrum(shape: MpShape, sigma: f64) -> Vec<f64> {
        (0..shape.m)
            .map(|i| shape.quantile(1.0 - (i as f64 + 0.5) / shape.m as f64, sigma))
            .collect()
    }

    #[test]
    fn recovers_sigma_of_an_ideal_spectrum() {
        for &(n, m) in &[(2000, 1000), (500, 500), (4000, 100)] {
            let shape = MpShape::new(n, m).unwrap();
            let s = ideal_spectrum(shape, 0.37);
            let fit = fit_noise(&s, shape, FitOptions::default()).unwrap();
            assert!(
                (fit.sigma / 0.37 - 1.0).abs() < 1e-3,
                "{n}x{m}: {}",
                fit.sigma
            );
            assert_eq!(fit.n_spikes, 0);
            assert!(fit.ks_distance < 0.01);
        }
    }

    #[test]
    fn spikes_do_not_move_sigma() {
        let shape = MpShape::new(2000, 1000).unwrap();
        let mut s = ideal_spectrum(shape, 1.0);
        for (k, v) in s.iter_mut().take(10).enumerate() {
            *v = 200.0 - k as f64; // far above s₊ ≈ 76
        }
        let fit = fit_noise(&s, shape, FitOptions::default()).unwrap();
        assert_eq!(fit.n_spikes, 10);
        assert!((fit.sigma - 1.0).abs() < 0.01, "{}", fit.sigma);
    }

    /// Gaussian noise (σ = 1) plus k rank-one components at 3, 4, … times the BBP threshold, along
    /// coordinate directions (noise is rotation invariant, so any fixed directions do).
    fn planted_draw(n: usize, m: usize, k: usize, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut x: Vec<f64> = (0..n * m)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let bbp = ((n * m) as f64).powf(0.25);
        for j in 0..k {
            x[j * m + j] += bbp * (3.0 + j as f64);
        }
        x
    }

    #[test]
    fn planted_spikes_leave_sigma_and_the_white_noise_test_alone() {
        // Against the N×M law (before `without_spikes`) every such draw failed the test (20 of 20
        // at k = 4) and σ was high by O(k/M); against the bulk's own law they behave as
        // spike-free noise.
        let (n, m, draws) = (600, 300, 20);
        for k in [0, 4, 8] {
            let shape = MpShape::new(n, m).unwrap();
            let (mut rejected, mut sigma_sum) = (0, 0.0);
            for seed in 0..draws {
                let x = planted_draw(n, m, k, 100 + seed);
                let s = spectrum_of(&x, n, m, Decomposition::Auto);
                let options = FitOptions {
                    bulk: BulkModel::Mp,
                    ..Default::default()
                };
                let fit = fit_noise(&s, shape, options).unwrap();
                assert_eq!(fit.n_spikes, k, "k = {k}, seed {seed}");
                rejected += usize::from(!fit.bulk_is_mp);
                sigma_sum += fit.sigma;
            }
            // 5 % level: P(≥ 4 of 20) = 1.6 % under the null.
            assert!(rejected <= 3, "k = {k}: {rejected} of {draws} rejected");
            let bias = sigma_sum / draws as f64 - 1.0;
            assert!(bias.abs() < 1e-3, "k = {k}: mean σ − 1 = {bias:e}");
        }
    }

    #[test]
    fn given_sigma_is_used_and_validated() {
        let shape = MpShape::new(300, 100).unwrap();
        let s = ideal_spectrum(shape, 2.0);
        let fit = fit_noise(
            &s,
            shape,
            FitOptions {
                sigma: Some(2.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(fit.method, SigmaSource::Given);
        assert_eq!(fit.sigma, 2.0);
        assert!(fit_noise(
            &s,
            shape,
            FitOptions {
                sigma: Some(-1.0),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn rejects_bad_spectra() {
        let shape = MpShape::new(10, 3).unwrap();
        assert!(fit_noise(&[3.0, 2.0], shape, FitOptions::default()).is_err()); // wrong length
        assert!(fit_noise(&[1.0, 2.0, 3.0], shape, FitOptions::default()).is_err()); // ascending
        assert!(fit_noise(&[3.0, f64::NAN, 1.0], shape, FitOptions::default()).is_err());
        assert!(fit_noise(&[3.0, 2.0, -1.0], shape, FitOptions::default()).is_err());
        assert!(fit_noise(&[0.0, 0.0, 0.0], shape, FitOptions::default()).is_err());
    }

    fn spectrum_of(data: &[f64], n: usize, m: usize, method: Decomposition) -> Vec<f64> {
        singular_values(
            MatrixView::from_row_major(data, n, m),
            method,
            &Stop::never(),
        )
        .unwrap()
    }

    fn assert_low_rank_error(s: &[f64], shape: MpShape) {
        for method in [SigmaMethod::Quantile, SigmaMethod::Median] {
            let options = FitOptions {
                sigma_method: method,
                ..Default::default()
            };
            match fit_noise(s, shape, options) {
                Err(CoreError::InvalidArgument { name, reason }) => {
                    assert_eq!(name, "singular values");
                    assert!(reason.contains("numerically low-rank"), "{reason}");
                    assert!(reason.contains("sigma="), "{reason}");
                }
                other => panic!("expected the low-rank error, got {other:?}"),
            }
        }
        // With σ given there is nothing to estimate: the fit goes through, KS defined.
        let given = FitOptions {
            sigma: Some(1.0),
            ..Default::default()
        };
        let fit = fit_noise(s, shape, given).unwrap();
        assert!(
            fit.ks_distance.is_finite() && fit.ks_pvalue.is_finite(),
            "{fit:?}"
        );
    }

    #[test]
    fn numerically_low_rank_matrices_are_rejected_at_every_scale() {
        // fit_mp(np.full((60, 40), 3.0)) gave σ = 1.6e-294, 27 spikes and KS = NaN; a rank-1
        // outer product σ = 2.8e-30 with 18 spikes.
        let (n, m) = (60, 40);
        let constant = vec![3.0; n * m];
        let outer: Vec<f64> = (0..n * m)
            .map(|t| (t / m + 1) as f64 * ((t % m) as f64 * 0.37).sin())
            .collect();
        for data in [&constant, &outer] {
            for &scale in &[1.0, 1e-300, 1e300] {
                let scaled: Vec<f64> = data.iter().map(|v| v * scale).collect();
                for method in [Decomposition::Auto, Decomposition::Svd] {
                    for (rows, cols) in [(n, m), (m, n)] {
                        let w = if rows == n {
                            scaled.clone()
                        } else {
                            (0..n * m).map(|t| scaled[(t % n) * m + t / n]).collect()
                        };
                        let s = spectrum_of(&w, rows, cols, method);
                        assert_low_rank_error(&s, MpShape::new(rows, cols).unwrap());
                    }
                }
            }
        }
    }

    #[test]
    fn a_huge_spike_on_genuine_noise_is_not_low_rank() {
        // 1e8·uvᵀ (and 1e12·uvᵀ), unit u and v, plus N(0, 1) noise, 400×200.
        let (n, m) = (400, 200);
        let mut rng = SmallRng::seed_from_u64(11);
        let mut gauss = || -> f64 { StandardNormal.sample(&mut rng) };
        let u: Vec<f64> = (0..n).map(|_| gauss()).collect();
        let v: Vec<f64> = (0..m).map(|_| gauss()).collect();
        let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let noise: Vec<f64> = (0..n * m).map(|_| gauss()).collect();
        for &theta in &[1e8, 1e12] {
            let w: Vec<f64> = (0..n * m)
                .map(|t| theta * (u[t / m] / nu) * (v[t % m] / nv) + noise[t])
                .collect();
            for method in [Decomposition::Auto, Decomposition::Svd] {
                let s = spectrum_of(&w, n, m, method);
                let fit = fit_noise(&s, MpShape::new(n, m).unwrap(), FitOptions::default())
                    .unwrap_or_else(|e| panic!("θ = {theta} {method:?}: {e}"));
                assert_eq!(fit.n_spikes, 1, "θ = {theta}");
                assert!(
                    (fit.sigma - 1.0).abs() < 0.05,
                    "θ = {theta}: σ = {}",
                    fit.sigma
                );
                assert!(fit.ks_distance.is_finite() && fit.ks_pvalue.is_finite());
            }
        }
    }

    #[test]
    fn an_empty_bulk_has_a_defined_ks_and_never_nan() {
        // σ = 1e-80 given for a unit-σ spectrum: every singular value is a spike, nothing is left
        // to test; the bulk holds none of the spectrum, D = 1 and p = 0.
        let shape = MpShape::new(300, 100).unwrap();
        let s = ideal_spectrum(shape, 1.0);
        let options = FitOptions {
            sigma: Some(1e-80),
            ..Default::default()
        };
        let fit = fit_noise(&s, shape, options).unwrap();
        assert_eq!(fit.n_spikes, 100);
        assert_eq!((fit.ks_distance, fit.ks_pvalue), (1.0, 0.0));
        // σ = 1e80: every value is a low outlier.
        let options = FitOptions {
            sigma: Some(1e80),
            ..Default::default()
        };
        let fit = fit_noise(&s, shape, options).unwrap();
        assert_eq!((fit.n_spikes, fit.n_low_outliers), (0, 100));
        assert_eq!((fit.ks_distance, fit.ks_pvalue), (1.0, 0.0));
    }
}
