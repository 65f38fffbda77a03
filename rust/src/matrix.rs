//! Element types the kernels accept, and the checks every input goes through.

use faer::Mat;
use rayon::prelude::*;
pub use view::MatrixView;

use crate::error::{CoreError, CoreResult};

/// A float element the kernels read. Heavy algebra runs in f64 whatever the input type.
pub trait Scalar: Copy + Send + Sync + 'static {
    /// Widens to f64.
    fn to_f64(self) -> f64;
    /// Rounds from f64.
    fn from_f64(x: f64) -> Self;
    /// Wraps a vector of this type, for results that keep the input's element type.
    fn into_any_vec(v: Vec<Self>) -> AnyVec;
}

impl Scalar for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn into_any_vec(v: Vec<Self>) -> AnyVec {
        AnyVec::F32(v)
    }
}

impl Scalar for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    fn into_any_vec(v: Vec<Self>) -> AnyVec {
        AnyVec::F64(v)
    }
}

/// A bfloat16 element (the upper 16 bits of an IEEE f32), as checkpoints store weights: read in
/// place by the calls that take it (`AnyMatrix::Bf16`), widened exactly to f64 as it is read, so
/// a bfloat16 matrix gives the results of its float32 copy without that copy (half the bytes per
/// pass over W, no conversion pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

impl Bf16 {
    /// The f32 of the same value (exact).
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }

    /// Rounds an f32 to the nearest bfloat16, ties to even (as torch's cast); NaN stays NaN.
    pub fn from_f32(x: f32) -> Self {
        let bits = x.to_bits();
        if x.is_nan() {
            return Bf16(((bits >> 16) as u16) | 0x0040);
        }
        let round = 0x7fff + ((bits >> 16) & 1);
        Bf16((bits.wrapping_add(round) >> 16) as u16)
    }
}

impl Scalar for Bf16 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    /// Through f32, as the float32 copy's result cast back to bfloat16 would be.
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Bf16::from_f32(x as f32)
    }
    /// As float32 (numpy has no bfloat16; the binding casts a tensor's result back).
    fn into_any_vec(v: Vec<Self>) -> AnyVec {
        AnyVec::F32(v.into_iter().map(Bf16::to_f32).collect())
    }
}

/// A matrix of any element type the kernels read, for calls that take several matrices at once.
#[derive(Clone, Copy)]
pub enum AnyMatrix<'a> {
    /// float32 elements.
    F32(MatrixView<'a, f32>),
    /// float64 elements.
    F64(MatrixView<'a, f64>),
    /// bfloat16 elements (only from the calls that read them in place, see [`Bf16`]).
    Bf16(MatrixView<'a, Bf16>),
}

/// `$body` with `$view` bound to the typed [`MatrixView`] inside an [`AnyMatrix`] value, for
/// every element type: the one place a new element type is dispatched.
#[macro_export]
macro_rules! with_view {
    ($any:expr, $view:ident => $body:expr) => {
        match $any {
            $crate::matrix::AnyMatrix::F32($view) => $body,
            $crate::matrix::AnyMatrix::F64($view) => $body,
            $crate::matrix::AnyMatrix::Bf16($view) => $body,
        }
    };
}

impl AnyMatrix<'_> {
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        crate::with_view!(*self, w => w.nrows())
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        crate::with_view!(*self, w => w.ncols())
    }
}

/// A vector of either float type (a result in its input's element type).
#[derive(Clone, Debug, PartialEq)]
pub enum AnyVec {
    /// float32 elements.
    F32(Vec<f32>),
    /// float64 elements.
    F64(Vec<f64>),
}

/// Strided 2-D views without a dependency on ndarray or pyo3 (the binding layer builds them from numpy).
pub mod view {
    use super::Scalar;

    /// A borrowed row/column-strided matrix. Strides are in elements and may be negative.
    #[derive(Clone, Copy)]
    pub struct MatrixView<'a, T> {
        ptr: *const T,
        nrows: usize,
        ncols: usize,
        row_stride: isize,
        col_stride: isize,
        _marker: std::marker::PhantomData<&'a T>,
    }

    // The view only reads through `ptr`; sharing it across threads is as safe as sharing `&[T]`.
    unsafe impl<T: Sync> Send for MatrixView<'_, T> {}
    unsafe impl<T: Sync> Sync for MatrixView<'_, T> {}

    impl<'a, T: Scalar> MatrixView<'a, T> {
        /// # Safety
        /// Every element `ptr + i*row_stride + j*col_stride` for `i < nrows`, `j < ncols` must be
        /// valid for reads of `T` for the lifetime `'a`, and must not be written meanwhile.
        pub unsafe fn from_raw_parts(
            ptr: *const T,
            nrows: usize,
            ncols: usize,
            row_stride: isize,
            col_stride: isize,
        ) -> Self {
            Self {
                ptr,
                nrows,
                ncols,
                row_stride,
                col_stride,
                _marker: std::marker::PhantomData,
            }
        }

        /// A row-major view of a contiguous slice.
        pub fn from_row_major(data: &'a [T], nrows: usize, ncols: usize) -> Self {
            assert_eq!(
                data.len(),
                nrows * ncols,
                "slice length must be nrows*ncols"
            );
            // SAFETY: the slice covers exactly nrows*ncols elements in row-major order.
            unsafe { Self::from_raw_parts(data.as_ptr(), nrows, ncols, ncols as isize, 1) }
        }

        /// Number of rows.
        #[inline(always)]
        pub fn nrows(&self) -> usize {
            self.nrows
        }
        /// Number of columns.
        #[inline(always)]
        pub fn ncols(&self) -> usize {
            self.ncols
        }
        /// Elements between consecutive rows.
        #[inline(always)]
        pub fn row_stride(&self) -> isize {
            self.row_stride
        }
        /// Elements between consecutive columns.
        #[inline(always)]
        pub fn col_stride(&self) -> isize {
            self.col_stride
        }
        /// Pointer to element [0, 0].
        #[inline(always)]
        pub fn as_ptr(&self) -> *const T {
            self.ptr
        }

        /// Element (i, j); the indices must be in bounds.
        #[inline(always)]
        pub fn get(&self, i: usize, j: usize) -> T {
            debug_assert!(i < self.nrows && j < self.ncols);
            // SAFETY: in bounds by the constructor's contract.
            unsafe {
                *self
                    .ptr
                    .offset(i as isize * self.row_stride + j as isize * self.col_stride)
            }
        }

        /// The transposed view (no data moves).
        pub fn t(&self) -> Self {
            // SAFETY: same elements, axes swapped.
            unsafe {
                Self::from_raw_parts(
                    self.ptr,
                    self.ncols,
                    self.nrows,
                    self.col_stride,
                    self.row_stride,
                )
            }
        }

        /// Rows `r0..r1` as one slice when they are stored back to back (row-major, no padding).
        pub fn rows_slice(&self, r0: usize, r1: usize) -> Option<&'a [T]> {
            assert!(r0 <= r1 && r1 <= self.nrows, "rows out of range");
            if self.col_stride != 1 || self.row_stride != self.ncols as isize {
                return None;
            }
            // SAFETY: rows r0..r1 of a row-major view are (r1 − r0)·ncols consecutive elements.
            unsafe {
                let start = self.ptr.offset(r0 as isize * self.row_stride);
                Some(std::slice::from_raw_parts(start, (r1 - r0) * self.ncols))
            }
        }

        /// Row `i` as a slice when rows are contiguous.
        pub fn row_slice(&self, i: usize) -> Option<&'a [T]> {
            if self.col_stride == 1 || self.ncols <= 1 {
                // SAFETY: contiguous row of ncols elements inside the view.
                let start = unsafe { self.ptr.offset(i as isize * self.row_stride) };
                Some(unsafe { std::slice::from_raw_parts(start, self.ncols) })
            } else {
                None
            }
        }
    }
}

/// Rejects empty matrices and non-finite entries, naming the first bad entry and counting them all
/// (the count is taken only once a bad entry was found, so valid input pays one pass).
pub fn check_finite_matrix<T: Scalar>(w: MatrixView<'_, T>, what: &'static str) -> CoreResult<()> {
    if w.nrows() == 0 || w.ncols() == 0 {
        return Err(CoreError::Empty { what });
    }
    let bad = (0..w.nrows())
        .into_par_iter()
        .find_first(|&i| (0..w.ncols()).any(|j| !w.get(i, j).to_f64().is_finite()));
    if let Some(i) = bad {
        let j = (0..w.ncols())
            .find(|&j| !w.get(i, j).to_f64().is_finite())
            .expect("row was found to hold a non-finite value");
        let (nan, inf) = (0..w.nrows())
            .into_par_iter()
            .map(|r| {
                (0..w.ncols()).fold((0usize, 0usize), |(n, f), c| {
                    let v = w.get(r, c).to_f64();
                    (n + v.is_nan() as usize, f + v.is_infinite() as usize)
                })
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let total = w.nrows() * w.ncols();
        let plural = if nan + inf == 1 { "" } else { "s" };
        return Err(CoreError::NonFinite {
            what,
            value: w.get(i, j).to_f64(),
            location: format!(
                "row {i}, column {j} ({} non-finite value{plural} of {total}: {nan} NaN, {inf} ±Inf)",
                nan + inf
            ),
        });
    }
    Ok(())
}

/// Rejects empty or non-finite 1-D input.
pub fn check_finite_slice(x: &[f64], what: &'static str) -> CoreResult<()> {
    if x.is_empty() {
        return Err(CoreError::Empty { what });
    }
    if let Some((i, v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(CoreError::NonFinite {
            what,
            value: *v,
            location: format!("index {i}"),
        });
    }
    Ok(())
}

/// Copies a view into an owned column-major f64 matrix (what faer's decompositions want).
/// Works tile by tile so both the strided source and the column-major target stay in cache.
pub fn to_f64_mat<T: Scalar>(w: MatrixView<'_, T>) -> Mat<f64> {
    const TILE: usize = 64;
    let (n, m) = (w.nrows(), w.ncols());
    let mut out = Mat::<f64>::zeros(n, m);
    let col_stride = out.col_stride();
    let base = SendPtr(out.as_ptr_mut());
    let tiles_i = n.div_ceil(TILE);
    let tiles_j = m.div_ceil(TILE);
    (0..tiles_i * tiles_j).into_par_iter().for_each(|t| {
        let (ti, tj) = (t % tiles_i, t / tiles_i);
        let p = base;
        for j in tj * TILE..((tj + 1) * TILE).min(m) {
            for i in ti * TILE..((ti + 1) * TILE).min(n) {
                // SAFETY: each (i, j) is written by exactly one tile; `out` is n×m column-major.
                unsafe { *p.0.offset(i as isize + j as isize * col_stride) = w.get(i, j).to_f64() };
            }
        }
    });
    out
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f64);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_widens_exactly_and_rounds_to_nearest_even() {
        for x in [
            0.0f32,
            -0.0,
            1.0,
            -2.5,
            3.140625,
            f32::INFINITY,
            f32::MIN_POSITIVE,
        ] {
            assert_eq!(Bf16::from_f32(x).to_f32().to_bits(), x.to_bits(), "{x}");
        }
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: to even (1); 1 + 3·2⁻⁸ rounds up to 1 + 2⁻⁶.
        assert_eq!(Bf16::from_f32(1.0 + 2f32.powi(-8)).to_f32(), 1.0);
        assert_eq!(
            Bf16::from_f32(1.0 + 3.0 * 2f32.powi(-8)).to_f32(),
            1.0 + 2f32.powi(-6)
        );
        assert!(Bf16::from_f32(f32::NAN).to_f32().is_nan());
        assert_eq!(Bf16::from_f64(1.5).to_f64(), 1.5);
        assert_eq!(
            Bf16::into_any_vec(vec![Bf16(0x3fc0)]),
            AnyVec::F32(vec![1.5])
        );
    }
}
