//! Panic containment for the guest side: a panic inside a component becomes a typed error
//! and poisons that instance, because its state may be half-updated. The host never unwinds
//! across the boundary (that would be undefined behaviour) and never aborts.

use crate::FfiError;
use abi_stable::std_types::{RErr, ROk, RResult};
use lrpo_core::Error;
use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub struct Guard {
    component: String,
    poisoned: Cell<bool>,
}

impl Guard {
    pub fn new(component: impl Into<String>) -> Self {
        Guard { component: component.into(), poisoned: Cell::new(false) }
    }

    pub fn call<R>(&self, f: impl FnOnce() -> lrpo_core::Result<R>) -> RResult<R, FfiError> {
        if self.poisoned.get() {
            return RErr(Error::Poisoned { component: self.component.clone() }.into());
        }
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => ROk(v),
            Ok(Err(e)) => RErr(e.into()),
            Err(payload) => {
                self.poisoned.set(true);
                RErr(Error::Panic { component: self.component.clone(), message: panic_message(&*payload) }.into())
            }
        }
    }
}

pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_poisons_the_instance() {
        let g = Guard::new("r1");
        assert_eq!(g.call(|| Ok(3)).unwrap(), 3);
        let err: Error = g.call(|| -> lrpo_core::Result<()> { panic!("boom") }).unwrap_err().into();
        assert_eq!(err, Error::Panic { component: "r1".into(), message: "boom".into() });
        let err: Error = g.call(|| Ok(1)).unwrap_err().into();
        assert_eq!(err, Error::Poisoned { component: "r1".into() });
    }
}
