//! Dense linear algebra on weight matrices (faer underneath).

pub mod band_chase;
pub mod decomposition;
pub mod leading_eigenvectors;
pub mod symmetric_eigenvalues;
pub mod tridiagonal_eigenvalues;
