//! Bindings of the margin kernels: margins, their summary, lowest-margin selection, the GDV and
//! the streaming total variation.

use std::sync::Mutex;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::margins::gdv::gdv as core_gdv;
use crate::margins::logit_margin::{margins as core_margins, MarginKind, DEFAULT_TOP_K};
use crate::margins::selection::lowest_margins as core_lowest_margins;
use crate::margins::summary::{
    margin_summary as core_margin_summary, MarginSummary as CoreSummary, DEFAULT_QUANTILES,
};
use crate::margins::total_variation::TotalVariation as CoreTotalVariation;
use crate::matrix::{AnyMatrix, AnyVec};

use super::convert::{invalid, Count, Real};
use super::inputs::{like, LabelArray, Matrix, ResultKind, Vector, VectorView};
use super::records::record;
use super::run::run;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(margins, m)?)?;
    m.add_function(wrap_pyfunction!(margin_summary, m)?)?;
    m.add_function(wrap_pyfunction!(lowest_margins, m)?)?;
    m.add_function(wrap_pyfunction!(gdv, m)?)?;
    m.add_class::<MarginSummary>()?;
    m.add_class::<GDVResult>()?;
    m.add_class::<TotalVariation>()?;
    Ok(())
}

/// Per-row margin of an (N, C) score matrix: f_y − f_c, with f_c the ``top_k``-th largest
/// competitor value (j ≠ y, counted with multiplicity; ``top_k=1`` is the strongest competitor).
///
/// ``kind="logit"`` works on the raw scores; ``kind="probability"`` on softmax(f), from
/// max-shifted exponentials so it never overflows (result in [−1, 1]). NaN and +Inf logits are
/// errors; −Inf masks a class: a −Inf true class gives −Inf, all competitors −Inf give +Inf, a row
/// of only −Inf is an error. Ties give 0, so ``margin > 0`` exactly when the true class is the
/// unique arg-max.
///
/// Parameters
/// ----------
/// logits : array_like
///     (N, C) scores of any float dtype and strides (numpy, torch on any device).
/// labels : array_like
///     N integer labels in [0, C) (floats and bools are refused).
/// kind : {"logit", "probability"}, default "logit"
/// top_k : int, default 1
///     In 1..C−1.
///
/// Returns
/// -------
/// numpy.ndarray or torch.Tensor
///     N margins in the logits' dtype (a tensor for tensor logits, on their device).
///
/// Raises
/// ------
/// InvalidInputError
///     Bad shapes, labels out of range, NaN/+Inf logits (the error names the row and column).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> ns.margins(np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]), [0, 0])
/// array([ 1., -3.])
#[pyfunction]
#[pyo3(signature = (logits, labels, kind = MarginKind::default().name(), *, top_k = Count(DEFAULT_TOP_K)))]
fn margins<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    kind: &str,
    top_k: Count,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = MarginKind::parse(kind)?;
    let x = Matrix::extract(logits, "logits")?;
    let y = LabelArray::extract(labels, "labels")?;
    let (original, restore) = (x.original.clone_ref(py), x.restore);
    let out = run(py, move |stop| {
        Ok(match x.view() {
            AnyMatrix::F32(v) => AnyVec::F32(core_margins(v, y.labels(), kind, top_k.0, stop)?),
            AnyMatrix::F64(v) => AnyVec::F64(core_margins(v, y.labels(), kind, top_k.0, stop)?),
            // `Matrix::extract` gives float32 or float64 only (bfloat16 arrives as its float32 copy).
            AnyMatrix::Bf16(_) => {
                return Err(crate::error::CoreError::invalid(
                    "X",
                    "bfloat16 is not read in place here",
                ))
            }
        })
    })?;
    let arr = match out {
        AnyVec::F32(v) => v.into_pyarray(py).into_any(),
        AnyVec::F64(v) => v.into_pyarray(py).into_any(),
    };
    like(py, &original, restore, arr, ResultKind::Input)
}

record! {
    /// Summary of a margin distribution: population statistics (ddof = 0) and quantiles by
    /// numpy's default linear interpolation; ``quantiles`` maps each requested level to its value.
    /// ±Inf margins (masked classes) are legal: count, min, max, quantiles, fences and
    /// ``fraction_positive`` include them; mean, std, skewness, kurtosis and ``auc`` are those of
    /// the finite margins, and ``n_infinite`` counts the others;
    /// (q1, median, q3, upper_fence, lower_fence) is Jiang et al.'s signature (fences at
    /// 1.5·IQR); ``auc`` is the area under the sorted-margin curve over the normalised rank
    /// (Banburski et al., see :mod:`netsieve.margins`).
    pub struct MarginSummary as "MarginSummary" {
        count: usize,
        mean: f64,
        std: f64,
        min: f64,
        max: f64,
        quantiles: Py<PyAny>,
        q1: f64,
        median: f64,
        q3: f64,
        upper_fence: f64,
        lower_fence: f64,
        skewness: f64,
        kurtosis: f64,
        fraction_positive: f64,
        auc: f64,
        n_infinite: usize,
    }
    extra {
        /// q3 − q1.
        #[getter]
        fn iqr(&self) -> f64 {
            self.q3 - self.q1
        }

        /// Jiang et al.'s quartile signature (Q1, Q2, Q3, upper fence, lower fence).
        #[getter]
        fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
            vec![self.q1, self.median, self.q3, self.upper_fence, self.lower_fence].into_pyarray(py)
        }

        /// (mean, std, skewness, excess kurtosis).
        #[getter]
        fn moments<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray1<f64>> {
            vec![self.mean, self.std, self.skewness, self.kurtosis].into_pyarray(py)
        }
    }
}

fn summary_record(py: Python<'_>, s: CoreSummary) -> PyResult<MarginSummary> {
    let d = PyDict::new(py);
    for (p, q) in s.probs.iter().zip(&s.quantiles) {
        d.set_item(p, q)?;
    }
    // A read-only view: records are immutable.
    let quantiles = py
        .import("types")?
        .getattr("MappingProxyType")?
        .call1((d,))?;
    Ok(MarginSummary {
        count: s.count,
        mean: s.mean,
        std: s.std,
        min: s.min,
        max: s.max,
        quantiles: quantiles.unbind(),
        q1: s.q1,
        median: s.median,
        q3: s.q3,
        upper_fence: s.upper_fence,
        lower_fence: s.lower_fence,
        skewness: s.skewness,
        kurtosis: s.kurtosis,
        fraction_positive: s.fraction_positive,
        auc: s.auc,
        n_infinite: s.n_infinite,
    })
}

/// Summary statistics of 1-D margins.
///
/// Parameters
/// ----------
/// m : array_like
///     Margins (float; ±Inf allowed, NaN is an error).
/// quantiles : float or sequence of float, optional
///     Default (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95).
///     Quantile levels to report, each in [0, 1].
/// positive_only : bool, default False
///     Keep only margins > 0, as Jiang et al. do for their signature (they drop misclassified
///     training points).
///
/// Returns
/// -------
/// MarginSummary
///
/// Raises
/// ------
/// InvalidInputError
///     Empty input (or no positive margin with ``positive_only``), NaN, only infinite margins,
///     levels outside [0, 1].
///
/// References
/// ----------
/// - Y. Jiang, D. Krishnan, H. Mobahi and S. Bengio, Predicting the generalization gap in deep networks with margin distributions, ICLR 2019 (the quartile signature).
/// - A. Banburski, F. De La Torre, N. Pant, I. Shastri and T. Poggio, Distribution of classification margins: are all data equal?, arXiv 2107.10199 (2021) (the area under the margin curve).
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> s = ns.margin_summary([3.0, -1.0, 1.0, 5.0, 0.0], quantiles=[0.1])
/// >>> s.mean, s.median, s.fraction_positive, dict(s.quantiles)
/// (1.6, 1.0, 0.6, {0.1: -0.6})
#[pyfunction]
#[pyo3(signature = (m, quantiles = None, *, positive_only = false))]
fn margin_summary(
    py: Python<'_>,
    m: &Bound<'_, PyAny>,
    quantiles: Option<&Bound<'_, PyAny>>,
    positive_only: bool,
) -> PyResult<MarginSummary> {
    let probs: Vec<f64> = match quantiles.filter(|q| !q.is_none()) {
        None => DEFAULT_QUANTILES.to_vec(),
        Some(q) => match q.extract::<Real>() {
            Ok(Real(one)) => vec![one],
            Err(_) => q.extract::<Vec<Real>>()?.into_iter().map(|r| r.0).collect(),
        },
    };
    let v = Vector::extract(m, "m")?;
    let s = run(py, move |_stop| {
        let mut values = v.to_f64();
        if positive_only {
            // NaN stays in so that the summary reports it.
            values.retain(|&x| x > 0.0 || x.is_nan());
            if values.is_empty() {
                return Err(crate::error::CoreError::invalid(
                    "m",
                    "no positive margins to summarise (positive_only=True)",
                ));
            }
        }
        core_margin_summary(&values, &probs)
    })?;
    summary_record(py, s)
}

/// Indices of the ``k`` smallest margins, or of the ⌈fraction·N⌉ smallest, ordered by (margin,
/// index): ties go to the smaller index. Selection is O(N) (no full sort); only the winners are
/// sorted. ±Inf are ordinary values, NaN is an error.
///
/// Parameters
/// ----------
/// m : array_like
/// k : int, optional
///     In 0..N.
/// fraction : float, optional
///     In [0, 1]; give exactly one of k and fraction.
///
/// Returns
/// -------
/// numpy.ndarray or torch.Tensor
///     int64 indices.
///
/// Raises
/// ------
/// InvalidInputError
///     Neither or both of k and fraction, out-of-range values, NaN margins.
///
/// Examples
/// --------
/// >>> import netsieve as ns
/// >>> ns.lowest_margins([0.5, -1.0, 2.0, -1.0], 3)
/// array([1, 3, 0])
#[pyfunction]
#[pyo3(signature = (m, k = None, *, fraction = None))]
fn lowest_margins<'py>(
    py: Python<'py>,
    m: &Bound<'py, PyAny>,
    k: Option<Count>,
    fraction: Option<Real>,
) -> PyResult<Bound<'py, PyAny>> {
    let v = Vector::extract(m, "m")?;
    let n = v.len();
    let count = match (k, fraction) {
        (Some(Count(k)), None) => k,
        (None, Some(Real(f))) => {
            if !(0.0..=1.0).contains(&f) {
                return Err(invalid("fraction", format!("must lie in [0, 1], got {f}")));
            }
            ((f * n as f64).ceil() as usize).min(n)
        }
        _ => return Err(invalid("k", "give exactly one of k and fraction")),
    };
    let original = v.original.clone_ref(py);
    let idx = run(py, move |_stop| match v.values() {
        VectorView::F32(x) => core_lowest_margins(x, count),
        VectorView::F64(x) => core_lowest_margins(x, count),
    })?;
    let idx: Vec<i64> = idx.into_iter().map(|i| i as i64).collect();
    like(
        py,
        &original,
        true,
        idx.into_pyarray(py).into_any(),
        ResultKind::Int64,
    )
}

record! {
    /// GDV with its parts: ``value = intra − inter`` (both already divided by √D); ``classes``
    /// are the labels found, ascending.
    pub struct GDVResult as "GDVResult" {
        value: f64,
        intra: f64,
        inter: f64,
        classes: Py<PyTuple>,
    }
}

/// Generalized Discrimination Value (Schilling et al. 2021) of points ``X`` (N, D) with integer
/// class labels, exactly as the authors' reference routine: every dimension z-scored over all
/// points with the population std and a factor ½, mean intra-class minus mean inter-class
/// Euclidean distance, divided by √D. ≈0 means no separation, −1 two collapsed classes.
/// Cost O(N²·D); subsample large classes.
///
/// Parameters
/// ----------
/// X : array_like
///     (N, D) points.
/// labels : array_like
///     N integer labels; at least 2 classes of at least 2 points each.
/// components : bool, default False
///     Return a :class:`GDVResult` instead of the value.
///
/// Returns
/// -------
/// float or GDVResult
///
/// Raises
/// ------
/// InvalidInputError
///     Bad shapes, non-finite points, too few classes or points per class.
///
/// References
/// ----------
/// - A. Schilling, A. Maier, R. Gerum, C. Metzner and P. Krauss, Quantifying the separability of data classes in neural networks, Neural Networks 139, 278 (2021).
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> X = np.array([[0.0, 5.0], [0.0, 5.0], [2.0, -1.0], [2.0, -1.0]])
/// >>> round(ns.gdv(X, [7, 7, 9, 9]), 12)
/// -1.0
#[pyfunction]
#[pyo3(signature = (X, labels, *, components = false))]
#[allow(non_snake_case)]
fn gdv(
    py: Python<'_>,
    X: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    components: bool,
) -> PyResult<Py<PyAny>> {
    let x = Matrix::extract(X, "X")?;
    let y = LabelArray::extract(labels, "labels")?;
    let g = run(
        py,
        move |stop| crate::with_view!(x.view(), v => core_gdv(v, y.labels(), stop)),
    )?;
    if !components {
        return Ok(g.value.into_pyobject(py)?.into_any().unbind());
    }
    let rec = GDVResult {
        value: g.value,
        intra: g.intra,
        inter: g.inter,
        classes: PyTuple::new(py, g.classes)?.unbind(),
    };
    Ok(Py::new(py, rec)?.into_any())
}

/// Streaming total variation ν = tr Cov(h) of a layer's representations (population, float64):
/// ``update`` adds a (B, D) batch (or a (B, ...) batch, flattened per example), ``merge`` adds
/// another accumulator's examples (Chan et al.'s update; merging an accumulator with itself counts
/// its examples twice). Safe to share between threads: a batch is reduced without the lock, then
/// merged under it.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> tv = ns.TotalVariation()
/// >>> tv.update(np.array([[0.0, 1.0], [2.0, 3.0]]))
/// >>> tv.update(np.array([[4.0, 5.0]]))
/// >>> tv.count, tv.dim, round(tv.value, 10)
/// (3, 2, 5.3333333333)
#[pyclass(frozen, module = "netsieve", name = "TotalVariation")]
pub struct TotalVariation {
    inner: Mutex<CoreTotalVariation>,
}

impl TotalVariation {
    fn state(&self) -> PyResult<std::sync::MutexGuard<'_, CoreTotalVariation>> {
        self.inner.lock().map_err(|_| {
            pyo3::exceptions::PyRuntimeError::new_err(
                "TotalVariation: a thread panicked while updating",
            )
        })
    }
}

#[pymethods]
impl TotalVariation {
    #[new]
    fn new() -> Self {
        Self {
            inner: Mutex::new(CoreTotalVariation::new()),
        }
    }

    /// Adds a batch: one example per row (extra axes are flattened per example).
    fn update(&self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<()> {
        let flat = py
            .import("netsieve._coerce")?
            .getattr("as_batch_matrix")?
            .call1((batch, "batch"))?;
        let b = Matrix::extract(&flat, "batch")?;
        let part = run(py, move |_stop| {
            let mut part = CoreTotalVariation::new();
            crate::with_view!(b.view(), v => part.update(v)?);
            Ok(part)
        })?;
        self.state()?.merge(&part)?;
        Ok(())
    }

    /// Adds the statistics of another accumulator (its examples are taken as new ones).
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, TotalVariation>) -> PyResult<()> {
        let theirs = other.get().state()?.clone();
        slf.get().state()?.merge(&theirs)?;
        Ok(())
    }

    /// Number of examples seen.
    #[getter]
    fn count(&self) -> PyResult<u64> {
        Ok(self.state()?.count())
    }

    /// Feature dimension (0 before the first batch).
    #[getter]
    fn dim(&self) -> PyResult<usize> {
        Ok(self.state()?.dim())
    }

    /// tr Cov(h) with the 1/N normalisation.
    #[getter]
    fn value(&self) -> PyResult<f64> {
        Ok(self.state()?.value()?)
    }

    /// The per-dimension mean.
    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
        Ok(self.state()?.mean().to_vec().into_pyarray(py))
    }

    fn __repr__(&self) -> PyResult<String> {
        let s = self.state()?;
        Ok(match s.value() {
            Ok(v) => format!(
                "TotalVariation(count={}, dim={}, value={v})",
                s.count(),
                s.dim()
            ),
            Err(_) => "TotalVariation(count=0)".to_string(),
        })
    }
}
