//! Filtering one weight matrix: one decomposition, the noise fit, the choice of kept components and
//! their shrunk values, and a reconstruction from thin factors.
//!
//! Reconstruction never forms a dense product of full factors. With the components whose value
//! changes (C) and those that stay non-zero (K), it computes whichever of
//!   W' = U_K·diag(η_K)·V_Kᵀ            (cost N·M·|K|)
//!   W' = W + U_C·diag(η_C − s_C)·V_Cᵀ   (cost N·M·|C|)
//! is cheaper, so keeping a few spikes or dropping a few components are both fast.
//!
//! Decompositions: a thin SVD (faer), or for the methods that only keep leading components the
//! eigendecomposition of the Gram matrix WᵀW of the smaller side (about half the work), where
//! uᵢsᵢ = W·vᵢ gives W' = (W·V_K)·diag(η_K/s_K)·V_Kᵀ without ever needing the trailing uᵢ. `Auto`
//! takes the Gram route for those methods unless the Gram matrix is too ill-conditioned to resolve
//! the bulk the noise fit reads (s²/s_max² < 1e-10 at the 10 % quantile), and the thin SVD for "fraction" and "porter_thomas", which act on
//! trailing components (and, for Porter–Thomas, test the left vectors).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::linalg::svd::{gram_svd_tall, thin_svd_f64, to_f64_mat_scaled, GRAM_CONDITION_LIMIT};
use crate::matrix::{check_finite_matrix, AnyMatrix, MatrixView, Scalar};
use crate::spectral::mp_law::MpShape;
use crate::spectral::noise_fit::{fit_noise, FitOptions, NoiseFit, SigmaMethod};
use crate::spectral::porter_thomas::porter_thomas;

use super::shrinkers::{Normalised, Shrinker};
use super::thresholds::optimal_hard_threshold;

/// What a filter does to the singular values (see the Python docs of `netsieve.shrink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Keep the spikes (above the bulk edge plus a Tracy–Widom margin) unchanged, zero the rest.
    Hard,
    /// Gavish–Donoho optimal hard threshold λ*(β)·√N·σ.
    OptimalHard,
    /// Replace each spike by its de-repelled value θ̂(s) (inverse BBP map), zero the rest.
    Operator,
    /// Gavish–Donoho Frobenius-optimal shrinker on the spikes, zero the rest.
    Frobenius,
    /// Gavish–Donoho nuclear-optimal shrinker on the spikes, zero the rest.
    Nuclear,
    /// Keep the leading components the Porter–Thomas test calls non-random.
    PorterThomas,
    /// Zero the smallest fraction of the singular values.
    Fraction,
}

pub const METHOD_NAMES: [&str; 7] = [
    "hard",
    "optimal_hard",
    "operator",
    "frobenius",
    "nuclear",
    "porter_thomas",
    "fraction",
];

impl Method {
    pub fn parse(name: &str) -> CoreResult<Self> {
        Ok(match name {
            "hard" => Method::Hard,
            "optimal_hard" => Method::OptimalHard,
            "operator" => Method::Operator,
            "frobenius" => Method::Frobenius,
            "nuclear" => Method::Nuclear,
            "porter_thomas" => Method::PorterThomas,
            "fraction" => Method::Fraction,
            other => {
                return Err(CoreError::invalid(
                    "method",
                    format!(
                        "unknown shrinkage method {other:?}; valid: {}",
                        METHOD_NAMES.map(|n| format!("{n:?}")).join(", ")
                    ),
                ))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Method::Hard => "hard",
            Method::OptimalHard => "optimal_hard",
            Method::Operator => "operator",
            Method::Frobenius => "frobenius",
            Method::Nuclear => "nuclear",
            Method::PorterThomas => "porter_thomas",
            Method::Fraction => "fraction",
        }
    }

    /// Only these act on trailing components, where the Gram route is inaccurate.
    fn needs_thin_svd(&self) -> bool {
        matches!(self, Method::PorterThomas | Method::Fraction)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decomposition {
    #[default]
    Auto,
    Gram,
    Svd,
}

impl Decomposition {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "auto" => Ok(Decomposition::Auto),
            "gram" => Ok(Decomposition::Gram),
            "svd" => Ok(Decomposition::Svd),
            other => Err(CoreError::invalid(
                "decomposition",
                format!("unknown decomposition {other:?}; valid: \"auto\", \"gram\", \"svd\""),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FilterOptions {
    pub method: Method,
    pub sigma: Option<f64>,
    /// σ estimator when `sigma` is None; None picks the method's default (median matching for
    /// "optimal_hard", as Gavish–Donoho; the spike-robust quantile fit otherwise).
    pub sigma_method: Option<SigmaMethod>,
    /// Tracy–Widom units above the bulk edge a singular value must clear to count as a spike.
    pub tw_margin: f64,
    /// "fraction": the share of singular values to zero, in [0, 1].
    pub fraction: f64,
    /// "fraction" and "porter_thomas": replace kept spikes by their de-repelled value θ̂(s).
    pub derepel: bool,
    /// "porter_thomas": smoothing window and test level.
    pub window: usize,
    pub alpha: f64,
    pub decomposition: Decomposition,
}

impl Default for FilterOptions {
    fn default() -> Self {
        Self {
            method: Method::Operator,
            sigma: None,
            sigma_method: None,
            tw_margin: FitOptions::default().tw_margin,
            fraction: 0.0,
            derepel: false,
            window: 15,
            alpha: 0.05,
            decomposition: Decomposition::Auto,
        }
    }
}

impl FilterOptions {
    fn validate(&self) -> CoreResult<()> {
        if !(self.fraction.is_finite() && (0.0..=1.0).contains(&self.fraction)) {
            return Err(CoreError::invalid(
                "fraction",
                format!("must lie in [0, 1], got {}", self.fraction),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(CoreError::invalid(
                "alpha",
                format!("must lie in (0, 1), got {}", self.alpha),
            ));
        }
        if !(self.tw_margin.is_finite() && self.tw_margin >= 0.0) {
            return Err(CoreError::invalid(
                "tw_margin",
                "must be finite and non-negative",
            ));
        }
        if let Some(sigma) = self.sigma {
            crate::spectral::mp_law::check_sigma(sigma)?;
        }
        Ok(())
    }
}

/// What the filter did to one matrix.
#[derive(Debug, Clone)]
pub struct FilterRecord {
    pub rows: usize,
    pub cols: usize,
    pub method: Method,
    /// The MP fit (absent only for "fraction" without de-repelling when the bulk cannot be fitted).
    pub fit: Option<NoiseFit>,
    /// The cut on singular values ("hard", "optimal_hard" and the shrinkers).
    pub threshold: Option<f64>,
    /// "porter_thomas": the boundary index found by the test.
    pub pt_boundary: Option<usize>,
    pub kept_rank: usize,
    /// ‖W'‖²_F / ‖W‖²_F.
    pub kept_energy: f64,
    /// ‖W' − W‖_F / ‖W‖_F.
    pub relative_change: f64,
    pub singular_values: Vec<f64>,
    pub shrunk: Vec<f64>,
    pub decomposition: &'static str,
}

/// The filtered matrix (row-major, the input's shape and element type) and its record.
pub struct Filtered<T> {
    pub data: Vec<T>,
    pub record: FilterRecord,
}

pub enum FilteredAny {
    F32(Filtered<f32>),
    F64(Filtered<f64>),
}

enum Factors {
    Svd { u: Mat<f64>, v: Mat<f64> },
    Gram { v: Mat<f64> },
}

/// Filters one matrix.
pub fn filter_matrix<T: Scalar>(
    w: MatrixView<'_, T>,
    options: &FilterOptions,
) -> CoreResult<Filtered<T>> {
    options.validate()?;
    check_finite_matrix(w, "weight matrix")?;
    let shape = MpShape::new(w.nrows(), w.ncols())?;
    // Work on the tall orientation N×M; transpose back at the end.
    let transposed = w.nrows() < w.ncols();
    // Extreme magnitudes are decomposed rescaled; s and A return to W's units before use.
    let (mut a, back) = to_f64_mat_scaled(if transposed { w.t() } else { w });

    let method = options.method;
    let want_gram = match options.decomposition {
        Decomposition::Svd => false,
        Decomposition::Gram => method != Method::PorterThomas, // the test needs accurate U
        Decomposition::Auto => !method.needs_thin_svd(),
    };
    let mut decomposition = "svd";
    let mut factors = None;
    let mut s = Vec::new();
    if want_gram {
        let g = gram_svd_tall(a.as_ref())?;
        // The fit reads the singular values from the 10 % quantile up and the filter keeps leading
        // components, so only the accuracy of s at the 10 % quantile matters (relative error about
        // ε·(s_max/s)²/2); ill-conditioning below it (e.g. s_min of a square matrix) is harmless.
        let s10 = g.s[(g.s.len() * 9) / 10];
        let accurate = g.s[0] > 0.0 && (s10 / g.s[0]).powi(2) >= GRAM_CONDITION_LIMIT;
        if options.decomposition == Decomposition::Gram || accurate {
            s = g.s;
            factors = Some(Factors::Gram { v: g.v });
            decomposition = "gram";
        }
    }
    let factors = match factors {
        Some(f) => f,
        None => {
            let svd = thin_svd_f64(&a)?;
            s = svd.s;
            Factors::Svd { u: svd.u, v: svd.v }
        }
    };
    if back != 1.0 {
        s.iter_mut().for_each(|x| *x *= back);
        for j in 0..a.ncols() {
            a.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= back);
        }
    }
    let m = s.len();

    let fit_options = FitOptions {
        sigma: options.sigma,
        method: options
            .sigma_method
            .unwrap_or(if method == Method::OptimalHard {
                SigmaMethod::Median
            } else {
                SigmaMethod::Quantile
            }),
        tw_margin: options.tw_margin,
    };
    let fit = match method {
        Method::Fraction if !options.derepel => fit_noise(&s, shape, fit_options).ok(),
        _ => Some(fit_noise(&s, shape, fit_options)?),
    };
    let norm = fit.as_ref().map(|f| Normalised::new(&shape, f.sigma));
    // The de-repelled value of a kept component: θ̂(s) for spikes, s itself inside the bulk.
    let derepel_kept = |v: f64| -> f64 {
        match (&fit, &norm) {
            (Some(f), Some(p)) if options.derepel && v > f.spike_threshold => p.derepel(v),
            _ => v,
        }
    };

    let mut eta = vec![0.0; m];
    let mut threshold = None;
    let mut pt_boundary = None;
    match method {
        Method::Hard | Method::OptimalHard => {
            let f = fit.as_ref().expect("fitted above");
            let cut = if method == Method::Hard {
                f.spike_threshold
            } else {
                optimal_hard_threshold(&shape, f.sigma)
            };
            threshold = Some(cut);
            for (e, &v) in eta.iter_mut().zip(&s) {
                *e = if v > cut { v } else { 0.0 };
            }
        }
        Method::Operator | Method::Frobenius | Method::Nuclear => {
            let shrinker = match method {
                Method::Operator => Shrinker::Operator,
                Method::Frobenius => Shrinker::Frobenius,
                _ => Shrinker::Nuclear,
            };
            let (f, p) = (fit.as_ref().expect("fitted above"), norm.expect("fitted"));
            threshold = Some(f.spike_threshold);
            for (e, &v) in eta.iter_mut().zip(&s) {
                *e = if v > f.spike_threshold {
                    p.shrink(shrinker, v)
                } else {
                    0.0
                };
            }
        }
        Method::PorterThomas => {
            let Factors::Svd { u, v } = &factors else {
                unreachable!("porter_thomas always uses the thin SVD")
            };
            let pt = porter_thomas(u, v, options.window, options.alpha)?;
            pt_boundary = Some(pt.boundary);
            for i in 0..pt.boundary {
                eta[i] = derepel_kept(s[i]);
            }
        }
        Method::Fraction => {
            let n_drop = ((options.fraction * m as f64) + 1e-9).floor() as usize;
            let keep = m - n_drop.min(m);
            for i in 0..keep {
                eta[i] = derepel_kept(s[i]);
            }
        }
    }

    let out = reconstruct(&a, &factors, &s, &eta);
    let data = to_row_major::<T>(out.as_ref(), transposed);

    let total: f64 = s.iter().map(|v| v * v).sum();
    let kept: f64 = eta.iter().map(|v| v * v).sum();
    let change: f64 = s.iter().zip(&eta).map(|(a, b)| (a - b) * (a - b)).sum();
    let (kept_energy, relative_change) = if total > 0.0 {
        (kept / total, (change / total).sqrt())
    } else {
        (0.0, 0.0)
    };
    Ok(Filtered {
        data,
        record: FilterRecord {
            rows: w.nrows(),
            cols: w.ncols(),
            method,
            fit,
            threshold,
            pt_boundary,
            kept_rank: eta.iter().filter(|&&v| v > 0.0).count(),
            kept_energy,
            relative_change,
            singular_values: s,
            shrunk: eta,
            decomposition,
        },
    })
}

/// W' in the tall orientation, by the cheaper of the two low-rank forms (module docs).
fn reconstruct(a: &Mat<f64>, factors: &Factors, s: &[f64], eta: &[f64]) -> Mat<f64> {
    let (n, m) = (a.nrows(), a.ncols());
    let nonzero: Vec<usize> = (0..s.len()).filter(|&i| eta[i] > 0.0).collect();
    let changed: Vec<usize> = (0..s.len()).filter(|&i| eta[i] != s[i]).collect();
    let use_nonzero = nonzero.len() <= changed.len();
    let idx = if use_nonzero { &nonzero } else { &changed };
    if idx.is_empty() {
        return if use_nonzero {
            Mat::zeros(n, m)
        } else {
            a.clone()
        };
    }
    let r = idx.len();
    // Left factor L (N×r) and right factor R (M×r) with W' (or W' − W) = L·Rᵀ.
    let (left, right) = match factors {
        Factors::Svd { u, v } => {
            let coeff = |i: usize| if use_nonzero { eta[i] } else { eta[i] - s[i] };
            let left = Mat::from_fn(n, r, |row, k| u[(row, idx[k])] * coeff(idx[k]));
            let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
            (left, right)
        }
        Factors::Gram { v } => {
            // uᵢsᵢ = A·vᵢ, so uᵢ·c = A·vᵢ·(c/sᵢ).
            let coeff = |i: usize| {
                if s[i] > 0.0 {
                    if use_nonzero {
                        eta[i] / s[i]
                    } else {
                        eta[i] / s[i] - 1.0
                    }
                } else {
                    0.0
                }
            };
            let right = Mat::from_fn(m, r, |row, k| v[(row, idx[k])]);
            let scaled = Mat::from_fn(m, r, |row, k| right[(row, k)] * coeff(idx[k]));
            let mut left = Mat::<f64>::zeros(n, r);
            matmul(
                left.as_mut(),
                Accum::Replace,
                a.as_ref(),
                scaled.as_ref(),
                1.0,
                Par::rayon(0),
            );
            (left, right)
        }
    };
    let (mut out, accum) = if use_nonzero {
        (Mat::<f64>::zeros(n, m), Accum::Replace)
    } else {
        (a.clone(), Accum::Add)
    };
    matmul(
        out.as_mut(),
        accum,
        left.as_ref(),
        right.as_ref().transpose(),
        1.0,
        Par::rayon(0),
    );
    out
}

/// Row-major copy in the input's element type; `transposed` undoes the tall orientation.
fn to_row_major<T: Scalar>(out: MatRef<'_, f64>, transposed: bool) -> Vec<T> {
    const BLOCK: usize = 64;
    let (rows, cols) = if transposed {
        (out.ncols(), out.nrows())
    } else {
        (out.nrows(), out.ncols())
    };
    let mut data = vec![T::from_f64(0.0); rows * cols];
    if cols == 0 {
        return data;
    }
    data.par_chunks_mut(BLOCK * cols)
        .enumerate()
        .for_each(|(b, chunk)| {
            let r0 = b * BLOCK;
            let nr = chunk.len() / cols;
            if transposed {
                // Row i of the result is column i of `out`: contiguous reads.
                for di in 0..nr {
                    let col = out.col(r0 + di);
                    for (j, x) in chunk[di * cols..(di + 1) * cols].iter_mut().enumerate() {
                        *x = T::from_f64(col[j]);
                    }
                }
            } else {
                for j in 0..cols {
                    let col = out.col(j);
                    for di in 0..nr {
                        chunk[di * cols + j] = T::from_f64(col[r0 + di]);
                    }
                }
            }
        });
    data
}

/// Filters many matrices in parallel (one task per matrix); results in input order.
pub fn filter_many(
    matrices: &[AnyMatrix<'_>],
    options: &FilterOptions,
) -> Vec<CoreResult<FilteredAny>> {
    matrices
        .par_iter()
        .map(|w| match w {
            AnyMatrix::F32(w) => filter_matrix(*w, options).map(FilteredAny::F32),
            AnyMatrix::F64(w) => filter_matrix(*w, options).map(FilteredAny::F64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn options(method: Method) -> FilterOptions {
        FilterOptions {
            method,
            ..Default::default()
        }
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
            &options(Method::Operator),
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
        let s = crate::linalg::svd::singular_values(
            MatrixView::from_row_major(&f.data, n, m),
            crate::linalg::svd::SvdMethod::Direct,
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
            Method::Hard,
            Method::Operator,
            Method::Frobenius,
            Method::Nuclear,
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
            let err = |method: Method| {
                fro(
                    &filter_matrix(view, &options(method)).unwrap().data,
                    &signal,
                )
            };
            let mut trunc = options(Method::Fraction);
            trunc.fraction = 1.0 - 3.0 / m as f64;
            let e_trunc = fro(&filter_matrix(view, &trunc).unwrap().data, &signal);
            let e_fro = err(Method::Frobenius);
            if e_fro < e_trunc && e_fro < err(Method::Hard) {
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
            Method::Hard,
            Method::OptimalHard,
            Method::Operator,
            Method::Frobenius,
            Method::Nuclear,
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
        let mut o = options(Method::Fraction);
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
        let pt = filter_matrix(view, &options(Method::PorterThomas)).unwrap();
        assert!(pt.record.pt_boundary.is_some());
        assert_eq!(pt.record.kept_rank, pt.record.pt_boundary.unwrap());
    }

    #[test]
    fn bad_input_is_rejected() {
        let w = vec![1.0, f64::NAN, 0.5, 0.2, 0.1, 0.3];
        assert!(
            filter_matrix(MatrixView::from_row_major(&w, 2, 3), &options(Method::Hard)).is_err()
        );
        let w = vec![1.0; 5];
        assert!(
            filter_matrix(MatrixView::from_row_major(&w, 1, 5), &options(Method::Hard)).is_err()
        );
        let (w, _) = planted(40, 20, 1.0, &[], 1);
        let view = MatrixView::from_row_major(&w, 40, 20);
        let mut o = options(Method::Fraction);
        o.fraction = 1.5;
        assert!(filter_matrix(view, &o).is_err());
        let mut o = options(Method::Operator);
        o.sigma = Some(-1.0);
        assert!(filter_matrix(view, &o).is_err());
        assert!(Method::parse("soft")
            .unwrap_err()
            .to_string()
            .contains("\"operator\""));
        let zero = vec![0.0; 800];
        assert!(filter_matrix(
            MatrixView::from_row_major(&zero, 40, 20),
            &options(Method::Operator)
        )
        .is_err());
    }
}
