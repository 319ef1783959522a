//! The one error type shared by every component and by the host.

/// What went wrong, in words a user can act on. Every variant names the thing it is about.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A configuration value is missing or wrong; `key` is the dotted config path.
    #[error("config `{key}`: {message}")]
    Config { key: String, message: String },
    /// Input data is malformed; `location` names the file, column and row.
    #[error("{location}: {message}")]
    Input { location: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A plugin library could not be loaded or used.
    #[error("plugin {plugin}: {message}")]
    Plugin { plugin: String, message: String },
    /// A component panicked; the instance is poisoned and refuses further calls.
    #[error("component `{component}` panicked: {message}")]
    Panic { component: String, message: String },
    /// A component was called after it had panicked.
    #[error("component `{component}` is poisoned by an earlier panic and cannot be used")]
    Poisoned { component: String },
    /// A component's own state (checkpoint bytes, weights) does not fit.
    #[error("state: {0}")]
    State(String),
    /// Anything else that failed while running.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { key: key.into(), message: message.into() }
    }
    pub fn input(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input { location: location.into(), message: message.into() }
    }
    pub fn io(path: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        Error::Io { path: path.to_string(), message: err.to_string() }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Error::Runtime(message.into())
    }

    /// Stable short name of the variant; crosses the plugin boundary with the message.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } => ErrorKind::Config,
            Error::Input { .. } => ErrorKind::Input,
            Error::Io { .. } => ErrorKind::Io,
            Error::Plugin { .. } => ErrorKind::Plugin,
            Error::Panic { .. } => ErrorKind::Panic,
            Error::Poisoned { .. } => ErrorKind::Poisoned,
            Error::State(_) => ErrorKind::State,
            Error::Runtime(_) => ErrorKind::Runtime,
        }
    }

    /// True for errors caused by what the user gave us (config, input, plugin choice):
    /// the binary exits with 2 for these and with 1 for failures while running.
    pub fn is_usage(&self) -> bool {
        matches!(self.kind(), ErrorKind::Config | ErrorKind::Input | ErrorKind::Plugin)
    }
}

/// Discriminant of [`Error`], used where the error crosses an ABI as (kind, message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorKind {
    Config = 0,
    Input = 1,
    Io = 2,
    Plugin = 3,
    Panic = 4,
    Poisoned = 5,
    State = 6,
    Runtime = 7,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
