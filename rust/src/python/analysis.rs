//! Binding of the per-layer report: one parallel call over many matrices (GIL released, within a
//! memory budget), one [`LayerReport`] row per matrix with the spectral analysis, norms, MP soft
//! rank and the power-law tail.

use pyo3::prelude::*;

use crate::batch::{ErrorPolicy, DEFAULT_MAX_WORKING_BYTES};
use crate::linalg::decomposition::Decomposition;
use crate::spectral::analysis::DEFAULT_LEVEL_STATISTICS;
use crate::spectral::comparison::Role;
use crate::spectral::layer_report::{
    LayerOptions, LayerReport as CoreLayerReport, LayerResult, PartialReport, SpectrumRoute,
    DEFAULT_PORTER_THOMAS,
};
use crate::spectral::noise_fit::{BulkModel, FitOptions};
use crate::spectral::porter_thomas::{DEFAULT_ALPHA, DEFAULT_WINDOW};
use crate::spectral::power_law::{PowerLawOptions, DEFAULT_MIN_SPAN, DEFAULT_MIN_TAIL};
use crate::spectral::tracy_widom::DEFAULT_SPIKE_CONFIDENCE;

use super::batch::{run_batch_call, Matrices};
use super::convert::{for_matrix, invalid, quoted, Count, Real};
use super::inputs::{Matrix, Vector};
use super::records::{frozen_array, record};
use super::run::run;
use super::spectral::analysis_options;
use crate::matrix::to_f64_mat;
use crate::spectral::layer_report::report_decomposed;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze_layers, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_decomposed_layers, m)?)?;
    m.add_class::<LayerReport>()?;
    Ok(())
}

record! {
    /// The report row of one weight matrix. Numbers are None where the layer failed (``error``).
    ///
    /// σ, ``bulk_min``/``bulk_max`` (s₋, s₊) and ``spike_threshold`` are in singular-value units
    /// (N×M after orientation, N ≥ M, β = M/N), of the law named by ``bulk`` ("mp" for white noise,
    /// "deformed" for correlated noise of population log-spread ``spread`` and shape
    /// ``population_shape``; see :func:`fit_mp`);
    /// ``mp_soft_rank`` = (s₊/s₁)²; ``mp_ks_distance`` and ``mp_ks_pvalue`` compare the bulk with
    /// the white-noise fit (calibrated p-value; ``bulk_is_mp`` = p ≥ 0.05) and ``mp_n_spikes`` is
    /// that fit's spike count, ``bulk_ks_distance``/``bulk_ks_pvalue`` compare it with the law
    /// used; ``porter_thomas_boundary`` is
    /// the number of leading singular-vector pairs that are not random; ``mean_r`` is ⟨r⟩ of the
    /// bulk (GOE 0.5307, Poisson 0.3863); ``alpha`` is the power-law exponent of the tail of
    /// λ = s² (Clauset–Shalizi–Newman MLE, xmin by KS) and ``power_law_like`` the verdict of the
    /// tail test (at least ``min_tail`` levels spanning at least ``min_span`` in λ, and Vuong's
    /// likelihood ratio against an exponential tail above −1.645); ``alpha_note`` says why a tail
    /// is not power-law-like or could not be fitted. ``block`` is the index of the repeated unit the
    /// matrix sits in (None outside the blocks), ``head`` the attention head of a per-head block
    /// (None for whole matrices) and ``role`` what it does there (one of :data:`ROLES`), as the
    /// caller labelled it. ``route`` is the route that answered ("full" or "partial");
    /// ``route_note`` why a partial request fell back, or the partial route's check (its rows hold
    /// σ, the edges, the spikes, the norms, the stable rank and the MP soft rank; the KS
    /// statistics, low outliers, ⟨r⟩, Porter–Thomas, effective rank, entropy and α are None and
    /// ``singular_values`` holds only the spikes, or s₁ when there are none).
    #[allow(non_snake_case)]
    pub struct LayerReport as "LayerReport" {
        name: String,
        tensor_name: String,
        layer_type: String,
        block: Option<usize>,
        role: String,
        head: Option<usize>,
        rows: usize,
        cols: usize,
        N: usize,
        M: usize,
        beta: f64,
        sigma: Option<f64>,
        bulk_min: Option<f64>,
        bulk_max: Option<f64>,
        spike_threshold: Option<f64>,
        n_spikes: Option<usize>,
        n_low_outliers: Option<usize>,
        mp_soft_rank: Option<f64>,
        mp_ks_distance: Option<f64>,
        mp_ks_pvalue: Option<f64>,
        bulk: Option<String>,
        spread: Option<f64>,
        population_shape: Option<(f64, f64)>,
        bulk_is_mp: Option<bool>,
        bulk_ks_distance: Option<f64>,
        bulk_ks_pvalue: Option<f64>,
        mp_n_spikes: Option<usize>,
        porter_thomas_boundary: Option<usize>,
        mean_r: Option<f64>,
        spectral_norm: Option<f64>,
        frobenius_norm: Option<f64>,
        stable_rank: Option<f64>,
        effective_rank: Option<f64>,
        entropy: Option<f64>,
        alpha: Option<f64>,
        alpha_stderr: Option<f64>,
        alpha_xmin: Option<f64>,
        alpha_xmax: Option<f64>,
        alpha_n_tail: Option<usize>,
        alpha_ks_distance: Option<f64>,
        alpha_likelihood_ratio: Option<f64>,
        power_law_like: Option<bool>,
        alpha_note: Option<String>,
        route: String,
        route_note: Option<String>,
        error: Option<String>,
        singular_values: Py<numpy::PyArray1<f64>>,
    }
    extra {
        /// Whether the layer was analysed.
        #[getter]
        fn ok(&self) -> bool {
            self.error.is_none()
        }

        /// The singular values above the spike threshold.
        #[getter]
        fn spikes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            let k = self.n_spikes.unwrap_or(0);
            self.singular_values.bind(py).get_item(pyo3::types::PySlice::new(py, 0, k as isize, 1))
        }

        /// The fields that are not arrays (the columns of the CSV export), in order.
        #[classattr]
        #[allow(non_snake_case)]
        fn SCALAR_FIELDS() -> Vec<&'static str> {
            <Self as super::records::Record>::FIELDS
                .iter()
                .copied()
                .filter(|f| *f != "singular_values")
                .collect()
        }

        /// A row for a layer that could not be analysed.
        #[staticmethod]
        #[pyo3(signature = (name, tensor_name, layer_type, rows, cols, error, *, block = None, role = Role::Other.name().to_string(), head = None))]
        #[allow(clippy::too_many_arguments)]
        fn failed(py: Python<'_>, name: String, tensor_name: String, layer_type: String, rows: usize, cols: usize, error: String, block: Option<usize>, role: String, head: Option<usize>) -> PyResult<Self> {
            Role::parse(&role)?;
            let mut row = LayerReport::empty(py, name, tensor_name, layer_type, (rows, cols), Some(error))?;
            row.block = block;
            row.head = head;
            row.role = role;
            Ok(row)
        }
    }
}

impl LayerReport {
    fn empty(
        py: Python<'_>,
        name: String,
        tensor_name: String,
        layer_type: String,
        (rows, cols): (usize, usize),
        error: Option<String>,
    ) -> PyResult<Self> {
        let (n, m) = (rows.max(cols), rows.min(cols));
        Ok(LayerReport {
            name,
            tensor_name,
            layer_type,
            block: None,
            role: Role::Other.name().to_string(),
            head: None,
            rows,
            cols,
            N: n,
            M: m,
            beta: if n > 0 { m as f64 / n as f64 } else { 0.0 },
            sigma: None,
            bulk_min: None,
            bulk_max: None,
            spike_threshold: None,
            n_spikes: None,
            n_low_outliers: None,
            mp_soft_rank: None,
            mp_ks_distance: None,
            mp_ks_pvalue: None,
            bulk: None,
            spread: None,
            population_shape: None,
            bulk_is_mp: None,
            bulk_ks_distance: None,
            bulk_ks_pvalue: None,
            mp_n_spikes: None,
            porter_thomas_boundary: None,
            mean_r: None,
            spectral_norm: None,
            frobenius_norm: None,
            stable_rank: None,
            effective_rank: None,
            entropy: None,
            alpha: None,
            alpha_stderr: None,
            alpha_xmin: None,
            alpha_xmax: None,
            alpha_n_tail: None,
            alpha_ks_distance: None,
            alpha_likelihood_ratio: None,
            power_law_like: None,
            alpha_note: None,
            route: SpectrumRoute::Full.name().to_string(),
            route_note: None,
            error,
            singular_values: frozen_array(py, Vec::new())?,
        })
    }

    fn from_result(
        py: Python<'_>,
        ids: (String, String, String),
        r: LayerResult,
    ) -> PyResult<Self> {
        match r {
            LayerResult::Full(report, note) => {
                let mut row = Self::from_core(py, ids, *report)?;
                row.route_note = note;
                Ok(row)
            }
            LayerResult::Partial(p) => Self::from_partial(py, ids, p),
        }
    }

    /// A partial-route row: what it gives, None for what needs the whole spectrum.
    fn from_partial(
        py: Python<'_>,
        ids: (String, String, String),
        r: PartialReport,
    ) -> PyResult<Self> {
        let mut row = LayerReport::empty(py, ids.0, ids.1, ids.2, (r.rows, r.cols), None)?;
        let f = r.fit;
        row.route = SpectrumRoute::Partial.name().to_string();
        row.sigma = Some(f.sigma);
        row.bulk_min = Some(f.edges.0);
        row.bulk_max = Some(f.edges.1);
        row.spike_threshold = Some(f.spike_threshold);
        row.n_spikes = Some(f.n_spikes);
        row.mp_soft_rank = Some(r.mp_soft_rank);
        row.bulk = Some(BulkModel::Mp.name().to_string());
        row.spectral_norm = Some(r.spectral_norm);
        row.frobenius_norm = Some(f.frobenius_norm);
        row.stable_rank = Some(r.stable_rank);
        row.alpha_note = Some(
            "not computed by the partial route (the tail fit needs the whole spectrum)".to_string(),
        );
        row.route_note = Some(f.check_note());
        row.singular_values = frozen_array(py, f.leading)?;
        Ok(row)
    }

    fn from_core(
        py: Python<'_>,
        ids: (String, String, String),
        r: CoreLayerReport,
    ) -> PyResult<Self> {
        let a = r.analysis;
        let mut row = LayerReport::empty(py, ids.0, ids.1, ids.2, (a.rows, a.cols), None)?;
        let f = &a.fit;
        row.sigma = Some(f.sigma);
        row.bulk_min = Some(f.edges.0);
        row.bulk_max = Some(f.edges.1);
        row.spike_threshold = Some(f.spike_threshold);
        row.n_spikes = Some(f.n_spikes);
        row.n_low_outliers = Some(f.n_low_outliers);
        row.mp_soft_rank = Some(r.mp_soft_rank);
        row.mp_ks_distance = Some(f.mp_ks_distance);
        row.mp_ks_pvalue = Some(f.mp_ks_pvalue);
        row.bulk = Some(f.bulk().to_string());
        row.spread = Some(f.spread());
        row.population_shape = Some(f.population_shape());
        row.bulk_is_mp = Some(f.bulk_is_mp);
        row.bulk_ks_distance = Some(f.ks_distance);
        row.bulk_ks_pvalue = Some(f.ks_pvalue);
        row.mp_n_spikes = Some(f.mp_n_spikes);
        row.porter_thomas_boundary = a.porter_thomas.as_ref().map(|pt| pt.boundary);
        row.mean_r = a
            .level_statistics
            .and_then(|l| l.ok())
            .map(|l| l.mean_ratio);
        row.spectral_norm = Some(r.norms.spectral_norm);
        row.frobenius_norm = Some(r.norms.frobenius_norm);
        row.stable_rank = Some(r.norms.stable_rank);
        row.effective_rank = Some(r.norms.effective_rank);
        row.entropy = Some(r.norms.entropy);
        match r.power_law {
            Ok(pl) => {
                row.alpha = Some(pl.alpha);
                row.alpha_stderr = Some(pl.alpha_stderr);
                row.alpha_xmin = Some(pl.xmin);
                row.alpha_xmax = Some(pl.xmax);
                row.alpha_n_tail = Some(pl.n_tail);
                row.alpha_ks_distance = Some(pl.ks_distance);
                row.alpha_likelihood_ratio = Some(pl.likelihood_ratio);
                row.power_law_like = Some(pl.power_law_like);
                if !pl.power_law_like {
                    row.alpha_note =
                        Some("tail is bounded or too short: not a power law".to_string());
                }
            }
            Err(reason) => {
                row.power_law_like = Some(false);
                row.alpha_note = Some(reason);
            }
        }
        row.singular_values = frozen_array(py, a.singular_values)?;
        Ok(row)
    }
}

fn labels(
    obj: Option<&Bound<'_, PyAny>>,
    names: &[String],
    what: &str,
    default: impl Fn(&str) -> String,
) -> PyResult<Vec<String>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(names.iter().map(|n| default(n)).collect()),
        Some(o) => {
            let v: Vec<String> = o.extract()?;
            if v.len() != names.len() {
                return Err(invalid(
                    what,
                    format!("has {} entries for {} matrices", v.len(), names.len()),
                ));
            }
            Ok(v)
        }
    }
}

/// The checked options of [`analyze_layers`] and [`analyze_decomposed_layers`].
#[allow(clippy::too_many_arguments)]
fn layer_options(
    spike_confidence: Real,
    bulk: &str,
    decomposition: &str,
    route: SpectrumRoute,
    level_statistics: bool,
    porter_thomas: bool,
    window: Count,
    alpha: Real,
    (min_tail, min_span): (Count, Real),
) -> PyResult<LayerOptions> {
    let fit = FitOptions {
        spike_confidence: spike_confidence.0,
        bulk: BulkModel::parse(bulk)?,
        ..FitOptions::default()
    };
    let options = LayerOptions {
        analysis: analysis_options(
            fit,
            decomposition,
            level_statistics,
            porter_thomas,
            window,
            alpha,
        )?,
        power_law: PowerLawOptions {
            min_tail: min_tail.0,
            min_span: min_span.0,
        },
        route,
    };
    options.validate()?;
    Ok(options)
}

/// The per-layer report of many weight matrices, in parallel within a memory budget.
///
/// Each row holds the MP fit (as :func:`fit_mp`), the Porter–Thomas boundary, ⟨r⟩ of the bulk,
/// norms and rank measures (spectral and Frobenius norm, stable rank Σs²/s₁², effective rank
/// exp(H) of pᵢ = sᵢ/Σs, entropy H/ln M), the MP soft rank (s₊/s₁)² and the power-law tail of
/// λ = s². This is the engine of :func:`netsieve.torch.analyze`.
///
/// Parameters
/// ----------
/// matrices : mapping of name to matrix, or sequence of matrices
///     2-D bfloat16 torch tensors are read in place (no float32 copy; every field is that of the
///     float32 copy, bit for bit).
/// tensor_names, layer_types : sequence of str, optional
///     Per-matrix labels for the rows (default: the name, and "matrix").
/// blocks : sequence of int or None, optional
///     Per-matrix block index (default None).
/// heads : sequence of int or None, optional
///     Per-matrix attention head of a per-head block (default None).
/// roles : sequence of str, optional
///     Per-matrix role, each one of :data:`ROLES` (default "other").
/// spike_confidence : {0.9, 0.95, 0.975, 0.99}, default 0.99
/// decomposition : {"auto", "gram", "svd"}, default "auto"
/// route : {"full", "partial"}, default "full"
///     ``"partial"``: σ, the edges, the spikes and the norms from the leading singular values and
///     the trace, checked against white noise; a matrix that fails a check, or for which the level
///     statistics or the Porter–Thomas test are asked for (pass ``level_statistics=False,
///     porter_thomas=False``), gets the full route. ``route`` and ``route_note`` in each row say
///     which route answered and why it fell back; what the partial route does not compute is None
///     (:data:`ROUTES`).
/// level_statistics : bool, default True
/// porter_thomas : bool, default True
/// window, alpha
///     As for :func:`porter_thomas`.
/// min_tail : int, default 10
/// min_span : float, default 1.5
///     The power-law verdict's rule.
/// errors : {"raise", "collect"}, default "raise"
///     ``"collect"``: a failing matrix gives a row with ``error`` set.
/// max_working_bytes : int, default 2**30
///
/// Returns
/// -------
/// dict or list of LayerReport
///
/// Raises
/// ------
/// InvalidInputError
///     Bad options (before any work), or a failing matrix with ``errors="raise"``.
///
/// References
/// ----------
/// - A. Clauset, C. R. Shalizi and M. E. J. Newman, Power-law distributions in empirical data, SIAM Review 51, 661 (2009) (the tail fit).
/// - O. Roy and M. Vetterli, The effective rank: a measure of effective dimensionality, EUSIPCO 2007.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rows = ns.analyze_layers({"fc": np.random.default_rng(7).normal(size=(300, 100))})
/// >>> r = rows["fc"]
/// >>> r.n_spikes, r.power_law_like, r.ok
/// (0, False, True)
#[pyfunction]
#[pyo3(signature = (matrices, *, tensor_names = None, layer_types = None, blocks = None, roles = None, heads = None, spike_confidence = Real(DEFAULT_SPIKE_CONFIDENCE), bulk = BulkModel::default().name(), decomposition = Decomposition::default().name(), route = SpectrumRoute::default().name(), level_statistics = DEFAULT_LEVEL_STATISTICS, porter_thomas = DEFAULT_PORTER_THOMAS, window = Count(DEFAULT_WINDOW), alpha = Real(DEFAULT_ALPHA), min_tail = Count(DEFAULT_MIN_TAIL), min_span = Real(DEFAULT_MIN_SPAN), errors = ErrorPolicy::default().name(), max_working_bytes = Count(DEFAULT_MAX_WORKING_BYTES)))]
#[allow(clippy::too_many_arguments)]
fn analyze_layers<'py>(
    py: Python<'py>,
    matrices: &Bound<'py, PyAny>,
    tensor_names: Option<&Bound<'py, PyAny>>,
    layer_types: Option<&Bound<'py, PyAny>>,
    blocks: Option<Vec<Option<usize>>>,
    roles: Option<&Bound<'py, PyAny>>,
    heads: Option<Vec<Option<usize>>>,
    spike_confidence: Real,
    bulk: &str,
    decomposition: &str,
    route: &str,
    level_statistics: bool,
    porter_thomas: bool,
    window: Count,
    alpha: Real,
    min_tail: Count,
    min_span: Real,
    errors: &str,
    max_working_bytes: Count,
) -> PyResult<Bound<'py, PyAny>> {
    let options = layer_options(
        spike_confidence,
        bulk,
        decomposition,
        SpectrumRoute::parse(route)?,
        level_statistics,
        porter_thomas,
        window,
        alpha,
        (min_tail, min_span),
    )?;
    let policy = ErrorPolicy::parse(errors)?;
    let inputs = Matrices::extract(matrices, true)?;
    let tensors = labels(tensor_names, &inputs.names, "tensor_names", |n| {
        n.to_string()
    })?;
    let types = labels(layer_types, &inputs.names, "layer_types", |_| {
        "matrix".to_string()
    })?;
    let (roles, blocks, heads) = positions(roles, blocks, heads, &inputs.names)?;
    let shapes: Vec<(usize, usize)> = inputs.items.iter().map(|m| m.shape()).collect();
    run_batch_call(
        py,
        inputs,
        options,
        max_working_bytes.0,
        policy,
        |py, name, i, out| {
            let ids = (name, tensors[i].clone(), types[i].clone());
            let mut row = match out {
                Ok(r) => LayerReport::from_result(py, ids, r)?,
                Err(e) => {
                    let msg = e.value(py).str()?.to_string();
                    LayerReport::empty(py, ids.0, ids.1, ids.2, shapes[i], Some(msg))?
                }
            };
            row.block = blocks[i];
            row.head = heads[i];
            row.role = roles[i].clone();
            Ok(Py::new(py, row)?.into_any())
        },
    )
}

type Positions = (Vec<String>, Vec<Option<usize>>, Vec<Option<usize>>);

/// The checked roles, blocks and heads of the rows (defaults: "other", None, None).
fn positions(
    roles: Option<&Bound<'_, PyAny>>,
    blocks: Option<Vec<Option<usize>>>,
    heads: Option<Vec<Option<usize>>>,
    names: &[String],
) -> PyResult<Positions> {
    let roles = labels(roles, names, "roles", |_| Role::Other.name().to_string())?;
    for r in &roles {
        Role::parse(r)?;
    }
    let mut out = Vec::new();
    for (what, given) in [("blocks", blocks), ("heads", heads)] {
        let v = given.unwrap_or_else(|| vec![None; names.len()]);
        if v.len() != names.len() {
            return Err(invalid(
                what,
                format!("has {} entries for {} matrices", v.len(), names.len()),
            ));
        }
        out.push(v);
    }
    let heads = out.pop().unwrap_or_default();
    let blocks = out.pop().unwrap_or_default();
    Ok((roles, blocks, heads))
}

/// The per-layer report of matrices decomposed elsewhere (e.g. by ``torch.linalg`` on a GPU):
/// every field as :func:`analyze_layers` computes it, from the given singular values and, for the
/// Porter–Thomas test, singular vectors. Nothing is decomposed here.
///
/// Parameters
/// ----------
/// singular_values : mapping of name to 1-D array
///     Each matrix's min(rows, cols) singular values, descending.
/// shapes : sequence of (int, int)
///     Each matrix's (rows, cols), in the mapping's order.
/// vectors : sequence of (array, array), optional
///     Each matrix's U (rows × k) and V (cols × k), k = min(rows, cols); needed when
///     ``porter_thomas`` is True.
/// tensor_names, layer_types, blocks, roles, heads
///     As for :func:`analyze_layers`.
/// spike_confidence, bulk, level_statistics, porter_thomas, window, alpha, min_tail, min_span, errors
///     As for :func:`analyze_layers` (``porter_thomas`` defaults to False here).
///
/// Returns
/// -------
/// dict of LayerReport
///
/// Raises
/// ------
/// InvalidInputError
///     Bad options, a count of values that does not fit its shape, values not descending or not
///     finite, vectors missing or of the wrong shape (with ``errors="raise"``; collected as the
///     row's ``error`` otherwise).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> W = np.random.default_rng(7).normal(size=(300, 100))
/// >>> row = ns.analyze_decomposed_layers({"fc": np.linalg.svd(W, compute_uv=False)}, [W.shape])["fc"]
/// >>> row.n_spikes == ns.analyze_layers({"fc": W}, porter_thomas=False)["fc"].n_spikes
/// True
#[pyfunction]
#[pyo3(signature = (singular_values, shapes, *, vectors = None, tensor_names = None, layer_types = None, blocks = None, roles = None, heads = None, spike_confidence = Real(DEFAULT_SPIKE_CONFIDENCE), bulk = BulkModel::default().name(), level_statistics = DEFAULT_LEVEL_STATISTICS, porter_thomas = false, window = Count(DEFAULT_WINDOW), alpha = Real(DEFAULT_ALPHA), min_tail = Count(DEFAULT_MIN_TAIL), min_span = Real(DEFAULT_MIN_SPAN), errors = ErrorPolicy::default().name()))]
#[allow(clippy::too_many_arguments)]
fn analyze_decomposed_layers<'py>(
    py: Python<'py>,
    singular_values: &Bound<'py, PyAny>,
    shapes: Vec<(usize, usize)>,
    vectors: Option<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>>,
    tensor_names: Option<&Bound<'py, PyAny>>,
    layer_types: Option<&Bound<'py, PyAny>>,
    blocks: Option<Vec<Option<usize>>>,
    roles: Option<&Bound<'py, PyAny>>,
    heads: Option<Vec<Option<usize>>>,
    spike_confidence: Real,
    bulk: &str,
    level_statistics: bool,
    porter_thomas: bool,
    window: Count,
    alpha: Real,
    min_tail: Count,
    min_span: Real,
    errors: &str,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    // The decompositions came from elsewhere, whole: the full route reports on them.
    let options = layer_options(
        spike_confidence,
        bulk,
        Decomposition::default().name(),
        SpectrumRoute::Full,
        level_statistics,
        porter_thomas,
        window,
        alpha,
        (min_tail, min_span),
    )?;
    let policy = ErrorPolicy::parse(errors)?;
    let mut names = Vec::new();
    let mut spectra = Vec::new();
    for item in singular_values.call_method0("items")?.try_iter()? {
        let (key, values): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item?.extract()?;
        let name = key.str()?.to_string();
        spectra.push(
            Vector::extract(
                &values,
                &format!("singular values of {}", quoted(py, &name)),
            )?
            .to_f64(),
        );
        names.push(name);
    }
    if shapes.len() != names.len() {
        return Err(invalid(
            "shapes",
            format!("has {} entries for {} matrices", shapes.len(), names.len()),
        ));
    }
    let mut factors = Vec::new();
    if let Some(pairs) = vectors {
        if pairs.len() != names.len() {
            return Err(invalid(
                "vectors",
                format!("has {} entries for {} matrices", pairs.len(), names.len()),
            ));
        }
        for ((u, v), name) in pairs.iter().zip(&names) {
            let u = Matrix::extract(u, &format!("U of {}", quoted(py, name)))?;
            let v = Matrix::extract(v, &format!("V of {}", quoted(py, name)))?;
            factors.push((to_mat(&u), to_mat(&v)));
        }
    }
    let tensors = labels(tensor_names, &names, "tensor_names", |n| n.to_string())?;
    let types = labels(layer_types, &names, "layer_types", |_| "matrix".to_string())?;
    let (roles, blocks, heads) = positions(roles, blocks, heads, &names)?;
    let jobs: Vec<(usize, Vec<f64>)> = spectra.into_iter().enumerate().collect();
    let shapes_job = shapes.clone();
    let outcomes = run(py, move |stop| {
        Ok(jobs
            .into_iter()
            .map(|(i, s)| {
                let uv = factors.get(i).map(|(u, v)| (u, v));
                report_decomposed(shapes_job[i], s, uv, &options, stop)
            })
            .collect::<Vec<_>>())
    })?;
    let out = pyo3::types::PyDict::new(py);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let ids = (names[i].clone(), tensors[i].clone(), types[i].clone());
        let mut row = match outcome {
            Ok(r) => LayerReport::from_core(py, ids, r)?,
            Err(e) if matches!(policy, ErrorPolicy::Collect) => LayerReport::empty(
                py,
                ids.0,
                ids.1,
                ids.2,
                shapes[i],
                Some(PyErr::from(e).value(py).str()?.to_string()),
            )?,
            Err(e) => return Err(for_matrix(py, &names[i], e.into())),
        };
        row.block = blocks[i];
        row.head = heads[i];
        row.role = roles[i].clone();
        out.set_item(&names[i], Py::new(py, row)?)?;
    }
    Ok(out)
}

pub(super) fn to_mat(m: &Matrix) -> faer::Mat<f64> {
    crate::with_view!(m.view(), v => to_f64_mat(v))
}
