//! Errors of the pure-Rust core. The binding layer maps them to Python exceptions.

use thiserror::Error;

/// Everything that can go wrong inside a kernel. Messages name the argument and the problem,
/// because they reach the user verbatim.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// An input with no elements.
    #[error("{what} is empty")]
    Empty {
        /// What was empty, as the user knows it.
        what: &'static str,
    },

    /// A NaN or ±Inf where only finite values make sense.
    #[error("{what} contains a non-finite value ({value}) at {location}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// The offending value.
        value: f64,
        /// Where it was found ("row 3, column 7").
        location: String,
    },

    /// An argument outside its domain.
    #[error("invalid `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's public name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A numerical algorithm gave up.
    #[error("{algorithm} did not converge")]
    NoConvergence {
        /// Which algorithm.
        algorithm: &'static str,
    },

    /// The caller asked the computation to stop (Ctrl-C); see [`crate::interrupt`].
    #[error("interrupted")]
    Interrupted,

    /// The machine could not provide what the computation needs (threads, memory).
    #[error("{0}")]
    Resource(String),
}

impl CoreError {
    /// An [`CoreError::InvalidArgument`] for `name`.
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }
}

/// The result type of every fallible kernel.
pub type CoreResult<T> = Result<T, CoreError>;
