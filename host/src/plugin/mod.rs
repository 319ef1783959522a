//! Finding and checking plugin libraries, and building an arm's components from them. Opening
//! a library and instantiating components is `lrpo_sdk::host`; this module is the host's
//! policy around it (search path, file pre-check, one libtorch per process).

mod elf;
mod inputs;
mod loader;
pub mod policy;
mod registry;

pub use elf::dynamic_section;
pub use inputs::check_inputs;
pub use loader::{check_plugin_dir, check_plugin_name, find_library, library_file_name, list_libraries, open_library};
pub use lrpo_sdk::host::{ComponentInfo, Manifest, PluginLibrary};
pub use lrpo_sdk::AnyComponent;
pub use policy::PolicyDefaults;
pub use registry::Registry;
