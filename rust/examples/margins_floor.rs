//! The memory floor under `margins` in plain Rust (issue #16), next to the core kernel itself.
//!
//! (a) one read of the logits, (b) plus one read of the labels, (c) plus writing a fresh output of
//! the margins' length and dtype; each parallel over the same rayon pool as the kernel, warm
//! (repeated on the same arrays) and cold (a 96 MB buffer overwritten before every repetition).
//!
//!     cargo run --release --example margins_floor -- [rows] [classes,...] [repeats]
//!
//! The pool size follows RAYON_NUM_THREADS (default: every CPU).

use std::hint::black_box;
use std::time::Instant;

use _netsieve::interrupt::Stop;
use _netsieve::margins::logit_margin::{margins, MarginKind};
use _netsieve::margins::Labels;
use _netsieve::matrix::MatrixView;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const CHUNK: usize = 1 << 16;

fn lane_sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..16 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + rest
}

fn read_logits(x: &[f32], c: usize) -> f32 {
    x.par_chunks(CHUNK * c).map(lane_sum).sum()
}

fn read_labels<L: Copy + Into<i64> + Sync>(y: &[L]) -> i64 {
    y.par_chunks(CHUNK)
        .map(|c| c.iter().fold(0i64, |a, &b| a.wrapping_add(b.into())))
        .reduce(|| 0, i64::wrapping_add)
}

/// Reads the labels and writes each as an f32 into a fresh vector, in one pass.
fn labels_to_output<L: Copy + Into<i64> + Sync>(y: &[L]) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(y.len());
    out.spare_capacity_mut()[..y.len()]
        .par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(o, l)| {
            for (o, &l) in o.iter_mut().zip(l) {
                o.write(l.into() as f32);
            }
        });
    // SAFETY: every element up to y.len() was written above.
    unsafe { out.set_len(y.len()) };
    out
}

fn best(repeats: usize, cold: bool, evict: &mut [f64], mut f: impl FnMut()) -> f64 {
    f();
    let mut t = f64::INFINITY;
    for _ in 0..repeats {
        if cold {
            evict.par_iter_mut().for_each(|e| *e += 1.0);
        }
        let t0 = Instant::now();
        f();
        t = t.min(t0.elapsed().as_secs_f64());
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(1_000_000, |s| s.parse().expect("rows"));
    let classes: Vec<usize> = args
        .get(2)
        .map_or("2,3,10,16,100".to_string(), |s| s.clone())
        .split(',')
        .map(|s| s.parse().expect("classes"))
        .collect();
    let repeats: usize = args.get(3).map_or(9, |s| s.parse().expect("repeats"));
    let mut evict = vec![0.0f64; 96 << 17];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    println!(
        "rayon threads {}; ms, best of {repeats}",
        rayon::current_num_threads()
    );
    println!("| classes | labels | cache | (a) logits | (b) + labels | (c) + output | margins | /(a) | /(b) | /(c) |");
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for &c in &classes {
        let x: Vec<f32> = (0..n * c).map(|_| rng.random::<f32>() - 0.5).collect();
        let y: Vec<i64> = (0..n).map(|_| rng.random_range(0..c as i64)).collect();
        let y32: Vec<i32> = y.iter().map(|&l| l as i32).collect();
        let view = MatrixView::from_row_major(&x, n, c);
        for (cold, wide) in [(false, true), (false, false), (true, true), (true, false)] {
            let ta = best(repeats, cold, &mut evict, || {
                black_box(read_logits(&x, c));
            });
            let labels = if wide {
                Labels::I64(&y)
            } else {
                Labels::I32(&y32)
            };
            let tb = best(repeats, cold, &mut evict, || {
                black_box(read_logits(&x, c));
                black_box(if wide {
                    read_labels(&y)
                } else {
                    read_labels(&y32)
                });
            });
            let tc = best(repeats, cold, &mut evict, || {
                black_box(read_logits(&x, c));
                black_box(if wide {
                    labels_to_output(&y)
                } else {
                    labels_to_output(&y32)
                });
            });
            let tm = best(repeats, cold, &mut evict, || {
                let m = margins(view, labels, MarginKind::Logit, 1, &Stop::never());
                black_box(m.expect("valid input"));
            });
            println!(
                "| {c} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1}× | {:.1}× | {:.1}× |",
                if wide { "int64" } else { "int32" },
                if cold { "cold" } else { "warm" },
                ta * 1e3,
                tb * 1e3,
                tc * 1e3,
                tm * 1e3,
                tm / ta,
                tm / tb,
                tm / tc
            );
        }
    }
}
