//! The uniform doubling constant of a data set (definitions in the module docs of `doubling`):
//! candidate directions, every slab centred on the data at every width of a grid, a local search,
//! and, with labels, the same per class.

use rand::{rngs::SmallRng, seq::index::sample, SeedableRng};
use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::interrupt::Stop;
use crate::progress::Progress;

use super::directions::{
    class_mean_differences, covariance, principal_axes, random_directions, DirectionSource,
};
use super::projection::{project, sort_values, unit, Points, BLOCK};
use super::search::{local_axes, refine, score, SearchBudget};
use super::sweep::{sweep_widths_in_place, WidthSweep};

/// Random directions by default.
pub const DEFAULT_N_DIRECTIONS: usize = 256;
/// Widths of the default grid: δ₀·2^−k, k = 0 … 11.
pub const DEFAULT_N_DELTAS: usize = 12;
/// The default δ₀ in units of the data's spread along a typical direction. Larger slabs measure
/// the tails, not flatness: on Gaussian data a slab of half-width one spread centred in the tail
/// already gains ≈ 10× at m/N = 1 %, against ≈ 2.4× at a quarter spread.
pub const DEFAULT_TOP_DELTA: f64 = 0.25;
/// The smallest default cut m (it is max(this, ⌈√N⌉), at most N).
pub const MIN_DEFAULT_MIN_POINTS: usize = 10;

/// The default cut: m = max(10, ⌈√N⌉), at most N. A ratio of slabs holding m points has a relative
/// sampling error of order 1/√m, and the supremum over the ~N·D slabs of one width inflates it by a
/// factor of order √(2 ln(N·D)); √N keeps both small while letting δ go down to slabs of √N points.
pub fn default_min_points(n: usize) -> usize {
    MIN_DEFAULT_MIN_POINTS
        .max((n as f64).sqrt().ceil() as usize)
        .min(n)
}

/// The default widths: δ₀·2^−k ascending, δ₀ = [`DEFAULT_TOP_DELTA`]·√(tr Cov / d), with
/// √(tr Cov / d) the spread of the data along a typical direction.
pub fn default_deltas(points: &Points) -> CoreResult<Vec<f64>> {
    let (_, cov) = covariance(points, None);
    let trace: f64 = (0..points.dim()).map(|i| cov[(i, i)]).sum();
    let scale = (trace / points.dim() as f64).sqrt();
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(CoreError::invalid(
            "deltas",
            "all points coincide, so no default width exists; give deltas",
        ));
    }
    Ok((0..DEFAULT_N_DELTAS)
        .rev()
        .map(|k| DEFAULT_TOP_DELTA * scale * 0.5f64.powi(k as i32))
        .collect())
}

/// Options of [`doubling_condition`].
#[derive(Clone, Debug)]
pub struct DoublingOptions {
    /// Half-widths δ, strictly increasing; `None` for [`default_deltas`].
    pub deltas: Option<Vec<f64>>,
    /// The cut m; `None` for [`default_min_points`].
    pub min_points: Option<usize>,
    /// Random directions.
    pub n_directions: usize,
    /// Seed of the random directions, the subsample and the search.
    pub seed: u64,
    /// Whether to run the local search.
    pub search: bool,
    /// Its budget.
    pub budget: SearchBudget,
    /// Counts directions evaluated and searched, for a caller's progress bar.
    pub progress: Progress,
}

impl Default for DoublingOptions {
    fn default() -> Self {
        DoublingOptions {
            deltas: None,
            min_points: None,
            n_directions: DEFAULT_N_DIRECTIONS,
            seed: 0,
            search: true,
            budget: SearchBudget::default(),
            progress: Progress::new(),
        }
    }
}

/// One slab and its counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Slab {
    /// Its unit normal w.
    pub direction: Vec<f64>,
    /// Its offset b (the slab is |w·x + b| < δ).
    pub offset: f64,
    /// Its half-width δ.
    pub delta: f64,
    /// #(T ∩ S(w, b, δ)).
    pub inner: usize,
    /// #(T ∩ S(w, b, 2δ)).
    pub outer: usize,
    /// Where w came from.
    pub source: DirectionSource,
}

impl Slab {
    /// outer / inner.
    pub fn ratio(&self) -> f64 {
        self.outer as f64 / self.inner as f64
    }
}

/// The doubling constant of one set of points.
#[derive(Clone, Debug)]
pub struct DoublingCondition {
    /// The widths, ascending.
    pub deltas: Vec<f64>,
    /// The largest ratio at each width (NaN where no slab holds m points).
    pub constant_by_delta: Vec<f64>,
    /// Qualifying slabs at each width (directions × centres).
    pub slabs_by_delta: Vec<usize>,
    /// Mean ratio over those slabs.
    pub mean_ratio_by_delta: Vec<f64>,
    /// Ĉ_m(max δ): the largest ratio over the grid.
    pub constant: f64,
    /// The same without the directions found by the search.
    pub constant_without_search: f64,
    /// The slab attaining `constant`.
    pub worst: Slab,
    /// Per direction and width, the largest ratio over the centres (NaN where none qualifies);
    /// row-major (direction, width).
    pub ratios: Vec<f64>,
    /// The directions, one per row of `ratios`.
    pub directions: Vec<Vec<f64>>,
    /// Where each came from.
    pub sources: Vec<DirectionSource>,
    /// The cut m used.
    pub min_points: usize,
    /// Number of points.
    pub n_points: usize,
}

/// Extra candidate directions and where they came from.
pub struct Candidates {
    /// Unit directions.
    pub directions: Vec<Vec<f64>>,
    /// One source each.
    pub sources: Vec<DirectionSource>,
}

impl Candidates {
    /// Normalises and adds `directions` (refusing zero or non-finite ones, named by `what`).
    pub fn add(
        &mut self,
        directions: &[Vec<f64>],
        source: DirectionSource,
        what: &'static str,
    ) -> CoreResult<()> {
        for (i, w) in directions.iter().enumerate() {
            self.directions.push(unit(w, what, i)?);
            self.sources.push(source);
        }
        Ok(())
    }
}

/// Checks the grid and the cut against the number of points.
pub fn check_options(
    deltas: Option<&[f64]>,
    min_points: Option<usize>,
    n: usize,
) -> CoreResult<()> {
    if n < 2 {
        return Err(CoreError::invalid(
            "X",
            format!("the doubling condition needs at least two points, got {n}"),
        ));
    }
    if n > i32::MAX as usize {
        return Err(CoreError::invalid(
            "X",
            format!(
                "the doubling condition counts in 31 bits: at most {} points, got {n}",
                i32::MAX
            ),
        ));
    }
    if let Some(d) = deltas {
        if d.is_empty() {
            return Err(CoreError::invalid("deltas", "the grid of widths is empty"));
        }
        super::slab_counts::check_grid(&[], d)?;
        if let Some(i) = (1..d.len()).find(|&i| d[i] <= d[i - 1]) {
            return Err(CoreError::invalid(
                "deltas",
                format!(
                    "widths must be strictly increasing; width {i} ({}) follows {}",
                    d[i],
                    d[i - 1]
                ),
            ));
        }
    }
    if let Some(m) = min_points {
        if m == 0 || m > n {
            return Err(CoreError::invalid(
                "min_points",
                format!("must lie in 1..={n} (the number of points), got {m}"),
            ));
        }
    }
    Ok(())
}

/// Per direction, the sweep of every width (parallel over blocks of directions).
fn evaluate(
    points: &Points,
    directions: &[Vec<f64>],
    deltas: &[f64],
    m: usize,
    stop: &Stop,
    progress: &Progress,
) -> CoreResult<Vec<Vec<WidthSweep>>> {
    progress.expect(directions.len());
    // Each worker keeps its projection buffers from block to block (with room for the sweep's
    // padding): fresh ones would cost a page fault per page of every block.
    let blocks: Vec<Vec<Vec<WidthSweep>>> = directions
        .par_chunks(BLOCK)
        .map_init(
            || (vec![Vec::new(); BLOCK], Vec::new()),
            |(buffers, scratch), block| {
                stop.check()?;
                let refs: Vec<&[f64]> = block.iter().map(|w| w.as_slice()).collect();
                let out = &mut buffers[..block.len()];
                project(points, &refs, out);
                let sweeps = out
                    .iter_mut()
                    .map(|p| {
                        sort_values(p, scratch);
                        sweep_widths_in_place(p, deltas, m)
                    })
                    .collect();
                progress.advance(block.len());
                Ok(sweeps)
            },
        )
        .collect::<CoreResult<_>>()?;
    Ok(blocks.into_iter().flatten().collect())
}

fn best_of(
    sweeps: &[Vec<WidthSweep>],
    rows: impl Iterator<Item = usize>,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for r in rows {
        for (g, s) in sweeps[r].iter().enumerate() {
            if best.is_none_or(|(br, bg)| s.beats(&sweeps[br][bg])) && s.inner > 0 {
                best = Some((r, g));
            }
        }
    }
    best
}

/// The doubling constant of `points` over `extra` candidates plus random and principal directions
/// (and the search): see the module docs.
pub fn doubling_condition(
    points: &Points,
    extra: &Candidates,
    options: &DoublingOptions,
    stop: &Stop,
) -> CoreResult<DoublingCondition> {
    let n = points.len();
    check_options(options.deltas.as_deref(), options.min_points, n)?;
    let deltas = match &options.deltas {
        Some(d) => d.clone(),
        None => default_deltas(points)?,
    };
    let m = options.min_points.unwrap_or_else(|| default_min_points(n));
    let mut cand = Candidates {
        directions: random_directions(points.dim(), options.n_directions, options.seed),
        sources: vec![DirectionSource::Random; options.n_directions],
    };
    cand.add(&principal_axes(points)?, DirectionSource::Principal, "X")?;
    cand.directions.extend(extra.directions.iter().cloned());
    cand.sources.extend(extra.sources.iter().copied());
    stop.check()?;
    let mut sweeps = evaluate(
        points,
        &cand.directions,
        &deltas,
        m,
        stop,
        &options.progress,
    )?;
    let n_before = cand.directions.len();
    if options.search {
        let starts = search_starts(points, &cand.directions, &sweeps, &deltas, m, options, stop)?;
        cand.directions.extend(starts);
        cand.sources
            .resize(cand.directions.len(), DirectionSource::Search);
        sweeps.extend(evaluate(
            points,
            &cand.directions[n_before..],
            &deltas,
            m,
            stop,
            &options.progress,
        )?);
    }
    let Some((wr, wg)) = best_of(&sweeps, 0..sweeps.len()) else {
        return Err(CoreError::invalid(
            "min_points",
            format!(
                "no slab of the grid holds min_points = {m} of the {n} points; lower min_points or widen deltas (largest width {})",
                deltas[deltas.len() - 1]
            ),
        ));
    };
    let without = best_of(&sweeps, 0..n_before).map_or(f64::NAN, |(r, g)| sweeps[r][g].ratio());
    let g_count = deltas.len();
    let mut constant_by_delta = vec![f64::NAN; g_count];
    let mut slabs_by_delta = vec![0usize; g_count];
    let mut sums = vec![0.0f64; g_count];
    for row in &sweeps {
        for (g, s) in row.iter().enumerate() {
            slabs_by_delta[g] += s.n_slabs;
            sums[g] += s.ratio_sum;
            let r = s.ratio();
            if !r.is_nan() && (constant_by_delta[g].is_nan() || r > constant_by_delta[g]) {
                constant_by_delta[g] = r;
            }
        }
    }
    let mean_ratio_by_delta = sums
        .iter()
        .zip(&slabs_by_delta)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { f64::NAN })
        .collect();
    let w = &sweeps[wr][wg];
    let worst = Slab {
        direction: cand.directions[wr].clone(),
        offset: -w.centre,
        delta: deltas[wg],
        inner: w.inner,
        outer: w.outer,
        source: cand.sources[wr],
    };
    Ok(DoublingCondition {
        constant: w.ratio(),
        constant_without_search: without,
        worst,
        ratios: sweeps
            .iter()
            .flat_map(|r| r.iter().map(|s| s.ratio()))
            .collect(),
        directions: cand.directions,
        sources: cand.sources,
        deltas,
        constant_by_delta,
        slabs_by_delta,
        mean_ratio_by_delta,
        min_points: m,
        n_points: n,
    })
}

/// The refined directions of the search, started from the best candidates and from local axes.
fn search_starts(
    points: &Points,
    directions: &[Vec<f64>],
    sweeps: &[Vec<WidthSweep>],
    deltas: &[f64],
    m: usize,
    options: &DoublingOptions,
    stop: &Stop,
) -> CoreResult<Vec<Vec<f64>>> {
    let budget = &options.budget;
    let n = points.len();
    let sub_points;
    let (work, m_work) = if n > budget.subsample {
        let mut rng = SmallRng::seed_from_u64(options.seed ^ 0xd0b1_e5ee);
        let mut rows = sample(&mut rng, n, budget.subsample).into_vec();
        rows.sort_unstable();
        sub_points = points.subset(&rows);
        let scaled = (m as f64 * budget.subsample as f64 / n as f64).ceil() as usize;
        (&sub_points, scaled.max(3))
    } else {
        (points, m)
    };
    // The candidates with the largest objective J (search.rs), ties to the earlier one.
    let mut order: Vec<(usize, f64)> = sweeps.iter().map(|row| score(row)).enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut starts: Vec<Vec<f64>> = order
        .iter()
        .take(budget.starts)
        .map(|&(r, _)| directions[r].clone())
        .collect();
    starts.extend(local_axes(work, budget.anchors, options.seed));
    options.progress.expect(starts.len());
    let refined = refine(work, &starts, deltas, m_work, budget, options.seed, stop)?;
    options.progress.advance(starts.len());
    Ok(refined)
}

/// The doubling condition of every class separately (classes[i] in 0..n_classes), with the
/// differences of class means of the whole set among the candidates. A class with fewer than
/// two points, or none of whose slabs holds its cut, gives `None`.
pub fn by_class(
    points: &Points,
    classes: &[usize],
    n_classes: usize,
    extra: &Candidates,
    options: &DoublingOptions,
    stop: &Stop,
) -> CoreResult<Vec<Option<DoublingCondition>>> {
    (0..n_classes)
        .map(|c| {
            let rows: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] == c).collect();
            if rows.len() < 2 {
                return Ok(None);
            }
            let sub = points.subset(&rows);
            let mut opts = options.clone();
            if let Some(m) = opts.min_points {
                opts.min_points = Some(m.min(rows.len()));
            }
            match doubling_condition(&sub, extra, &opts, stop) {
                Ok(r) => Ok(Some(r)),
                Err(CoreError::InvalidArgument {
                    name: "min_points", ..
                })
                | Err(CoreError::InvalidArgument { name: "deltas", .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .collect()
}

/// Class means' differences as candidates (for the whole set, when labels are given).
pub fn class_candidates(
    points: &Points,
    classes: &[usize],
    n_classes: usize,
) -> CoreResult<Candidates> {
    let mut c = Candidates {
        directions: Vec::new(),
        sources: Vec::new(),
    };
    c.add(
        &class_mean_differences(points, classes, n_classes),
        DirectionSource::ClassMeans,
        "labels",
    )?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doubling::slab_counts::count_in_slab;
    use crate::matrix::MatrixView;
    use rand_distr::{Distribution, StandardNormal};

    fn projections(points: &Points, w: &[f64]) -> Vec<f64> {
        let mut p = vec![Vec::new()];
        project(points, &[w], &mut p);
        p.pop().expect("one projection")
    }

    fn gaussian(n: usize, d: usize, seed: u64) -> Points {
        let mut rng = SmallRng::seed_from_u64(seed);
        let data: Vec<f64> = (0..n * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        Points::from_view(MatrixView::from_row_major(&data, n, d))
    }

    #[test]
    fn the_worst_slab_reproduces_its_counts() {
        let points = gaussian(3000, 5, 1);
        let opts = DoublingOptions {
            n_directions: 32,
            ..Default::default()
        };
        let r = doubling_condition(
            &points,
            &Candidates {
                directions: vec![],
                sources: vec![],
            },
            &opts,
            &Stop::never(),
        )
        .unwrap();
        let mut p = projections(&points, &r.worst.direction);
        p.sort_by(f64::total_cmp);
        assert_eq!(
            count_in_slab(&p, r.worst.offset, r.worst.delta),
            r.worst.inner
        );
        assert_eq!(
            count_in_slab(&p, r.worst.offset, 2.0 * r.worst.delta),
            r.worst.outer
        );
        assert_eq!(r.constant, r.worst.ratio());
        assert!(r.worst.inner >= r.min_points);
        assert_eq!(r.min_points, 55);
        assert!(r.constant >= r.constant_without_search);
        // A Gaussian doubles like a Gaussian: the mean ratio of small slabs is near 2.
        let mean = &r.mean_ratio_by_delta;
        assert!(mean.iter().any(|v| (v - 2.0).abs() < 0.05), "{mean:?}");
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        let points = gaussian(10, 2, 1);
        let none = Candidates {
            directions: vec![],
            sources: vec![],
        };
        for (opts, name) in [
            (
                DoublingOptions {
                    deltas: Some(vec![]),
                    ..Default::default()
                },
                "deltas",
            ),
            (
                DoublingOptions {
                    deltas: Some(vec![1.0, 0.5]),
                    ..Default::default()
                },
                "deltas",
            ),
            (
                DoublingOptions {
                    deltas: Some(vec![-1.0]),
                    ..Default::default()
                },
                "deltas",
            ),
            (
                DoublingOptions {
                    min_points: Some(0),
                    ..Default::default()
                },
                "min_points",
            ),
            (
                DoublingOptions {
                    min_points: Some(11),
                    ..Default::default()
                },
                "min_points",
            ),
        ] {
            let e = doubling_condition(&points, &none, &opts, &Stop::never()).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
        let one = gaussian(1, 2, 1);
        let e = doubling_condition(&one, &none, &DoublingOptions::default(), &Stop::never())
            .unwrap_err();
        assert!(e.to_string().contains("two points"));
    }
}
