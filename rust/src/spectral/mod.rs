//! Random-matrix spectra of weight matrices.

pub mod analysis;
pub mod comparison;
pub mod deformed_fit;
pub mod deformed_law;
pub mod gram_block;
pub mod gram_narrow;
pub mod layer_report;
pub mod level_spacing;
pub mod mp_law;
pub mod noise_fit;
pub mod norms;
pub mod partial;
pub mod porter_thomas;
pub mod power_law;
pub mod tracy_widom;
