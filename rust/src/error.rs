//! Errors of the pure-Rust core. The binding layer maps them to Python exceptions.

use thiserror::Error;

/// Everything that can go wrong inside a kernel. Messages name the argument and the problem,
/// because they reach the user verbatim.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    #[error("{what} is empty")]
    Empty { what: &'static str },

    #[error("{what} contains a non-finite value ({value}) at {location}")]
    NonFinite {
        what: &'static str,
        value: f64,
        location: String,
    },

    #[error("invalid `{name}`: {reason}")]
    InvalidArgument { name: &'static str, reason: String },

    #[error("{algorithm} did not converge")]
    NoConvergence { algorithm: &'static str },
}

impl CoreError {
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
