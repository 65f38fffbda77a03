//! The shrunk singular values η of every method, from the singular values s and the noise fit
//! alone (no matrices): the part of a filter that decides what is signal.
//!
//! With the fit's σ, spike threshold t (bulk edge plus the Tracy–Widom margin) and the shrinkers of
//! `shrinkers.rs` (θ̂ the inverse BBP map):
//! - "hard":          η = s·1{s > t}
//! - "optimal_hard":  η = s·1{s > τ}, τ = λ*(β)·√N·σ (Gavish & Donoho 2014, `thresholds.rs`)
//! - "operator":      η = θ̂(s)·1{s > t}
//! - "frobenius":     η = η_F(s)·1{s > t}
//! - "nuclear":       η = η_*(s)·1{s > t}
//! - "porter_thomas": the first k values kept (k the test's boundary), zero after
//! - "fraction":      the first M − ⌊fraction·M⌋ values kept, zero after
//! - "optshrink":     η = ŵ(s) on the first r values (r given, or the fit's outliers), zero
//!   after, ŵ from the D-transform of the bulk (`optshrink.rs`)
//!
//! Kept values of "porter_thomas" and "fraction" become θ̂(s) when `derepel` is on and s > t;
//! kept values inside the bulk stay as they are.

use crate::error::{CoreError, CoreResult};
use crate::spectral::noise_fit::NoiseFit;

use super::methods::{FilterOptions, ShrinkMethod};
use super::optshrink::optshrink_weights;
use super::shrinkers::{Normalised, Shrinker};
use super::thresholds::optimal_hard_threshold;

/// The shrunk values and the cut applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Shrunk {
    /// η, one per singular value, in the same order.
    pub eta: Vec<f64>,
    /// The cut on s ("hard", "optimal_hard" and the shrinkers); None for the rank-based methods.
    pub threshold: Option<f64>,
}

/// η for `s` (descending). `fit` is required except for "fraction" without de-repelling;
/// `pt_boundary` is required for "porter_thomas".
pub fn shrunk_values(
    s: &[f64],
    fit: Option<&NoiseFit>,
    options: &FilterOptions,
    pt_boundary: Option<usize>,
) -> CoreResult<Shrunk> {
    let method = options.method;
    let need_fit = || {
        fit.ok_or_else(|| {
            CoreError::invalid(
                "fit",
                format!("method '{}' needs a noise fit", method.name()),
            )
        })
    };
    let m = s.len();
    let mut eta = vec![0.0; m];
    let mut threshold = None;
    // The de-repelled value of a kept component: θ̂(s) for spikes, s itself inside the bulk.
    let keep = |v: f64| -> f64 {
        match fit {
            Some(f) if options.derepel && v > f.spike_threshold => {
                Normalised::new(&f.shape, f.sigma).derepel(v)
            }
            _ => v,
        }
    };
    match method {
        ShrinkMethod::Hard | ShrinkMethod::OptimalHard => {
            let f = need_fit()?;
            let cut = if method == ShrinkMethod::Hard {
                f.spike_threshold
            } else {
                optimal_hard_threshold(&f.shape, f.sigma)
            };
            threshold = Some(cut);
            for (e, &v) in eta.iter_mut().zip(s) {
                *e = if v > cut { v } else { 0.0 };
            }
        }
        ShrinkMethod::Operator | ShrinkMethod::Frobenius | ShrinkMethod::Nuclear => {
            let shrinker = match method {
                ShrinkMethod::Operator => Shrinker::Operator,
                ShrinkMethod::Frobenius => Shrinker::Frobenius,
                _ => Shrinker::Nuclear,
            };
            let f = need_fit()?;
            let p = Normalised::new(&f.shape, f.sigma);
            threshold = Some(f.spike_threshold);
            for (e, &v) in eta.iter_mut().zip(s) {
                *e = if v > f.spike_threshold {
                    p.shrink(shrinker, v)
                } else {
                    0.0
                };
            }
        }
        ShrinkMethod::PorterThomas => {
            let k = pt_boundary.ok_or_else(|| {
                CoreError::invalid(
                    "pt_boundary",
                    "method 'porter_thomas' needs the test's boundary",
                )
            })?;
            for i in 0..k.min(m) {
                eta[i] = keep(s[i]);
            }
        }
        ShrinkMethod::OptShrink => {
            let (rank, n) = match (options.rank, fit) {
                (Some(r), Some(f)) => (r, f.shape.n),
                (None, Some(f)) => {
                    threshold = Some(f.spike_threshold);
                    (f.n_spikes, f.shape.n)
                }
                _ => need_fit().map(|f| (f.n_spikes, f.shape.n))?,
            };
            eta = optshrink_weights(s, n, rank)?;
        }
        ShrinkMethod::Fraction => {
            if options.derepel {
                need_fit()?;
            }
            let n_drop = ((options.fraction * m as f64) + 1e-9).floor() as usize;
            for i in 0..m - n_drop.min(m) {
                eta[i] = keep(s[i]);
            }
        }
    }
    Ok(Shrunk { eta, threshold })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shrinkage::methods::GivenOptions;
    use crate::spectral::mp_law::MpShape;
    use crate::spectral::noise_fit::{fit_noise, FitOptions};

    /// MP quantiles at the rank midpoints (a noise spectrum without randomness) plus spikes.
    fn spectrum(n: usize, m: usize, spikes: &[f64]) -> (Vec<f64>, NoiseFit) {
        let shape = MpShape::new(n, m).unwrap();
        let mut s: Vec<f64> = (0..m)
            .map(|i| shape.quantile(1.0 - (i as f64 + 0.5) / m as f64, 1.0))
            .collect();
        for (k, &v) in spikes.iter().enumerate() {
            s[k] = v;
        }
        let fit = fit_noise(&s, shape, FitOptions::default()).unwrap();
        (s, fit)
    }

    fn options(method: ShrinkMethod, given: GivenOptions) -> FilterOptions {
        given.resolve(method).unwrap()
    }

    #[test]
    fn threshold_methods_keep_exactly_the_spikes() {
        let (s, fit) = spectrum(600, 300, &[120.0, 90.0, 60.0]);
        assert_eq!(fit.n_spikes, 3);
        for method in [
            ShrinkMethod::Hard,
            ShrinkMethod::Operator,
            ShrinkMethod::Frobenius,
            ShrinkMethod::Nuclear,
        ] {
            let out =
                shrunk_values(&s, Some(&fit), &options(method, Default::default()), None).unwrap();
            assert_eq!(out.threshold, Some(fit.spike_threshold));
            assert!(
                out.eta[..3].iter().zip(&s).all(|(e, v)| *e > 0.0 && e <= v),
                "{method:?}"
            );
            assert!(out.eta[3..].iter().all(|&e| e == 0.0), "{method:?}");
            if method == ShrinkMethod::Hard {
                assert_eq!(&out.eta[..3], &s[..3]);
            } else {
                assert!(out.eta[0] < s[0], "{method:?} shrinks");
            }
        }
    }

    #[test]
    fn rank_methods_keep_leading_counts() {
        let (s, fit) = spectrum(300, 100, &[80.0]);
        let frac = |f: f64, derepel: bool| {
            let o = options(
                ShrinkMethod::Fraction,
                GivenOptions {
                    fraction: Some(f),
                    derepel: Some(derepel),
                    ..Default::default()
                },
            );
            shrunk_values(&s, Some(&fit), &o, None).unwrap().eta
        };
        let eta = frac(0.57, false);
        assert_eq!(eta.iter().filter(|&&e| e > 0.0).count(), 43);
        assert_eq!(eta[0], s[0]);
        let eta = frac(0.57, true);
        assert!(eta[0] < s[0] && eta[1] == s[1]);
        assert_eq!(frac(0.0, false), s);
        // Without de-repelling "fraction" needs no fit.
        let o = options(
            ShrinkMethod::Fraction,
            GivenOptions {
                fraction: Some(0.5),
                ..Default::default()
            },
        );
        assert_eq!(
            shrunk_values(&s, None, &o, None)
                .unwrap()
                .eta
                .iter()
                .filter(|&&e| e > 0.0)
                .count(),
            50
        );
        let pt = options(ShrinkMethod::PorterThomas, Default::default());
        let eta = shrunk_values(&s, Some(&fit), &pt, Some(4)).unwrap().eta;
        assert_eq!(eta.iter().filter(|&&e| e > 0.0).count(), 4);
        assert!(eta[0] < s[0], "de-repelled by default");
        assert!(shrunk_values(&s, Some(&fit), &pt, None).is_err());
        assert!(shrunk_values(
            &s,
            None,
            &options(ShrinkMethod::Hard, Default::default()),
            None
        )
        .is_err());
    }
}
