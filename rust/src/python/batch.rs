//! The Python side of batch calls: names from a mapping or positions, one job for the whole batch
//! (`batch::run_batch` with its memory budget), and the `errors=` policy.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping};

use crate::batch::{run_batch, ErrorPolicy, MatrixTask};
use crate::error::CoreError;
use crate::matrix::AnyMatrix;

use super::convert::{for_matrix, invalid, quoted};
use super::inputs::Matrix;
use super::run::run;

/// The matrices of a batch call and their names.
pub struct Matrices {
    /// `str(key)` of a mapping, or the position.
    pub names: Vec<String>,
    /// The matrices, in order.
    pub items: Vec<Matrix>,
    /// Whether the input was a mapping (then the result is a dict).
    pub mapping: bool,
}

impl Matrices {
    /// Reads a mapping name → matrix or an iterable of matrices; with `bf16_in_place`, bfloat16
    /// tensors are read in place ([`Matrix::extract_reading_bf16`]: for results in float64 only).
    pub fn extract(obj: &Bound<'_, PyAny>, bf16_in_place: bool) -> PyResult<Matrices> {
        let read = if bf16_in_place {
            Matrix::extract_reading_bf16
        } else {
            Matrix::extract
        };
        let mut names = Vec::new();
        let mut items = Vec::new();
        let mapping = obj.cast::<PyMapping>().is_ok() || obj.cast::<PyDict>().is_ok();
        if mapping {
            let keys = obj.call_method0("keys")?;
            for key in keys.try_iter()? {
                let key = key?;
                let name = key.str()?.to_string();
                if names.contains(&name) {
                    return Err(invalid(
                        "matrices",
                        format!(
                            "two keys have the same name {} after str(); names must be unique",
                            quoted(obj.py(), &name)
                        ),
                    ));
                }
                let w = obj.get_item(&key)?;
                items.push(read(&w, &format!("matrix {}", quoted(obj.py(), &name)))?);
                names.push(name);
            }
        } else {
            let iter = obj.try_iter().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "matrices must be a mapping of names to matrices or a sequence of matrices",
                )
            })?;
            for (i, w) in iter.enumerate() {
                let name = i.to_string();
                items.push(read(&w?, &format!("matrix {}", quoted(obj.py(), &name)))?);
                names.push(name);
            }
        }
        Ok(Matrices {
            names,
            items,
            mapping,
        })
    }
}

/// Runs `task` on every matrix as one job and converts each result with `to_py(py, name, index,
/// result)`: an error reaches `to_py` only under `ErrorPolicy::Collect`; under `Raise` the first
/// failure is raised, naming its matrix. Returns a dict for a mapping input, a list otherwise.
pub fn run_batch_call<'py, K>(
    py: Python<'py>,
    inputs: Matrices,
    task: K,
    max_working_bytes: usize,
    policy: ErrorPolicy,
    mut to_py: impl FnMut(Python<'py>, String, usize, Result<K::Output, PyErr>) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    K: MatrixTask + Send + 'static,
    K::Output: 'static,
{
    let Matrices {
        names,
        items,
        mapping,
    } = inputs;
    let results = run(py, move |stop| {
        let views: Vec<AnyMatrix<'_>> = items.iter().map(|m| m.view()).collect();
        Ok(run_batch(&task, &views, max_working_bytes, stop))
    })?;
    if results
        .iter()
        .any(|r| matches!(r, Err(CoreError::Interrupted)))
    {
        return Err(CoreError::Interrupted.into());
    }
    if policy == ErrorPolicy::Raise {
        if let Some((i, Err(e))) = results.iter().enumerate().find(|(_, r)| r.is_err()) {
            return Err(for_matrix(py, &names[i], PyErr::from(e.clone())));
        }
    }
    let out: Vec<Py<PyAny>> = results
        .into_iter()
        .zip(names.iter().cloned())
        .enumerate()
        .map(|(i, (r, name))| to_py(py, name, i, r.map_err(PyErr::from)))
        .collect::<PyResult<_>>()?;
    if mapping {
        let d = PyDict::new(py);
        for (name, v) in names.iter().zip(out) {
            d.set_item(name, v)?;
        }
        Ok(d.into_any())
    } else {
        Ok(PyList::new(py, out)?.into_any())
    }
}
