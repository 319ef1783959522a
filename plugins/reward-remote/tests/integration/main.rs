//! The integration tests of lrpo-reward-remote, one binary: the component against a real HTTP
//! server on 127.0.0.1 that each test starts on a free port with the answers it needs, and the
//! built `.so` loaded as `lrpo-host` loads it.

mod requests;
mod server;
mod so;
