//! The binding layer: borrows numpy arrays, releases the GIL around every kernel, and maps core
//! errors to Python exceptions. Each area registers its functions from its own file.

use pyo3::prelude::*;

mod analysis;
mod convert;
mod margins;
mod shrinkage;
mod spectral;

pub use convert::{ConvergenceError, InvalidInputError};

#[pymodule]
fn _netsieve(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("ConvergenceError", py.get_type::<ConvergenceError>())?;
    spectral::register(m)?;
    margins::register(m)?;
    analysis::register(m)?;
    shrinkage::register(m)?;
    Ok(())
}
