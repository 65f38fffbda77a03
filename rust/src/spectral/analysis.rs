//! One call that runs the spectral pipeline on a matrix: singular values (or a thin SVD when the
//! singular vectors are needed), the MP noise fit, level statistics of the bulk and the
//! Porter–Thomas test. Batches go through [`crate::batch::run_batch`].

use crate::batch::MatrixTask;
use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::linalg::decomposition::{singular_values, thin_svd, working_bytes, Decomposition, Need};
use crate::matrix::{MatrixView, Scalar};

use super::level_spacing::{bulk_level_statistics, LevelSpacing};
use super::mp_law::MpShape;
use super::noise_fit::{fit_noise, FitOptions, NoiseFit};
use super::porter_thomas::{porter_thomas, PorterThomas, PorterThomasOptions};

/// Level statistics are computed unless switched off.
pub const DEFAULT_LEVEL_STATISTICS: bool = true;
/// `analyze_spectra` leaves the Porter–Thomas test off by default (it needs every singular
/// vector, several times the work of the values); the per-layer report turns it on.
pub const DEFAULT_PORTER_THOMAS: bool = false;

/// What [`analyze_matrix`] computes.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisOptions {
    /// The MP fit.
    pub fit: FitOptions,
    /// The route to the singular values (and vectors).
    pub decomposition: Decomposition,
    /// Level statistics of the bulk.
    pub level_statistics: bool,
    /// The Porter–Thomas test (needs every singular vector), when given.
    pub porter_thomas: Option<PorterThomasOptions>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            fit: FitOptions::default(),
            decomposition: Decomposition::default(),
            level_statistics: DEFAULT_LEVEL_STATISTICS,
            porter_thomas: DEFAULT_PORTER_THOMAS.then(PorterThomasOptions::default),
        }
    }
}

impl AnalysisOptions {
    /// Checks the options before any matrix is touched.
    pub fn validate(&self) -> CoreResult<()> {
        self.fit.validate()?;
        if let Some(pt) = &self.porter_thomas {
            pt.validate()?;
        }
        Ok(())
    }
}

/// Everything the spectral core computes for one matrix.
#[derive(Debug, Clone)]
pub struct MatrixAnalysis {
    /// Rows of the input.
    pub rows: usize,
    /// Columns of the input.
    pub cols: usize,
    /// Descending.
    pub singular_values: Vec<f64>,
    /// The MP fit.
    pub fit: NoiseFit,
    /// Level statistics of the bulk, or why there are none (a bulk of fewer than 3 levels).
    pub level_statistics: Option<Result<LevelSpacing, String>>,
    /// The Porter–Thomas test, when asked for.
    pub porter_thomas: Option<PorterThomas>,
}

/// Analyses one matrix.
pub fn analyze_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &AnalysisOptions,
    stop: &Stop,
) -> CoreResult<MatrixAnalysis> {
    let shape = MpShape::new(w.nrows(), w.ncols())?;
    options.validate()?;
    let (s, pt) = match options.porter_thomas {
        Some(pt_options) => {
            let svd = thin_svd(w, options.decomposition, stop)?;
            let pt = porter_thomas(&svd.u, &svd.v, pt_options, stop)?;
            (svd.s, Some(pt))
        }
        None => (singular_values(w, options.decomposition, stop)?, None),
    };
    finish(w.nrows(), w.ncols(), s, pt, shape, options)
}

/// Analyses a matrix decomposed elsewhere (e.g. by `torch.linalg` on a GPU): the same fit, level
/// statistics and Porter–Thomas test as [`analyze_matrix`], from its singular values (descending,
/// min(rows, cols) of them) and, when the test is asked for, its singular vectors `u` (rows × k)
/// and `v` (cols × k).
pub fn analyze_decomposed(
    (rows, cols): (usize, usize),
    singular_values: Vec<f64>,
    vectors: Option<(&faer::Mat<f64>, &faer::Mat<f64>)>,
    options: &AnalysisOptions,
    stop: &Stop,
) -> CoreResult<MatrixAnalysis> {
    let shape = MpShape::new(rows, cols)?;
    options.validate()?;
    let k = rows.min(cols);
    let pt = match (options.porter_thomas, vectors) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(CoreError::invalid(
                "vectors",
                "the Porter–Thomas test needs the singular vectors (or porter_thomas=False)",
            ))
        }
        (Some(pt_options), Some((u, v))) => {
            if (u.nrows(), u.ncols(), v.nrows(), v.ncols()) != (rows, k, cols, k) {
                return Err(CoreError::invalid(
                    "vectors",
                    format!(
                        "a {rows}×{cols} matrix needs u of {rows}×{k} and v of {cols}×{k}, got {}×{} and {}×{}",
                        u.nrows(),
                        u.ncols(),
                        v.nrows(),
                        v.ncols()
                    ),
                ));
            }
            Some(porter_thomas(u, v, pt_options, stop)?)
        }
    };
    finish(rows, cols, singular_values, pt, shape, options)
}

fn finish(
    rows: usize,
    cols: usize,
    s: Vec<f64>,
    pt: Option<PorterThomas>,
    shape: MpShape,
    options: &AnalysisOptions,
) -> CoreResult<MatrixAnalysis> {
    let fit = fit_noise(&s, shape, options.fit)?;
    let level = options
        .level_statistics
        .then(|| bulk_level_statistics(&s, &fit).map_err(|e| e.to_string()));
    Ok(MatrixAnalysis {
        rows,
        cols,
        singular_values: s,
        fit,
        level_statistics: level,
        porter_thomas: pt,
    })
}

impl MatrixTask for AnalysisOptions {
    type Output = MatrixAnalysis;

    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        let need = if self.porter_thomas.is_some() {
            Need::Vectors
        } else {
            Need::Values
        };
        working_bytes(rows, cols, need, self.decomposition)
    }

    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<MatrixAnalysis> {
        analyze_matrix(w, self, stop)
    }
}
