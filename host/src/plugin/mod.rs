//! Finding, opening and checking plugin libraries, and building components from them.

mod elf;
mod loader;
mod log_bridge;
mod manifest;
mod registry;

pub use loader::{find_library, library_file_name, list_libraries, open_library, LoadedPlugin};
pub use manifest::{ComponentInfo, Manifest};
pub use registry::{Components, Registry};
