//! Shared conversions: core errors to Python exceptions, and strict scalar arguments.
//!
//! Strictness: a number argument refuses `bool` and `str` (Python would turn `True` into 1.0 and a
//! typo into a confusing error later); a count refuses floats, bools, negative and huge values with
//! an InvalidInputError rather than an OverflowError.

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};
use pyo3::{Borrowed, FromPyObject};

use crate::error::CoreError;

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
            CoreError::Interrupted => {
                PyKeyboardInterrupt::new_err("netsieve computation interrupted")
            }
            CoreError::Resource(msg) => PyMemoryError::new_err(msg),
            _ => InvalidInputError::new_err(err.to_string()),
        }
    }
}

/// An InvalidInputError naming the argument.
pub fn invalid(name: &str, reason: impl std::fmt::Display) -> PyErr {
    InvalidInputError::new_err(format!("invalid `{name}`: {reason}"))
}

fn is_boolean(obj: &Borrowed<'_, '_, PyAny>) -> bool {
    obj.is_instance_of::<PyBool>()
        || obj
            .get_type()
            .name()
            .is_ok_and(|n| n == "bool_" || (n == "bool" && !obj.is_instance_of::<PyBool>()))
}

/// A real number argument: int or float (numpy scalars included), never bool or str.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Real(pub f64);

impl<'a, 'py> FromPyObject<'a, 'py> for Real {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if is_boolean(&obj) || obj.is_instance_of::<PyString>() {
            let ty = obj.get_type().name()?;
            return Err(PyTypeError::new_err(format!("expected a number, got {ty}")));
        }
        Ok(Real(obj.extract::<f64>()?))
    }
}

/// A count or index argument: a non-negative int (numpy integers included), never bool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Count {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if is_boolean(&obj) {
            return Err(PyTypeError::new_err("expected an integer, got bool"));
        }
        match obj.extract::<usize>() {
            Ok(v) => Ok(Count(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
                Err(InvalidInputError::new_err(if shown.starts_with('-') {
                    format!("expected a non-negative integer, got {shown}")
                } else {
                    format!("{shown} is too large")
                }))
            }
            Err(e) => Err(e),
        }
    }
}

/// A matrix shape `(rows, cols)` in either order: two counts.
pub fn shape_of(obj: &Bound<'_, PyAny>) -> PyResult<(usize, usize)> {
    let bad = || {
        let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
        InvalidInputError::new_err(format!(
            "shape must be a pair of integers (rows, cols), got {shown}"
        ))
    };
    if obj.is_instance_of::<PyString>() {
        return Err(bad());
    }
    let items: Vec<Bound<'_, PyAny>> = obj
        .try_iter()
        .map_err(|_| bad())?
        .collect::<PyResult<_>>()?;
    if items.len() != 2 {
        return Err(bad());
    }
    let dim = |x: &Bound<'_, PyAny>| -> PyResult<usize> {
        x.extract::<Count>().map(|c| c.0).map_err(|e| {
            InvalidInputError::new_err(format!(
                "shape {}: {}",
                obj.repr().map(|r| r.to_string()).unwrap_or_default(),
                e.value(obj.py())
            ))
        })
    };
    Ok((dim(&items[0])?, dim(&items[1])?))
}

/// A name as Python's repr shows it ('fc1').
pub fn quoted(py: Python<'_>, name: &str) -> String {
    PyString::new(py, name)
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| format!("{name:?}"))
}

/// Prefixes an exception's message with the matrix it came from, keeping the original as cause.
pub fn for_matrix(py: Python<'_>, name: &str, err: PyErr) -> PyErr {
    let ty = err.get_type(py);
    let msg = format!("matrix {}: {}", quoted(py, name), err.value(py));
    let wrapped = match ty.call1((msg,)) {
        Ok(v) => PyErr::from_value(v),
        Err(_) => return err,
    };
    wrapped.set_cause(py, Some(err));
    wrapped
}
