//! Arguments that carry data: matrices, vectors and labels, borrowed from numpy without copying.
//!
//! Anything that is not already an aligned float32/float64 numpy array in native byte order
//! (torch tensors on any device, lists, float16, big-endian arrays, ...) goes through
//! `netsieve._coerce`, the one converter module, which returns such an array or raises a clear
//! error. A holder keeps a reference to the array it views, so the view stays valid for as long as
//! the holder lives, also on a worker thread after the caller was interrupted (see `run.rs`).
//! Results return in the kind of the input through `netsieve._coerce.like` (the tensor policy).

use std::mem::size_of;

use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::margins::Labels;
use crate::matrix::{AnyMatrix, Bf16, MatrixView, Scalar};

use super::convert::InvalidInputError;

fn coerce<'py>(
    py: Python<'py>,
    function: &str,
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("netsieve._coerce")?
        .getattr(function)?
        .call1((obj, name))
}

/// Element strides of an aligned array whose byte strides are multiples of the element size.
fn element_strides<T>(a: &Bound<'_, PyUntypedArray>) -> Option<Vec<isize>> {
    let item = size_of::<T>() as isize;
    if !a.is_aligned() || a.strides().iter().any(|s| s % item != 0) {
        return None;
    }
    Some(a.strides().iter().map(|s| s / item).collect())
}

/// A matrix argument. The view is reached through [`Matrix::view`], so a job closure that reads
/// it must own the whole holder (a field access would let the closure capture only the view).
pub struct Matrix {
    view: AnyMatrix<'static>,
    /// The object passed in (for the kind of the result).
    pub original: Py<PyAny>,
    /// Whether results must go through `like` to match the input's kind.
    pub restore: bool,
    _keep: Py<PyAny>,
}

// SAFETY: the view only reads memory kept alive by `_keep` (a numpy array); `Py` is Send.
unsafe impl Send for Matrix {}

fn matrix_view<T: Scalar + Element>(a: &Bound<'_, PyArray2<T>>) -> Option<MatrixView<'static, T>> {
    // SAFETY: the element type is the array's own.
    unsafe { view_as::<T, T>(a) }
}

/// The view of a uint16 array holding bfloat16 bits.
fn bf16_view(a: &Bound<'_, PyArray2<u16>>) -> Option<MatrixView<'static, Bf16>> {
    // SAFETY: `Bf16` is a transparent u16.
    unsafe { view_as::<u16, Bf16>(a) }
}

/// The array's elements read as `T`.
///
/// # Safety
/// `T` must have the size and layout of `E`.
unsafe fn view_as<E: Element, T: Scalar>(
    a: &Bound<'_, PyArray2<E>>,
) -> Option<MatrixView<'static, T>> {
    let strides = element_strides::<E>(a.as_untyped())?;
    let shape = a.shape();
    // SAFETY: numpy's data pointer is element [0, 0], strides are in elements (checked above), and
    // the array outlives the view because its holder keeps a reference to it.
    Some(unsafe {
        MatrixView::from_raw_parts(
            a.data() as *const T,
            shape[0],
            shape[1],
            strides[0],
            strides[1],
        )
    })
}

fn native_matrix(arr: &Bound<'_, PyAny>) -> Option<AnyMatrix<'static>> {
    if let Ok(a) = arr.cast::<PyArray2<f64>>() {
        return matrix_view(a).map(AnyMatrix::F64);
    }
    if let Ok(a) = arr.cast::<PyArray2<f32>>() {
        return matrix_view(a).map(AnyMatrix::F32);
    }
    None
}

impl Matrix {
    /// Borrows `obj` as a matrix, converting it first when it is not a native float array.
    pub fn extract(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Matrix> {
        let py = obj.py();
        if let Some(view) = native_matrix(obj) {
            return Ok(Matrix {
                view,
                original: obj.clone().unbind(),
                restore: false,
                _keep: obj.clone().unbind(),
            });
        }
        let arr = coerce(py, "as_float_array", obj, name)?;
        let ndim = arr.cast::<PyUntypedArray>()?.ndim();
        if ndim != 2 {
            let shape = arr.getattr("shape")?.repr()?.to_string();
            return Err(InvalidInputError::new_err(format!(
                "{name} must be a 2-D matrix, got a {ndim}-D array of shape {shape}"
            )));
        }
        let view = native_matrix(&arr).ok_or_else(|| {
            InvalidInputError::new_err(format!(
                "{name}: netsieve._coerce returned an unusable array"
            ))
        })?;
        Ok(Matrix {
            view,
            original: obj.clone().unbind(),
            restore: true,
            _keep: arr.unbind(),
        })
    }

    /// [`Matrix::extract`], except that a 2-D bfloat16 torch tensor is read in place: its bits
    /// through `netsieve._coerce.bfloat16_bits` (a uint16 view, no float32 copy), as
    /// `AnyMatrix::Bf16`. For the calls whose results are float64 statistics: widening bfloat16 is
    /// exact, so they are those of the float32 copy.
    pub fn extract_reading_bf16(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Matrix> {
        let py = obj.py();
        if native_matrix(obj).is_some() {
            return Self::extract(obj, name);
        }
        let bits = coerce(py, "bfloat16_bits", obj, name)?;
        let Ok(a) = bits.cast::<PyArray2<u16>>() else {
            return Self::extract(obj, name);
        };
        let view = bf16_view(a).ok_or_else(|| {
            InvalidInputError::new_err(format!(
                "{name}: netsieve._coerce returned unusable bfloat16 bits"
            ))
        })?;
        Ok(Matrix {
            view: AnyMatrix::Bf16(view),
            original: obj.clone().unbind(),
            restore: true,
            _keep: bits.unbind(),
        })
    }

    /// The borrowed matrix, valid while the holder lives.
    pub fn view(&self) -> AnyMatrix<'_> {
        self.view
    }

    /// Rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        (self.view.nrows(), self.view.ncols())
    }
}

/// A 1-D float argument (contiguous).
#[derive(Clone, Copy)]
pub enum VectorView<'a> {
    /// float32 values.
    F32(&'a [f32]),
    /// float64 values.
    F64(&'a [f64]),
}

/// A vector argument (values through [`Vector::values`], as for [`Matrix`]).
pub struct Vector {
    values: VectorView<'static>,
    /// The object passed in.
    pub original: Py<PyAny>,
    _keep: Py<PyAny>,
}

// SAFETY: as for `Matrix`.
unsafe impl Send for Vector {}

fn slice_of<T: Element>(a: &Bound<'_, PyArray1<T>>) -> Option<&'static [T]> {
    let strides = element_strides::<T>(a.as_untyped())?;
    let len = a.len();
    if len > 1 && strides[0] != 1 {
        return None;
    }
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: contiguous, aligned, kept alive by the holder.
    Some(unsafe { std::slice::from_raw_parts(a.data() as *const T, len) })
}

fn native_vector(arr: &Bound<'_, PyAny>) -> Option<VectorView<'static>> {
    if let Ok(a) = arr.cast::<PyArray1<f64>>() {
        return slice_of(a).map(VectorView::F64);
    }
    if let Ok(a) = arr.cast::<PyArray1<f32>>() {
        return slice_of(a).map(VectorView::F32);
    }
    None
}

impl Vector {
    /// Borrows `obj` as a 1-D float vector (converted when needed).
    pub fn extract(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vector> {
        let py = obj.py();
        if let Some(values) = native_vector(obj) {
            return Ok(Vector {
                values,
                original: obj.clone().unbind(),
                _keep: obj.clone().unbind(),
            });
        }
        let arr = coerce(py, "as_float_array", obj, name)?;
        let arr = match arr.cast::<PyUntypedArray>()?.ndim() {
            1 => arr,
            ndim => {
                let shape = arr.getattr("shape")?.repr()?.to_string();
                return Err(InvalidInputError::new_err(format!(
                    "{name} must be 1-D, got a {ndim}-D array of shape {shape}"
                )));
            }
        };
        let arr = py
            .import("numpy")?
            .call_method1("ascontiguousarray", (arr,))?;
        let values = native_vector(&arr).ok_or_else(|| {
            InvalidInputError::new_err(format!(
                "{name}: netsieve._coerce returned an unusable array"
            ))
        })?;
        Ok(Vector {
            values,
            original: obj.clone().unbind(),
            _keep: arr.unbind(),
        })
    }

    /// The borrowed values, valid while the holder lives.
    pub fn values(&self) -> VectorView<'_> {
        self.values
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self.values {
            VectorView::F32(v) => v.len(),
            VectorView::F64(v) => v.len(),
        }
    }

    /// The values widened to f64 (a copy for float32).
    pub fn to_f64(&self) -> Vec<f64> {
        match self.values {
            VectorView::F32(v) => v.iter().map(|&x| x as f64).collect(),
            VectorView::F64(v) => v.to_vec(),
        }
    }
}

/// Integer class labels (contiguous int32 or int64), through [`LabelArray::labels`].
pub struct LabelArray {
    labels: Labels<'static>,
    _keep: Py<PyAny>,
}

// SAFETY: as for `Matrix`.
unsafe impl Send for LabelArray {}

impl LabelArray {
    /// Borrows `obj` as labels; `netsieve._coerce.as_labels` converts and checks everything else.
    pub fn extract(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<LabelArray> {
        let py = obj.py();
        let direct = |a: &Bound<'_, PyAny>| -> Option<Labels<'static>> {
            if let Ok(x) = a.cast::<PyArray1<i64>>() {
                return slice_of(x).map(Labels::I64);
            }
            if let Ok(x) = a.cast::<PyArray1<i32>>() {
                return slice_of(x).map(Labels::I32);
            }
            None
        };
        if let Some(labels) = direct(obj) {
            return Ok(LabelArray {
                labels,
                _keep: obj.clone().unbind(),
            });
        }
        let arr = coerce(py, "as_labels", obj, name)?;
        let labels = direct(&arr).ok_or_else(|| {
            InvalidInputError::new_err(format!("{name}: netsieve._coerce returned unusable labels"))
        })?;
        Ok(LabelArray {
            labels,
            _keep: arr.unbind(),
        })
    }

    /// The borrowed labels, valid while the holder lives.
    pub fn labels(&self) -> Labels<'_> {
        self.labels
    }
}

/// The dtype of a result, for the tensor policy (see `netsieve._coerce.like`).
#[derive(Clone, Copy)]
pub enum ResultKind {
    /// Values of the input's own kind and float dtype (filtered matrices, margins).
    Input,
    /// Spectra and statistics: float64.
    Float64,
    /// Indices: int64.
    Int64,
}

impl ResultKind {
    fn name(self) -> &'static str {
        match self {
            ResultKind::Input => "input",
            ResultKind::Float64 => "float64",
            ResultKind::Int64 => "int64",
        }
    }
}

/// Returns `result` (a numpy array) in the kind of `original` when it is not a native numpy array.
pub fn like<'py>(
    py: Python<'py>,
    original: &Py<PyAny>,
    restore: bool,
    result: Bound<'py, PyAny>,
    kind: ResultKind,
) -> PyResult<Bound<'py, PyAny>> {
    let original = original.bind(py);
    let needed = match kind {
        ResultKind::Input => restore,
        // Any numpy array gets a numpy result; other inputs (tensors, lists) get converted.
        _ => !original.is_instance_of::<PyUntypedArray>(),
    };
    if !needed {
        return Ok(result);
    }
    py.import("netsieve._coerce")?
        .getattr("like")?
        .call1((original, result, kind.name()))
}

/// A float64 numpy array of `shape` from row-major values.
pub fn f64_array<'py>(
    py: Python<'py>,
    values: Vec<f64>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let arr: Bound<'py, PyArrayDyn<f64>> = values.into_pyarray(py).reshape(shape)?;
    Ok(arr.into_any())
}
