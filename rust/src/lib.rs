//! netsieve's core: pure-Rust kernels for random-matrix spectra, singular-value shrinkage and
//! classification margins. No module here imports pyo3; the binding layer lives in `python/`,
//! compiled only with the `python` feature.
#![warn(missing_docs)]

pub mod batch;
pub mod cpu;
pub mod doubling;
pub mod error;
pub mod interrupt;
pub mod l1;
pub mod linalg;
pub mod margins;
pub mod matrix;
pub mod names;
pub mod parallel;
pub mod progress;
pub mod shrinkage;
pub mod spectral;
pub mod stats;

#[cfg(feature = "python")]
mod python;
