//! Everything the per-layer report needs for one matrix, in one pass: the spectral analysis (SVD,
//! MP fit, level statistics, Porter–Thomas), the norms and rank measures, and the power-law tail
//! of the eigenvalues λ = s². Batches go through [`crate::batch::run_batch`].

use crate::batch::MatrixTask;
use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::matrix::{MatrixView, Scalar};

use super::analysis::{analyze_decomposed, analyze_matrix, AnalysisOptions, MatrixAnalysis};
use super::norms::{matrix_norms, mp_soft_rank, MatrixNorms};
use super::porter_thomas::PorterThomasOptions;
use super::power_law::{fit_power_law_of_singular_values, PowerLawFit, PowerLawOptions};

/// The per-layer report runs the Porter–Thomas test unless switched off.
pub const DEFAULT_PORTER_THOMAS: bool = true;

/// What [`report_matrix`] computes.
#[derive(Debug, Clone, Copy)]
pub struct LayerOptions {
    /// The spectral analysis.
    pub analysis: AnalysisOptions,
    /// The power-law tail fit and its verdict.
    pub power_law: PowerLawOptions,
}

impl Default for LayerOptions {
    fn default() -> Self {
        Self {
            analysis: AnalysisOptions {
                porter_thomas: DEFAULT_PORTER_THOMAS.then(PorterThomasOptions::default),
                ..AnalysisOptions::default()
            },
            power_law: PowerLawOptions::default(),
        }
    }
}

impl LayerOptions {
    /// Checks the options before any matrix is touched.
    pub fn validate(&self) -> CoreResult<()> {
        self.analysis.validate()?;
        self.power_law.validate()
    }
}

/// The report of one layer.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// The spectral analysis.
    pub analysis: MatrixAnalysis,
    /// Norms and rank measures.
    pub norms: MatrixNorms,
    /// λ₊/λmax of the fitted MP bulk.
    pub mp_soft_rank: f64,
    /// The tail fit, or why there is none (too few eigenvalues, constant spectrum).
    pub power_law: Result<PowerLawFit, String>,
}

/// Reports on one matrix.
pub fn report_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &LayerOptions,
    stop: &Stop,
) -> CoreResult<LayerReport> {
    options.validate()?;
    let analysis = analyze_matrix(w, &options.analysis, stop)?;
    Ok(finish(analysis, options))
}

/// Reports on a matrix decomposed elsewhere (see [`analyze_decomposed`]): every field as
/// [`report_matrix`] computes it from the same singular values (and vectors).
pub fn report_decomposed(
    shape: (usize, usize),
    singular_values: Vec<f64>,
    vectors: Option<(&faer::Mat<f64>, &faer::Mat<f64>)>,
    options: &LayerOptions,
    stop: &Stop,
) -> CoreResult<LayerReport> {
    options.validate()?;
    let analysis = analyze_decomposed(shape, singular_values, vectors, &options.analysis, stop)?;
    Ok(finish(analysis, options))
}

fn finish(analysis: MatrixAnalysis, options: &LayerOptions) -> LayerReport {
    let s = &analysis.singular_values;
    let norms = matrix_norms(s);
    let soft_rank = mp_soft_rank(analysis.fit.edges.1, norms.spectral_norm);
    let power_law =
        fit_power_law_of_singular_values(s, options.power_law).map_err(|e| e.to_string());
    LayerReport {
        analysis,
        norms,
        mp_soft_rank: soft_rank,
        power_law,
    }
}

impl MatrixTask for LayerOptions {
    type Output = LayerReport;

    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        self.analysis.working_bytes(rows, cols)
    }

    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<LayerReport> {
        report_matrix(w, self, stop)
    }
}
