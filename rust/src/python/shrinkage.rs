//! Bindings of the shrinkage filters: one batch entry point that filters many matrices in parallel
//! (GIL released), returning each result in its input's dtype, plus the Gavish–Donoho constants.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::matrix::AnyMatrix;
use crate::shrinkage::filter::{
    filter_many, Decomposition, FilterOptions, FilterRecord, Filtered, FilteredAny, Method,
};
use crate::shrinkage::thresholds::{lambda_star, omega};
use crate::spectral::noise_fit::SigmaMethod;

use super::convert::{batch_list, PyMatrix};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(shrink_matrices, m)?)?;
    m.add_function(wrap_pyfunction!(optimal_hard_coefficients, m)?)?;
    Ok(())
}

/// (λ*(β), ω(β)) of Gavish & Donoho 2014 for β = min/max of the shape.
#[pyfunction]
fn optimal_hard_coefficients(beta: f64) -> PyResult<(f64, f64)> {
    if !(beta > 0.0 && beta <= 1.0) {
        return Err(crate::error::CoreError::invalid(
            "beta",
            format!("must lie in (0, 1], got {beta}"),
        )
        .into());
    }
    Ok((lambda_star(beta), omega(beta)))
}

#[pyfunction]
#[pyo3(signature = (matrices, method, sigma=None, sigma_method=None, tw_margin=2.0234, fraction=0.0, derepel=false, window=15, alpha=0.05, decomposition="auto"))]
#[allow(clippy::too_many_arguments)]
fn shrink_matrices<'py>(
    py: Python<'py>,
    matrices: Vec<PyMatrix<'py>>,
    method: &str,
    sigma: Option<f64>,
    sigma_method: Option<&str>,
    tw_margin: f64,
    fraction: f64,
    derepel: bool,
    window: usize,
    alpha: f64,
    decomposition: &str,
) -> PyResult<Bound<'py, PyList>> {
    let options = FilterOptions {
        method: Method::parse(method)?,
        sigma,
        sigma_method: sigma_method.map(SigmaMethod::parse).transpose()?,
        tw_margin,
        fraction,
        derepel,
        window,
        alpha,
        decomposition: Decomposition::parse(decomposition)?,
    };
    let views: Vec<AnyMatrix<'_>> = matrices.iter().map(|m| m.view()).collect();
    let results = py.detach(|| filter_many(&views, &options));
    batch_list(py, results, |filtered| match filtered {
        FilteredAny::F32(f) => filtered_tuple(py, f),
        FilteredAny::F64(f) => filtered_tuple(py, f),
    })
}

/// (filtered matrix in the input's dtype, record).
fn filtered_tuple<'py, T: numpy::Element>(
    py: Python<'py>,
    f: Filtered<T>,
) -> PyResult<Bound<'py, PyTuple>> {
    let arr = PyArray1::from_vec(py, f.data).reshape([f.record.rows, f.record.cols])?;
    PyTuple::new(py, [arr.into_any(), record_dict(py, f.record)?.into_any()])
}

fn record_dict<'py>(py: Python<'py>, r: FilterRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", r.rows)?;
    d.set_item("cols", r.cols)?;
    d.set_item("method", r.method.name())?;
    match &r.fit {
        Some(f) => {
            d.set_item("sigma", f.sigma)?;
            d.set_item("sigma_method", f.method.name())?;
            d.set_item("bulk_edges", f.edges)?;
            d.set_item("spike_threshold", f.spike_threshold)?;
            d.set_item("n_spikes", f.n_spikes)?;
        }
        None => {
            for key in [
                "sigma",
                "sigma_method",
                "bulk_edges",
                "spike_threshold",
                "n_spikes",
            ] {
                d.set_item(key, py.None())?;
            }
        }
    }
    d.set_item("threshold", r.threshold)?;
    d.set_item("pt_boundary", r.pt_boundary)?;
    d.set_item("kept_rank", r.kept_rank)?;
    d.set_item("kept_energy", r.kept_energy)?;
    d.set_item("relative_change", r.relative_change)?;
    d.set_item("decomposition", r.decomposition)?;
    d.set_item("singular_values", r.singular_values.into_pyarray(py))?;
    d.set_item("shrunk_singular_values", r.shrunk.into_pyarray(py))?;
    Ok(d)
}
