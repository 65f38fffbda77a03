//! Bindings of the doubling condition: exact slab counts and the uniform doubling constant.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::doubling::condition::{
    by_class, class_candidates, doubling_condition as core_doubling, Candidates, DoublingCondition,
    DoublingOptions, Slab as CoreSlab, DEFAULT_N_DELTAS, DEFAULT_N_DIRECTIONS, DEFAULT_TOP_DELTA,
    MIN_DEFAULT_MIN_POINTS,
};
use crate::doubling::directions::DirectionSource;
use crate::doubling::projection::Points;
use crate::doubling::slab_counts::slab_counts as core_slab_counts;
use crate::error::CoreError;
use crate::matrix::{check_finite_matrix, MatrixView, Scalar};

use super::convert::{invalid, Count, Real};
use super::inputs::{LabelArray, Matrix, Vector};
use super::records::{frozen_array, record, Freeze};
use super::run::{run, run_ticking};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(slab_counts, m)?)?;
    m.add_function(wrap_pyfunction!(doubling_condition, m)?)?;
    m.add_class::<Slab>()?;
    m.add_class::<DoublingResult>()?;
    m.add("DIRECTION_SOURCES", DirectionSource::NAMES.to_vec())?;
    Ok(())
}

/// The rows of a matrix holder as f64 vectors (directions are small).
fn rows_of(x: &Matrix) -> Vec<Vec<f64>> {
    fn rows<T: Scalar>(v: MatrixView<'_, T>) -> Vec<Vec<f64>> {
        (0..v.nrows())
            .map(|i| (0..v.ncols()).map(|j| v.get(i, j).to_f64()).collect())
            .collect()
    }
    crate::with_view!(x.view(), v => rows(v))
}

/// The checked points of `X` as the kernels read them.
fn points_of(x: &Matrix) -> Result<Points, CoreError> {
    crate::with_view!(x.view(), v => check_finite_matrix(v, "X").map(|_| Points::from_view(v)))
}

/// A 1-D float argument that may also be one number.
fn values(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<f64>> {
    if let Ok(Real(v)) = obj.extract::<Real>() {
        return Ok(vec![v]);
    }
    Ok(Vector::extract(obj, name)?.to_f64())
}

/// Directions as rows: a (D, d) matrix, or one (d,) vector; checked against the dimension.
fn direction_rows(
    obj: &Bound<'_, PyAny>,
    name: &str,
    dim: usize,
) -> PyResult<(Vec<Vec<f64>>, bool)> {
    let np = obj.py().import("numpy")?;
    let ndim: usize = np.call_method1("ndim", (obj,))?.extract()?;
    let (rows, single) = if ndim == 1 {
        (vec![Vector::extract(obj, name)?.to_f64()], true)
    } else {
        (rows_of(&Matrix::extract(obj, name)?), false)
    };
    if rows.is_empty() {
        return Err(invalid(name, "holds no directions"));
    }
    if let Some(w) = rows.iter().find(|w| w.len() != dim) {
        return Err(invalid(
            name,
            format!(
                "directions have {} coordinates but the points have {dim}",
                w.len()
            ),
        ));
    }
    Ok((rows, single))
}

/// Exact counts #(T ∩ S(w, b, δ)) of the points of ``X`` in the open slabs
/// S(w, b, δ) = {x : |w·x + b| < δ}, for every direction w (normalised to unit length), offset b
/// and half-width δ. A point exactly on a face (|w·x + b| = δ in floating point) is outside.
/// w·x is accumulated in float64 over the coordinates in ascending order, as everywhere in
/// netsieve's doubling condition, so its slabs can be recounted here.
///
/// Parameters
/// ----------
/// X : array_like
///     (N, d) points, finite.
/// directions : array_like
///     (D, d) directions, or one (d,) direction; non-zero.
/// offsets : float or array_like
///     B offsets b.
/// deltas : float or array_like
///     G half-widths δ > 0.
///
/// Returns
/// -------
/// numpy.ndarray
///     int64 counts of shape (D, B, G), or (B, G) for one 1-D direction.
///
/// Raises
/// ------
/// InvalidInputError
///     Non-finite points or offsets, zero directions, widths that are not positive, directions of
///     the wrong length.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> X = np.array([[0.0, 1.0], [1.0, 5.0], [2.0, -3.0], [3.0, 0.0]])
/// >>> ns.slab_counts(X, [1.0, 0.0], offsets=[-1.0], deltas=[1.0, 1.5, 2.0])
/// array([[1, 3, 3]])
#[pyfunction]
#[pyo3(signature = (X, directions, offsets, deltas))]
#[allow(non_snake_case)]
fn slab_counts<'py>(
    py: Python<'py>,
    X: &Bound<'py, PyAny>,
    directions: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    deltas: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Matrix::extract(X, "X")?;
    let (dirs, single) = direction_rows(directions, "directions", x.shape().1)?;
    let (b, d) = (values(offsets, "offsets")?, values(deltas, "deltas")?);
    let (n_dirs, n_b, n_d) = (dirs.len(), b.len(), d.len());
    let counts = run(py, move |stop| {
        let points = points_of(&x)?;
        core_slab_counts(&points, &dirs, &b, &d, stop)
    })?;
    let counts: Vec<i64> = counts.into_iter().map(|c| c as i64).collect();
    let arr = counts.into_pyarray(py);
    let shape: Vec<usize> = if single {
        vec![n_b, n_d]
    } else {
        vec![n_dirs, n_b, n_d]
    };
    arr.call_method1("reshape", (shape,))
}

record! {
    /// One slab S(w, b, δ) = {x : |w·x + b| < δ}: ``inner`` = #(T ∩ S(w, b, δ)), ``outer`` =
    /// #(T ∩ S(w, b, 2δ)), ``ratio`` = outer / inner; ``source`` says where w came from (one of
    /// ``DIRECTION_SOURCES``).
    pub struct Slab as "Slab" {
        direction: Py<PyArray1<f64>>,
        offset: f64,
        delta: f64,
        inner: usize,
        outer: usize,
        ratio: f64,
        source: String,
    }
}

impl Freeze for Py<Slab> {}

record! {
    /// The uniform doubling constant of a data set (see :func:`doubling_condition` and
    /// docs/doubling.md). ``constant_by_delta[g]`` is the largest ratio of any slab of half-width
    /// ``deltas[g]`` holding at least ``min_points`` points (NaN where none does:
    /// ``slabs_by_delta[g]`` is then 0); ``constant`` is the largest over the grid, Ĉ_m(max δ),
    /// attained by ``worst``; ``constant_without_search`` leaves out the directions the local
    /// search found; ``mean_ratio_by_delta`` is the mean ratio of the qualifying slabs (≈ 2 where
    /// the data are locally smooth); ``ratios[i, g]`` the largest ratio of direction
    /// ``directions[i]`` (from ``sources[i]``) at width g; ``by_class`` maps each label to its
    /// class's own result (None when the class has too few points), or is None without labels.
    pub struct DoublingResult as "DoublingResult" custom_repr {
        deltas: Py<PyArray1<f64>>,
        constant_by_delta: Py<PyArray1<f64>>,
        slabs_by_delta: Py<PyAny>,
        mean_ratio_by_delta: Py<PyArray1<f64>>,
        constant: f64,
        constant_without_search: f64,
        worst: Py<Slab>,
        ratios: Py<PyAny>,
        directions: Py<PyAny>,
        sources: Py<PyTuple>,
        min_points: usize,
        n_points: usize,
        by_class: Option<Py<PyAny>>,
    }
    extra {
        /// Ĉ_m(δ₀): the largest ratio over the widths of the grid up to ``delta0`` (NaN when no
        /// slab of those widths qualifies).
        fn constant_up_to(&self, py: Python<'_>, delta0: Real) -> PyResult<f64> {
            let (d, c) = (self.deltas.bind(py).to_vec()?, self.constant_by_delta.bind(py).to_vec()?);
            Ok(d.iter()
                .zip(&c)
                .filter(|(d, c)| **d <= delta0.0 && !c.is_nan())
                .map(|(_, c)| *c)
                .fold(f64::NAN, f64::max))
        }

        /// Plots Ĉ against δ and, given the points ``X``, the worst slab with the data projected
        /// on its direction; ``path`` saves the figure. Needs matplotlib.
        #[pyo3(signature = (X = None, *, path = None))]
        #[allow(non_snake_case)]
        fn plot<'py>(
            slf: &Bound<'py, Self>,
            X: Option<&Bound<'py, PyAny>>,
            path: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            slf.py()
                .import("netsieve.doubling")?
                .getattr("plot_doubling")?
                .call1((slf, X, path))
        }
    }
}

impl DoublingResult {
    fn repr_text(slf: &Bound<'_, Self>) -> PyResult<String> {
        let (py, r) = (slf.py(), slf.get());
        let w = r.worst.get();
        let classes = match &r.by_class {
            Some(d) => format!(", by_class={} classes", d.bind(py).len()?),
            None => String::new(),
        };
        Ok(format!(
            "DoublingResult(constant={:.4} at δ={:.4e} [{}, {}/{} points], without search {:.4}, m={}, N={}, {} directions × {} widths{classes})",
            r.constant,
            w.delta,
            w.source,
            w.outer,
            w.inner,
            r.constant_without_search,
            r.min_points,
            r.n_points,
            r.sources.bind(py).len(),
            r.deltas.bind(py).len()?,
        ))
    }
}

fn read_only_2d<'py>(
    py: Python<'py>,
    values: Vec<f64>,
    rows: usize,
    cols: usize,
) -> PyResult<Py<PyAny>> {
    let arr = values
        .into_pyarray(py)
        .call_method1("reshape", ((rows, cols),))?;
    arr.call_method1("setflags", (false,))?;
    Ok(arr.unbind())
}

fn slab_record(py: Python<'_>, s: CoreSlab) -> PyResult<Py<Slab>> {
    let ratio = s.ratio();
    Py::new(
        py,
        Slab {
            direction: frozen_array(py, s.direction)?,
            offset: s.offset,
            delta: s.delta,
            inner: s.inner,
            outer: s.outer,
            ratio,
            source: s.source.name().to_string(),
        },
    )
}

fn result_record(
    py: Python<'_>,
    r: DoublingCondition,
    by_class: Option<Py<PyAny>>,
) -> PyResult<DoublingResult> {
    let (n_dirs, dim, g) = (r.directions.len(), r.worst.direction.len(), r.deltas.len());
    let slabs: Vec<i64> = r.slabs_by_delta.iter().map(|&c| c as i64).collect();
    let slabs = slabs.into_pyarray(py);
    slabs.call_method1("setflags", (false,))?;
    Ok(DoublingResult {
        deltas: frozen_array(py, r.deltas)?,
        constant_by_delta: frozen_array(py, r.constant_by_delta)?,
        slabs_by_delta: slabs.into_any().unbind(),
        mean_ratio_by_delta: frozen_array(py, r.mean_ratio_by_delta)?,
        constant: r.constant,
        constant_without_search: r.constant_without_search,
        worst: slab_record(py, r.worst)?,
        ratios: read_only_2d(py, r.ratios, n_dirs, g)?,
        directions: read_only_2d(
            py,
            r.directions.into_iter().flatten().collect(),
            n_dirs,
            dim,
        )?,
        sources: PyTuple::new(py, r.sources.iter().map(|s| s.name()))?.unbind(),
        min_points: r.min_points,
        n_points: r.n_points,
        by_class,
    })
}

/// The uniform doubling constant Ĉ_m of a data set: the largest doubling ratio
/// #(T ∩ S(w,b,2δ)) / #(T ∩ S(w,b,δ)) over slabs S(w, b, δ) = {x : |w·x + b| < δ} holding at least
/// m = ``min_points`` points, after Berlyand, Jabin & Safsten and Shmalo's uniform version (the
/// definitions, why they are uniform, and what m does: docs/doubling.md). A small Ĉ (≈ 2–4 at
/// small δ) means no thin slab of the data is much fuller than its surroundings; a Ĉ that grows
/// as δ → 0 marks a flat portion (points on or near a hyperplane), the source of instability the
/// papers name.
///
/// Computed as a lower bound of the supremum: w over seeded random unit vectors, the principal
/// axes of the data, differences of class means (with ``labels``), the first-layer rows of
/// ``model``, the given ``directions``, and a local search from the best of them (on a subsample
/// of 20,000 points); b over the slabs centred on each point (b = −w·x_j); δ over the grid.
/// Cost O(D·N·(log N + G)) for D directions and G widths, parallel, GIL released.
///
/// Parameters
/// ----------
/// X : array_like
///     (N, d) points, N ≥ 2, finite.
/// labels : array_like, optional
///     N integer labels: ``by_class`` then holds each class's own constant (the whole set stays
///     the default, ``constant``), and differences of class means join the directions.
/// deltas : array_like, optional
///     Strictly increasing half-widths. Default: 12 widths δ₀·2^−k, δ₀ = ¼·√(tr Cov(X)/d).
/// min_points : int, optional
///     The cut m in 1..N. Default max(10, ⌈√N⌉).
/// n_directions : int, default 256
///     Random directions.
/// seed : int, default 0
/// model : optional
///     A model whose first layer's weight rows join the directions (any object with
///     ``named_parameters``, e.g. a torch module, or an (n, d) array of rows).
/// directions : array_like, optional
///     (D, d) further directions to try.
/// search : bool, default True
///     Run the local search.
/// progress : callable, optional
///     Called as ``progress(done, total)`` about every 50 ms while the computation runs, with the
///     directions evaluated or searched so far and the total known so far (it grows when the
///     search and the classes start); an exception it raises stops the computation.
///
/// Returns
/// -------
/// DoublingResult
///
/// Raises
/// ------
/// InvalidInputError
///     Fewer than two points, NaN/Inf, an empty or non-increasing δ grid, m out of range, labels
///     of the wrong length, zero directions, or no slab holding m points.
///
/// References
/// ----------
/// - L. Berlyand, P.-E. Jabin and C. A. Safsten, Stability for the training of deep neural networks and other classifiers, arXiv 2002.04122 (2020).
/// - Y. Shmalo, Stability of accuracy for the training of DNNs via the uniform doubling condition, arXiv 2210.08415 (2023).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(0)
/// >>> X = rng.normal(size=(2000, 5))
/// >>> flat = X.copy(); flat[:500, 0] = 0.0            # a quarter of the points on a hyperplane
/// >>> a, b = ns.doubling_condition(X, seed=1), ns.doubling_condition(flat, seed=1)
/// >>> bool(b.constant > 3 * a.constant), bool(abs(b.worst.direction[0]) > 0.99)  # 12.3 against 3.2
/// (True, True)
#[pyfunction]
#[pyo3(signature = (
    X, labels = None, deltas = None, min_points = None,
    n_directions = Count(DEFAULT_N_DIRECTIONS), seed = Count(0), model = None,
    *, directions = None, search = true, progress = None
))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn doubling_condition(
    py: Python<'_>,
    X: &Bound<'_, PyAny>,
    labels: Option<&Bound<'_, PyAny>>,
    deltas: Option<&Bound<'_, PyAny>>,
    min_points: Option<Count>,
    n_directions: Count,
    seed: Count,
    model: Option<&Bound<'_, PyAny>>,
    directions: Option<&Bound<'_, PyAny>>,
    search: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<DoublingResult> {
    let x = Matrix::extract(X, "X")?;
    let (n, dim) = x.shape();
    let mut extra = Candidates {
        directions: Vec::new(),
        sources: Vec::new(),
    };
    if let Some(model) = model.filter(|m| !m.is_none()) {
        let rows = py
            .import("netsieve.doubling")?
            .getattr("first_layer_rows")?
            .call1((model, dim))?;
        extra.add(
            &direction_rows(&rows, "model", dim)?.0,
            DirectionSource::Model,
            "model",
        )?;
    }
    if let Some(d) = directions.filter(|d| !d.is_none()) {
        extra.add(
            &direction_rows(d, "directions", dim)?.0,
            DirectionSource::Given,
            "directions",
        )?;
    }
    let classes = match labels.filter(|l| !l.is_none()) {
        None => None,
        Some(l) => {
            let l = LabelArray::extract(l, "labels")?;
            let l = l.labels();
            if l.len() != n {
                return Err(invalid(
                    "labels",
                    format!("has {} entries but X has {n} points", l.len()),
                ));
            }
            let raw: Vec<i64> = (0..n).map(|i| l.get(i)).collect();
            let mut distinct = raw.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let idx: Vec<usize> = raw
                .iter()
                .map(|v| distinct.binary_search(v).expect("present"))
                .collect();
            Some((distinct, idx))
        }
    };
    let options = DoublingOptions {
        deltas: deltas
            .filter(|d| !d.is_none())
            .map(|d| values(d, "deltas"))
            .transpose()?,
        min_points: min_points.map(|m| m.0),
        n_directions: n_directions.0,
        seed: seed.0 as u64,
        search,
        ..Default::default()
    };
    let class_info = classes.as_ref().map(|(d, i)| (d.len(), i.clone()));
    let counter = options.progress.clone();
    let report = progress.filter(|p| !p.is_none(py));
    let tick = move |py: Python<'_>| -> PyResult<()> {
        if let Some(callback) = &report {
            let (done, total) = counter.get();
            callback.call1(py, (done, total))?;
        }
        Ok(())
    };
    let (whole, per_class) = run_ticking(
        py,
        move |stop| {
            let points = points_of(&x)?;
            if let Some((k, idx)) = &class_info {
                let means = class_candidates(&points, idx, *k)?;
                extra.directions.extend(means.directions);
                extra.sources.extend(means.sources);
            }
            let whole = core_doubling(&points, &extra, &options, stop)?;
            let per_class = match &class_info {
                Some((k, idx)) => Some(by_class(&points, idx, *k, &extra, &options, stop)?),
                None => None,
            };
            Ok((whole, per_class))
        },
        tick,
    )?;
    let by_class = match (classes, per_class) {
        (Some((labels, _)), Some(results)) => {
            let d = PyDict::new(py);
            for (label, r) in labels.into_iter().zip(results) {
                match r {
                    Some(r) => d.set_item(label, Py::new(py, result_record(py, r, None)?)?)?,
                    None => d.set_item(label, py.None())?,
                }
            }
            Some(d.into_any().unbind())
        }
        _ => None,
    };
    let by_class = by_class.freeze(py)?;
    result_record(py, whole, by_class)
}

/// The defaults of the doubling condition, for `DEFAULTS`.
pub fn defaults(d: &Bound<'_, PyDict>) -> PyResult<()> {
    d.set_item("n_directions", DEFAULT_N_DIRECTIONS)?;
    d.set_item("n_deltas", DEFAULT_N_DELTAS)?;
    d.set_item("top_delta", DEFAULT_TOP_DELTA)?;
    d.set_item("min_points_floor", MIN_DEFAULT_MIN_POINTS)?;
    Ok(())
}
