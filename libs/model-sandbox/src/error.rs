//! The crate's one error type, for starting the fakes. What the fakes answer over HTTP is not an error of the
//! sandbox: each API module renders its own error format.

/// What went wrong starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum ModelSandboxError {
    /// The listener handed to [`ModelSandbox::start`](crate::ModelSandbox::start) has no local address.
    #[error("the model sandbox listener has no local address: {0}")]
    Listener(std::io::Error),
}
