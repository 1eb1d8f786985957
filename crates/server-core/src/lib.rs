//! What the three taskserver architectures share. Being built: see issue 3.
//!
//! # Layout
//!
//! - [`process`]: a server binary run as a child process (tests, bench, xtask).

pub mod process;
