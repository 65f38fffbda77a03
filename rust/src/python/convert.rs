//! Shared conversions: numpy arrays to core views, core errors to Python exceptions.

use numpy::PyReadonlyArray2;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::error::{CoreError, CoreResult};
use crate::matrix::{AnyMatrix, MatrixView, Scalar};

pyo3::create_exception!(
    netsieve,
    InvalidInputError,
    PyValueError,
    "An argument is malformed: wrong shape, non-finite values, out-of-range options."
);
pyo3::create_exception!(
    netsieve,
    ConvergenceError,
    PyRuntimeError,
    "A numerical algorithm did not converge."
);

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err {
            CoreError::NoConvergence { .. } => ConvergenceError::new_err(err.to_string()),
            _ => InvalidInputError::new_err(err.to_string()),
        }
    }
}

/// A batch's results as a list in input order: each success converted by `to_py`, each failure
/// as its exception object, so one bad matrix does not hide the others.
pub fn batch_list<'py, R, O: IntoPyObject<'py>>(
    py: Python<'py>,
    results: Vec<CoreResult<R>>,
    mut to_py: impl FnMut(R) -> PyResult<O>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for result in results {
        match result {
            Ok(r) => out.append(to_py(r)?)?,
            Err(e) => out.append(PyErr::from(e).into_value(py))?,
        }
    }
    Ok(out)
}

/// A float32 or float64 2-D array with any strides (the Python layer checks dtypes first).
#[derive(FromPyObject)]
pub enum PyMatrix<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
}

fn view_of<'a, T: Scalar + numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> MatrixView<'a, T> {
    let arr = a.as_array();
    let strides = arr.strides();
    // SAFETY: the readonly borrow keeps the array alive and unwritten for 'a; ndarray's pointer is
    // element [0, 0] and its strides are in elements (possibly negative), exactly the view's contract.
    unsafe {
        MatrixView::from_raw_parts(
            arr.as_ptr(),
            arr.nrows(),
            arr.ncols(),
            strides[0],
            strides[1],
        )
    }
}

impl PyMatrix<'_> {
    pub fn view(&self) -> AnyMatrix<'_> {
        match self {
            PyMatrix::F64(a) => AnyMatrix::F64(view_of(a)),
            PyMatrix::F32(a) => AnyMatrix::F32(view_of(a)),
        }
    }
}
