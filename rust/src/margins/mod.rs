//! Classification margins and the statistics built on them: per-sample logit/probability margins,
//! summaries of margin distributions (Jiang et al. 2019, Banburski et al. 2021), selection of the
//! lowest margins, the streaming total variation of a layer, and the Generalized Discrimination
//! Value (Schilling et al. 2021).

pub mod float;
pub mod gdv;
mod logit_fast;
pub mod logit_margin;
#[cfg(target_arch = "x86_64")]
mod logit_small;
pub mod selection;
pub mod summary;
pub mod total_variation;

/// Class labels as the caller stored them; widening to i64 would cost a copy of N values.
#[derive(Clone, Copy)]
pub enum Labels<'a> {
    /// int32 labels.
    I32(&'a [i32]),
    /// int64 labels.
    I64(&'a [i64]),
}

impl Labels<'_> {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::I32(l) => l.len(),
            Labels::I64(l) => l.len(),
        }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `i` widened to i64.
    #[inline(always)]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Labels::I32(l) => l[i] as i64,
            Labels::I64(l) => l[i],
        }
    }
}
