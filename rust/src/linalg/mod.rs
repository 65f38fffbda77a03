//! Dense linear algebra on weight matrices (faer underneath).

pub mod band_bidiagonal;
pub mod band_chase;
pub mod band_eigenvectors;
pub mod bidiagonal_values;
pub mod column_blocks;
pub mod decomposition;
pub mod householder;
pub mod leading_eigenvectors;
pub mod small_values;
pub mod symmetric_eigenvalues;
pub mod tridiagonal_eigenvalues;
