//! Random-matrix spectra of weight matrices.

pub mod analysis;
pub mod level_spacing;
pub mod mp_law;
pub mod noise_fit;
pub mod porter_thomas;
pub mod tracy_widom;
