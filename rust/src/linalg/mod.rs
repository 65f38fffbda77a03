//! Dense linear algebra on weight matrices (faer underneath).

pub mod svd;
pub mod symmetric_eigenvalues;
