//! Everything the per-layer report needs for one matrix, in one pass: the spectral analysis (SVD,
//! MP fit, level statistics, Porter–Thomas), the norms and rank measures, and the power-law tail
//! of the eigenvalues λ = s². The batch form runs many matrices in parallel.

use rayon::prelude::*;

use crate::error::CoreResult;
use crate::matrix::{AnyMatrix, MatrixView, Scalar};

use super::analysis::{analyze_matrix, AnalysisOptions, MatrixAnalysis};
use super::norms::{matrix_norms, mp_soft_rank, MatrixNorms};
use super::power_law::{fit_power_law, PowerLawFit, PowerLawOptions};

#[derive(Debug, Clone, Copy, Default)]
pub struct LayerOptions {
    pub analysis: AnalysisOptions,
    pub power_law: PowerLawOptions,
}

#[derive(Debug, Clone)]
pub struct LayerReport {
    pub analysis: MatrixAnalysis,
    pub norms: MatrixNorms,
    /// λ₊/λmax of the fitted MP bulk.
    pub mp_soft_rank: f64,
    /// The tail fit, or why there is none (too few eigenvalues, constant spectrum).
    pub power_law: Result<PowerLawFit, String>,
}

pub fn report_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &LayerOptions,
) -> CoreResult<LayerReport> {
    let analysis = analyze_matrix(w, &options.analysis)?;
    let s = &analysis.singular_values;
    let norms = matrix_norms(s);
    let soft_rank = mp_soft_rank(analysis.fit.edges.1, norms.spectral_norm);
    let levels: Vec<f64> = s.iter().map(|v| v * v).collect();
    let power_law = fit_power_law(&levels, options.power_law).map_err(|e| e.to_string());
    Ok(LayerReport {
        analysis,
        norms,
        mp_soft_rank: soft_rank,
        power_law,
    })
}

/// Reports on many matrices in parallel; results come back in input order.
pub fn report_many(
    matrices: &[AnyMatrix<'_>],
    options: &LayerOptions,
) -> Vec<CoreResult<LayerReport>> {
    matrices
        .par_iter()
        .map(|w| match w {
            AnyMatrix::F32(w) => report_matrix(*w, options),
            AnyMatrix::F64(w) => report_matrix(*w, options),
        })
        .collect()
}
