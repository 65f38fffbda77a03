//! Filtering one weight matrix: one decomposition, the noise fit, the shrunk values
//! (`shrunk_values.rs`), a reconstruction from thin factors (`reconstruct.rs`) and the record of
//! what was done. Batches go through [`crate::batch::run_batch`] with [`FilterOptions`] as the task.
//!
//! The decomposition is the one of `linalg::decomposition`, asked for what the method reads
//! ([`ShrinkMethod::need`]): the methods that keep leading components take the Gram route when its
//! accuracy rule allows (about half the work of an SVD); "fraction" acts on trailing components and
//! "porter_thomas" tests every singular vector, so they take the SVD (or the accurate Gram route).
//! On the Gram route the methods that keep leading components get their values first, fit the
//! noise, and then only the kept vectors ([`decompose_leading`]; it falls back to every vector
//! when its check fails).
//!
//! With `route = Partial` (the methods that keep leading components) the partial route of
//! `partial_filter.rs` answers first; when it refuses, this full route runs and the record keeps
//! the reason, as the per-layer analysis does.

use crate::batch::MatrixTask;
use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::linalg::decomposition::{decompose, decompose_leading, working_bytes, Factors, Need};
use crate::matrix::{AnyVec, MatrixView, Scalar};
use crate::spectral::layer_report::SpectrumRoute;
use crate::spectral::mp_law::MpShape;
use crate::spectral::noise_fit::{check_spectrum, fit_noise, NoiseFit};
use crate::spectral::porter_thomas::porter_thomas;

pub use super::methods::{FilterOptions, GivenOptions, ShrinkMethod};
use super::partial_filter::filter_partial;
use super::reconstruct::reconstruct_row_major;
use super::shrunk_values::shrunk_values;

/// What the filter did to one matrix.
#[derive(Debug, Clone)]
pub struct FilterRecord {
    /// Rows of the input.
    pub rows: usize,
    /// Columns of the input.
    pub cols: usize,
    /// The method applied.
    pub method: ShrinkMethod,
    /// The MP fit (absent only for "fraction" without de-repelling when the bulk cannot be fitted).
    pub fit: Option<NoiseFit>,
    /// The cut on singular values ("hard", "optimal_hard" and the shrinkers).
    pub threshold: Option<f64>,
    /// "porter_thomas": the boundary index found by the test.
    pub pt_boundary: Option<usize>,
    /// Number of non-zero shrunk values.
    pub kept_rank: usize,
    /// ‖W'‖²_F / ‖W‖²_F.
    pub kept_energy: f64,
    /// ‖W' − W‖_F / ‖W‖_F.
    pub relative_change: f64,
    /// The singular values of W, descending (on the partial route only the spikes, or s₁
    /// when there are none).
    pub singular_values: Vec<f64>,
    /// The shrunk values η, in the same order.
    pub shrunk: Vec<f64>,
    /// The route of the decomposition ("gram", "svd", or [`PARTIAL_DECOMPOSITION`]).
    pub decomposition: &'static str,
    /// The route that answered.
    pub route: SpectrumRoute,
    /// Why a partial request fell back, or the partial route's own check.
    pub route_note: Option<String>,
}

/// The decomposition the partial route reports (block Krylov on WᵀW).
pub const PARTIAL_DECOMPOSITION: &str = "krylov";

/// The filtered matrix (row-major, the input's shape and element type) and its record.
pub struct Filtered<T> {
    /// Row-major data of W'.
    pub data: Vec<T>,
    /// What was done.
    pub record: FilterRecord,
}

/// The record of a filter from its spectra: energies and change are exact, from s and η and
/// `rest` = ‖W‖_F² − Σ s² (the energy of the values not in `s`: 0 on the full route).
#[allow(clippy::too_many_arguments)]
fn record(
    rows: usize,
    cols: usize,
    options: &FilterOptions,
    fit: Option<NoiseFit>,
    threshold: Option<f64>,
    pt_boundary: Option<usize>,
    s: Vec<f64>,
    eta: Vec<f64>,
    decomposition: &'static str,
    rest: f64,
) -> FilterRecord {
    // Ratios of sums of squares, scaled by s₁ so that extreme magnitudes neither overflow nor underflow.
    let s1 = s.first().copied().unwrap_or(0.0);
    let sq = |x: f64| (x / s1) * (x / s1);
    let (kept_energy, relative_change) = if s1 > 0.0 {
        let rest = rest.max(0.0) / (s1 * s1);
        let total: f64 = s.iter().map(|&v| sq(v)).sum::<f64>() + rest;
        let kept: f64 = eta.iter().map(|&v| sq(v)).sum();
        let change: f64 = s.iter().zip(&eta).map(|(&a, &b)| sq(a - b)).sum::<f64>() + rest;
        (kept / total, (change / total).sqrt())
    } else {
        (0.0, 0.0)
    };
    FilterRecord {
        rows,
        cols,
        method: options.method,
        fit,
        threshold,
        pt_boundary,
        kept_rank: eta.iter().filter(|&&v| v > 0.0).count(),
        kept_energy,
        relative_change,
        singular_values: s,
        shrunk: eta,
        decomposition,
        route: SpectrumRoute::Full,
        route_note: None,
    }
}

/// The number of leading components the filter keeps from singular values `s`, when η is
/// non-zero exactly on s₀..s_k and the reconstruction reads only those (the kept-vectors route of
/// `decompose_leading`); `None` otherwise. The filter recomputes the same fit from the same s.
fn kept_rank(s: &[f64], shape: MpShape, options: &FilterOptions) -> CoreResult<Option<usize>> {
    let fit = fit_noise(s, shape, options.fit)?;
    let eta = shrunk_values(s, Some(&fit), options, None)?.eta;
    let k = eta.iter().take_while(|&&x| x > 0.0).count();
    let changed = s.iter().zip(&eta).filter(|(a, b)| a != b).count();
    let prefix = eta[k..].iter().all(|&x| x == 0.0);
    Ok((prefix && k <= changed).then_some(k))
}

/// Filters one matrix.
pub fn filter_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FilterOptions,
    stop: &Stop,
) -> CoreResult<Filtered<T>> {
    options.validate()?;
    let shape = MpShape::new(w.nrows(), w.ncols())?;
    let method = options.method;
    let mut route_note = None;
    if options.route == SpectrumRoute::Partial {
        match filter_partial(w, options, stop)? {
            Ok(p) => {
                let fro2 = p.fit.frobenius_norm * p.fit.frobenius_norm;
                let rest = fro2 - p.fit.leading.iter().map(|x| x * x).sum::<f64>();
                let mut r = record(
                    w.nrows(),
                    w.ncols(),
                    options,
                    Some(p.fit.as_noise_fit(options.fit.sigma.is_some())),
                    p.threshold,
                    None,
                    p.fit.leading.clone(),
                    p.eta,
                    PARTIAL_DECOMPOSITION,
                    rest,
                );
                r.route = SpectrumRoute::Partial;
                r.route_note = Some(p.fit.check_note());
                return Ok(Filtered {
                    data: p.data,
                    record: r,
                });
            }
            Err(why) => route_note = Some(why),
        }
    }
    let transposed = w.nrows() < w.ncols();
    let w_tall = if transposed { w.t() } else { w };
    let d = if method.need() == Need::LeadingComponents {
        // The kept-vectors route: only the vectors of the components the filter keeps.
        let mut kept = |s: &[f64]| kept_rank(s, shape, options);
        decompose_leading(w, options.decomposition, stop, &mut kept)?
    } else {
        decompose(w, method.need(), options.decomposition, stop)?
    };
    stop.check()?;
    let fit = match method {
        ShrinkMethod::Fraction if !options.derepel => fit_noise(&d.s, shape, options.fit).ok(),
        _ => Some(fit_noise(&d.s, shape, options.fit)?),
    };
    let pt_boundary = match (&d.factors, method) {
        (Factors::Svd { u, v }, ShrinkMethod::PorterThomas) => {
            Some(porter_thomas(u, v, options.porter_thomas, stop)?.boundary)
        }
        _ => None,
    };
    let shrunk = shrunk_values(&d.s, fit.as_ref(), options, pt_boundary)?;
    stop.check()?;
    let data = reconstruct_row_major(w_tall, d.factors, &d.s, &shrunk.eta, transposed);
    let mut record = record(
        w.nrows(),
        w.ncols(),
        options,
        fit,
        shrunk.threshold,
        pt_boundary,
        d.s,
        shrunk.eta,
        d.route.name(),
        0.0,
    );
    record.route_note = route_note;
    Ok(Filtered { data, record })
}

/// The route name of a decomposition given by the caller ([`filter_decomposed`]).
pub const GIVEN_DECOMPOSITION: &str = "given";

/// What a filter does to a matrix of `shape` (rows, cols) whose decomposition the caller computed
/// (e.g. on a GPU): the noise fit of its singular values `s` (descending, min(rows, cols) of
/// them), the Porter–Thomas boundary from `vectors` (U: rows × r, V: cols × r; required by
/// "porter_thomas" only) and the shrunk values η, in the record of [`filter_matrix`]. The
/// reconstruction U·diag(η)·Vᵀ is the caller's. The record's decomposition is
/// [`GIVEN_DECOMPOSITION`].
pub fn filter_decomposed(
    shape: (usize, usize),
    s: Vec<f64>,
    vectors: Option<(&faer::Mat<f64>, &faer::Mat<f64>)>,
    options: &FilterOptions,
    stop: &Stop,
) -> CoreResult<FilterRecord> {
    options.validate()?;
    let mp = MpShape::new(shape.0, shape.1)?;
    check_spectrum(&s, &mp)?;
    let method = options.method;
    let fit = match method {
        ShrinkMethod::Fraction if !options.derepel => fit_noise(&s, mp, options.fit).ok(),
        _ => Some(fit_noise(&s, mp, options.fit)?),
    };
    let pt_boundary = match (vectors, method) {
        (Some((u, v)), ShrinkMethod::PorterThomas) => {
            let r = s.len();
            if (u.nrows(), u.ncols(), v.nrows(), v.ncols()) != (shape.0, r, shape.1, r) {
                return Err(CoreError::invalid(
                    "vectors",
                    format!(
                        "U must be {}×{r} and V {}×{r}, got {}×{} and {}×{}",
                        shape.0,
                        shape.1,
                        u.nrows(),
                        u.ncols(),
                        v.nrows(),
                        v.ncols()
                    ),
                ));
            }
            Some(porter_thomas(u, v, options.porter_thomas, stop)?.boundary)
        }
        (None, ShrinkMethod::PorterThomas) => {
            return Err(CoreError::invalid(
                "vectors",
                "method 'porter_thomas' needs the singular vectors",
            ))
        }
        _ => None,
    };
    let shrunk = shrunk_values(&s, fit.as_ref(), options, pt_boundary)?;
    Ok(record(
        shape.0,
        shape.1,
        options,
        fit,
        shrunk.threshold,
        pt_boundary,
        s,
        shrunk.eta,
        GIVEN_DECOMPOSITION,
        0.0,
    ))
}

impl MatrixTask for FilterOptions {
    type Output = (AnyVec, FilterRecord);

    fn working_bytes(&self, rows: usize, cols: usize) -> usize {
        // The result is allocated after the decomposition's workspace is freed.
        working_bytes(rows, cols, self.method.need(), self.decomposition)
    }

    fn run<T: Scalar>(&self, w: MatrixView<'_, T>, stop: &Stop) -> CoreResult<Self::Output> {
        let f = filter_matrix(w, self, stop)?;
        Ok((T::into_any_vec(f.data), f.record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::decomposition::Decomposition;
    use rand::{rngs::SmallRng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    fn unit(n: usize, rng: &mut SmallRng) -> Vec<f64> {
        let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    /// Noise (σ) plus spikes θₖ·aₖbₖᵀ, row-major; returns (noisy, planted).
    fn planted(n: usize, m: usize, sigma: f64, thetas: &[f64], seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut signal = vec![0.0; n * m];
        for &theta in thetas {
            let (a, b) = (unit(n, &mut rng), unit(m, &mut rng));
            for i in 0..n {
                for j in 0..m {
                    signal[i * m + j] += theta * a[i] * b[j];
                }
            }
        }
        let noisy = signal
            .iter()
            .map(|&x| {
                let z: f64 = StandardNormal.sample(&mut rng);
                x + sigma * z
            })
            .collect::<Vec<f64>>();
        (noisy, signal)
    }

    fn options(method: ShrinkMethod) -> FilterOptions {
        let fraction = (method == ShrinkMethod::Fraction).then_some(0.0);
        GivenOptions {
            fraction,
            ..Default::default()
        }
        .resolve(method)
        .unwrap()
    }

    fn filter_matrix<T: Scalar>(
        w: MatrixView<'_, T>,
        options: &FilterOptions,
    ) -> CoreResult<Filtered<T>> {
        super::filter_matrix(w, options, &Stop::never())
    }

    fn fro(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn operator_recovers_planted_strengths() {
        let (n, m) = (600, 300);
        let theta_c = ((n * m) as f64).powf(0.25);
        let thetas = [8.0 * theta_c, 5.0 * theta_c, 4.0 * theta_c];
        let (w, _) = planted(n, m, 1.0, &thetas, 1);
        let f = filter_matrix(
            MatrixView::from_row_major(&w, n, m),
            &options(ShrinkMethod::Operator),
        )
        .unwrap();
        let r = &f.record;
        assert_eq!(r.kept_rank, 3);
        for (k, &theta) in thetas.iter().enumerate() {
            assert!(
                (r.shrunk[k] / theta - 1.0).abs() < 0.03,
                "{k}: {} vs {theta}",
                r.shrunk[k]
            );
            assert!(r.singular_values[k] > r.shrunk[k]);
        }
        // The output's own singular values are the shrunk ones.
        let s = crate::linalg::decomposition::singular_values(
            MatrixView::from_row_major(&f.data, n, m),
            Decomposition::Svd,
            &Stop::never(),
        )
        .unwrap();
        for k in 0..3 {
            assert!((s[k] - r.shrunk[k]).abs() < 1e-8 * s[0]);
        }
        assert!(s[3] < 1e-8 * s[0]);
    }

    #[test]
    fn gram_and_svd_routes_agree_and_transpose_commutes() {
        let (n, m) = (200, 80);
        let theta_c = ((n * m) as f64).powf(0.25);
        let (w, _) = planted(n, m, 0.5, &[0.5 * 6.0 * theta_c, 0.5 * 3.0 * theta_c], 2);
        let view = MatrixView::from_row_major(&w, n, m);
        for method in [
            ShrinkMethod::Hard,
            ShrinkMethod::Operator,
            ShrinkMethod::Frobenius,
            ShrinkMethod::Nuclear,
        ] {
            let mut o = options(method);
            o.decomposition = Decomposition::Gram;
            let g = filter_matrix(view, &o).unwrap();
            assert_eq!(g.record.decomposition, "gram");
            o.decomposition = Decomposition::Svd;
            let d = filter_matrix(view, &o).unwrap();
            assert_eq!(d.record.decomposition, "svd");
            assert!(fro(&g.data, &d.data) < 1e-9 * fro(&w, &vec![0.0; w.len()]));
            let t = filter_matrix(view.t(), &o).unwrap();
            for i in 0..n {
                for j in 0..m {
                    assert!((t.data[j * n + i] - d.data[i * m + j]).abs() < 1e-10);
                }
            }
        }
    }

    #[test]
    fn frobenius_beats_truncation_and_hard() {
        let (n, m) = (400, 200);
        let theta_c = ((n * m) as f64).powf(0.25);
        let thetas = [1.5 * theta_c, 2.0 * theta_c, 3.0 * theta_c];
        let mut wins = 0;
        for seed in 0..4 {
            let (w, signal) = planted(n, m, 1.0, &thetas, 10 + seed);
            let view = MatrixView::from_row_major(&w, n, m);
            let err = |method: ShrinkMethod| {
                fro(
                    &filter_matrix(view, &options(method)).unwrap().data,
                    &signal,
                )
            };
            let mut trunc = options(ShrinkMethod::Fraction);
            trunc.fraction = 1.0 - 3.0 / m as f64;
            let e_trunc = fro(&filter_matrix(view, &trunc).unwrap().data, &signal);
            let e_fro = err(ShrinkMethod::Frobenius);
            if e_fro < e_trunc && e_fro < err(ShrinkMethod::Hard) {
                wins += 1;
            }
        }
        assert_eq!(wins, 4);
    }

    #[test]
    fn pure_noise_shrinks_to_nearly_zero() {
        let (n, m) = (500, 250);
        let (w, _) = planted(n, m, 1.0, &[], 5);
        let view = MatrixView::from_row_major(&w, n, m);
        for method in [
            ShrinkMethod::Hard,
            ShrinkMethod::OptimalHard,
            ShrinkMethod::Operator,
            ShrinkMethod::Frobenius,
            ShrinkMethod::Nuclear,
        ] {
            let f = filter_matrix(view, &options(method)).unwrap();
            assert!(
                f.record.kept_energy < 0.01,
                "{method:?}: {}",
                f.record.kept_energy
            );
        }
    }

    #[test]
    fn fraction_and_porter_thomas_keep_the_right_counts() {
        let (n, m) = (300, 100);
        let theta_c = ((n * m) as f64).powf(0.25);
        let (w, _) = planted(n, m, 1.0, &[10.0 * theta_c], 6);
        let view = MatrixView::from_row_major(&w, n, m);
        let mut o = options(ShrinkMethod::Fraction);
        o.fraction = 0.57;
        let f = filter_matrix(view, &o).unwrap();
        assert_eq!(f.record.kept_rank, 43);
        assert_eq!(f.record.shrunk[0], f.record.singular_values[0]);
        o.derepel = true;
        let f = filter_matrix(view, &o).unwrap();
        assert!(f.record.shrunk[0] < f.record.singular_values[0]);
        assert_eq!(f.record.shrunk[1], f.record.singular_values[1]);
        o.fraction = 0.0;
        o.derepel = false;
        let f = filter_matrix(view, &o).unwrap();
        assert!(fro(&f.data, &w) < 1e-12, "fraction 0 leaves W as it is");
        let pt = filter_matrix(view, &options(ShrinkMethod::PorterThomas)).unwrap();
        assert!(pt.record.pt_boundary.is_some());
        assert_eq!(pt.record.kept_rank, pt.record.pt_boundary.unwrap());
    }

    #[test]
    fn bad_input_is_rejected() {
        let w = vec![1.0, f64::NAN, 0.5, 0.2, 0.1, 0.3];
        assert!(filter_matrix(
            MatrixView::from_row_major(&w, 2, 3),
            &options(ShrinkMethod::Hard)
        )
        .is_err());
        let w = vec![1.0; 5];
        assert!(filter_matrix(
            MatrixView::from_row_major(&w, 1, 5),
            &options(ShrinkMethod::Hard)
        )
        .is_err());
        let (w, _) = planted(40, 20, 1.0, &[], 1);
        let view = MatrixView::from_row_major(&w, 40, 20);
        let mut o = options(ShrinkMethod::Fraction);
        o.fraction = 1.5;
        assert!(filter_matrix(view, &o).is_err());
        let mut o = options(ShrinkMethod::Operator);
        o.fit.sigma = Some(-1.0);
        assert!(filter_matrix(view, &o).is_err());
        assert!(ShrinkMethod::parse("soft")
            .unwrap_err()
            .to_string()
            .contains("'operator'"));
        let zero = vec![0.0; 800];
        assert!(filter_matrix(
            MatrixView::from_row_major(&zero, 40, 20),
            &options(ShrinkMethod::Operator)
        )
        .is_err());
    }

    #[test]
    fn a_given_decomposition_gives_the_record_of_the_filter() {
        use crate::linalg::decomposition::{thin_svd, Decomposition};
        let (n, m) = (240, 120);
        let (w, _) = planted(n, m, 1.0, &[60.0, 30.0], 9);
        let view = MatrixView::from_row_major(&w, n, m);
        let svd = thin_svd(view, Decomposition::Svd, &Stop::never()).unwrap();
        for method in [
            ShrinkMethod::Hard,
            ShrinkMethod::Operator,
            ShrinkMethod::PorterThomas,
        ] {
            let opts = options(method);
            let want = filter_matrix(view, &opts).unwrap().record;
            let got = filter_decomposed(
                (n, m),
                svd.s.clone(),
                Some((&svd.u, &svd.v)),
                &opts,
                &Stop::never(),
            )
            .unwrap();
            assert_eq!(got.kept_rank, want.kept_rank, "{method:?}");
            assert_eq!(got.pt_boundary, want.pt_boundary, "{method:?}");
            assert_eq!(got.decomposition, GIVEN_DECOMPOSITION);
            let s1 = want.singular_values[0];
            for (a, b) in got.shrunk.iter().zip(&want.shrunk) {
                assert!((a - b).abs() <= 1e-9 * s1, "{method:?}: {a} vs {b}");
            }
        }
        let opts = options(ShrinkMethod::PorterThomas);
        assert!(filter_decomposed((n, m), svd.s.clone(), None, &opts, &Stop::never()).is_err());
        let short = svd.s[..10].to_vec();
        assert!(filter_decomposed(
            (n, m),
            short,
            None,
            &options(ShrinkMethod::Hard),
            &Stop::never()
        )
        .is_err());
    }
}
