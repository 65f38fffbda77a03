//! The float element the margin kernels compute in natively (so f32 logits give f32 margins).

use crate::matrix::Scalar;

/// A float type the margin kernels compute in natively (f32 margins for f32 logits).
pub trait MarginFloat:
    Scalar + PartialOrd + std::ops::Sub<Output = Self> + std::ops::Add<Output = Self> + std::fmt::Debug
{
    /// −∞.
    const NEG_INFINITY: Self;
    /// +∞.
    const INFINITY: Self;
    /// 0.
    const ZERO: Self;
}

impl MarginFloat for f32 {
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const INFINITY: Self = f32::INFINITY;
    const ZERO: Self = 0.0;
}

impl MarginFloat for f64 {
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const INFINITY: Self = f64::INFINITY;
    const ZERO: Self = 0.0;
}
