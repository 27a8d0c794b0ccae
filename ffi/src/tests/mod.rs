//! Tests that span modules of the library.
//!
//! They stay unit tests (`#[cfg(test)]` inside the crate) rather than `ffi/tests/*.rs`
//! integration tests: they drive crate-private parts (`crate::ctl`'s copy-in and file state,
//! `crate::fdtable`, `crate::interpose`), which an integration test could only reach if the
//! library were also built as an rlib with those modules public; that would turn the exported
//! `extern "C"` entry points of `interpose` into public Rust API, and whether a test binary's own
//! libc calls are interposed could then depend on which archive members its linker pulls in.

mod ctl_fuzz;
