//! How a command fails: a message for the operator and an exit code.
//!
//! Exit codes: 0 done; 1 refused or not found (the request was understood and declined);
//! 2 bad usage or bad input (fix the command, file or configuration); 3 internal error.

use std::fmt;

use eid_pki::{CaError, CsrError, IssueError};
use eid_store::{AuditError, StoreError};

/// Why a command did not do what was asked.
#[derive(Debug)]
pub enum Failure {
    /// Understood and declined: a rule, a state, a duplicate, something missing. Exit 1.
    Refused(String),
    /// The command, an input file or the configuration is wrong. Exit 2.
    Usage(String),
    /// Something broke that the operator did not cause. Exit 3.
    Internal(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Refused(_) => 1,
            Self::Usage(_) => 2,
            Self::Internal(_) => 3,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(m) | Self::Usage(m) | Self::Internal(m) => f.write_str(m),
        }
    }
}

/// Shorthand for command results.
pub type Outcome<T = ()> = Result<T, Failure>;

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::Refused(_) => {
                Self::Refused(e.to_string())
            }
            StoreError::Corrupt(_) | StoreError::SchemaTooNew { .. } => Self::Usage(e.to_string()),
            _ => Self::Internal(e.to_string()),
        }
    }
}

impl From<eid_config::ConfigError> for Failure {
    fn from(e: eid_config::ConfigError) -> Self {
        Self::Usage(e.to_string())
    }
}

impl From<CsrError> for Failure {
    fn from(e: CsrError) -> Self {
        Self::Usage(format!("the certificate request is not usable: {e}"))
    }
}

impl From<CaError> for Failure {
    fn from(e: CaError) -> Self {
        Self::Usage(format!("the CA cannot be used: {e}"))
    }
}

impl From<IssueError> for Failure {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Store(_) | IssueError::Signing(_) => {
                Self::Internal(format!("not issued: {e}"))
            }
            _ => Self::Refused(format!("not issued: {e}")),
        }
    }
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(m) => Self::Internal(m),
            e => Self::Refused(e.to_string()),
        }
    }
}
