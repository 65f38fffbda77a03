//! Bindings of the shrinkage filters: one matrix or many (in parallel, within a memory budget),
//! each result in its input's kind and dtype, with the record of what was done.

use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::batch::{run_one, ErrorPolicy, DEFAULT_MAX_WORKING_BYTES};
use crate::linalg::decomposition::Decomposition;
use crate::matrix::AnyVec;
use crate::shrinkage::filter::{FilterOptions, FilterRecord, GivenOptions, ShrinkMethod};
use crate::shrinkage::thresholds::{
    optimal_hard_threshold as core_threshold, optimal_hard_threshold_of_spectrum,
};
use crate::spectral::layer_report::SpectrumRoute;
use crate::spectral::mp_law::{check_sigma, MpShape};
use crate::spectral::noise_fit::{BulkModel, SigmaMethod};

use super::batch::{run_batch_call, Matrices};
use super::convert::{invalid, shape_of, Count, Real};
use super::inputs::{like, Matrix, ResultKind, Vector};
use super::records::{frozen_array, record};
use super::run::run;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(shrink, m)?)?;
    m.add_function(wrap_pyfunction!(shrink_with_record, m)?)?;
    m.add_function(wrap_pyfunction!(shrink_many, m)?)?;
    m.add_function(wrap_pyfunction!(optimal_hard_threshold, m)?)?;
    m.add_class::<ShrinkRecord>()?;
    Ok(())
}

record! {
    /// What a filter did to one matrix.
    ///
    /// ``sigma`` is the noise level used (fitted or given), ``bulk_edges`` = (s₋, s₊) for it,
    /// ``spike_threshold`` the edge plus the Tracy–Widom margin, ``bulk`` and ``spread`` the noise
    /// model whose edge that is ("mp", or "deformed" with its spread), ``threshold`` the cut actually
    /// applied (None for "fraction" and "porter_thomas"), ``kept_rank`` the number of non-zero
    /// shrunk values, ``kept_energy`` = ‖W'‖²_F/‖W‖²_F and ``relative_change`` = ‖W' − W‖_F/‖W‖_F
    /// (both exact, from the spectra). For "fraction" without de-repelling the MP fit is optional:
    /// when the bulk cannot be fitted, the fit fields are None. ``route`` is the route that
    /// answered ("full" or "partial"); ``route_note`` why a partial request fell back, or the
    /// partial route's check. On the partial route ``decomposition`` is "krylov", ``sigma_method``
    /// "trace" (unless σ was given), and ``singular_values``/``shrunk_singular_values`` hold only
    /// the spikes (s₁ alone when there are none); ``rank`` is min(rows, cols) on both routes.
    pub struct ShrinkRecord as "ShrinkRecord" {
        method: String,
        shape: (usize, usize),
        sigma: Option<f64>,
        sigma_method: Option<String>,
        bulk_edges: Option<(f64, f64)>,
        spike_threshold: Option<f64>,
        n_spikes: Option<usize>,
        bulk: Option<String>,
        spread: Option<f64>,
        threshold: Option<f64>,
        pt_boundary: Option<usize>,
        kept_rank: usize,
        kept_energy: f64,
        relative_change: f64,
        decomposition: String,
        route: String,
        route_note: Option<String>,
        singular_values: Py<numpy::PyArray1<f64>>,
        shrunk_singular_values: Py<numpy::PyArray1<f64>>,
    }
    extra {
        /// The number of singular values of W, min(rows, cols).
        #[getter]
        fn rank(&self) -> usize {
            self.shape.0.min(self.shape.1)
        }
    }
}

pub(super) fn record_of(py: Python<'_>, r: FilterRecord) -> PyResult<ShrinkRecord> {
    let fit = r.fit.as_ref();
    Ok(ShrinkRecord {
        method: r.method.name().to_string(),
        shape: (r.rows, r.cols),
        sigma: fit.map(|f| f.sigma),
        sigma_method: fit.map(|f| f.method.name().to_string()),
        bulk_edges: fit.map(|f| f.edges),
        spike_threshold: fit.map(|f| f.spike_threshold),
        n_spikes: fit.map(|f| f.n_spikes),
        bulk: fit.map(|f| f.bulk().to_string()),
        spread: fit.map(|f| f.spread()),
        threshold: r.threshold,
        pt_boundary: r.pt_boundary,
        kept_rank: r.kept_rank,
        kept_energy: r.kept_energy,
        relative_change: r.relative_change,
        decomposition: r.decomposition.to_string(),
        route: r.route.name().to_string(),
        route_note: r.route_note,
        singular_values: frozen_array(py, r.singular_values)?,
        shrunk_singular_values: frozen_array(py, r.shrunk)?,
    })
}

/// The filtered matrix as a numpy array of the input's shape (restored to the input's kind).
fn filtered_array<'py>(
    py: Python<'py>,
    data: AnyVec,
    shape: (usize, usize),
    original: &Py<PyAny>,
    restore: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let dims = [shape.0, shape.1];
    let arr = match data {
        AnyVec::F32(v) => v.into_pyarray(py).reshape(dims)?.into_any(),
        AnyVec::F64(v) => v.into_pyarray(py).reshape(dims)?.into_any(),
    };
    like(py, original, restore, arr, ResultKind::Input)
}

/// A TypeError for keyword arguments no method takes, listing the options of `method`.
pub(super) fn refuse_unknown(method: &str, unknown: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(extra) = unknown.filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let names: Vec<String> = extra.keys().iter().map(|k| k.to_string()).collect();
    let valid = ShrinkMethod::parse(method)
        .map(|m| {
            format!(
                "options of '{}': sigma, {}",
                m.name(),
                m.options().join(", ")
            )
        })
        .unwrap_or_else(|_| {
            format!(
                "options: sigma, {}",
                crate::shrinkage::methods::OPTION_NAMES.join(", ")
            )
        });
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "unknown option(s) {}; {valid}",
        names.join(", ")
    )))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn filter_options(
    method: &str,
    sigma: Option<Real>,
    sigma_method: Option<&str>,
    spike_confidence: Option<Real>,
    decomposition: Option<&str>,
    route: Option<&str>,
    fraction: Option<Real>,
    derepel: Option<bool>,
    window: Option<Count>,
    alpha: Option<Real>,
    bulk: Option<&str>,
    rank: Option<Count>,
) -> PyResult<FilterOptions> {
    let given = GivenOptions {
        sigma: sigma.map(|s| s.0),
        sigma_method: sigma_method.map(SigmaMethod::parse).transpose()?,
        spike_confidence: spike_confidence.map(|s| s.0),
        decomposition: decomposition.map(Decomposition::parse).transpose()?,
        route: route.map(SpectrumRoute::parse).transpose()?,
        fraction: fraction.map(|f| f.0),
        derepel,
        window: window.map(|w| w.0),
        alpha: alpha.map(|a| a.0),
        bulk: bulk.map(BulkModel::parse).transpose()?,
        rank: rank.map(|r| r.0),
    };
    Ok(given.resolve(ShrinkMethod::parse(method)?)?)
}

#[allow(clippy::too_many_arguments)]
fn shrink_one<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    options: FilterOptions,
) -> PyResult<(Bound<'py, PyAny>, ShrinkRecord)> {
    let w = Matrix::extract(w, "W")?;
    let (original, restore, shape) = (w.original.clone_ref(py), w.restore, w.shape());
    let (data, rec) = run(py, move |stop| run_one(&options, &w.view(), stop))?;
    Ok((
        filtered_array(py, data, shape, &original, restore)?,
        record_of(py, rec)?,
    ))
}

/// The filtered matrix: same shape, kind and dtype as ``W``, a new array (``W`` is never modified).
///
/// Every filter computes one decomposition W = U·diag(s)·Vᵀ, fits σ with :func:`fit_mp`'s
/// spike-robust estimator (unless ``sigma`` is given), replaces each sᵢ by ηᵢ and returns
/// U·diag(η)·Vᵀ. The methods (formulas in :mod:`netsieve.shrink`): ``"hard"``,
/// ``"optimal_hard"``, ``"operator"`` (default), ``"frobenius"``, ``"nuclear"``,
/// ``"porter_thomas"``, ``"fraction"``, ``"optshrink"``; :data:`SHRINK_METHOD_OPTIONS` lists which options each
/// takes. float16/bfloat16 input is computed in float64 and cast back.
///
/// Parameters
/// ----------
/// W : array_like
///     A 2-D matrix (numpy, torch tensor on any device, lists).
/// method : str, default "operator"
/// sigma : float, optional
///     Known noise level per entry; fitted when None.
/// sigma_method : {"quantile", "median"}, optional
///     Default "median" for "optimal_hard" (Gavish–Donoho's ω(β)·median(s)), else "quantile".
/// spike_confidence : {0.9, 0.95, 0.975, 0.99}, optional
///     Default 0.99 (not for "optimal_hard").
/// decomposition : {"auto", "gram", "svd"}, optional
///     Default "auto": the Gram route for methods that keep leading components, the SVD for
///     "fraction"; "porter_thomas" needs accurate vectors of every component. On the partial
///     route, the decomposition of its fallback.
/// route : {"full", "partial"}, optional
///     Default "full". ``"partial"`` ("hard", "optimal_hard", "operator", "frobenius", "nuclear";
///     an error for the other methods): the spikes and their vectors by block Krylov on WᵀW
///     without a full decomposition, σ from the trace less the spike energies, when the bulk
///     passes a white-noise check; otherwise the full route answers and the record's
///     ``route_note`` says why (see :mod:`netsieve.shrink`).
/// fraction : float, optional
///     "fraction" only (required): the share of singular values to zero, in [0, 1].
/// derepel : bool, optional
///     "fraction" (default False) and "porter_thomas" (default True): replace kept spikes by θ̂(s).
/// window : int, optional
///     "porter_thomas": moving-average half-width (default 15).
/// alpha : float, optional
///     "porter_thomas": test level (default 0.05).
/// bulk : {"auto", "mp", "deformed"}, optional
///     "hard" and "optshrink" (default "auto", see :func:`fit_mp`): the noise model whose edge
///     decides the spikes. The other shrinkers' formulas assume white noise.
/// rank : int, optional
///     "optshrink": the number of leading components kept (default: the fitted bulk's outliers).
///
/// Returns
/// -------
/// numpy.ndarray or torch.Tensor
///
/// Raises
/// ------
/// InvalidInputError
///     Unknown method, an option that does not apply to the method or lies outside its domain,
///     a bad matrix.
/// TypeError
///     An unknown option.
///
/// References
/// ----------
/// - M. Gavish and D. L. Donoho, The optimal hard threshold for singular values is 4/√3, IEEE Trans. Inf. Theory 60, 5040 (2014).
/// - M. Gavish and D. L. Donoho, Optimal shrinkage of singular values, IEEE Trans. Inf. Theory 63, 2137 (2017).
/// - F. Benaych-Georges and R. R. Nadakuditi, The singular values and vectors of low rank perturbations of large rectangular random matrices, J. Multivariate Anal. 111, 120 (2012).
/// - M. Staats, M. Thamm and B. Rosenow, Phys. Rev. E 108, L022302 (2023).
/// - R. R. Nadakuditi, OptShrink: an algorithm for improved low-rank signal matrix denoising by optimal, data-driven singular value shrinkage, IEEE Trans. Inf. Theory 60, 3002 (2014).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(4)
/// >>> u, v = rng.normal(size=400), rng.normal(size=200)
/// >>> W = rng.normal(size=(400, 200)) + 60 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
/// >>> int(np.linalg.matrix_rank(ns.shrink(W, "hard")))
/// 1
#[pyfunction]
#[pyo3(signature = (W, method = ShrinkMethod::default().name(), sigma = None, *, sigma_method = None, spike_confidence = None, decomposition = None, route = None, fraction = None, derepel = None, window = None, alpha = None, bulk = None, rank = None, **unknown))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn shrink<'py>(
    py: Python<'py>,
    W: &Bound<'py, PyAny>,
    method: &str,
    sigma: Option<Real>,
    sigma_method: Option<&str>,
    spike_confidence: Option<Real>,
    decomposition: Option<&str>,
    route: Option<&str>,
    fraction: Option<Real>,
    derepel: Option<bool>,
    window: Option<Count>,
    alpha: Option<Real>,
    bulk: Option<&str>,
    rank: Option<Count>,
    unknown: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    refuse_unknown(method, unknown)?;
    let options = filter_options(
        method,
        sigma,
        sigma_method,
        spike_confidence,
        decomposition,
        route,
        fraction,
        derepel,
        window,
        alpha,
        bulk,
        rank,
    )?;
    Ok(shrink_one(py, W, options)?.0)
}

/// Like :func:`shrink`, also returning the :class:`ShrinkRecord`.
///
/// Parameters
/// ----------
/// W, method, sigma, sigma_method, spike_confidence, decomposition, route, fraction, derepel, window, alpha, bulk, rank
///     As for :func:`shrink`.
///
/// Returns
/// -------
/// (numpy.ndarray or torch.Tensor, ShrinkRecord)
///
/// Raises
/// ------
/// InvalidInputError
///     As for :func:`shrink`.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> W = np.random.default_rng(5).normal(size=(300, 100))
/// >>> out, rec = ns.shrink_with_record(W, "hard")
/// >>> rec.kept_rank, rec.method, rec.decomposition
/// (0, 'hard', 'gram')
#[pyfunction]
#[pyo3(signature = (W, method = ShrinkMethod::default().name(), sigma = None, *, sigma_method = None, spike_confidence = None, decomposition = None, route = None, fraction = None, derepel = None, window = None, alpha = None, bulk = None, rank = None, **unknown))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn shrink_with_record<'py>(
    py: Python<'py>,
    W: &Bound<'py, PyAny>,
    method: &str,
    sigma: Option<Real>,
    sigma_method: Option<&str>,
    spike_confidence: Option<Real>,
    decomposition: Option<&str>,
    route: Option<&str>,
    fraction: Option<Real>,
    derepel: Option<bool>,
    window: Option<Count>,
    alpha: Option<Real>,
    bulk: Option<&str>,
    rank: Option<Count>,
    unknown: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyTuple>> {
    refuse_unknown(method, unknown)?;
    let options = filter_options(
        method,
        sigma,
        sigma_method,
        spike_confidence,
        decomposition,
        route,
        fraction,
        derepel,
        window,
        alpha,
        bulk,
        rank,
    )?;
    let (out, rec) = shrink_one(py, W, options)?;
    PyTuple::new(py, [out, Py::new(py, rec)?.into_bound(py).into_any()])
}

/// Filters many matrices in parallel (all cores, GIL released, within a memory budget).
///
/// Parameters
/// ----------
/// matrices : mapping of name to matrix, or sequence of matrices
///     A mapping gives a dict in the same order, a sequence a list.
/// method, sigma, sigma_method, spike_confidence, decomposition, route, fraction, derepel, window, alpha, bulk, rank
///     As for :func:`shrink`, the same for every matrix.
/// errors : {"raise", "collect"}, default "raise"
///     ``"collect"``: a failing matrix gives (None, exception) instead of raising.
/// max_working_bytes : int, default 2**30
///     The estimated working sets of the matrices in flight sum to at most this.
///
/// Returns
/// -------
/// dict or list of (array, ShrinkRecord) pairs
///
/// Raises
/// ------
/// InvalidInputError
///     Bad options (before any work), or a failing matrix with ``errors="raise"``.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(6)
/// >>> out = ns.shrink_many({"a": rng.normal(size=(200, 100)), "b": rng.normal(size=(50, 80))}, "operator")
/// >>> {k: (w.shape, rec.kept_rank) for k, (w, rec) in out.items()}
/// {'a': ((200, 100), 0), 'b': ((50, 80), 0)}
#[pyfunction]
#[pyo3(signature = (matrices, method = ShrinkMethod::default().name(), sigma = None, *, errors = ErrorPolicy::default().name(), max_working_bytes = Count(DEFAULT_MAX_WORKING_BYTES), sigma_method = None, spike_confidence = None, decomposition = None, route = None, fraction = None, derepel = None, window = None, alpha = None, bulk = None, rank = None, **unknown))]
#[allow(clippy::too_many_arguments)]
fn shrink_many<'py>(
    py: Python<'py>,
    matrices: &Bound<'py, PyAny>,
    method: &str,
    sigma: Option<Real>,
    errors: &str,
    max_working_bytes: Count,
    sigma_method: Option<&str>,
    spike_confidence: Option<Real>,
    decomposition: Option<&str>,
    route: Option<&str>,
    fraction: Option<Real>,
    derepel: Option<bool>,
    window: Option<Count>,
    alpha: Option<Real>,
    bulk: Option<&str>,
    rank: Option<Count>,
    unknown: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    refuse_unknown(method, unknown)?;
    let options = filter_options(
        method,
        sigma,
        sigma_method,
        spike_confidence,
        decomposition,
        route,
        fraction,
        derepel,
        window,
        alpha,
        bulk,
        rank,
    )?;
    let policy = ErrorPolicy::parse(errors)?;
    let inputs = Matrices::extract(matrices, false)?;
    let kinds: Vec<(Py<PyAny>, bool, (usize, usize))> = inputs
        .items
        .iter()
        .map(|m| (m.original.clone_ref(py), m.restore, m.shape()))
        .collect();
    run_batch_call(
        py,
        inputs,
        options,
        max_working_bytes.0,
        policy,
        |py, _name, i, out| {
            let pair = match out {
                Ok((data, rec)) => {
                    let (original, restore, shape) = &kinds[i];
                    let arr = filtered_array(py, data, *shape, original, *restore)?;
                    PyTuple::new(
                        py,
                        [
                            arr,
                            Py::new(py, record_of(py, rec)?)?.into_bound(py).into_any(),
                        ],
                    )?
                }
                Err(e) => PyTuple::new(
                    py,
                    [
                        py.None().into_bound(py),
                        e.into_value(py).into_bound(py).into_any(),
                    ],
                )?,
            };
            Ok(pair.into_any().unbind())
        },
    )
}

/// Gavish–Donoho's optimal hard threshold τ for singular values.
///
/// Known σ: τ = λ*(β)·√N·σ with N the **larger** side and
/// λ*(β) = √(2(β+1) + 8β/(β+1+√(β²+14β+1))). Unknown σ: τ = ω(β)·median(s), ω(β) = λ*(β)/√μ_β
/// with μ_β the median of the MP law (computed exactly).
///
/// Parameters
/// ----------
/// shape : (int, int)
/// sigma : float, optional
///     Known noise level per entry.
/// singular_values : array_like, optional
///     The matrix's singular values, for unknown σ (any order; finite and non-negative).
///
/// Returns
/// -------
/// float
///
/// Raises
/// ------
/// InvalidInputError
///     Neither or both of sigma and singular_values, a bad shape, σ or spectrum.
///
/// References
/// ----------
/// - M. Gavish and D. L. Donoho, The optimal hard threshold for singular values is 4/√3, IEEE Trans. Inf. Theory 60, 5040 (2014).
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> round(ns.optimal_hard_threshold((100, 100), sigma=1.0), 4)   # 4/√3 · √100
/// 23.094
#[pyfunction]
#[pyo3(signature = (shape, sigma = None, singular_values = None))]
fn optimal_hard_threshold(
    shape: &Bound<'_, PyAny>,
    sigma: Option<Real>,
    singular_values: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let (rows, cols) = shape_of(shape)?;
    let shape = MpShape::new(rows, cols)?;
    match (sigma, singular_values.filter(|s| !s.is_none())) {
        (Some(Real(sigma)), None) => {
            check_sigma(sigma)?;
            Ok(core_threshold(&shape, sigma))
        }
        (None, Some(s)) => {
            let values = Vector::extract(s, "singular_values")?.to_f64();
            Ok(optimal_hard_threshold_of_spectrum(&shape, &values)?)
        }
        (Some(_), Some(_)) => Err(invalid(
            "sigma",
            "pass either sigma or singular_values, not both",
        )),
        (None, None) => Err(invalid(
            "sigma",
            "pass sigma= (known noise level) or singular_values= (unknown σ)",
        )),
    }
}
