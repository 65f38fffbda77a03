//! One call that runs the spectral pipeline on a matrix: singular values (or a thin SVD when the
//! singular vectors are needed), the MP noise fit, level statistics of the bulk and the Porter–Thomas
//! test. The batch form runs many matrices in parallel.

use rayon::prelude::*;

use crate::error::CoreResult;
use crate::linalg::svd::{singular_values, thin_svd, thin_svd_auto, SvdMethod};
use crate::matrix::{AnyMatrix, MatrixView, Scalar};

use super::level_spacing::{level_spacing, LevelSpacing, Unfolding};
use super::mp_law::MpShape;
use super::noise_fit::{fit_noise, FitOptions, NoiseFit};
use super::porter_thomas::{porter_thomas, PorterThomas};

#[derive(Debug, Clone, Copy)]
pub struct PorterThomasOptions {
    pub window: usize,
    pub alpha: f64,
}

impl Default for PorterThomasOptions {
    fn default() -> Self {
        Self {
            window: 15,
            alpha: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisOptions {
    pub fit: FitOptions,
    pub svd_method: SvdMethod,
    pub level_spacing: bool,
    pub porter_thomas: Option<PorterThomasOptions>,
}

#[derive(Debug, Clone)]
pub struct MatrixAnalysis {
    pub rows: usize,
    pub cols: usize,
    pub singular_values: Vec<f64>,
    pub fit: NoiseFit,
    pub level_spacing: Option<LevelSpacing>,
    pub porter_thomas: Option<PorterThomas>,
}

pub fn analyze_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &AnalysisOptions,
) -> CoreResult<MatrixAnalysis> {
    let shape = MpShape::new(w.nrows(), w.ncols())?;
    let (s, pt) = match options.porter_thomas {
        Some(pt_options) => {
            let svd = match options.svd_method {
                SvdMethod::Direct => thin_svd(w)?,
                _ => thin_svd_auto(w)?,
            };
            let pt = porter_thomas(&svd.u, &svd.v, pt_options.window, pt_options.alpha)?;
            (svd.s, Some(pt))
        }
        None => (singular_values(w, options.svd_method)?, None),
    };
    let fit = fit_noise(&s, shape, options.fit)?;
    let level = if options.level_spacing {
        bulk_level_spacing(&s, &fit).ok()
    } else {
        None
    };
    Ok(MatrixAnalysis {
        rows: w.nrows(),
        cols: w.ncols(),
        singular_values: s,
        fit,
        level_spacing: level,
        porter_thomas: pt,
    })
}

/// Level statistics of the bulk (spikes and low outliers removed), unfolded with the fitted MP law.
pub fn bulk_level_spacing(s: &[f64], fit: &NoiseFit) -> CoreResult<LevelSpacing> {
    let end = s.len() - fit.n_low_outliers;
    let levels: Vec<f64> = s[fit.n_spikes.min(end)..end]
        .iter()
        .rev()
        .map(|v| v * v)
        .collect();
    let (shape, sigma) = (fit.shape, fit.sigma);
    let cdf = move |lambda: f64| shape.cdf(lambda.max(0.0).sqrt(), sigma);
    level_spacing(&levels, Unfolding::Cdf(&cdf))
}

/// Analyses many matrices in parallel; results come back in input order.
pub fn analyze_many(
    matrices: &[AnyMatrix<'_>],
    options: &AnalysisOptions,
) -> Vec<CoreResult<MatrixAnalysis>> {
    matrices
        .par_iter()
        .map(|w| match w {
            AnyMatrix::F32(w) => analyze_matrix(*w, options),
            AnyMatrix::F64(w) => analyze_matrix(*w, options),
        })
        .collect()
}
