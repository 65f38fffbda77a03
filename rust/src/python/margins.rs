//! Bindings of the margin kernels: margins, their summary, lowest-margin selection, the streaming
//! total variation and the GDV.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::margins::gdv::gdv as core_gdv;
use crate::margins::logit_margin::{margins as core_margins, MarginKind};
use crate::margins::selection::lowest_margins as core_lowest_margins;
use crate::margins::summary::margin_summary as core_margin_summary;
use crate::margins::total_variation::TotalVariation as CoreTotalVariation;
use crate::margins::Labels;
use crate::matrix::AnyMatrix;

use super::convert::PyMatrix;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(margins, m)?)?;
    m.add_function(wrap_pyfunction!(margin_summary, m)?)?;
    m.add_function(wrap_pyfunction!(lowest_margins, m)?)?;
    m.add_function(wrap_pyfunction!(gdv, m)?)?;
    m.add_class::<TotalVariation>()?;
    Ok(())
}

/// Contiguous int32/int64 labels (the Python layer converts everything else or refuses it).
#[derive(FromPyObject)]
pub enum PyLabels<'py> {
    I64(PyReadonlyArray1<'py, i64>),
    I32(PyReadonlyArray1<'py, i32>),
}

impl PyLabels<'_> {
    fn labels(&self) -> PyResult<Labels<'_>> {
        Ok(match self {
            PyLabels::I64(a) => Labels::I64(a.as_slice()?),
            PyLabels::I32(a) => Labels::I32(a.as_slice()?),
        })
    }
}

/// A contiguous float32 or float64 vector.
#[derive(FromPyObject)]
pub enum PyVector<'py> {
    F64(PyReadonlyArray1<'py, f64>),
    F32(PyReadonlyArray1<'py, f32>),
}

#[pyfunction]
#[pyo3(signature = (logits, labels, kind="logit", top_k=1))]
fn margins<'py>(
    py: Python<'py>,
    logits: PyMatrix<'py>,
    labels: PyLabels<'py>,
    kind: &str,
    top_k: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = MarginKind::parse(kind)?;
    let labels = labels.labels()?;
    Ok(match logits.view() {
        AnyMatrix::F32(v) => py
            .detach(|| core_margins(v, labels, kind, top_k))?
            .into_pyarray(py)
            .into_any(),
        AnyMatrix::F64(v) => py
            .detach(|| core_margins(v, labels, kind, top_k))?
            .into_pyarray(py)
            .into_any(),
    })
}

#[pyfunction]
fn margin_summary<'py>(
    py: Python<'py>,
    m: PyVector<'py>,
    probs: Vec<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = match &m {
        PyVector::F64(a) => {
            let x = a.as_slice()?;
            py.detach(|| core_margin_summary(x, &probs))?
        }
        PyVector::F32(a) => {
            let x = a.as_slice()?;
            py.detach(|| core_margin_summary(x, &probs))?
        }
    };
    let d = PyDict::new(py);
    d.set_item("count", s.count)?;
    d.set_item("mean", s.mean)?;
    d.set_item("std", s.std)?;
    d.set_item("min", s.min)?;
    d.set_item("max", s.max)?;
    d.set_item("probs", s.probs)?;
    d.set_item("quantiles", s.quantiles)?;
    d.set_item("q1", s.q1)?;
    d.set_item("median", s.median)?;
    d.set_item("q3", s.q3)?;
    d.set_item("lower_fence", s.lower_fence)?;
    d.set_item("upper_fence", s.upper_fence)?;
    d.set_item("skewness", s.skewness)?;
    d.set_item("kurtosis", s.kurtosis)?;
    d.set_item("fraction_positive", s.fraction_positive)?;
    d.set_item("auc", s.auc)?;
    Ok(d)
}

#[pyfunction]
fn lowest_margins<'py>(
    py: Python<'py>,
    m: PyVector<'py>,
    k: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let idx = match &m {
        PyVector::F64(a) => {
            let x = a.as_slice()?;
            py.detach(|| core_lowest_margins(x, k))?
        }
        PyVector::F32(a) => {
            let x = a.as_slice()?;
            py.detach(|| core_lowest_margins(x, k))?
        }
    };
    let idx: Vec<i64> = idx.into_iter().map(|i| i as i64).collect();
    Ok(idx.into_pyarray(py))
}

#[pyfunction]
fn gdv<'py>(
    py: Python<'py>,
    x: PyMatrix<'py>,
    labels: PyLabels<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let labels = labels.labels()?;
    let g = match x.view() {
        AnyMatrix::F32(v) => py.detach(|| core_gdv(v, labels))?,
        AnyMatrix::F64(v) => py.detach(|| core_gdv(v, labels))?,
    };
    let d = PyDict::new(py);
    d.set_item("value", g.value)?;
    d.set_item("intra", g.intra)?;
    d.set_item("inter", g.inter)?;
    d.set_item("classes", g.classes)?;
    Ok(d)
}

/// Streaming total variation ν = tr Cov(h) of a layer's representations (population, float64).
#[pyclass(module = "netsieve._netsieve", name = "TotalVariation")]
pub struct TotalVariation {
    inner: CoreTotalVariation,
}

#[pymethods]
impl TotalVariation {
    #[new]
    fn new() -> Self {
        Self {
            inner: CoreTotalVariation::new(),
        }
    }

    /// Adds a B×D batch of flattened representations.
    fn update(&mut self, py: Python<'_>, batch: PyMatrix<'_>) -> PyResult<()> {
        let inner = &mut self.inner;
        match batch.view() {
            AnyMatrix::F32(v) => py.detach(|| inner.update(v))?,
            AnyMatrix::F64(v) => py.detach(|| inner.update(v))?,
        }
        Ok(())
    }

    /// Merges another accumulator's statistics (disjoint examples) into this one.
    fn merge(&mut self, other: PyRef<'_, TotalVariation>) -> PyResult<()> {
        self.inner.merge(&other.inner)?;
        Ok(())
    }

    #[getter]
    fn count(&self) -> u64 {
        self.inner.count()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// tr Cov(h) with the 1/N normalisation.
    #[getter]
    fn value(&self) -> PyResult<f64> {
        Ok(self.inner.value()?)
    }

    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.mean().to_vec().into_pyarray(py)
    }

    fn __repr__(&self) -> String {
        match self.inner.value() {
            Ok(v) => format!(
                "TotalVariation(count={}, dim={}, value={v})",
                self.inner.count(),
                self.inner.dim()
            ),
            Err(_) => "TotalVariation(count=0)".to_string(),
        }
    }
}
