//! Binding of the per-layer report: one parallel call over many matrices, with the GIL released,
//! returning the spectral analysis plus norms, MP soft rank and the power-law tail of each.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::linalg::svd::SvdMethod;
use crate::matrix::AnyMatrix;
use crate::spectral::analysis::{AnalysisOptions, PorterThomasOptions};
use crate::spectral::layer_report::{report_many, LayerOptions, LayerReport};
use crate::spectral::power_law::PowerLawOptions;

use super::convert::{batch_list, PyMatrix};
use super::spectral::analysis_dict;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze_layers, m)?)?;
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (matrices, tw_margin=2.0234, svd_method="auto", level_spacing=true, porter_thomas=true, window=15, alpha=0.05, min_tail=10, min_span=1.5))]
#[allow(clippy::too_many_arguments)]
fn analyze_layers<'py>(
    py: Python<'py>,
    matrices: Vec<PyMatrix<'py>>,
    tw_margin: f64,
    svd_method: &str,
    level_spacing: bool,
    porter_thomas: bool,
    window: usize,
    alpha: f64,
    min_tail: usize,
    min_span: f64,
) -> PyResult<Bound<'py, PyList>> {
    let options = LayerOptions {
        analysis: AnalysisOptions {
            fit: super::spectral::fit_options(None, "quantile", tw_margin)?,
            svd_method: SvdMethod::parse(svd_method)?,
            level_spacing,
            porter_thomas: porter_thomas.then_some(PorterThomasOptions { window, alpha }),
        },
        power_law: PowerLawOptions { min_tail, min_span },
    };
    let views: Vec<AnyMatrix<'_>> = matrices.iter().map(|m| m.view()).collect();
    let results = py.detach(|| report_many(&views, &options));
    batch_list(py, results, |r| report_dict(py, r))
}

fn report_dict<'py>(py: Python<'py>, r: LayerReport) -> PyResult<Bound<'py, PyDict>> {
    let d = analysis_dict(py, r.analysis)?;
    let norms = PyDict::new(py);
    norms.set_item("spectral_norm", r.norms.spectral_norm)?;
    norms.set_item("frobenius_norm", r.norms.frobenius_norm)?;
    norms.set_item("stable_rank", r.norms.stable_rank)?;
    norms.set_item("effective_rank", r.norms.effective_rank)?;
    norms.set_item("entropy", r.norms.entropy)?;
    d.set_item("norms", norms)?;
    d.set_item("mp_soft_rank", r.mp_soft_rank)?;
    match r.power_law {
        Ok(pl) => {
            let p = PyDict::new(py);
            p.set_item("alpha", pl.alpha)?;
            p.set_item("alpha_stderr", pl.alpha_stderr)?;
            p.set_item("xmin", pl.xmin)?;
            p.set_item("xmax", pl.xmax)?;
            p.set_item("n_tail", pl.n_tail)?;
            p.set_item("ks_distance", pl.ks_distance)?;
            p.set_item("likelihood_ratio", pl.likelihood_ratio)?;
            p.set_item("power_law_like", pl.power_law_like)?;
            d.set_item("power_law", p)?;
        }
        Err(reason) => d.set_item("power_law", reason)?,
    }
    Ok(d)
}
