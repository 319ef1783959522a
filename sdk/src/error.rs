//! Errors across the boundary: a kind byte, the message and the thing it is about.

use abi_stable::{std_types::RString, StableAbi};
use lrpo_core::{Error, ErrorKind};

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct FfiError {
    pub kind: u8,
    /// The key, location, path, plugin or component the error is about ("" if none).
    pub subject: RString,
    pub message: RString,
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let kind = e.kind() as u8;
        let (subject, message) = match e {
            Error::Config { key, message } => (key, message),
            Error::Input { location, message } => (location, message),
            Error::Io { path, message } => (path, message),
            Error::Plugin { plugin, message } => (plugin, message),
            Error::Panic { component, message } => (component, message),
            Error::Poisoned { component } => (component, String::new()),
            Error::State(m) | Error::Runtime(m) => (String::new(), m),
        };
        FfiError { kind, subject: subject.into(), message: message.into() }
    }
}

impl From<FfiError> for Error {
    fn from(e: FfiError) -> Self {
        let subject = e.subject.into_string();
        let message = e.message.into_string();
        match kind_from_u8(e.kind) {
            ErrorKind::Config => Error::Config { key: subject, message },
            ErrorKind::Input => Error::Input { location: subject, message },
            ErrorKind::Io => Error::Io { path: subject, message },
            ErrorKind::Plugin => Error::Plugin { plugin: subject, message },
            ErrorKind::Panic => Error::Panic { component: subject, message },
            ErrorKind::Poisoned => Error::Poisoned { component: subject },
            ErrorKind::State => Error::State(message),
            ErrorKind::Runtime => Error::Runtime(message),
        }
    }
}

/// Unknown kinds (from a newer plugin) degrade to `Runtime` rather than failing.
fn kind_from_u8(v: u8) -> ErrorKind {
    match v {
        0 => ErrorKind::Config,
        1 => ErrorKind::Input,
        2 => ErrorKind::Io,
        3 => ErrorKind::Plugin,
        4 => ErrorKind::Panic,
        5 => ErrorKind::Poisoned,
        6 => ErrorKind::State,
        _ => ErrorKind::Runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        let all = vec![
            Error::config("data.n", "must be > 0"),
            Error::input("a.parquet: column `question`, row 3", "empty"),
            Error::io("/x", "denied"),
            Error::Plugin { plugin: "p".into(), message: "m".into() },
            Error::Panic { component: "c".into(), message: "boom".into() },
            Error::Poisoned { component: "c".into() },
            Error::State("bad".into()),
            Error::Runtime("r".into()),
        ];
        for e in all {
            let back: Error = FfiError::from(e.clone()).into();
            assert_eq!(back, e);
        }
    }
}
