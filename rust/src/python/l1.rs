//! Bindings of the L1 solvers: least-absolute-deviation and quantile regression (`lad_fit`) and
//! layer-wise L1 training by vertex descent (`l1_vertex_descent`).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::l1::lad::{
    lad_fit as core_lad_fit, LadOptions, DEFAULT_FIT_INTERCEPT, DEFAULT_QUANTILE,
};
use crate::l1::vertex_descent::{
    vertex_descent, Activation, ActivationKind, DescentOptions, Network, TraceEntry,
    DEFAULT_LEAKY_SLOPE, DEFAULT_WINDOW,
};

use super::convert::{invalid, Count, Real};
use super::inputs::{Matrix, Vector};
use super::records::{frozen_array, record, Freeze};
use super::run::{run, run_partial};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lad_fit, m)?)?;
    m.add_class::<LADFit>()?;
    m.add_function(wrap_pyfunction!(l1_vertex_descent, m)?)?;
    m.add_class::<VertexDescentResult>()?;
    m.add_class::<DescentTrace>()?;
    Ok(())
}

record! {
    /// An exact least-absolute-deviation (``quantile=0.5``) or quantile regression fit.
    ///
    /// ``coef`` holds the p coefficients and ``intercept`` the constant (0.0 without one);
    /// ``loss`` = Σᵢ|rᵢ| and ``objective`` = Σᵢ ρ_τ(rᵢ), the check loss that was minimised
    /// (``loss/2`` at τ = ½), with residuals rᵢ = yᵢ − xᵢ·coef − intercept; ``n_pivots`` counts the
    /// simplex pivots; ``status`` is ``"optimal"`` (no edge of the final vertex descends: the LP
    /// optimum) or ``"limit"`` (``max_pivots`` reached: the last vertex); ``basis`` lists the
    /// observations whose residuals are zero by construction at that vertex.
    pub struct LADFit as "LADFit" {
        coef: Py<numpy::PyArray1<f64>>,
        intercept: f64,
        loss: f64,
        objective: f64,
        quantile: f64,
        n_pivots: usize,
        status: String,
        basis: Py<PyTuple>,
    }
}

/// Least-absolute-deviation regression, or quantile regression, solved exactly.
///
/// Minimises Σᵢ ρ_τ(yᵢ − xᵢ·β − β₀) with ρ_τ(r) = r·(τ − 1[r < 0]), τ = ``quantile``; at τ = ½
/// this is half of Σᵢ|rᵢ|, least absolute deviations. The solver is the Barrodale–Roberts simplex:
/// it walks over vertices of the piecewise-linear loss (q residuals at zero, q the number of
/// coefficients), choosing the steepest descending edge and going along it to the exact minimum on
/// that line (Barrodale and Roberts' multi-pivot ratio test, a weighted selection in O(N)). The
/// extension to quantiles is exact: only the costs of leaving a hyperplane change. Degenerate
/// pivots (more than q zero residuals) switch to Bland's rule until the loss falls again; a pivot
/// cap ends any run. The result is a vertex, so at least q residuals are exactly zero.
///
/// Parameters
/// ----------
/// X : array_like
///     (N, p) data of any float dtype (numpy, torch, lists); N ≥ p + 1 with an intercept.
/// y : array_like
///     N targets.
/// fit_intercept : bool, default True
/// quantile : float, default 0.5
///     τ in (0, 1).
/// max_pivots : int, optional
///     Pivot cap; default 10·(N + q), far more than needed.
///
/// Returns
/// -------
/// LADFit
///
/// Raises
/// ------
/// InvalidInputError
///     Mismatched lengths, non-finite values (named by row and column), fewer rows than
///     coefficients, a rank-deficient design, ``quantile`` outside (0, 1).
/// ConvergenceError
///     The basis became numerically singular (not seen in tests; please report it).
///
/// References
/// ----------
/// - I. Barrodale and F. D. K. Roberts, An improved algorithm for discrete l1 linear approximation, SIAM J. Numer. Anal. 10 (1973).
/// - R. Koenker and V. d'Orey, Computing regression quantiles, Appl. Statist. 36 (1987).
/// - P. Hinz and S. van de Geer, Deep ReLU Programming, arXiv 2011.14895 (2020).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
/// >>> fit = ns.lad_fit(X, [1.0, 3.0, 5.0, 7.0, 100.0])      # one gross outlier
/// >>> fit.coef, fit.intercept, fit.loss, fit.status
/// (array([2.]), 1.0, 91.0, 'optimal')
/// >>> ns.lad_fit(X, [0.0, 1.0, 2.0, 3.0, 4.0], quantile=0.9).objective
/// 0.0
#[pyfunction]
#[pyo3(signature = (X, y, fit_intercept = DEFAULT_FIT_INTERCEPT, quantile = Real(DEFAULT_QUANTILE), *, max_pivots = None))]
#[allow(non_snake_case)]
fn lad_fit(
    py: Python<'_>,
    X: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    fit_intercept: bool,
    quantile: Real,
    max_pivots: Option<Count>,
) -> PyResult<LADFit> {
    let x = Matrix::extract(X, "X")?;
    let yv = Vector::extract(y, "y")?;
    if yv.len() != x.shape().0 {
        return Err(invalid(
            "y",
            format!("has {} values but X has {} rows", yv.len(), x.shape().0),
        ));
    }
    let options = LadOptions {
        fit_intercept,
        quantile: quantile.0,
        max_pivots: max_pivots.map(|c| c.0),
    };
    options.validate()?;
    let fit = run(py, move |stop| {
        let y = yv.to_f64();
        crate::with_view!(x.view(), v => core_lad_fit(v, &y, &options, stop))
    })?;
    Ok(LADFit {
        coef: frozen_array(py, fit.coef)?,
        intercept: fit.intercept,
        loss: fit.loss,
        objective: fit.objective,
        quantile: quantile.0,
        n_pivots: fit.n_pivots,
        status: fit.status.name().to_string(),
        basis: PyTuple::new(py, fit.basis)?.unbind(),
    })
}

/// The items of a sequence argument (a string is refused).
fn items<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(invalid(name, "must be a sequence"));
    }
    obj.try_iter()
        .map_err(|_| invalid(name, "must be a sequence"))?
        .collect()
}

/// A matrix argument copied to a row-major f64 vector, with its shape.
fn matrix_f64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<f64>, usize, usize)> {
    fn copy<T: crate::matrix::Scalar>(v: crate::matrix::MatrixView<'_, T>) -> Vec<f64> {
        (0..v.nrows())
            .flat_map(|i| (0..v.ncols()).map(move |j| v.get(i, j).to_f64()))
            .collect()
    }
    let m = Matrix::extract(obj, name)?;
    let (r, c) = m.shape();
    let data = crate::with_view!(m.view(), v => copy(v));
    Ok((data, r, c))
}

/// An activation given as a name or a (name, negative slope) pair.
fn activation_of(obj: &Bound<'_, PyAny>, k: usize) -> PyResult<Activation> {
    let (name, slope): (String, f64) = if let Ok(name) = obj.extract::<String>() {
        (name, DEFAULT_LEAKY_SLOPE)
    } else if let Ok((name, slope)) = obj.extract::<(String, Real)>() {
        (name, slope.0)
    } else {
        return Err(invalid(
            "activations",
            format!(
                "entry {k} must be a name or a (name, negative_slope) pair, got {}",
                obj.repr()?
            ),
        ));
    };
    let kind = ActivationKind::parse(&name)?;
    Ok(Activation::new(kind, slope)?)
}

record! {
    /// The trace of a vertex descent: one entry per phase-2 vertex.
    ///
    /// ``loss[k]`` is F at vertex k, ``step[k]`` = ‖θ_k − θ_{k−1}‖, ``regions_tried[k]`` the
    /// number of regions whose edges were tested before a descending one was found (1: the
    /// current region's), ``extrapolated[k]`` the estimate of the loss at the minimum from the
    /// losses up to vertex k (NaN while fewer than 3 decreases are in the window or they do not
    /// decay; see :func:`l1_vertex_descent`).
    pub struct DescentTrace as "DescentTrace" {
        loss: Py<numpy::PyArray1<f64>>,
        step: Py<numpy::PyArray1<f64>>,
        regions_tried: Py<numpy::PyArray1<f64>>,
        extrapolated: Py<numpy::PyArray1<f64>>,
    }
}

impl Freeze for Py<DescentTrace> {}

record! {
    /// The result of :func:`l1_vertex_descent`.
    ///
    /// ``weight`` (n_ℓ × n_{ℓ−1}, read-only) and ``bias`` are the trained layer; ``loss`` is
    /// Σᵢ‖g(xᵢ) − yᵢ‖₁ at them, from a fresh forward pass; ``initial_loss`` at the start and
    /// ``phase1_loss`` at the first vertex; ``status`` is ``"local_minimum"``, ``"unbounded"``,
    /// ``"limit"``, ``"interrupted"`` (Ctrl-C: the point reached, a vertex unless phase 1 was cut
    /// short) or ``"breakdown"`` (the fresh normals at the point reached were numerically
    /// dependent: the point is returned, but may not be a vertex); ``n_vertices`` counts phase-2
    /// vertices (the length of ``trace``); ``n_params`` is n0 = n_ℓ·(n_{ℓ−1} + 1); ``active`` lists
    /// the units that vanish at the returned vertex
    /// as (data point, unit, sign) with units numbered per data point: the neurons of layers
    /// ℓ..L−2 in order, then the outputs (residuals); ``extrapolated_loss`` is the last trace
    /// entry's estimate; ``max_drift`` the largest relative change of the edge matrix at a
    /// refactorisation; ``degenerate_steps`` steps of length 0; ``seconds`` the run time.
    pub struct VertexDescentResult as "VertexDescentResult" {
        weight: Py<PyAny>,
        bias: Py<numpy::PyArray1<f64>>,
        loss: f64,
        initial_loss: f64,
        phase1_loss: f64,
        status: String,
        n_vertices: usize,
        n_params: usize,
        extrapolated_loss: f64,
        trace: Py<DescentTrace>,
        active: Py<PyTuple>,
        max_drift: f64,
        degenerate_steps: usize,
        seconds: f64,
    }
}

/// Trains one layer of a piecewise-linear network for the L1 loss by vertex descent (Deep ReLU
/// Programming): the loss never increases, and every point returned is a vertex.
///
/// With the data and all other layers fixed, F(θ) = Σᵢ‖g(xᵢ; θ) − yᵢ‖₁ is continuous and
/// piecewise affine in the parameters θ = (W_ℓ, b_ℓ) of layer ℓ; every pre-activation of layers
/// ℓ.. and every output residual of every data point is zero on a (bent) hyperplane. Phase 1
/// follows −∇F, projected off the hyperplanes reached, to a vertex (n0 of them with independent
/// normals). Phase 2 walks from vertex to adjacent vertex along the steepest descending edge
/// (slope per unit length), changing region across one active hyperplane at a time when none
/// descends, until no edge of the regions explored descends (``"local_minimum"``). The edge matrix
/// is updated by rank-one formulas and refactorised every 50 vertices. Along the way,
/// L_k ≈ L∞ + A·e^(−λk) is fitted to the last ``window`` loss decreases (log D_k linear in k, least
/// squares) and L∞ = L_K − D̂_K/(1 − e^(−λ)) is reported per vertex. Definitions, the anti-cycling
/// rule and tolerances: ``docs/l1-descent.md``.
///
/// Parameters
/// ----------
/// weights : sequence of array_like
///     L matrices, layer k of shape (n_k, n_{k−1}) as in ``torch.nn.Linear``.
/// biases : sequence of array_like
///     L vectors.
/// activations : sequence of str or (str, float)
///     L − 1 activations, one after each layer but the last: ``"relu"``, ``"abs"`` or
///     ``"leaky_relu"`` (negative slope 0.01, or give ``("leaky_relu", slope)``).
/// X : array_like
///     (N, n_{−1}) inputs.
/// y : array_like
///     N targets (1-D) for a scalar output, or (N, n_out).
/// layer : int, default 0
///     The trained layer, 0..L−1.
/// max_vertices : int, optional
///     Phase-2 vertices to visit at most (status ``"limit"``).
/// time_limit : float, optional
///     Seconds (status ``"limit"``; checked once per vertex). Ctrl-C also ends the walk at the
///     next vertex and returns the result so far with status ``"interrupted"`` (a second Ctrl-C
///     raises ``KeyboardInterrupt`` at once).
/// window : int, default 20
///     Loss decreases used by the extrapolation (≥ 3).
///
/// Returns
/// -------
/// VertexDescentResult
///
/// Raises
/// ------
/// InvalidInputError
///     Shapes that do not chain, a layer out of range, non-finite values, an unknown activation,
///     y of the wrong shape, inputs of layer ℓ that do not span n_{ℓ−1} + 1 dimensions (no vertex
///     exists, e.g. a unit dead on all data).
/// ConvergenceError
///     Not raised by the walk itself: a numerical breakdown ends it with status ``"breakdown"``.
///
/// References
/// ----------
/// - P. Hinz and S. van de Geer, Deep ReLU Programming, arXiv 2011.14895 (2020).
/// - P. Hinz, The layer-wise L1 loss landscape of neural nets is more complex around local minima, arXiv 2105.02831 (2021).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(0)
/// >>> X, y = rng.uniform(-3, 3, (200, 4)), rng.uniform(-3, 3, 200)
/// >>> Ws = [rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (1, 5))]
/// >>> bs = [rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 1)]
/// >>> res = ns.l1_vertex_descent(Ws, bs, ["relu"], X, y, layer=0)
/// >>> res.status, res.loss <= res.phase1_loss <= res.initial_loss, res.weight.shape
/// ('local_minimum', True, (5, 4))
#[pyfunction]
#[pyo3(signature = (weights, biases, activations, X, y, layer = Count(0), *, max_vertices = None, time_limit = None, window = Count(DEFAULT_WINDOW)))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn l1_vertex_descent(
    py: Python<'_>,
    weights: &Bound<'_, PyAny>,
    biases: &Bound<'_, PyAny>,
    activations: &Bound<'_, PyAny>,
    X: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    layer: Count,
    max_vertices: Option<Count>,
    time_limit: Option<Real>,
    window: Count,
) -> PyResult<VertexDescentResult> {
    let ws = items(weights, "weights")?;
    let bs = items(biases, "biases")?;
    let acts = items(activations, "activations")?;
    let mut net = Network {
        weights: Vec::new(),
        biases: Vec::new(),
        widths: Vec::new(),
        activations: Vec::new(),
    };
    if ws.len() != bs.len() {
        return Err(invalid(
            "biases",
            format!("{} bias vectors for {} weight matrices", bs.len(), ws.len()),
        ));
    }
    for (k, (w, b)) in ws.iter().zip(&bs).enumerate() {
        let (data, rows, cols) = matrix_f64(w, "weights")?;
        if k == 0 {
            net.widths.push(cols);
        } else if cols != net.widths[k] {
            return Err(invalid(
                "weights",
                format!(
                    "layer {k} has {cols} columns but layer {} has {} rows",
                    k - 1,
                    net.widths[k]
                ),
            ));
        }
        let bias = Vector::extract(b, "biases")?.to_f64();
        if bias.len() != rows {
            return Err(invalid(
                "biases",
                format!("layer {k}: {} biases for {rows} units", bias.len()),
            ));
        }
        net.widths.push(rows);
        net.weights.push(data);
        net.biases.push(bias);
    }
    for (k, a) in acts.iter().enumerate() {
        net.activations.push(activation_of(a, k)?);
    }
    net.validate()?;
    let (x, n, d) = matrix_f64(X, "X")?;
    if net.widths.first() != Some(&d) {
        return Err(invalid(
            "X",
            format!(
                "has {d} columns but the first layer takes {}",
                net.widths[0]
            ),
        ));
    }
    let n_out = *net.widths.last().expect("validated");
    let ndim: usize = py
        .import("netsieve._coerce")?
        .getattr("as_float_array")?
        .call1((y, "y"))?
        .getattr("ndim")?
        .extract()?;
    let yv = match ndim {
        1 if n_out == 1 => Vector::extract(y, "y")?.to_f64(),
        2 => {
            let (data, r, c) = matrix_f64(y, "y")?;
            if c != n_out {
                return Err(invalid(
                    "y",
                    format!("has {c} columns but the network has {n_out} outputs"),
                ));
            }
            if r != n {
                return Err(invalid("y", format!("has {r} rows but X has {n}")));
            }
            data
        }
        _ => {
            return Err(invalid(
                "y",
                format!("must be 1-D (scalar output) or (N, {n_out}), got {ndim} dimensions"),
            ))
        }
    };
    if yv.len() != n * n_out {
        return Err(invalid(
            "y",
            format!("has {} values but X has {n} rows", yv.len()),
        ));
    }
    let options = DescentOptions {
        layer: layer.0,
        max_vertices: max_vertices.map(|c| c.0),
        time_limit: time_limit.map(|t| t.0),
        window: window.0,
    };
    // Ctrl-C ends the walk with status "interrupted" and returns the point reached.
    let res = run_partial(py, move |stop| {
        vertex_descent(&net, &x, &yv, &options, stop)
    })?;
    let cols = res.weight.len() / res.bias.len();
    let weight = frozen_array(py, res.weight)?
        .bind(py)
        .call_method1("reshape", ((res.bias.len(), cols),))?;
    weight.call_method1("setflags", (false,))?;
    let col = |f: fn(&TraceEntry) -> f64| -> PyResult<_> {
        frozen_array(py, res.trace.iter().map(f).collect())
    };
    let trace = Py::new(
        py,
        DescentTrace {
            loss: col(|e| e.loss)?,
            step: col(|e| e.step)?,
            regions_tried: col(|e| e.regions_tried as f64)?,
            extrapolated: col(|e| e.extrapolated)?,
        },
    )?;
    let active: Vec<(usize, usize, i8)> = res.active;
    Ok(VertexDescentResult {
        weight: weight.unbind(),
        bias: frozen_array(py, res.bias)?,
        loss: res.loss,
        initial_loss: res.initial_loss,
        phase1_loss: res.phase1_loss,
        status: res.status.name().to_string(),
        n_vertices: res.trace.len(),
        n_params: res.n_params,
        extrapolated_loss: res.trace.last().map_or(f64::NAN, |e| e.extrapolated),
        trace,
        active: PyTuple::new(py, active)?.unbind(),
        max_drift: res.max_drift,
        degenerate_steps: res.degenerate_steps,
        seconds: res.seconds,
    })
}
