//! Everything the per-layer report needs for one matrix, in one pass: the spectral analysis (SVD,
//! MP fit, level statistics, Porter–Thomas), the norms and rank measures, and the power-law tail
//! of the eigenvalues λ = s². Batches go through [`crate::batch::run_batch`].
//!
//! With `route = Partial` each matrix first tries the partial route (`partial.rs`: σ, edges,
//! spikes and norms from the leading singular values and the trace) and falls back to the full
//! analysis, with the reason, when one of its checks refuses or when the level statistics or the
//! Porter–Thomas test (which need the whole spectrum and every vector) are asked for.

use crate::batch::MatrixTask;
use crate::error::CoreResult;
use crate::interrupt::Stop;
use crate::matrix::{MatrixView, Scalar};

use super::analysis::{analyze_matrix, AnalysisOptions, MatrixAnalysis};
use super::norms::{matrix_norms, mp_soft_rank, MatrixNorms};
use super::partial::{partial_fit, PartialFit};
use super::porter_thomas::PorterThomasOptions;
use super::power_law::{fit_power_law_of_singular_values, PowerLawFit, PowerLawOptions};

/// The per-layer report runs the Porter–Thomas test unless switched off.
pub const DEFAULT_PORTER_THOMAS: bool = true;

crate::named_enum! {
    /// How much of each spectrum the per-layer report computes.
    #[derive(Default)]
    pub enum SpectrumRoute for "route" as "route" / "routes" {
        /// Every singular value: all quantities.
        #[default]
        Full = "full",
        /// The leading values and the trace where the checks allow (`partial.rs`), else full.
        Partial = "partial",
    }
}

/// What [`report_matrix`] computes.
#[derive(Debug, Clone, Copy)]
pub struct LayerOptions {
    /// The spectral analysis.
    pub analysis: AnalysisOptions,
    /// The power-law tail fit and its verdict.
    pub power_law: PowerLawOptions,
    /// Full or partial spectra.
    pub route: SpectrumRoute,
}

impl Default for LayerOptions {
    fn default() -> Self {
        Self {
            analysis: AnalysisOptions {
                porter_thomas: DEFAULT_PORTER_THOMAS.then(PorterThomasOptions::default),
                ..AnalysisOptions::default()
            },
            power_law: PowerLawOptions::default(),
            route: SpectrumRoute::default(),
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

/// The partial route's report of one layer: the quantities it gives (the rest are not computed).
#[derive(Debug, Clone)]
pub struct PartialReport {
    /// Rows of the input.
    pub rows: usize,
    /// Columns of the input.
    pub cols: usize,
    /// σ, edges, spikes, ‖W‖_F and the model check.
    pub fit: PartialFit,
    /// s₁.
    pub spectral_norm: f64,
    /// ‖W‖_F²/s₁².
    pub stable_rank: f64,
    /// λ₊/λmax of the fitted bulk.
    pub mp_soft_rank: f64,
}

/// One layer's result by the route that answered.
#[derive(Debug, Clone)]
pub enum LayerResult {
    /// The full analysis; with the partial route asked for, the reason it fell back.
    Full(Box<LayerReport>, Option<String>),
    /// The partial route.
    Partial(PartialReport),
}

/// Reports on one matrix by the route asked for (module docs).
pub fn report_layer<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &LayerOptions,
    stop: &Stop,
) -> CoreResult<LayerResult> {
    options.validate()?;
    if options.route == SpectrumRoute::Full {
        return Ok(LayerResult::Full(
            Box::new(report_matrix(w, options, stop)?),
            None,
        ));
    }
    let needs_full = if options.analysis.porter_thomas.is_some() {
        Some("the Porter–Thomas test needs every singular vector")
    } else if options.analysis.level_statistics {
        Some("level statistics need the whole bulk")
    } else {
        None
    };
    let reason = match needs_full {
        Some(why) => why.to_string(),
        None => match partial_fit(w, &options.analysis.fit, stop)? {
            Ok(fit) => {
                let s1 = fit.leading[0];
                let ratio = fit.frobenius_norm / s1;
                return Ok(LayerResult::Partial(PartialReport {
                    rows: w.nrows(),
                    cols: w.ncols(),
                    spectral_norm: s1,
                    stable_rank: ratio * ratio,
                    mp_soft_rank: mp_soft_rank(fit.edges.1, s1),
                    fit,
                }));
            }
            Err(why) => why,
        },
    };
    Ok(LayerResult::Full(
        Box::new(report_matrix(w, options, stop)?),
        Some(reason),
    ))
}

/// Reports on one matrix by the full route.
pub fn report_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &LayerOptions,
    stop: &Stop,
) -> CoreResult<LayerReport> {
    options.validate()?;
    let analysis = analyze_matrix(w, &options.analysis, stop)?;
    let s = &analysis.singular_values;
    let norms = matrix_norms(s);
    let soft_rank = mp_soft_rank(analysis.fit.edges.1, norms.spectral_norm);
    let power_law =
        fit_power_law_of_singular_values(s, options.power_law).map_err(|e| e.to_string());
    Ok(LayerReport {
        analysis,
        norms,
        mp_soft_rank: soft_rank,
        power_law,
    })
}

impl MatrixTask for LayerOptions {
    type Output = LayerResult;

    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        self.analysis.working_bytes(rows, cols)
    }

    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<LayerResult> {
        report_layer(w, self, stop)
    }
}
