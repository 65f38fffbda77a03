//! The shrinkage methods, which options each one takes, and their defaults: the single source of
//! truth behind `netsieve.shrink`'s method names and option checks. Formulas are in
//! `shrunk_values.rs` and `shrinkers.rs`.

use crate::error::{CoreError, CoreResult};
use crate::linalg::decomposition::{Decomposition, Need};
use crate::spectral::layer_report::SpectrumRoute;
use crate::spectral::noise_fit::{BulkModel, FitOptions, SigmaMethod};
use crate::spectral::porter_thomas::PorterThomasOptions;
use crate::spectral::tracy_widom::DEFAULT_SPIKE_CONFIDENCE;

crate::named_enum! {
    /// What a filter does to the singular values (formulas in `shrunk_values.rs`).
    #[derive(Default)]
    pub enum ShrinkMethod for "method" as "shrinkage method" / "methods" {
        /// Keep the spikes (above the bulk edge plus a Tracy–Widom margin) unchanged, zero the rest.
        Hard = "hard",
        /// Gavish–Donoho optimal hard threshold λ*(β)·√N·σ.
        OptimalHard = "optimal_hard",
        /// Replace each spike by its de-repelled value θ̂(s) (inverse BBP map), zero the rest.
        #[default]
        Operator = "operator",
        /// Gavish–Donoho Frobenius-optimal shrinker on the spikes, zero the rest.
        Frobenius = "frobenius",
        /// Gavish–Donoho nuclear-optimal shrinker on the spikes, zero the rest.
        Nuclear = "nuclear",
        /// Keep the leading components the Porter–Thomas test calls non-random.
        PorterThomas = "porter_thomas",
        /// Zero the smallest fraction of the singular values.
        Fraction = "fraction",
        /// Nadakuditi's OptShrink weights from the empirical bulk (no white-noise assumption) on
        /// the leading `rank` components (default: the fit's outliers), zero the rest.
        OptShrink = "optshrink",
    }
}

/// The options a method may take besides `sigma` (every method takes `sigma`).
pub const OPTION_NAMES: [&str; 10] = [
    "sigma_method",
    "spike_confidence",
    "decomposition",
    "route",
    "fraction",
    "derepel",
    "window",
    "alpha",
    "bulk",
    "rank",
];

impl ShrinkMethod {
    /// The options of [`OPTION_NAMES`] this method takes.
    pub fn options(self) -> &'static [&'static str] {
        // "route" ("partial", `filter.rs`) is taken by the methods whose values need only the
        // leading singular values and a white-noise σ; "optshrink" reads every bulk value,
        // "porter_thomas" every vector, "fraction" the trailing components.
        const COMMON: [&str; 4] = ["sigma_method", "spike_confidence", "decomposition", "route"];
        match self {
            // Their formulas are white-noise formulas: the bulk is MP.
            ShrinkMethod::Operator | ShrinkMethod::Frobenius | ShrinkMethod::Nuclear => &COMMON,
            // A cut at the fitted bulk's edge, whichever law it is.
            ShrinkMethod::Hard => &[
                "sigma_method",
                "spike_confidence",
                "decomposition",
                "route",
                "bulk",
            ],
            ShrinkMethod::OptShrink => &[
                "sigma_method",
                "spike_confidence",
                "decomposition",
                "bulk",
                "rank",
            ],
            // The Gavish–Donoho threshold has no Tracy–Widom margin.
            ShrinkMethod::OptimalHard => &["sigma_method", "decomposition", "route"],
            ShrinkMethod::PorterThomas => &[
                "sigma_method",
                "spike_confidence",
                "decomposition",
                "window",
                "alpha",
                "derepel",
            ],
            ShrinkMethod::Fraction => &[
                "sigma_method",
                "spike_confidence",
                "decomposition",
                "fraction",
                "derepel",
            ],
        }
    }

    /// What the filter reads from the decomposition.
    pub fn need(self) -> Need {
        match self {
            // Porter–Thomas tests every left and right vector.
            ShrinkMethod::PorterThomas => Need::Vectors,
            ShrinkMethod::Fraction => Need::TrailingComponents,
            _ => Need::LeadingComponents,
        }
    }

    /// The σ estimator when none is chosen: median matching for "optimal_hard" (which reproduces
    /// Gavish–Donoho's ω(β)·median(s)), the spike-robust quantile fit otherwise.
    pub fn default_sigma_method(self) -> SigmaMethod {
        if self == ShrinkMethod::OptimalHard {
            SigmaMethod::Median
        } else {
            SigmaMethod::Quantile
        }
    }

    /// The bulk model when `bulk` is not given: "auto" where the method only reads the edge
    /// ("hard", "optshrink"), white noise where its formula assumes it.
    pub fn default_bulk(self) -> BulkModel {
        match self {
            ShrinkMethod::Hard | ShrinkMethod::OptShrink => BulkModel::Auto,
            _ => BulkModel::Mp,
        }
    }

    /// Whether kept spikes are de-repelled when `derepel` is not given ("porter_thomas" only).
    pub fn default_derepel(self) -> bool {
        self == ShrinkMethod::PorterThomas
    }
}

/// The options a caller gave (None = not given); [`GivenOptions::resolve`] checks them against the
/// method and fills in defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenOptions {
    /// A known noise level per entry.
    pub sigma: Option<f64>,
    /// The σ estimator.
    pub sigma_method: Option<SigmaMethod>,
    /// See [`FitOptions::spike_confidence`].
    pub spike_confidence: Option<f64>,
    /// The decomposition route.
    pub decomposition: Option<Decomposition>,
    /// Full or partial spectrum (the methods that keep leading components).
    pub route: Option<SpectrumRoute>,
    /// "fraction": the share of singular values to zero, in [0, 1].
    pub fraction: Option<f64>,
    /// "fraction" and "porter_thomas": replace kept spikes by θ̂(s).
    pub derepel: Option<bool>,
    /// "porter_thomas": moving-average half-width.
    pub window: Option<usize>,
    /// "porter_thomas": test level.
    pub alpha: Option<f64>,
    /// "hard", "optshrink": the noise model of the bulk.
    pub bulk: Option<BulkModel>,
    /// "optshrink": the number of components kept (default: the fit's outlier count).
    pub rank: Option<usize>,
}

/// Fully resolved options of one filter.
#[derive(Debug, Clone, Copy)]
pub struct FilterOptions {
    /// The method.
    pub method: ShrinkMethod,
    /// The noise fit (σ given or estimated, spike margin).
    pub fit: FitOptions,
    /// The decomposition route (of the full route).
    pub decomposition: Decomposition,
    /// "partial": the leading components by block Krylov where its checks allow (`filter.rs`).
    pub route: SpectrumRoute,
    /// "fraction": share of singular values to zero.
    pub fraction: f64,
    /// Replace kept spikes by their de-repelled value.
    pub derepel: bool,
    /// "porter_thomas": the test's options.
    pub porter_thomas: PorterThomasOptions,
    /// "optshrink": a given rank.
    pub rank: Option<usize>,
}

impl Default for FilterOptions {
    fn default() -> Self {
        GivenOptions::default()
            .resolve(ShrinkMethod::default())
            .expect("the defaults are valid")
    }
}

impl FilterOptions {
    /// Checks the resolved options (also those built directly rather than by
    /// [`GivenOptions::resolve`]).
    pub fn validate(&self) -> CoreResult<()> {
        self.fit.validate()?;
        self.porter_thomas.validate()?;
        if !(self.fraction.is_finite() && (0.0..=1.0).contains(&self.fraction)) {
            return Err(CoreError::invalid(
                "fraction",
                format!("must lie in [0, 1], got {}", self.fraction),
            ));
        }
        Ok(())
    }
}

impl GivenOptions {
    fn given_names(&self) -> Vec<&'static str> {
        let flags = [
            self.sigma_method.is_some(),
            self.spike_confidence.is_some(),
            self.decomposition.is_some(),
            self.route.is_some(),
            self.fraction.is_some(),
            self.derepel.is_some(),
            self.window.is_some(),
            self.alpha.is_some(),
            self.bulk.is_some(),
            self.rank.is_some(),
        ];
        OPTION_NAMES
            .iter()
            .zip(flags)
            .filter_map(|(name, given)| given.then_some(*name))
            .collect()
    }

    /// Checks that every given option applies to `method` and lies in its domain, and fills in
    /// the defaults.
    pub fn resolve(self, method: ShrinkMethod) -> CoreResult<FilterOptions> {
        let allowed = method.options();
        if self.route.is_some() && !allowed.contains(&"route") {
            let reads = match method {
                ShrinkMethod::OptShrink => "its weights read every singular value of the bulk",
                ShrinkMethod::PorterThomas => "its test reads every singular vector",
                _ => "it acts on the trailing components",
            };
            return Err(CoreError::invalid(
                "route",
                format!(
                    "method '{}' takes no route: {reads}, so only the full spectrum serves it (the partial route serves {})",
                    method.name(),
                    ShrinkMethod::NAMES
                        .iter()
                        .filter(|m| ShrinkMethod::parse(m).is_ok_and(|m| m.options().contains(&"route")))
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let foreign: Vec<&str> = self
            .given_names()
            .into_iter()
            .filter(|n| !allowed.contains(n))
            .collect();
        if !foreign.is_empty() {
            return Err(CoreError::invalid(
                "options",
                format!(
                    "option(s) {} do not apply to method '{}'; its options: sigma, {}",
                    foreign.join(", "),
                    method.name(),
                    allowed.join(", ")
                ),
            ));
        }
        let spike_confidence = self.spike_confidence.unwrap_or(DEFAULT_SPIKE_CONFIDENCE);
        let fraction = match (method, self.fraction) {
            (ShrinkMethod::Fraction, None) => {
                return Err(CoreError::invalid(
                    "fraction",
                    "method 'fraction' needs fraction= (the share of singular values to zero, in [0, 1])",
                ))
            }
            (_, f) => f.unwrap_or(0.0),
        };
        let mut porter_thomas = PorterThomasOptions::default();
        if let Some(w) = self.window {
            porter_thomas.window = w;
        }
        if let Some(a) = self.alpha {
            porter_thomas.alpha = a;
        }
        let resolved = FilterOptions {
            method,
            fit: FitOptions {
                sigma: self.sigma,
                sigma_method: self.sigma_method.unwrap_or(method.default_sigma_method()),
                spike_confidence,
                bulk: self.bulk.unwrap_or(method.default_bulk()),
            },
            decomposition: self.decomposition.unwrap_or_default(),
            route: self.route.unwrap_or_default(),
            fraction,
            derepel: self.derepel.unwrap_or(method.default_derepel()),
            porter_thomas,
            rank: self.rank,
        };
        resolved.validate()?;
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_apply_only_to_their_methods() {
        let given = GivenOptions {
            window: Some(3),
            ..Default::default()
        };
        let err = given.resolve(ShrinkMethod::Hard).unwrap_err().to_string();
        assert!(err.contains("window") && err.contains("'hard'"), "{err}");
        assert_eq!(
            given
                .resolve(ShrinkMethod::PorterThomas)
                .unwrap()
                .porter_thomas
                .window,
            3
        );
        let sc = GivenOptions {
            spike_confidence: Some(0.95),
            ..Default::default()
        };
        assert!(sc.resolve(ShrinkMethod::OptimalHard).is_err());
        for m in ShrinkMethod::NAMES {
            let m = ShrinkMethod::parse(m).unwrap();
            assert!(m.options().iter().all(|o| OPTION_NAMES.contains(o)));
        }
    }

    #[test]
    fn the_route_applies_only_to_the_methods_that_keep_leading_components() {
        let given = GivenOptions {
            route: Some(SpectrumRoute::Partial),
            ..Default::default()
        };
        for method in [
            ShrinkMethod::OptShrink,
            ShrinkMethod::PorterThomas,
            ShrinkMethod::Fraction,
        ] {
            let err = given.resolve(method).unwrap_err().to_string();
            assert!(
                err.contains(&format!("'{}'", method.name())) && err.contains("operator"),
                "{err}"
            );
        }
        for method in [
            ShrinkMethod::Hard,
            ShrinkMethod::Operator,
            ShrinkMethod::OptimalHard,
        ] {
            assert_eq!(given.resolve(method).unwrap().route, SpectrumRoute::Partial);
            assert_eq!(method.need(), Need::LeadingComponents);
        }
        assert!(SpectrumRoute::parse("partal").is_err());
    }

    #[test]
    fn fraction_is_required_and_bounded_and_defaults_follow_the_method() {
        assert!(GivenOptions::default()
            .resolve(ShrinkMethod::Fraction)
            .is_err());
        for bad in [-0.1, 1.5, f64::NAN] {
            let g = GivenOptions {
                fraction: Some(bad),
                ..Default::default()
            };
            assert!(g.resolve(ShrinkMethod::Fraction).is_err(), "{bad}");
        }
        let pt = GivenOptions::default()
            .resolve(ShrinkMethod::PorterThomas)
            .unwrap();
        assert!(pt.derepel);
        let oh = GivenOptions::default()
            .resolve(ShrinkMethod::OptimalHard)
            .unwrap();
        assert_eq!(oh.fit.sigma_method, SigmaMethod::Median);
        let bad_sigma = GivenOptions {
            sigma: Some(-1.0),
            ..Default::default()
        };
        assert!(bad_sigma.resolve(ShrinkMethod::Operator).is_err());
        let bad_alpha = GivenOptions {
            alpha: Some(1.0),
            ..Default::default()
        };
        assert!(bad_alpha.resolve(ShrinkMethod::PorterThomas).is_err());
    }
}
