//! The two small kernels the reductions share (`symmetric_eigenvalues`, `band_chase`,
//! `band_bidiagonal`, `decomposition`): a Householder reflector and a vectorisable dot product.

/// Householder reflector H = I − τ·v·vᵀ (v₀ = 1) with H·x = β·e₀; LAPACK dlarfg's convention.
/// On return `x` holds v (x₀ = 1); returns (τ, β). τ = 0 when x is already a multiple of e₀.
pub(crate) fn make_reflector(x: &mut [f64]) -> (f64, f64) {
    let alpha = x[0];
    let tail_sq: f64 = x[1..].iter().map(|t| t * t).sum();
    x[0] = 1.0;
    if tail_sq == 0.0 {
        return (0.0, alpha);
    }
    let norm = (alpha * alpha + tail_sq).sqrt();
    let beta = if alpha >= 0.0 { -norm } else { norm };
    let scale = 1.0 / (alpha - beta);
    for t in &mut x[1..] {
        *t *= scale;
    }
    ((beta - alpha) / beta, beta)
}

/// Dot product with eight independent sums, so the compiler can vectorise it.
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}
