//! Bindings of the spectral core: singular values, the MP law, the noise fit, Porter–Thomas, level
//! statistics and the parallel batch analysis.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::error::CoreError;
use crate::linalg::svd::{singular_values as core_singular_values, SvdMethod};
use crate::matrix::AnyMatrix;
use crate::spectral::analysis::{
    analyze_many, bulk_level_spacing, AnalysisOptions, MatrixAnalysis, PorterThomasOptions,
};
use crate::spectral::level_spacing::{
    level_spacing as core_level_spacing, LevelSpacing, Unfolding,
};
use crate::spectral::mp_law::{check_sigma, MpShape};
use crate::spectral::noise_fit::{fit_noise, FitOptions, NoiseFit, SigmaMethod};
use crate::spectral::porter_thomas::PorterThomas;

use super::convert::{batch_list, PyMatrix};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(singular_values, m)?)?;
    m.add_function(wrap_pyfunction!(mp_law, m)?)?;
    m.add_function(wrap_pyfunction!(fit_mp, m)?)?;
    m.add_function(wrap_pyfunction!(level_spacing, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_spectra, m)?)?;
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (w, method="auto"))]
fn singular_values<'py>(
    py: Python<'py>,
    w: PyMatrix<'py>,
    method: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let method = SvdMethod::parse(method)?;
    let view = w.view();
    let s = py.detach(|| match view {
        AnyMatrix::F32(v) => core_singular_values(v, method),
        AnyMatrix::F64(v) => core_singular_values(v, method),
    })?;
    Ok(s.into_pyarray(py))
}

/// Evaluates the MP law of singular values ("pdf", "cdf" or "quantile") elementwise.
#[pyfunction]
fn mp_law<'py>(
    py: Python<'py>,
    which: &str,
    x: PyReadonlyArray1<'py, f64>,
    rows: usize,
    cols: usize,
    sigma: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let shape = MpShape::new(rows, cols)?;
    check_sigma(sigma)?;
    let x = x.as_array();
    let out: Vec<f64> = match which {
        "pdf" => x.iter().map(|&v| shape.pdf(v, sigma)).collect(),
        "cdf" => x.iter().map(|&v| shape.cdf(v, sigma)).collect(),
        "quantile" => {
            if let Some(p) = x.iter().find(|p| !(0.0..=1.0).contains(*p)) {
                return Err(CoreError::invalid(
                    "p",
                    format!("probabilities must lie in [0, 1], got {p}"),
                )
                .into());
            }
            x.iter().map(|&p| shape.quantile(p, sigma)).collect()
        }
        other => return Err(CoreError::invalid("which", format!("unknown {other:?}")).into()),
    };
    Ok(out.into_pyarray(py))
}

pub(super) fn fit_options(
    sigma: Option<f64>,
    method: &str,
    tw_margin: f64,
) -> PyResult<FitOptions> {
    Ok(FitOptions {
        sigma,
        method: SigmaMethod::parse(method)?,
        tw_margin,
    })
}

#[pyfunction]
#[pyo3(signature = (s, rows, cols, sigma=None, method="quantile", tw_margin=2.0234))]
fn fit_mp<'py>(
    py: Python<'py>,
    s: PyReadonlyArray1<'py, f64>,
    rows: usize,
    cols: usize,
    sigma: Option<f64>,
    method: &str,
    tw_margin: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let shape = MpShape::new(rows, cols)?;
    let options = fit_options(sigma, method, tw_margin)?;
    let s = s.as_slice()?;
    let fit = py.detach(|| fit_noise(s, shape, options))?;
    fit_dict(py, &fit)
}

/// Level statistics of descending singular values: of the MP bulk when `rows, cols` are given
/// (unfolded with the fitted law), otherwise of all levels s² with Gaussian unfolding.
#[pyfunction]
#[pyo3(signature = (s, rows=None, cols=None, sigma=None, a=15))]
fn level_spacing<'py>(
    py: Python<'py>,
    s: PyReadonlyArray1<'py, f64>,
    rows: Option<usize>,
    cols: Option<usize>,
    sigma: Option<f64>,
    a: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let s = s.as_slice()?;
    let (ls, fit) = py.detach(|| -> Result<(LevelSpacing, Option<NoiseFit>), CoreError> {
        match (rows, cols) {
            (Some(r), Some(c)) => {
                let fit = fit_noise(
                    s,
                    MpShape::new(r, c)?,
                    FitOptions {
                        sigma,
                        ..Default::default()
                    },
                )?;
                Ok((bulk_level_spacing(s, &fit)?, Some(fit)))
            }
            _ => {
                crate::matrix::check_finite_slice(s, "singular values")?;
                let levels: Vec<f64> = s.iter().rev().map(|v| v * v).collect();
                Ok((
                    core_level_spacing(&levels, Unfolding::Gaussian { a })?,
                    None,
                ))
            }
        }
    })?;
    let d = level_dict(py, &ls)?;
    if let Some(fit) = fit {
        d.set_item("n_levels_excluded", fit.n_spikes + fit.n_low_outliers)?;
    } else {
        d.set_item("n_levels_excluded", 0)?;
    }
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (matrices, sigma=None, method="quantile", tw_margin=2.0234, svd_method="auto", level_spacing=true, porter_thomas=false, window=15, alpha=0.05))]
#[allow(clippy::too_many_arguments)]
fn analyze_spectra<'py>(
    py: Python<'py>,
    matrices: Vec<PyMatrix<'py>>,
    sigma: Option<f64>,
    method: &str,
    tw_margin: f64,
    svd_method: &str,
    level_spacing: bool,
    porter_thomas: bool,
    window: usize,
    alpha: f64,
) -> PyResult<Bound<'py, PyList>> {
    let options = AnalysisOptions {
        fit: fit_options(sigma, method, tw_margin)?,
        svd_method: SvdMethod::parse(svd_method)?,
        level_spacing,
        porter_thomas: porter_thomas.then_some(PorterThomasOptions { window, alpha }),
    };
    let views: Vec<AnyMatrix<'_>> = matrices.iter().map(|m| m.view()).collect();
    let results = py.detach(|| analyze_many(&views, &options));
    batch_list(py, results, |a| analysis_dict(py, a))
}

fn fit_dict<'py>(py: Python<'py>, fit: &NoiseFit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n", fit.shape.n)?;
    d.set_item("m", fit.shape.m)?;
    d.set_item("sigma", fit.sigma)?;
    d.set_item("method", fit.method.name())?;
    d.set_item("bulk_edges", fit.edges)?;
    d.set_item("spike_threshold", fit.spike_threshold)?;
    d.set_item("n_spikes", fit.n_spikes)?;
    d.set_item("n_low_outliers", fit.n_low_outliers)?;
    d.set_item("ks_distance", fit.ks_distance)?;
    d.set_item("ks_pvalue", fit.ks_pvalue)?;
    d.set_item("iterations", fit.iterations)?;
    Ok(d)
}

fn level_dict<'py>(py: Python<'py>, ls: &LevelSpacing) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("mean_ratio", ls.mean_ratio)?;
    d.set_item("ratios", ls.ratios.clone().into_pyarray(py))?;
    d.set_item("spacings", ls.spacings.clone().into_pyarray(py))?;
    Ok(d)
}

fn porter_thomas_dict<'py>(py: Python<'py>, pt: PorterThomas) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("left_ks", pt.left_ks.into_pyarray(py))?;
    d.set_item("left_pvalues", pt.left_pvalues.into_pyarray(py))?;
    d.set_item("right_ks", pt.right_ks.into_pyarray(py))?;
    d.set_item("right_pvalues", pt.right_pvalues.into_pyarray(py))?;
    d.set_item("pvalues", pt.pvalues.into_pyarray(py))?;
    d.set_item("windowed", pt.windowed.into_pyarray(py))?;
    d.set_item("boundary", pt.boundary)?;
    Ok(d)
}

pub(super) fn analysis_dict<'py>(
    py: Python<'py>,
    a: MatrixAnalysis,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", a.rows)?;
    d.set_item("cols", a.cols)?;
    d.set_item("fit", fit_dict(py, &a.fit)?)?;
    d.set_item("singular_values", a.singular_values.into_pyarray(py))?;
    match &a.level_spacing {
        Some(ls) => d.set_item("level_spacing", level_dict(py, ls)?)?,
        None => d.set_item("level_spacing", py.None())?,
    }
    match a.porter_thomas {
        Some(pt) => d.set_item("porter_thomas", porter_thomas_dict(py, pt)?)?,
        None => d.set_item("porter_thomas", py.None())?,
    }
    Ok(d)
}
