//! Binding of checkpoint comparisons: the overlap of leading singular subspaces and the
//! [`LayerComparison`] row (filled by `netsieve.torch.compare`, which runs the analyses).

use pyo3::prelude::*;

use crate::spectral::comparison::{subspace_overlap as core_overlap, DEFAULT_OVERLAP_K};

use super::convert::Count;
use super::inputs::Matrix;
use super::records::record;
use super::run::run;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(subspace_overlap, m)?)?;
    m.add_class::<LayerComparison>()?;
    Ok(())
}

record! {
    /// One layer of a comparison of two checkpoints A and B (see :func:`netsieve.torch.compare`).
    ///
    /// ``status`` is one of :data:`COMPARISON_STATUSES`: "compared", "only_a", "only_b",
    /// "shape_mismatch" or "error" (``error`` says why). For compared layers: σ, α and the spike
    /// count of each side (``*_a``, ``*_b``); the update Δ = W_B − W_A analysed as a weight matrix
    /// (``update``: its :class:`LayerReport`; ``update_spikes`` its spike count, the effective rank
    /// of the update above its own noise; ``update_sigma``; ``update_spectral_norm`` and
    /// ``update_frobenius`` its norms; ``relative_update`` = ‖Δ‖_F/‖W_A‖_F); and the overlap of the
    /// leading ``overlap_k`` left and right singular subspaces of W_A and W_B
    /// (:func:`subspace_overlap`, 1 = unchanged directions). ``head`` is the attention head of a
    /// per-head comparison's block (None for whole matrices).
    pub struct LayerComparison as "LayerComparison" {
        name: String,
        block: Option<usize>,
        role: String,
        head: Option<usize>,
        status: String,
        shape_a: Option<(usize, usize)>,
        shape_b: Option<(usize, usize)>,
        sigma_a: Option<f64>,
        sigma_b: Option<f64>,
        alpha_a: Option<f64>,
        alpha_b: Option<f64>,
        n_spikes_a: Option<usize>,
        n_spikes_b: Option<usize>,
        update_spikes: Option<usize>,
        update_sigma: Option<f64>,
        update_spectral_norm: Option<f64>,
        update_frobenius: Option<f64>,
        relative_update: Option<f64>,
        overlap_left: Option<f64>,
        overlap_right: Option<f64>,
        overlap_k: Option<usize>,
        error: Option<String>,
        update: Option<Py<PyAny>>,
    }
    extra {
        /// Whether both sides were analysed and compared.
        #[getter]
        fn ok(&self) -> bool {
            self.status == "compared" && self.error.is_none()
        }

        /// The fields that are not records (the columns of the CSV export), in order.
        #[classattr]
        #[allow(non_snake_case)]
        fn SCALAR_FIELDS() -> Vec<&'static str> {
            <Self as super::records::Record>::FIELDS
                .iter()
                .copied()
                .filter(|f| *f != "update")
                .collect()
        }
    }
}

/// The overlap of the leading ``k``-dimensional singular subspaces of two matrices of one shape.
///
/// ‖U_Aᵀ U_B‖²_F / k over the first ``k`` left singular vectors, and the same for the right ones:
/// the mean squared cosine of the principal angles between the subspaces, 1 when they coincide
/// (a rescaled matrix), about k / min(rows, cols) for unrelated random matrices.
///
/// Parameters
/// ----------
/// A, B : 2-D array of float
///     The same shape.
/// k : int, default 10
///     Clipped to min(rows, cols).
///
/// Returns
/// -------
/// (float, float, int)
///     Left overlap, right overlap, the ``k`` used.
///
/// Raises
/// ------
/// InvalidInputError
///     Shapes differ, ``k`` < 1, a non-finite entry.
///
/// Examples
/// --------
/// >>> import numpy as np, netsieve as ns
/// >>> A = np.random.default_rng(0).normal(size=(200, 100))
/// >>> left, right, k = ns.subspace_overlap(A, 2.0 * A, k=5)
/// >>> round(left, 6), round(right, 6), k
/// (1.0, 1.0, 5)
/// >>> B = np.random.default_rng(1).normal(size=(200, 100))
/// >>> ns.subspace_overlap(A, B, k=5)[0] < 0.3
/// True
#[pyfunction]
#[pyo3(signature = (A, B, *, k = Count(DEFAULT_OVERLAP_K)))]
#[allow(non_snake_case)]
fn subspace_overlap(
    py: Python<'_>,
    A: &Bound<'_, PyAny>,
    B: &Bound<'_, PyAny>,
    k: Count,
) -> PyResult<(f64, f64, usize)> {
    let a = Matrix::extract(A, "A")?;
    let b = Matrix::extract(B, "B")?;
    let k = k.0;
    run(
        py,
        move |stop| crate::with_view!(a.view(), x => crate::with_view!(b.view(), y => core_overlap(x, y, k, stop))),
    )
}
