//! The doubling condition of a training set: how much a thin slab of the data gains when it is
//! doubled in width. Berlyand, Jabin & Safsten (arXiv 2002.04122) show that accuracy stays high
//! once it is high when the training data satisfy a doubling condition on slabs, and point to flat
//! portions of the data as the source of instability; Shmalo (arXiv 2210.08415) makes the
//! condition uniform over slabs, which makes it checkable on a data set. Only the abstracts were
//! readable; the definitions below are ours, derived from those statements (docs/doubling.md).
//!
//! Convention, used everywhere:
//! - A slab is the **open** set S(w, b, δ) = {x : |w·x + b| < δ} with ‖w‖ = 1 (directions are
//!   normalised on input). A point exactly on a face, |w·x + b| = δ as computed in floating point,
//!   is outside. w·x is accumulated in float64 over the coordinates in ascending order, the same
//!   way in every function, so counts are reproducible between `slab_counts` and the condition.
//! - For a finite set T, the doubling ratio of a slab is #(T ∩ S(w,b,2δ)) / #(T ∩ S(w,b,δ)).
//! - The uniform doubling constant with cut m is
//!   Ĉ_m(δ₀) = sup { ratio(w, b, δ) : ‖w‖ = 1, b ∈ ℝ, 0 < δ ≤ δ₀, #(T ∩ S(w,b,δ)) ≥ m }.
//!   It is uniform because one constant bounds every slab (every w and b), not only the slabs of
//!   one network's neurons. Without the cut it is infinite for every finite T (a slab holding one
//!   point can gain many), and for most distributions too (a slab sliding into a tail gains
//!   without bound): m fixes the smallest slab whose count is trusted, and the sampling error of
//!   a ratio is then of order 1/√m.
//! - What is computed is a lower bound on Ĉ_m: w over a finite set of directions (random,
//!   data-driven, refined by a local search), b over the slabs centred on a training point
//!   (b = −w·x_j; a slab whose midline lies outside the data is not a portion of the data), and δ
//!   over a grid.

pub mod condition;
pub mod directions;
pub mod projection;
pub mod search;
pub mod slab_counts;
pub mod sweep;
