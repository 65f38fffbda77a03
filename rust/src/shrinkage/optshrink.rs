//! OptShrink (Nadakuditi, IEEE Trans. Inf. Theory 60(5), 2014): the Frobenius-optimal weights of
//! the r leading components of low rank plus unitarily invariant noise, computed from the
//! empirical bulk alone, with no Marchenko–Pastur (white-noise) assumption.
//!
//! For W (N×M, N ≥ M) with singular values s₁ ≥ … ≥ s_M and the bulk sᵣ₊₁ … s_M, the D-transform
//! of the bulk is D(z) = φ₁(z)·φ₂(z) with
//!   φ₁(z) = [Σⱼ₌ᵣ₊₁ᴹ z/(z² − sⱼ²) + (N − M)/z] / (N − r),   φ₂(z) = Σⱼ₌ᵣ₊₁ᴹ z/(z² − sⱼ²) / (M − r)
//! (the N − M zero singular values of the wide side enter φ₁ as z/z²). Component i ≤ r gets the
//! weight ŵᵢ = −2·D(sᵢ)/D'(sᵢ); this estimates θᵢ·|⟨uᵢ, ũᵢ⟩|·|⟨vᵢ, ṽᵢ⟩|, the best multiple of
//! uᵢvᵢᵀ in Frobenius norm. Under white noise it tends to the Gavish–Donoho Frobenius shrinker.
//!
//! Guards: ŵ is scale-exact (the spectrum is divided by a power of two near s₁ first; ŵ is
//! homogeneous of degree 1), clamped to [0, sᵢ] (a weight outside it means sᵢ is not separated
//! from the bulk: the component is dropped, not inflated), and r must leave a bulk of at least 2.

use crate::error::{CoreError, CoreResult};

/// The OptShrink weights of the leading `rank` values of `s` (descending, length M) for an N×M
/// matrix; the remaining values get 0.
pub fn optshrink_weights(s: &[f64], n: usize, rank: usize) -> CoreResult<Vec<f64>> {
    let m = s.len();
    if rank + 2 > m {
        return Err(CoreError::invalid(
            "rank",
            format!("OptShrink needs a bulk of at least 2 singular values; rank {rank} leaves {} of {m}", m.saturating_sub(rank)),
        ));
    }
    let mut eta = vec![0.0; m];
    if rank == 0 || s[0] == 0.0 {
        return Ok(eta);
    }
    let scale = libm::scalbn(1.0, libm::ilogb(s[0]));
    let bulk: Vec<f64> = s[rank..].iter().map(|v| v / scale).collect();
    let (nb, mb) = ((n - rank) as f64, (m - rank) as f64);
    let wide_zeros = (n - m) as f64;
    for i in 0..rank {
        let z = s[i] / scale;
        let (mut sum, mut dsum) = (0.0, 0.0);
        for &b in &bulk {
            let d = z * z - b * b;
            sum += z / d;
            dsum -= (z * z + b * b) / (d * d);
        }
        let phi1 = (sum + wide_zeros / z) / nb;
        let dphi1 = (dsum - wide_zeros / (z * z)) / nb;
        let (phi2, dphi2) = (sum / mb, dsum / mb);
        let dd = phi1 * phi2;
        let ddd = dphi1 * phi2 + phi1 * dphi2;
        let w = -2.0 * dd / ddd * scale;
        eta[i] = if w.is_finite() && w > 0.0 {
            w.min(s[i])
        } else {
            0.0
        };
    }
    Ok(eta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shrinkage::shrinkers::{Normalised, Shrinker};
    use crate::spectral::mp_law::MpShape;

    #[test]
    fn white_noise_weights_tend_to_the_frobenius_shrinker() {
        // An ideal MP bulk (quantiles at the rank midpoints) and spikes well above the edge.
        let (n, m) = (4000, 2000);
        let shape = MpShape::new(n, m).unwrap();
        let mut s: Vec<f64> = (0..m)
            .map(|i| shape.quantile(1.0 - (i as f64 + 0.5) / m as f64, 1.0))
            .collect();
        let edge = shape.edges(1.0).1;
        s[0] = 3.0 * edge;
        s[1] = 1.5 * edge;
        let w = optshrink_weights(&s, n, 2).unwrap();
        let gd = Normalised::new(&shape, 1.0);
        for i in 0..2 {
            let f = gd.shrink(Shrinker::Frobenius, s[i]);
            assert!((w[i] / f - 1.0).abs() < 0.01, "{i}: {} vs {f}", w[i]);
        }
        assert!(w[2..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn weights_are_scale_exact_and_guarded() {
        let s = [50.0, 20.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0];
        let w = optshrink_weights(&s, 12, 2).unwrap();
        for &c in &[1e-300, 1e300] {
            let sc: Vec<f64> = s.iter().map(|v| v * c).collect();
            let wc = optshrink_weights(&sc, 12, 2).unwrap();
            for (a, b) in w.iter().zip(&wc) {
                assert!((a * c - b).abs() <= 1e-12 * b.abs().max(a * c), "{a} {b}");
            }
        }
        assert!(w[0] > 0.0 && w[0] <= 50.0);
        assert!(optshrink_weights(&s, 12, 7).is_err());
        assert_eq!(optshrink_weights(&s, 12, 0).unwrap(), vec![0.0; 8]);
    }
}
