//! The binding layer: borrows numpy arrays, runs every kernel on netsieve's pool with the GIL
//! released and Ctrl-C honoured (`run.rs`), maps core errors to Python exceptions (`convert.rs`)
//! and returns typed records (`records.rs`). Each area registers its functions from its own file;
//! this file exports the names and defaults of the contract, all taken from the core.

use pyo3::prelude::*;
use pyo3::types::PyDict;

mod analysis;
mod batch;
mod comparison;
mod convert;
mod doubling;
mod inputs;
mod l1;
mod margins;
mod records;
mod run;
mod shrink_decomposed;
mod shrinkage;
mod spectral;

use crate::batch::{ErrorPolicy, DEFAULT_MAX_WORKING_BYTES};
use crate::l1::lad::{LadStatus, DEFAULT_FIT_INTERCEPT, DEFAULT_QUANTILE};
use crate::l1::vertex_descent::{ActivationKind, DescentStatus, DEFAULT_LEAKY_SLOPE};
use crate::linalg::decomposition::Decomposition;
use crate::margins::logit_margin::{MarginKind, DEFAULT_TOP_K};
use crate::margins::summary::DEFAULT_QUANTILES;
use crate::shrinkage::methods::ShrinkMethod;
use crate::spectral::analysis::DEFAULT_LEVEL_STATISTICS;
use crate::spectral::comparison::{ComparisonStatus, Role, DEFAULT_OVERLAP_K};
use crate::spectral::level_spacing::{
    DEFAULT_UNFOLDING_WINDOW, GOE_MEAN_RATIO, POISSON_MEAN_RATIO,
};
use crate::spectral::noise_fit::{BulkModel, SigmaMethod, BULK_TEST_LEVEL, DEFAULT_MIN_DIM};
use crate::spectral::porter_thomas::{DEFAULT_ALPHA, DEFAULT_WINDOW};
use crate::spectral::power_law::{DEFAULT_MIN_SPAN, DEFAULT_MIN_TAIL};
use crate::spectral::tracy_widom::{DEFAULT_SPIKE_CONFIDENCE, SPIKE_CONFIDENCES};

pub use convert::{ConvergenceError, InvalidInputError};

/// Defaults of the options shared by the numpy API, the torch API and the CLI, by name.
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sigma_method", SigmaMethod::default().name())?;
    d.set_item("spike_confidence", DEFAULT_SPIKE_CONFIDENCE)?;
    d.set_item("bulk", BulkModel::default().name())?;
    d.set_item("decomposition", Decomposition::default().name())?;
    d.set_item(
        "route",
        crate::spectral::layer_report::SpectrumRoute::default().name(),
    )?;
    d.set_item("level_statistics", DEFAULT_LEVEL_STATISTICS)?;
    d.set_item("window", DEFAULT_WINDOW)?;
    d.set_item("unfolding_window", DEFAULT_UNFOLDING_WINDOW)?;
    d.set_item("alpha", DEFAULT_ALPHA)?;
    d.set_item("min_tail", DEFAULT_MIN_TAIL)?;
    d.set_item("min_span", DEFAULT_MIN_SPAN)?;
    d.set_item("min_dim", DEFAULT_MIN_DIM)?;
    d.set_item("embeddings", false)?;
    d.set_item("errors", ErrorPolicy::default().name())?;
    d.set_item("max_working_bytes", DEFAULT_MAX_WORKING_BYTES)?;
    d.set_item("overlap_k", DEFAULT_OVERLAP_K)?;
    d.set_item("method", ShrinkMethod::default().name())?;
    d.set_item("kind", MarginKind::default().name())?;
    d.set_item("top_k", DEFAULT_TOP_K)?;
    d.set_item("quantiles", DEFAULT_QUANTILES.to_vec())?;
    doubling::defaults(&d)?;
    d.set_item("fit_intercept", DEFAULT_FIT_INTERCEPT)?;
    d.set_item("quantile", DEFAULT_QUANTILE)?;
    d.set_item("l1_window", crate::l1::vertex_descent::DEFAULT_WINDOW)?;
    d.set_item("leaky_slope", DEFAULT_LEAKY_SLOPE)?;
    Ok(d)
}

#[pymodule]
fn _netsieve(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("ConvergenceError", py.get_type::<ConvergenceError>())?;
    m.add("SHRINK_METHODS", ShrinkMethod::NAMES.to_vec())?;
    let options = PyDict::new(py);
    for name in ShrinkMethod::NAMES {
        let method = ShrinkMethod::parse(name)?;
        options.set_item(*name, method.options().to_vec())?;
    }
    m.add("SHRINK_METHOD_OPTIONS", options)?;
    m.add("SIGMA_METHODS", SigmaMethod::NAMES.to_vec())?;
    m.add("BULK_MODELS", BulkModel::NAMES.to_vec())?;
    m.add("BULK_TEST_LEVEL", BULK_TEST_LEVEL)?;
    m.add("DECOMPOSITIONS", Decomposition::NAMES.to_vec())?;
    m.add(
        "ROUTES",
        crate::spectral::layer_report::SpectrumRoute::NAMES.to_vec(),
    )?;
    m.add("ROLES", Role::NAMES.to_vec())?;
    m.add("COMPARISON_STATUSES", ComparisonStatus::NAMES.to_vec())?;
    m.add("MARGIN_KINDS", MarginKind::NAMES.to_vec())?;
    m.add("ERROR_POLICIES", ErrorPolicy::NAMES.to_vec())?;
    m.add("LAD_STATUSES", LadStatus::NAMES.to_vec())?;
    m.add("DESCENT_STATUSES", DescentStatus::NAMES.to_vec())?;
    m.add("L1_ACTIVATIONS", ActivationKind::NAMES.to_vec())?;
    let table = PyDict::new(py);
    for (confidence, quantile) in SPIKE_CONFIDENCES {
        table.set_item(confidence, quantile)?;
    }
    m.add("SPIKE_CONFIDENCES", table)?;
    m.add("GOE_MEAN_RATIO", GOE_MEAN_RATIO)?;
    m.add("POISSON_MEAN_RATIO", POISSON_MEAN_RATIO)?;
    m.add("DEFAULTS", defaults(py)?)?;
    // Which SIMD path netsieve's own kernels take in this process (NETSIEVE_FORCE_SCALAR=1: scalar).
    m.add("CPU_DISPATCH", crate::cpu::dispatch().name())?;
    m.add_function(wrap_pyfunction!(records::_rebuild_record, m)?)?;
    spectral::register(m)?;
    margins::register(m)?;
    analysis::register(m)?;
    comparison::register(m)?;
    shrinkage::register(m)?;
    shrink_decomposed::register(m)?;
    doubling::register(m)?;
    l1::register(m)?;
    Ok(())
}
