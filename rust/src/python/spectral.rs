//! Bindings of the spectral core: singular values, the MP law, the noise fit, level statistics,
//! Porter–Thomas and the batch analysis, with their result records.

use numpy::{IntoPyArray, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyDeprecationWarning;
use pyo3::prelude::*;
use pyo3::types::PyFloat;

use crate::batch::{run_one, MatrixTask, DEFAULT_MAX_WORKING_BYTES};
use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::linalg::decomposition::{self, Decomposition};
use crate::matrix::{MatrixView, Scalar};
use crate::spectral::analysis::{
    AnalysisOptions, MatrixAnalysis, DEFAULT_LEVEL_STATISTICS, DEFAULT_PORTER_THOMAS,
};
use crate::spectral::level_spacing::{
    bulk_level_statistics, level_statistics as core_level_statistics, LevelSpacing,
    DEFAULT_UNFOLDING_WINDOW,
};
use crate::spectral::mp_law::{evaluate, MpFunction, MpShape};
use crate::spectral::noise_fit::{
    fit_noise, sorted_spectrum, BulkModel, FitOptions, NoiseFit, SigmaMethod,
};
use crate::spectral::porter_thomas::{
    porter_thomas as core_porter_thomas, PorterThomas, PorterThomasOptions, DEFAULT_ALPHA,
    DEFAULT_WINDOW,
};
use crate::spectral::tracy_widom::DEFAULT_SPIKE_CONFIDENCE;

use super::batch::{run_batch_call, Matrices};
use super::convert::{invalid, shape_of, Count, InvalidInputError, Real};
use super::inputs::{like, Matrix, ResultKind, Vector};
use super::records::{frozen_array, record, Freeze};

// Records inside records are immutable already.
impl Freeze for Py<MPFit> {}
impl Freeze for Py<LevelStatistics> {}
impl Freeze for Py<PorterThomasResult> {}
use super::run::run;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(singular_values, m)?)?;
    m.add_function(wrap_pyfunction!(mp_pdf, m)?)?;
    m.add_function(wrap_pyfunction!(mp_cdf, m)?)?;
    m.add_function(wrap_pyfunction!(mp_quantile, m)?)?;
    m.add_function(wrap_pyfunction!(fit_mp, m)?)?;
    m.add_function(wrap_pyfunction!(level_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(porter_thomas, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_spectra, m)?)?;
    m.add_class::<MPFit>()?;
    m.add_class::<LevelStatistics>()?;
    m.add_class::<PorterThomasResult>()?;
    m.add_class::<SpectrumAnalysis>()?;
    Ok(())
}

fn warn_deprecated(py: Python<'_>, message: &str) -> PyResult<()> {
    let msg = std::ffi::CString::new(message).expect("no NUL in the message");
    PyErr::warn(py, &py.get_type::<PyDeprecationWarning>(), &msg, 2)
}

record! {
    /// The Marchenko–Pastur fit of one matrix's singular values (units of singular values).
    ///
    /// ``sigma`` is the noise level per entry and ``sigma_method`` how it was obtained ("given",
    /// "quantile" or "median"); ``bulk_edges`` = (s₋, s₊) = (σ(√N − √M), σ(√N + √M));
    /// ``spike_threshold`` = s₊ plus the Tracy–Widom margin of the fit's ``spike_confidence``;
    /// ``spikes`` are the ``n_spikes`` singular values above it; ``n_low_outliers`` counts values
    /// below the lower edge minus its margin (only when N > M); ``ks_distance`` and ``ks_pvalue``
    /// compare the bulk (outliers removed) with the fitted law, the p-value calibrated for the
    /// rigidity of spectra (the i.i.d. Kolmogorov p-value is near 1 for every noise matrix).
    ///
    /// ``bulk`` names the law the spikes were counted against: ``"mp"`` (white noise) or
    /// ``"deformed"`` (correlated noise σ·A·Z·B whose population spectra have log-spread
    /// ``spread``, 0 for white noise, and shape ``population_shape`` (a, b): the law of the
    /// log-variances is a standardised Beta(a, b); pass both to :func:`mp_pdf` to draw the
    /// fitted law). ``bulk_is_mp`` is the white-noise verdict (its p-value
    /// ``mp_ks_pvalue`` ≥ 0.05) and ``mp_n_spikes`` the spike count the white-noise fit gives;
    /// with ``bulk="auto"`` the deformed law is fitted exactly when ``bulk_is_mp`` is False.
    pub struct MPFit as "MPFit" custom_repr {
        n_rows: usize,
        n_cols: usize,
        beta: f64,
        sigma: f64,
        sigma_method: String,
        bulk_edges: (f64, f64),
        spike_threshold: f64,
        n_spikes: usize,
        spikes: Py<numpy::PyArray1<f64>>,
        n_low_outliers: usize,
        ks_distance: f64,
        ks_pvalue: f64,
        iterations: usize,
        bulk: String,
        spread: f64,
        population_shape: (f64, f64),
        bulk_is_mp: bool,
        mp_ks_pvalue: f64,
        mp_n_spikes: usize,
    }
    extra {
        /// (rows, cols).
        #[getter]
        fn shape(&self) -> (usize, usize) {
            (self.n_rows, self.n_cols)
        }

        /// Deprecated name of ``sigma_method``.
        #[getter]
        fn method(&self, py: Python<'_>) -> PyResult<String> {
            warn_deprecated(py, "MPFit.method is deprecated; use MPFit.sigma_method")?;
            Ok(self.sigma_method.clone())
        }
    }
}

impl MPFit {
    fn repr_text(slf: &Bound<'_, Self>) -> PyResult<String> {
        let (py, f) = (slf.py(), slf.get());
        let (lo, hi) = f.bulk_edges;
        Ok(format!(
            "MPFit({}×{}, β={}, σ={} [{}], {} bulk=[{}, {}], n_spikes={}, KS={} (p={}))",
            f.n_rows,
            f.n_cols,
            g(py, f.beta, 3)?,
            g(py, f.sigma, 6)?,
            f.sigma_method,
            if f.bulk == "mp" {
                "mp".to_string()
            } else {
                format!("deformed τ={}", g(py, f.spread, 3)?)
            },
            g(py, lo, 4)?,
            g(py, hi, 4)?,
            f.n_spikes,
            g(py, f.ks_distance, 3)?,
            g(py, f.ks_pvalue, 3)?
        ))
    }
}

/// Python's `format(x, ".{digits}g")`, so reprs read like the rest of Python.
fn g(py: Python<'_>, x: f64, digits: usize) -> PyResult<String> {
    PyFloat::new(py, x)
        .call_method1("__format__", (format!(".{digits}g"),))?
        .extract()
}

/// The record of a fit of a rows×cols matrix with singular values `s`.
pub(super) fn mp_fit_for(
    py: Python<'_>,
    fit: &NoiseFit,
    s: &[f64],
    (rows, cols): (usize, usize),
) -> PyResult<Py<MPFit>> {
    Py::new(
        py,
        MPFit {
            n_rows: rows,
            n_cols: cols,
            beta: fit.shape.beta(),
            sigma: fit.sigma,
            sigma_method: fit.method.name().to_string(),
            bulk_edges: fit.edges,
            spike_threshold: fit.spike_threshold,
            n_spikes: fit.n_spikes,
            spikes: frozen_array(py, s[..fit.n_spikes].to_vec())?,
            n_low_outliers: fit.n_low_outliers,
            ks_distance: fit.ks_distance,
            ks_pvalue: fit.ks_pvalue,
            iterations: fit.iterations,
            bulk: fit.bulk().to_string(),
            spread: fit.spread(),
            population_shape: fit.population_shape(),
            bulk_is_mp: fit.bulk_is_mp,
            mp_ks_pvalue: fit.mp_ks_pvalue,
            mp_n_spikes: fit.mp_n_spikes,
        },
    )
}

record! {
    /// Level statistics of the levels λ = s².
    ///
    /// ``mean_ratio`` is ⟨r⟩ with rᵢ = min(δᵢ, δᵢ₊₁)/max(δᵢ, δᵢ₊₁) of consecutive spacings (GOE ≈
    /// 0.5307, Poisson ≈ 0.3863); ``spacings`` are unfolded nearest-neighbour spacings with mean 1;
    /// ``unfolding`` is "mp" or "deformed" (the fitted bulk law, spikes and low outliers excluded: see
    /// ``n_levels_excluded``) or "gaussian" (all levels, Gaussian-broadened counting function).
    pub struct LevelStatistics as "LevelStatistics" {
        mean_ratio: f64,
        n_levels: usize,
        n_levels_excluded: usize,
        unfolding: String,
        ratios: Py<numpy::PyArray1<f64>>,
        spacings: Py<numpy::PyArray1<f64>>,
    }
}

fn level_record(
    py: Python<'_>,
    ls: LevelSpacing,
    unfolding: &str,
    excluded: usize,
) -> PyResult<Py<LevelStatistics>> {
    Py::new(
        py,
        LevelStatistics {
            mean_ratio: ls.mean_ratio,
            n_levels: ls.spacings.len() + 1,
            n_levels_excluded: excluded,
            unfolding: unfolding.to_string(),
            ratios: frozen_array(py, ls.ratios)?,
            spacings: frozen_array(py, ls.spacings)?,
        },
    )
}

record! {
    /// Per-vector Kolmogorov–Smirnov tests of singular vectors against random unit vectors.
    ///
    /// For pair i, ``left_pvalues[i]`` tests the components of uᵢ and ``right_pvalues[i]`` those
    /// of vᵢ against the exact marginal of a uniformly random unit vector (x² ~ Beta(½, (n−1)/2));
    /// ``pvalues`` = min(1, 2·min(pL, pR)); ``windowed`` is their centred moving average over
    /// ±``window`` neighbours; ``boundary`` is the number of leading pairs that carry information:
    /// the split k minimising the number of pairs on the wrong side (pᵢ < ``alpha`` before k,
    /// pᵢ ≥ ``alpha`` after).
    pub struct PorterThomasResult as "PorterThomasResult" {
        boundary: usize,
        alpha: f64,
        window: usize,
        singular_values: Py<numpy::PyArray1<f64>>,
        left_ks: Py<numpy::PyArray1<f64>>,
        left_pvalues: Py<numpy::PyArray1<f64>>,
        right_ks: Py<numpy::PyArray1<f64>>,
        right_pvalues: Py<numpy::PyArray1<f64>>,
        pvalues: Py<numpy::PyArray1<f64>>,
        windowed: Py<numpy::PyArray1<f64>>,
    }
}

fn pt_record(
    py: Python<'_>,
    pt: PorterThomas,
    s: Py<numpy::PyArray1<f64>>,
    options: PorterThomasOptions,
) -> PyResult<Py<PorterThomasResult>> {
    Py::new(
        py,
        PorterThomasResult {
            boundary: pt.boundary,
            alpha: options.alpha,
            window: options.window,
            singular_values: s,
            left_ks: frozen_array(py, pt.left_ks)?,
            left_pvalues: frozen_array(py, pt.left_pvalues)?,
            right_ks: frozen_array(py, pt.right_ks)?,
            right_pvalues: frozen_array(py, pt.right_pvalues)?,
            pvalues: frozen_array(py, pt.pvalues)?,
            windowed: frozen_array(py, pt.windowed)?,
        },
    )
}

record! {
    /// Everything the spectral core computes for one matrix of a batch. With ``errors="collect"`` a
    /// failed matrix has ``error`` set (the exception) and no other results.
    pub struct SpectrumAnalysis as "SpectrumAnalysis" {
        name: String,
        shape: (usize, usize),
        singular_values: Py<numpy::PyArray1<f64>>,
        fit: Option<Py<MPFit>>,
        level_statistics: Option<Py<LevelStatistics>>,
        level_statistics_note: Option<String>,
        porter_thomas: Option<Py<PorterThomasResult>>,
        error: Option<Py<PyAny>>,
    }
    extra {
        /// Deprecated name of ``level_statistics``.
        #[getter]
        fn level_spacing(&self, py: Python<'_>) -> PyResult<Option<Py<LevelStatistics>>> {
            warn_deprecated(py, "SpectrumAnalysis.level_spacing is deprecated; use .level_statistics")?;
            Ok(self.level_statistics.as_ref().map(|l| l.clone_ref(py)))
        }
    }
}

/// The record of a matrix analysis.
pub(super) fn analysis_record(
    py: Python<'_>,
    name: String,
    a: MatrixAnalysis,
    options: &AnalysisOptions,
) -> PyResult<SpectrumAnalysis> {
    let shape = (a.rows, a.cols);
    let fit = mp_fit_for(py, &a.fit, &a.singular_values, shape)?;
    let s = frozen_array(py, a.singular_values)?;
    let (level, note) = match a.level_statistics {
        Some(Ok(ls)) => {
            let excluded = a.fit.n_spikes + a.fit.n_low_outliers;
            (Some(level_record(py, ls, a.fit.bulk(), excluded)?), None)
        }
        Some(Err(reason)) => (None, Some(reason)),
        None => (None, None),
    };
    let pt = match (a.porter_thomas, options.porter_thomas) {
        (Some(pt), Some(o)) => Some(pt_record(py, pt, s.clone_ref(py), o)?),
        _ => None,
    };
    Ok(SpectrumAnalysis {
        name,
        shape,
        singular_values: s,
        fit: Some(fit),
        level_statistics: level,
        level_statistics_note: note,
        porter_thomas: pt,
        error: None,
    })
}

/// The analysis options of `analyze_spectra` and `analyze_layers`, read from their arguments and
/// checked before any matrix is touched.
pub(super) fn analysis_options(
    fit: FitOptions,
    decomposition: &str,
    level_statistics: bool,
    porter_thomas: bool,
    window: Count,
    alpha: Real,
) -> PyResult<AnalysisOptions> {
    let options = AnalysisOptions {
        fit,
        decomposition: Decomposition::parse(decomposition)?,
        level_statistics,
        porter_thomas: porter_thomas.then_some(PorterThomasOptions {
            window: window.0,
            alpha: alpha.0,
        }),
    };
    options.validate()?;
    Ok(options)
}

struct SingularValues(Decomposition);

impl MatrixTask for SingularValues {
    type Output = Vec<f64>;
    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        decomposition::working_bytes(rows, cols, decomposition::Need::Values, self.0)
    }
    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<Vec<f64>> {
        decomposition::singular_values(w, self.0, stop)
    }
}

/// Singular values of a 2-D matrix, descending, as float64.
///
/// Parameters
/// ----------
/// W : array_like
///     A 2-D matrix: numpy array of any float dtype and strides, torch tensor (any device:
///     computed on the CPU, returned as a float64 tensor on the input's device), or nested lists.
/// decomposition : {"auto", "gram", "svd"}, default "auto"
///     ``"gram"``: eigenvalues of the smaller Gram matrix WᵀW in float64 (about twice as fast as
///     the SVD; relative error ≈ ε·(s_max/sᵢ)²/2, below 1e-6 while sᵢ/s_max ≥ 1e-5).
///     ``"svd"`` (alias ``"direct"``): bidiagonalising SVD of the float64 copy (relative error
///     ≈ ε·s_max/sᵢ). ``"auto"``: Gram, redone by SVD when λ_min/λ_max < 1e-10, except that
///     values announced by negligible columns (a few, at most a sixth with a margin) are refined
///     by Rayleigh–Ritz on W itself (absolute error ≈ ε·s_max, as the SVD's). Zero lines of the
///     short side give exact zeros on every route.
///
/// Returns
/// -------
/// numpy.ndarray or torch.Tensor
///     min(rows, cols) values, float64.
///
/// Raises
/// ------
/// InvalidInputError
///     Not 2-D, empty, or holding NaN/Inf (the error names the first bad entry).
/// TypeError
///     Integer, bool or complex input.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> ns.singular_values(np.diag([3.0, 1.0, 2.0]))
/// array([3., 2., 1.])
#[pyfunction]
#[pyo3(signature = (W, decomposition = Decomposition::default().name()))]
#[allow(non_snake_case)]
fn singular_values<'py>(
    py: Python<'py>,
    W: &Bound<'py, PyAny>,
    decomposition: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let route = Decomposition::parse(decomposition)?;
    let w = Matrix::extract(W, "W")?;
    // Every spectral function takes the MP law's minimum (2×2), this one too.
    MpShape::new(w.shape().0, w.shape().1)?;
    let (original, restore) = (w.original.clone_ref(py), w.restore);
    let s = run(py, move |stop| {
        run_one(&SingularValues(route), &w.view(), stop)
    })?;
    like(
        py,
        &original,
        restore,
        s.into_pyarray(py).into_any(),
        ResultKind::Float64,
    )
}

fn mp_eval<'py>(
    py: Python<'py>,
    f: MpFunction,
    x: &Bound<'py, PyAny>,
    shape: &Bound<'py, PyAny>,
    sigma: Real,
    spread: Real,
    population_shape: (f64, f64),
) -> PyResult<Bound<'py, PyAny>> {
    let (rows, cols) = shape_of(shape)?;
    let shape = MpShape::new(rows, cols)?;
    let name = if f == MpFunction::Quantile { "p" } else { "s" };
    if let Ok(Real(v)) = x.extract::<Real>() {
        if !x.is_instance_of::<PyUntypedArray>() {
            let out = evaluate(f, &[v], shape, sigma.0, spread.0, population_shape)?;
            return Ok(PyFloat::new(py, out[0]).into_any());
        }
    }
    let arr = py
        .import("netsieve._coerce")?
        .getattr("as_float_array")?
        .call1((x, name))?;
    let dims: Vec<usize> = arr.cast::<PyUntypedArray>()?.shape().to_vec();
    let flat = arr
        .call_method1("astype", ("float64",))?
        .call_method0("ravel")?;
    let values = Vector::extract(&flat, name)?.to_f64();
    let out = py.detach(|| evaluate(f, &values, shape, sigma.0, spread.0, population_shape))?;
    let result = super::inputs::f64_array(py, out, &dims)?;
    let original = x.clone().unbind();
    like(py, &original, true, result, ResultKind::Float64)
}

/// Density ρ(s) of the singular values of an N×M noise matrix with entry std σ.
///
/// ρ(s) = √((s₊² − s²)(s² − s₋²)) / (π σ² M s) on [s₋, s₊] = [σ(√N − √M), σ(√N + √M)], 0
/// outside; ``shape`` is (rows, cols) in either order.
///
/// Parameters
/// ----------
/// s : float or array_like
///     Singular values (a scalar gives a float, an array an array of the same shape).
/// shape : (int, int)
///     The matrix shape.
/// sigma : float
///     Noise level per entry, positive and finite.
///
/// Returns
/// -------
/// float or numpy.ndarray or torch.Tensor
///
/// Raises
/// ------
/// InvalidInputError
///     NaN arguments, a bad shape or σ.
///
/// References
/// ----------
/// - V. A. Marchenko and L. A. Pastur, Distribution of eigenvalues for some sets of random matrices, Math. USSR-Sbornik 1, 457 (1967).
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> round(ns.mp_pdf(1.0, (1000, 1000), 1 / 1000 ** 0.5), 4)
/// 0.5513
#[pyfunction]
#[pyo3(signature = (s, shape, sigma, *, spread = Real(0.0), population_shape = (1.0, 1.0)))]
fn mp_pdf<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    shape: &Bound<'py, PyAny>,
    sigma: Real,
    spread: Real,
    population_shape: (f64, f64),
) -> PyResult<Bound<'py, PyAny>> {
    mp_eval(
        py,
        MpFunction::Pdf,
        s,
        shape,
        sigma,
        spread,
        population_shape,
    )
}

/// P(singular value ≤ s) of the MP law, in closed form (see :func:`mp_pdf`).
///
/// Parameters
/// ----------
/// s : float or array_like
/// shape : (int, int)
/// sigma : float
///
/// Returns
/// -------
/// float or numpy.ndarray or torch.Tensor
///
/// Raises
/// ------
/// InvalidInputError
///     NaN arguments, a bad shape or σ.
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> ns.mp_cdf(0.0, (200, 100), 1.0), ns.mp_cdf(100.0, (200, 100), 1.0)
/// (0.0, 1.0)
#[pyfunction]
#[pyo3(signature = (s, shape, sigma, *, spread = Real(0.0), population_shape = (1.0, 1.0)))]
fn mp_cdf<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    shape: &Bound<'py, PyAny>,
    sigma: Real,
    spread: Real,
    population_shape: (f64, f64),
) -> PyResult<Bound<'py, PyAny>> {
    mp_eval(
        py,
        MpFunction::Cdf,
        s,
        shape,
        sigma,
        spread,
        population_shape,
    )
}

/// The singular value below which a fraction ``p`` of the MP bulk lies (inverse of :func:`mp_cdf`).
///
/// Parameters
/// ----------
/// p : float or array_like
///     Probabilities in [0, 1]; 0 and 1 give the bulk edges.
/// shape : (int, int)
/// sigma : float
///
/// Returns
/// -------
/// float or numpy.ndarray or torch.Tensor
///
/// Raises
/// ------
/// InvalidInputError
///     p outside [0, 1] or NaN, a bad shape or σ.
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> ns.mp_quantile([0.0, 1.0], (400, 100), 1.0).round(6).tolist()
/// [10.0, 30.0]
#[pyfunction]
#[pyo3(signature = (p, shape, sigma, *, spread = Real(0.0), population_shape = (1.0, 1.0)))]
fn mp_quantile<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
    shape: &Bound<'py, PyAny>,
    sigma: Real,
    spread: Real,
    population_shape: (f64, f64),
) -> PyResult<Bound<'py, PyAny>> {
    mp_eval(
        py,
        MpFunction::Quantile,
        p,
        shape,
        sigma,
        spread,
        population_shape,
    )
}

/// A spectrum argument: a matrix, or singular values with their matrix shape.
pub(super) enum Spectrum {
    Matrix(Matrix),
    Values(Vec<f64>, (usize, usize)),
}

pub(super) fn spectrum_of(
    obj: &Bound<'_, PyAny>,
    shape: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Spectrum> {
    let py = obj.py();
    let ndim = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.ndim(),
        Err(_) => py
            .import("netsieve._coerce")?
            .getattr("as_float_array")?
            .call1((obj, name))?
            .cast::<PyUntypedArray>()?
            .ndim(),
    };
    if ndim == 1 {
        let shape = shape.filter(|s| !s.is_none()).ok_or_else(|| {
            InvalidInputError::new_err(
                "shape=(rows, cols) is required when passing singular values",
            )
        })?;
        let (rows, cols) = shape_of(shape)?;
        let values = Vector::extract(obj, "singular values")?.to_f64();
        let s = sorted_spectrum(&values)?;
        if s.len() != rows.min(cols) {
            return Err(invalid(
                "shape",
                format!(
                    "a {rows}×{cols} matrix has {} singular values, but {} were given",
                    rows.min(cols),
                    s.len()
                ),
            ));
        }
        return Ok(Spectrum::Values(s, (rows, cols)));
    }
    let w = Matrix::extract(obj, name)?;
    if let Some(shape) = shape.filter(|s| !s.is_none()) {
        if shape_of(shape)? != w.shape() {
            return Err(invalid(
                "shape",
                format!(
                    "{:?} does not match the matrix's shape {:?}",
                    shape_of(shape)?,
                    w.shape()
                ),
            ));
        }
    }
    Ok(Spectrum::Matrix(w))
}

/// Singular values and shape of a spectrum argument (decomposing a matrix on the pool).
fn values_and_shape(py: Python<'_>, spectrum: Spectrum) -> PyResult<(Vec<f64>, (usize, usize))> {
    match spectrum {
        Spectrum::Values(s, shape) => Ok((s, shape)),
        Spectrum::Matrix(w) => {
            let shape = w.shape();
            let s = run(py, move |stop| {
                run_one(&SingularValues(Decomposition::Auto), &w.view(), stop)
            })?;
            Ok((s, shape))
        }
    }
}

/// Fits the Marchenko–Pastur law to a matrix or to its singular values.
///
/// σ starts from Gavish–Donoho median matching and, with ``sigma_method="quantile"`` (default),
/// is refined by least squares of the central 10–90 % of the non-spike singular values against MP
/// quantiles, alternating with spike detection until the spike count is stable; ``"median"``
/// stops at median matching. With ``sigma=`` given only the rest is computed. Spikes are singular
/// values above s₊ plus a Tracy–Widom margin: the TW₁ quantile of ``spike_confidence`` on
/// Johnstone's finite-N scale.
///
/// Parameters
/// ----------
/// W_or_singular_values : array_like
///     A 2-D matrix, or its singular values (any order) together with ``shape``.
/// shape : (int, int), optional
///     Required with singular values; checked against a matrix.
/// sigma : float, optional
///     A known noise level per entry.
/// sigma_method : {"quantile", "median"}, default "quantile"
/// spike_confidence : {0.9, 0.95, 0.975, 0.99}, default 0.99
/// bulk : {"auto", "mp", "deformed"}, default "auto"
///     The noise model: ``"mp"`` white noise; ``"deformed"`` correlated noise σ·A·Z·B (σ and the
///     population spread τ fitted by quantile matching, spikes above the fitted law's edge plus
///     its own Tracy–Widom margin); ``"auto"`` white noise where its calibrated KS test passes at
///     the 5 % level, the deformed law where it fails (white noise is kept when ``sigma`` is given
///     or ``sigma_method="median"``, both white-noise parameterisations).
///
/// Returns
/// -------
/// MPFit
///
/// Raises
/// ------
/// InvalidInputError
///     A bad shape, σ or option, non-finite values, or a matrix too low-rank to hold a noise bulk.
///
/// References
/// ----------
/// - V. A. Marchenko and L. A. Pastur, Math. USSR-Sbornik 1, 457 (1967).
/// - M. Gavish and D. L. Donoho, The optimal hard threshold for singular values is 4/√3, IEEE Trans. Inf. Theory 60, 5040 (2014) (median matching).
/// - I. M. Johnstone, On the distribution of the largest eigenvalue in principal components analysis, Ann. Statist. 29, 295 (2001) (the Tracy–Widom scale).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> W = np.random.default_rng(0).normal(0, 0.05, size=(400, 200))
/// >>> fit = ns.fit_mp(W)
/// >>> round(fit.sigma, 2), fit.n_spikes, fit.sigma_method
/// (0.05, 0, 'quantile')
#[pyfunction]
#[pyo3(signature = (W_or_singular_values, shape = None, sigma = None, *, sigma_method = SigmaMethod::default().name(), spike_confidence = Real(DEFAULT_SPIKE_CONFIDENCE), bulk = BulkModel::default().name()))]
#[allow(non_snake_case)]
fn fit_mp(
    py: Python<'_>,
    W_or_singular_values: &Bound<'_, PyAny>,
    shape: Option<&Bound<'_, PyAny>>,
    sigma: Option<Real>,
    sigma_method: &str,
    spike_confidence: Real,
    bulk: &str,
) -> PyResult<Py<MPFit>> {
    let options = FitOptions {
        sigma: sigma.map(|s| s.0),
        sigma_method: SigmaMethod::parse(sigma_method)?,
        spike_confidence: spike_confidence.0,
        bulk: BulkModel::parse(bulk)?,
    };
    options.validate()?;
    let spectrum = spectrum_of(W_or_singular_values, shape, "W")?;
    let (s, (rows, cols)) = values_and_shape(py, spectrum)?;
    let fit = fit_noise(&s, MpShape::new(rows, cols)?, options)?;
    mp_fit_for(py, &fit, &s, (rows, cols))
}

/// Level statistics of a spectrum: ⟨r⟩ and unfolded spacings of the levels λ = s².
///
/// Given a matrix, or singular values with ``shape``, the statistics are those of the MP bulk
/// (spikes and low outliers removed), unfolded with the fitted MP CDF (σ fitted unless given).
/// Given bare singular values, all levels are used and unfolded with a Gaussian-broadened counting
/// function of width ``window`` local mean spacings.
///
/// Parameters
/// ----------
/// W_or_singular_values : array_like
/// shape : (int, int), optional
/// sigma : float, optional
/// window : int, default 15
///     Gaussian unfolding width (bare singular values only).
///
/// Returns
/// -------
/// LevelStatistics
///
/// Raises
/// ------
/// InvalidInputError
///     Fewer than 3 levels, non-finite or negative values, a bad shape or option.
///
/// References
/// ----------
/// - V. Oganesyan and D. A. Huse, Localization of interacting fermions at high temperature, Phys. Rev. B 75, 155111 (2007).
/// - Y. Y. Atas, E. Bogomolny, O. Giraud and G. Roux, Distribution of the ratio of consecutive level spacings in random matrix ensembles, Phys. Rev. Lett. 110, 084101 (2013).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> ls = ns.level_statistics(np.random.default_rng(1).normal(size=(600, 300)))
/// >>> 0.45 < ls.mean_ratio < 0.6, ls.unfolding
/// (True, 'mp')
#[pyfunction]
#[pyo3(signature = (W_or_singular_values, shape = None, sigma = None, *, window = Count(DEFAULT_UNFOLDING_WINDOW)))]
#[allow(non_snake_case)]
fn level_statistics(
    py: Python<'_>,
    W_or_singular_values: &Bound<'_, PyAny>,
    shape: Option<&Bound<'_, PyAny>>,
    sigma: Option<Real>,
    window: Count,
) -> PyResult<Py<LevelStatistics>> {
    if window.0 < 1 {
        return Err(invalid("window", "must be a positive integer, got 0"));
    }
    let bare = shape.is_none_or(|s| s.is_none())
        && W_or_singular_values
            .cast::<PyUntypedArray>()
            .map(|a| a.ndim() == 1)
            .unwrap_or_else(|_| {
                py.import("netsieve._coerce")
                    .and_then(|m| m.getattr("as_float_array"))
                    .and_then(|f| f.call1((W_or_singular_values, "singular values")))
                    .and_then(|a| Ok(a.cast::<PyUntypedArray>()?.ndim() == 1))
                    .unwrap_or(false)
            });
    if bare {
        let values = Vector::extract(W_or_singular_values, "singular values")?.to_f64();
        let s = sorted_spectrum(&values)?;
        let ls = core_level_statistics(&s, window.0)?;
        return level_record(py, ls, "gaussian", 0);
    }
    let spectrum = spectrum_of(W_or_singular_values, shape, "W")?;
    let (s, (rows, cols)) = values_and_shape(py, spectrum)?;
    let options = FitOptions {
        sigma: sigma.map(|s| s.0),
        ..FitOptions::default()
    };
    let fit = fit_noise(&s, MpShape::new(rows, cols)?, options)?;
    let ls = bulk_level_statistics(&s, &fit)?;
    level_record(py, ls, fit.bulk(), fit.n_spikes + fit.n_low_outliers)
}

/// Porter–Thomas test of every left and right singular vector of ``W``.
///
/// Null: each component x of a uniformly random unit vector in ℝⁿ has x² ~ Beta(½, (n−1)/2), so
/// the unit norm is accounted for exactly; each uᵢ and vᵢ gets a KS p-value (slightly
/// conservative), combined per pair as min(1, 2·min(pL, pR)).
///
/// Parameters
/// ----------
/// W : array_like
/// decomposition : {"auto", "gram", "svd"}, default "auto"
/// window : int, default 15
///     Half-width of the moving average ``windowed``.
/// alpha : float, default 0.05
///     Test level, in (0, 1).
///
/// Returns
/// -------
/// PorterThomasResult
///
/// Raises
/// ------
/// InvalidInputError
///     Bad matrix or options.
///
/// References
/// ----------
/// - C. E. Porter and R. G. Thomas, Fluctuations of nuclear reaction widths, Phys. Rev. 104, 483 (1956).
/// - M. Staats, M. Thamm and B. Rosenow, Phys. Rev. E 108, L022302 (2023) (the test on trained weights).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(2)
/// >>> W = rng.normal(size=(300, 200))
/// >>> W[:10, :10] += np.diag(np.linspace(30.0, 60.0, 10))   # ten localised, strong components
/// >>> ns.porter_thomas(W).boundary
/// 10
#[pyfunction]
#[pyo3(signature = (W, *, decomposition = Decomposition::default().name(), window = Count(DEFAULT_WINDOW), alpha = Real(DEFAULT_ALPHA)))]
#[allow(non_snake_case)]
fn porter_thomas(
    py: Python<'_>,
    W: &Bound<'_, PyAny>,
    decomposition: &str,
    window: Count,
    alpha: Real,
) -> PyResult<Py<PorterThomasResult>> {
    let route = Decomposition::parse(decomposition)?;
    let options = PorterThomasOptions {
        window: window.0,
        alpha: alpha.0,
    };
    options.validate()?;
    let w = Matrix::extract(W, "W")?;
    let (rows, cols) = w.shape();
    MpShape::new(rows, cols)?;
    let (s, pt) = run(py, move |stop| {
        let svd = crate::with_view!(w.view(), v => decomposition::thin_svd(v, route, stop)?);
        let pt = core_porter_thomas(&svd.u, &svd.v, options, stop)?;
        Ok((svd.s, pt))
    })?;
    let s = frozen_array(py, s)?;
    pt_record(py, pt, s, options)
}

/// Analyses many matrices in parallel on all cores with the GIL released.
///
/// Each matrix gets its singular values, the MP fit, level statistics of the bulk and
/// (``porter_thomas=True``) the Porter–Thomas test, as :func:`fit_mp`, :func:`level_statistics`
/// and :func:`porter_thomas` compute them. Matrices run in parallel within a memory budget: the
/// estimated working sets of the matrices in flight (float64 copy, Gram matrix, factors) sum to
/// at most ``max_working_bytes`` (one larger matrix runs alone).
///
/// Parameters
/// ----------
/// matrices : mapping of name to matrix, or sequence of matrices
///     A mapping gives a dict in the same order (names are ``str(key)``; keys that collide after
///     ``str`` are an error); a sequence gives a list. 2-D bfloat16 torch tensors are read in
///     place (no float32 copy; the results are those of the float32 copy, bit for bit).
/// sigma, sigma_method, spike_confidence, bulk
///     As for :func:`fit_mp`.
/// decomposition : {"auto", "gram", "svd"}, default "auto"
/// level_statistics : bool, default True
/// porter_thomas : bool, default False
/// window, alpha
///     As for :func:`porter_thomas`.
/// errors : {"raise", "collect"}, default "raise"
///     ``"raise"``: the first failing matrix's exception (named, with the original as its cause)
///     after the batch ran; ``"collect"``: its result has ``error`` set instead.
/// max_working_bytes : int, default 2**30
///
/// Returns
/// -------
/// dict or list of SpectrumAnalysis
///
/// Raises
/// ------
/// InvalidInputError
///     Bad options (before any work), or a failing matrix with ``errors="raise"``.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(3)
/// >>> out = ns.analyze_spectra({"a": rng.normal(size=(200, 100)), "b": rng.normal(size=(100, 50))})
/// >>> [(name, r.shape, r.fit.n_spikes) for name, r in out.items()]
/// [('a', (200, 100), 0), ('b', (100, 50), 0)]
#[pyfunction]
#[pyo3(signature = (matrices, *, sigma = None, sigma_method = SigmaMethod::default().name(), spike_confidence = Real(DEFAULT_SPIKE_CONFIDENCE), bulk = BulkModel::default().name(), decomposition = Decomposition::default().name(), level_statistics = DEFAULT_LEVEL_STATISTICS, porter_thomas = DEFAULT_PORTER_THOMAS, window = Count(DEFAULT_WINDOW), alpha = Real(DEFAULT_ALPHA), errors = crate::batch::ErrorPolicy::default().name(), max_working_bytes = Count(DEFAULT_MAX_WORKING_BYTES)))]
#[allow(clippy::too_many_arguments)]
pub(super) fn analyze_spectra<'py>(
    py: Python<'py>,
    matrices: &Bound<'py, PyAny>,
    sigma: Option<Real>,
    sigma_method: &str,
    spike_confidence: Real,
    bulk: &str,
    decomposition: &str,
    level_statistics: bool,
    porter_thomas: bool,
    window: Count,
    alpha: Real,
    errors: &str,
    max_working_bytes: Count,
) -> PyResult<Bound<'py, PyAny>> {
    let fit = FitOptions {
        sigma: sigma.map(|s| s.0),
        sigma_method: SigmaMethod::parse(sigma_method)?,
        spike_confidence: spike_confidence.0,
        bulk: BulkModel::parse(bulk)?,
    };
    let options = analysis_options(
        fit,
        decomposition,
        level_statistics,
        porter_thomas,
        window,
        alpha,
    )?;
    let policy = crate::batch::ErrorPolicy::parse(errors)?;
    let inputs = Matrices::extract(matrices, true)?;
    let shapes: Vec<(usize, usize)> = inputs.items.iter().map(|m| m.shape()).collect();
    run_batch_call(
        py,
        inputs,
        options,
        max_working_bytes.0,
        policy,
        |py, name, index, out| match out {
            Ok(a) => Ok(Py::new(py, analysis_record(py, name, a, &options)?)?.into_any()),
            Err(e) => Ok(Py::new(
                py,
                SpectrumAnalysis {
                    name,
                    shape: shapes[index],
                    singular_values: frozen_array(py, Vec::new())?,
                    fit: None,
                    level_statistics: None,
                    level_statistics_note: None,
                    porter_thomas: None,
                    error: Some(e.into_value(py).into_any()),
                },
            )?
            .into_any()),
        },
    )
}
