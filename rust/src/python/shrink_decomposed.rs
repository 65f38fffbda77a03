//! Binding of [`filter_decomposed`]: the record of a shrinkage filter (noise fit, Porter–Thomas
//! boundary, shrunk values) from a decomposition the caller computed, e.g. with `torch.linalg` on
//! a GPU; the caller reconstructs U·diag(η)·Vᵀ.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::shrinkage::filter::{filter_decomposed, ShrinkMethod};

use super::analysis::to_mat;
use super::convert::{shape_of, Count, Real};
use super::inputs::{Matrix, Vector};
use super::run::run;
use super::shrinkage::{filter_options, record_of, refuse_unknown, ShrinkRecord};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(shrink_decomposed, m)?)?;
    Ok(())
}

/// The record of a shrinkage filter applied to a matrix whose decomposition W = U·diag(s)·Vᵀ was
/// computed elsewhere (e.g. by ``torch.linalg.svd`` on a GPU): the noise fit of ``s``, for
/// ``"porter_thomas"`` the test's boundary from the singular vectors, and the shrunk values η
/// (``record.shrunk_singular_values``), exactly as :func:`shrink_with_record` computes them from
/// its own decomposition. The filtered matrix is U·diag(η)·Vᵀ, the caller's to form
/// (:func:`netsieve.torch.filter_checkpoint` with ``device=``). ``record.decomposition`` is
/// ``"given"``.
///
/// Parameters
/// ----------
/// singular_values : array_like
///     The min(rows, cols) singular values, descending.
/// shape : (int, int)
///     (rows, cols) of W.
/// method, sigma, sigma_method, spike_confidence, fraction, derepel, window, alpha, bulk, rank
///     As for :func:`shrink` (``decomposition`` does not apply).
/// vectors : (array_like, array_like), optional
///     (U, V), U rows × r and V cols × r with r = min(rows, cols); required by ``"porter_thomas"``
///     only.
///
/// Returns
/// -------
/// ShrinkRecord
///
/// Raises
/// ------
/// InvalidInputError
///     Singular values that are not finite, non-negative, descending and min(rows, cols) many;
///     vectors of the wrong shape or missing for "porter_thomas"; the option errors of
///     :func:`shrink`.
/// TypeError
///     An unknown option.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> rng = np.random.default_rng(4)
/// >>> u, v = rng.normal(size=400), rng.normal(size=200)
/// >>> W = rng.normal(size=(400, 200)) + 60 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
/// >>> U, s, Vt = np.linalg.svd(W, full_matrices=False)
/// >>> rec = ns.shrink_decomposed(s, W.shape, "hard")
/// >>> rec.kept_rank, rec.decomposition
/// (1, 'given')
/// >>> W1 = (U * rec.shrunk_singular_values) @ Vt
/// >>> bool(np.allclose(W1, ns.shrink(W, "hard")))
/// True
#[pyfunction]
#[pyo3(signature = (singular_values, shape, method = ShrinkMethod::default().name(), sigma = None, *, vectors = None, sigma_method = None, spike_confidence = None, fraction = None, derepel = None, window = None, alpha = None, bulk = None, rank = None, **unknown))]
#[allow(clippy::too_many_arguments)]
fn shrink_decomposed<'py>(
    py: Python<'py>,
    singular_values: &Bound<'py, PyAny>,
    shape: &Bound<'py, PyAny>,
    method: &str,
    sigma: Option<Real>,
    vectors: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    sigma_method: Option<&str>,
    spike_confidence: Option<Real>,
    fraction: Option<Real>,
    derepel: Option<bool>,
    window: Option<Count>,
    alpha: Option<Real>,
    bulk: Option<&str>,
    rank: Option<Count>,
    unknown: Option<&Bound<'py, PyDict>>,
) -> PyResult<ShrinkRecord> {
    refuse_unknown(method, unknown)?;
    let options = filter_options(
        method,
        sigma,
        sigma_method,
        spike_confidence,
        None,
        None,
        fraction,
        derepel,
        window,
        alpha,
        bulk,
        rank,
    )?;
    let s = Vector::extract(singular_values, "singular_values")?.to_f64();
    let shape = shape_of(shape)?;
    let factors = match vectors {
        Some((u, v)) => Some((
            to_mat(&Matrix::extract(&u, "U")?),
            to_mat(&Matrix::extract(&v, "V")?),
        )),
        None => None,
    };
    let rec = run(py, move |stop| {
        let uv = factors.as_ref().map(|(u, v)| (u, v));
        filter_decomposed(shape, s, uv, &options, stop)
    })?;
    record_of(py, rec)
}
