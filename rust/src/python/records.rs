//! Typed, immutable result classes. [`record!`] declares one: a `#[pyclass(frozen, get_all)]`
//! struct whose fields are the result's fields, with keyword construction, `FIELDS`, `to_dict`,
//! equality, pickling and a repr, all derived from the one field list. The binding fills records
//! directly from core results; Python never sees a dict with string keys in their place.

use numpy::{IntoPyArray, PyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyDeprecationWarning;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyTuple};

/// A read-only float64 array (results are immutable).
pub fn frozen_array(py: Python<'_>, values: Vec<f64>) -> PyResult<Py<PyArray1<f64>>> {
    let arr = values.into_pyarray(py);
    // SAFETY of intent: numpy's own flag, set through its Python API.
    arr.call_method1("setflags", (false,))?;
    Ok(arr.unbind())
}

/// Values a record may hold, made immutable on construction: arrays become read-only (a copy when
/// the given array is writeable, so the caller's array is never changed), dicts read-only
/// mappings; everything else is immutable already.
pub trait Freeze: Sized {
    /// The value as the record keeps it.
    fn freeze(self, _py: Python<'_>) -> PyResult<Self> {
        Ok(self)
    }
}

impl Freeze for f64 {}
impl Freeze for usize {}
impl Freeze for bool {}
impl Freeze for String {}
impl Freeze for (f64, f64) {}
impl Freeze for (usize, usize) {}
impl Freeze for Py<PyTuple> {}

impl<T: Freeze> Freeze for Option<T> {
    fn freeze(self, py: Python<'_>) -> PyResult<Self> {
        self.map(|v| v.freeze(py)).transpose()
    }
}

impl Freeze for Py<PyArray1<f64>> {
    fn freeze(self, py: Python<'_>) -> PyResult<Self> {
        let arr = self.bind(py);
        if !arr
            .getattr("flags")?
            .getattr("writeable")?
            .extract::<bool>()?
        {
            return Ok(self);
        }
        let copy = arr.call_method0("copy")?;
        copy.call_method1("setflags", (false,))?;
        Ok(copy.cast_into::<PyArray1<f64>>()?.unbind())
    }
}

impl Freeze for Py<PyAny> {
    fn freeze(self, py: Python<'_>) -> PyResult<Self> {
        let v = self.bind(py);
        if let Ok(d) = v.cast::<PyDict>() {
            let proxy = py
                .import("types")?
                .getattr("MappingProxyType")?
                .call1((d.copy()?,))?;
            return Ok(proxy.unbind());
        }
        Ok(self)
    }
}

/// The class-level facts of a record.
pub trait Record {
    /// The Python class name.
    const NAME: &'static str;
    /// Field names in declaration order.
    const FIELDS: &'static [&'static str];
    /// The repr; the default lists the fields, arrays by length.
    fn repr(slf: &Bound<'_, PyAny>) -> PyResult<String> {
        generic_repr(slf, Self::NAME, Self::FIELDS)
    }
}

fn is_ndarray(x: &Bound<'_, PyAny>) -> bool {
    x.is_instance_of::<numpy::PyUntypedArray>()
}

fn generic_repr(slf: &Bound<'_, PyAny>, name: &str, fields: &[&str]) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        let v = slf.getattr(*f)?;
        let shown = if is_ndarray(&v) {
            let len = v.cast::<numpy::PyUntypedArray>()?.len();
            format!("<{len} values>")
        } else {
            v.repr()?.to_string()
        };
        parts.push(format!("{f}={shown}"));
    }
    Ok(format!("{name}({})", parts.join(", ")))
}

/// JSON-ready Python value of a field: arrays become lists, tuples lists, records dicts,
/// exceptions their message prefixed by their type.
fn plain<'py>(v: &Bound<'py, PyAny>, arrays: bool) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = v.py();
    if is_ndarray(v) {
        return Ok(if arrays {
            Some(v.call_method0("tolist")?)
        } else {
            None
        });
    }
    if v.hasattr("FIELDS")? && v.hasattr("to_dict")? && !v.is_instance_of::<pyo3::types::PyType>() {
        return Ok(Some(v.call_method1("to_dict", (arrays,))?));
    }
    if v.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        let name = v.get_type().name()?;
        return Ok(Some(
            format!("{name}: {}", v.str()?)
                .into_pyobject(py)?
                .into_any(),
        ));
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        let items = PyList::empty(py);
        for item in t.iter() {
            items.append(plain(&item, arrays)?.unwrap_or_else(|| py.None().into_bound(py)))?;
        }
        return Ok(Some(items.into_any()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let out = PyDict::new(py);
        for (k, x) in d.iter() {
            if let Some(x) = plain(&x, arrays)? {
                out.set_item(k, x)?;
            }
        }
        return Ok(Some(out.into_any()));
    }
    Ok(Some(v.clone()))
}

/// `record.to_dict(arrays=True)`: plain Python values, JSON-ready (non-finite floats stay floats;
/// `netsieve`'s JSON writer maps them). `arrays=False` leaves out the array fields. The legacy
/// keywords `spectra=` and `include_spectra=`/`include_spectrum=` still work, with a warning.
pub fn to_dict(
    slf: &Bound<'_, PyAny>,
    fields: &[&str],
    mut arrays: bool,
    legacy: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyDict>> {
    let py = slf.py();
    if let Some(legacy) = legacy {
        for (k, v) in legacy.iter() {
            let key: String = k.extract()?;
            if !matches!(
                key.as_str(),
                "spectra" | "include_spectra" | "include_spectrum"
            ) {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "to_dict() got an unexpected keyword argument {key:?}"
                )));
            }
            let msg = std::ffi::CString::new(format!(
                "to_dict({key}=...) is deprecated; use to_dict(arrays=...)"
            ))
            .expect("no NUL in the message");
            PyErr::warn(py, &py.get_type::<PyDeprecationWarning>(), &msg, 2)?;
            arrays = v.extract()?;
        }
    }
    let out = PyDict::new(py);
    for f in fields {
        if let Some(v) = plain(&slf.getattr(*f)?, arrays)? {
            out.set_item(*f, v)?;
        }
    }
    Ok(out.unbind())
}

fn field_eq(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = a.py();
    if is_ndarray(a) || is_ndarray(b) {
        let np = py.import("numpy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("equal_nan", true)?;
        return np
            .call_method("array_equal", (a, b), Some(&kwargs))?
            .extract();
    }
    if let (Ok(x), Ok(y)) = (a.cast::<PyFloat>(), b.cast::<PyFloat>()) {
        let (x, y) = (x.value(), y.value());
        return Ok(x == y || (x.is_nan() && y.is_nan()));
    }
    a.eq(b)
}

/// Field-by-field equality (arrays by value, NaN equal to NaN); other types compare unequal.
pub fn eq(
    slf: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    fields: &[&str],
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if !other.get_type().is(slf.get_type()) {
        return Ok(py.NotImplemented());
    }
    for f in fields {
        if !field_eq(&slf.getattr(*f)?, &other.getattr(*f)?)? {
            return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
        }
    }
    Ok(true.into_pyobject(py)?.to_owned().into_any().unbind())
}

/// Rebuilds a record from its fields (the pickle constructor).
#[pyfunction]
pub fn _rebuild_record(cls: &Bound<'_, PyAny>, fields: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
    Ok(cls.call((), Some(fields))?.unbind())
}

/// What `__reduce__` returns: (rebuild, (cls, {field: value})).
pub type Reduced<'py> = (Bound<'py, PyAny>, (Bound<'py, PyAny>, Bound<'py, PyDict>));

/// `__reduce__` of a record.
pub fn reduce<'py>(slf: &Bound<'py, PyAny>, fields: &[&str]) -> PyResult<Reduced<'py>> {
    let py = slf.py();
    let d = PyDict::new(py);
    let proxy = py.import("types")?.getattr("MappingProxyType")?;
    for f in fields {
        let v = slf.getattr(*f)?;
        // A read-only mapping does not pickle; the constructor makes the dict read-only again.
        let v = if v.is_instance(&proxy)? {
            PyDict::from_sequence(&v.call_method0("items")?)?.into_any()
        } else {
            v
        };
        d.set_item(*f, v)?;
    }
    let rebuild = py
        .import("netsieve._netsieve")?
        .getattr("_rebuild_record")?;
    Ok((rebuild, (slf.get_type().into_any(), d)))
}

/// Declares a record class. Fields hold Python-ready values: numbers, strings, tuples, options,
/// `Py<PyArray1<f64>>` (read-only arrays), other records (`Py<Record>`) or `Py<PyAny>`.
/// Extra `#[pymethods]` items (properties) may follow in an `extra { ... }` block; `custom_repr`
/// takes the repr from an inherent `fn repr_text(slf: &Bound<'_, Self>) -> PyResult<String>`.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $pyname:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
        $( extra { $($extra:tt)* } )?
    ) => {
        record!(@class $(#[$meta])* $name $pyname { $( $(#[$fmeta])* $field : $ty ),* } { $($($extra)*)? });
        impl $crate::python::records::Record for $name {
            const NAME: &'static str = $pyname;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $pyname:literal custom_repr {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
        $( extra { $($extra:tt)* } )?
    ) => {
        record!(@class $(#[$meta])* $name $pyname { $( $(#[$fmeta])* $field : $ty ),* } { $($($extra)*)? });
        impl $crate::python::records::Record for $name {
            const NAME: &'static str = $pyname;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn repr(slf: &Bound<'_, PyAny>) -> PyResult<String> {
                $name::repr_text(slf.cast::<$name>()?)
            }
        }
    };
    (@class $(#[$meta:meta])* $name:ident $pyname:literal
        { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* } { $($extra:tt)* }) => {
        $(#[$meta])*
        #[pyclass(frozen, get_all, module = "netsieve", name = $pyname)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (*, $($field),*))]
            #[allow(clippy::too_many_arguments, non_snake_case)]
            fn __new__(py: Python<'_>, $($field: $ty),*) -> PyResult<Self> {
                use $crate::python::records::Freeze;
                Ok(Self { $($field: $field.freeze(py)?),* })
            }

            /// The field names, in order.
            #[classattr]
            #[allow(non_snake_case)]
            fn FIELDS() -> Vec<&'static str> {
                <Self as $crate::python::records::Record>::FIELDS.to_vec()
            }

            /// The fields as plain Python values (JSON-ready); `arrays=False` leaves out arrays.
            #[pyo3(signature = (arrays = true, **legacy))]
            fn to_dict(
                slf: &Bound<'_, Self>,
                arrays: bool,
                legacy: Option<&Bound<'_, pyo3::types::PyDict>>,
            ) -> PyResult<Py<pyo3::types::PyDict>> {
                $crate::python::records::to_dict(
                    slf.as_any(),
                    <Self as $crate::python::records::Record>::FIELDS,
                    arrays,
                    legacy,
                )
            }

            fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                $crate::python::records::eq(
                    slf.as_any(),
                    other,
                    <Self as $crate::python::records::Record>::FIELDS,
                )
            }

            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<$crate::python::records::Reduced<'py>> {
                $crate::python::records::reduce(
                    slf.as_any(),
                    <Self as $crate::python::records::Record>::FIELDS,
                )
            }

            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                <Self as $crate::python::records::Record>::repr(slf.as_any())
            }

            $($extra)*
        }
    };
}

pub(crate) use record;
