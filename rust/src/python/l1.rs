//! Bindings of the L1 solvers: least-absolute-deviation and quantile regression (`lad_fit`).

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::l1::lad::{
    lad_fit as core_lad_fit, LadOptions, DEFAULT_FIT_INTERCEPT, DEFAULT_QUANTILE,
};
use crate::matrix::AnyMatrix;

use super::convert::{invalid, Count, Real};
use super::inputs::{Matrix, Vector};
use super::records::{frozen_array, record};
use super::run::run;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lad_fit, m)?)?;
    m.add_class::<LADFit>()?;
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
        match x.view() {
            AnyMatrix::F32(v) => core_lad_fit(v, &y, &options, stop),
            AnyMatrix::F64(v) => core_lad_fit(v, &y, &options, stop),
        }
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
