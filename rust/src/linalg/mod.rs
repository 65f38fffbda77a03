//! Dense linear algebra on weight matrices (faer underneath).

pub mod svd;
