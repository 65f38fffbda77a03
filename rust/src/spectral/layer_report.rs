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

use super::analysis::{analyze_decomposed, analyze_matrix, AnalysisOptions, MatrixAnalysis};
use super::norms::{matrix_norms, mp_soft_rank, MatrixNorms};
use super::partial::{partial_fit, PartialFit};
use super::porter_thomas::PorterThomasOptions;
use super::power_law::{fit_power_law_of_singular_values, PowerLawFit, PowerLawOptions};

/// The per-layer report runs the Porter–Thomas test unless switched off.
pub const DEFAULT_PORTER_THOMAS: bool = true;

crate::named_enum! {
    /// How much of each spectrum the per-layer report (and a filter, `shrinkage/partial_filter.rs`)
    /// computes.
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
    type Output = LayerResult;

    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        self.analysis.working_bytes(rows, cols)
    }

    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<LayerResult> {
        report_layer(w, self, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::decomposition::{thin_svd, Decomposition};
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn a_decomposition_from_elsewhere_gives_the_same_report() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (rows, cols) = (90, 40);
        let mut data: Vec<f64> = (0..rows * cols)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for (i, x) in data.iter_mut().enumerate() {
            *x += if i % cols < 2 { 3.0 } else { 0.0 }; // a planted direction
        }
        let w = MatrixView::from_row_major(&data, rows, cols);
        let options = LayerOptions::default();
        let stop = Stop::never();
        let direct = report_matrix(w, &options, &stop).unwrap();
        let svd = thin_svd(w, Decomposition::default(), &stop).unwrap();
        let given = report_decomposed(
            (rows, cols),
            svd.s.clone(),
            Some((&svd.u, &svd.v)),
            &options,
            &stop,
        )
        .unwrap();
        assert_eq!(
            given.analysis.singular_values,
            direct.analysis.singular_values
        );
        assert_eq!(given.analysis.fit.n_spikes, direct.analysis.fit.n_spikes);
        assert_eq!(given.analysis.fit.sigma, direct.analysis.fit.sigma);
        assert_eq!(
            given.analysis.porter_thomas.map(|p| p.boundary),
            direct.analysis.porter_thomas.map(|p| p.boundary)
        );
        assert!(given.analysis.fit.n_spikes >= 1);
        // The test needs the vectors; a wrong count of values is refused.
        assert!(report_decomposed((rows, cols), svd.s.clone(), None, &options, &stop).is_err());
        assert!(report_decomposed(
            (rows, cols),
            svd.s[..10].to_vec(),
            None,
            &LayerOptions {
                analysis: AnalysisOptions {
                    porter_thomas: None,
                    ..options.analysis
                },
                ..options
            },
            &stop
        )
        .is_err());
    }
}
