//! Singular-value shrinkage: the methods and their options, thresholds and shrinkers, the shrunk
//! values of each method, the reconstruction from thin factors, and the per-matrix filter.

pub mod filter;
pub mod methods;
pub mod optshrink;
pub mod partial_filter;
pub mod reconstruct;
pub mod shrinkers;
pub mod shrunk_values;
pub mod thresholds;
