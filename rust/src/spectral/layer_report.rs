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
