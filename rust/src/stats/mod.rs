//! Distribution functions and goodness-of-fit statistics shared by the spectral kernels.

pub mod beta;
pub mod kolmogorov;

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}
