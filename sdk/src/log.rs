//! The log bridge. Each plugin links its own copy of `tracing`, whose global dispatcher is
//! invisible to the host. At `init` the plugin installs a subscriber that filters with the
//! host's `RUST_LOG` directives and forwards each event through a C-ABI callback, so plugin
//! logs show up in the host's output and obey the same filter.

use abi_stable::std_types::RStr;
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer};

/// Host callback: (level 1=error..5=trace, target, message).
pub type LogFn = extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>);

pub fn level_to_u8(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

struct Forward(LogFn);

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut msg = Message::default();
        event.record(&mut msg);
        let meta = event.metadata();
        (self.0)(level_to_u8(meta.level()), RStr::from_str(meta.target()), RStr::from_str(msg.0.trim_start()));
    }
}

/// Installs the forwarding subscriber inside this plugin (once; later calls are no-ops).
pub fn install(log: LogFn, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::registry().with(Forward(log).with_filter(filter));
    let _ = tracing::subscriber::set_global_default(subscriber);
}
