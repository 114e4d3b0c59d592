//! The mesh's error type.

use std::path::PathBuf;

/// What can go wrong setting up or running the mesh.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A workload name is not usable as an identity.
    #[error("invalid service identity {0:?}: use lowercase letters, digits and '-'")]
    InvalidIdentity(String),
    /// A certificate, key or CA file could not be read or written.
    #[error("{action} {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("{path}: {what}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        what: String,
    },
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    CertGen(#[from] rcgen::Error),
    /// rustls refused the configuration (bad key, certificate or CA).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A listener could not be bound or served.
    #[error("serving on {addr}: {message}")]
    Serve {
        /// The address.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The contracts' access rules are malformed (a build-time mistake, caught at start).
    #[error("access rules in the contracts: {0}")]
    Contract(String),
    /// An endpoint address is not valid.
    #[error("invalid endpoint {0:?}: expected host:port")]
    Endpoint(String),
}

impl MeshError {
    pub(crate) fn file(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File { action, path: path.to_owned(), source }
    }
}
