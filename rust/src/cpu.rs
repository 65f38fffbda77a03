//! Run-time CPU dispatch: which instruction sets netsieve's own kernels may use. The kernels that
//! have an AVX2 version ask here instead of calling `is_x86_feature_detected!` themselves, so one
//! switch forces every one of them onto its portable (scalar/SSE2) path:
//! `NETSIEVE_FORCE_SCALAR=1` in the environment, read once, at the first dispatch of the process.
//! faer's own SIMD dispatch (inside its matrix products and decompositions) is not affected.

use std::sync::OnceLock;

/// The environment variable that forces the portable path ("1", "true", "yes"; anything else,
/// or unset, leaves the dispatch to the CPU).
pub const FORCE_SCALAR_ENV: &str = "NETSIEVE_FORCE_SCALAR";

/// What the dispatch chose for this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// AVX2 may be used.
    pub avx2: bool,
    /// AVX2 together with FMA may be used.
    pub avx2_fma: bool,
    /// The portable path was forced by [`FORCE_SCALAR_ENV`].
    pub forced_scalar: bool,
}

impl Dispatch {
    /// A short name: "avx2+fma", "avx2", "scalar (forced)" or "scalar".
    pub fn name(&self) -> &'static str {
        match (self.avx2_fma, self.avx2, self.forced_scalar) {
            (true, _, _) => "avx2+fma",
            (false, true, _) => "avx2",
            (_, _, true) => "scalar (forced)",
            _ => "scalar",
        }
    }
}

fn forced(value: Option<std::ffi::OsString>) -> bool {
    value
        .and_then(|v| v.into_string().ok())
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn detect() -> Dispatch {
    let forced_scalar = forced(std::env::var_os(FORCE_SCALAR_ENV));
    #[cfg(target_arch = "x86_64")]
    let (avx2, fma) = (
        std::arch::is_x86_feature_detected!("avx2"),
        std::arch::is_x86_feature_detected!("fma"),
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (avx2, fma) = (false, false);
    Dispatch {
        avx2: avx2 && !forced_scalar,
        avx2_fma: avx2 && fma && !forced_scalar,
        forced_scalar,
    }
}

/// The dispatch of this process (detected once).
pub fn dispatch() -> Dispatch {
    static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
    *DISPATCH.get_or_init(detect)
}

/// AVX2 kernels may run.
#[inline]
pub fn avx2() -> bool {
    dispatch().avx2
}

/// AVX2+FMA kernels may run.
#[inline]
pub fn avx2_fma() -> bool {
    dispatch().avx2_fma
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_scalar_values() {
        assert!(forced(Some("1".into())));
        assert!(forced(Some(" TRUE ".into())));
        assert!(forced(Some("yes".into())));
        assert!(!forced(Some("0".into())));
        assert!(!forced(Some("".into())));
        assert!(!forced(None));
    }

    #[test]
    fn dispatch_is_consistent() {
        let d = dispatch();
        assert!(!d.avx2_fma || d.avx2);
        assert!(!(d.forced_scalar && d.avx2));
        assert!(!d.name().is_empty());
    }
}
