//! Singular-value shrinkage: thresholds, shrinkers and the per-matrix filter built from them.

pub mod filter;
pub mod shrinkers;
pub mod thresholds;
