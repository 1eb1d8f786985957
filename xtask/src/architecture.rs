//! The server architectures xtask benchmarks, as one type: [`Architecture`].
//!
//! Everything xtask knows of an architecture is one row of the table below — its name
//! (the binary is `server-<name>`, the crate `crates/server-<name>`), the [`Model`] its
//! times follow, its colour in the plots, its heading in `REPORT.md` and what it does
//! per client in the CPU table. Adding an architecture is adding a row; every `match` on
//! the type is then checked by the compiler, and no name falls through to a default.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Model;

/// One row of the table: what xtask knows of an architecture.
struct Facts {
    name: &'static str,
    model: Model,
    colour: (u8, u8, u8),
    title: &'static str,
    design: &'static str,
}

/// Defines [`Architecture`] from the table, one variant per row, in the table's order.
macro_rules! architectures {
    ($($variant:ident: $name:literal, $model:expr, $colour:expr, $title:literal, $design:literal;)+) => {
        /// A server architecture. Its name is its command-line value (`--servers`) and its
        /// value in `results.csv` and `results.json`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum Architecture {
            $(
                #[doc = $title]
                $variant,
            )+
        }

        impl Architecture {
            /// Every architecture, in the order `--servers all` runs them.
            pub const ALL: &'static [Architecture] = &[$(Architecture::$variant),+];

            /// The architecture's row of the table.
            fn facts(self) -> Facts {
                match self {
                    $(Architecture::$variant => Facts {
                        name: $name,
                        model: $model,
                        colour: $colour,
                        title: $title,
                        design: $design,
                    },)+
                }
            }
        }
    };
}

architectures! {
    // Variant: name, model, plot colour (RGB), REPORT.md heading, design per client (the CPU table).
    Sequential: "sequential", Model::OneAtATime, (214, 39, 40), "Sequential server (the tutorial's Single-Process)", "one client at a time, in the one process";
    Forking: "forking", Model::PerClient, (31, 119, 180), "Forking server (the tutorial's Multi-Process)", "fork per client";
    Threaded: "threaded", Model::PerClient, (44, 160, 44), "Threaded server (the tutorial's Multi-Threaded)", "thread per client";
    Prefork: "prefork", Model::Workers, (148, 103, 189), "Pre-forked server (worker processes)", "pre-forked processes, each accepting";
    Pool: "pool", Model::Workers, (140, 86, 75), "Thread-pool server (worker threads)", "pre-spawned threads, main thread accepts";
    Evented: "evented", Model::Loops, (255, 127, 14), "Event-loop server (mio)", "event loops, no thread per client";
    Async: "async", Model::Loops, (23, 190, 207), "Async server (tokio)", "tokio task per client";
    Uring: "uring", Model::Loops, (227, 119, 194), "io_uring server (one ring per core)", "io_uring rings, completions, no thread per client";
}

impl Architecture {
    /// The name: `sequential`, `forking`, … as `--servers` takes it.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The binary's (and the crate's) name, `server-<name>`.
    pub fn binary(self) -> String {
        format!("server-{}", self.name())
    }

    /// The model its times follow.
    pub fn model(self) -> Model {
        self.facts().model
    }

    /// Whether the server takes `--workers N`.
    pub fn takes_workers(self) -> bool {
        self.model().takes_workers()
    }

    /// Its line's colour in every plot, as red, green and blue.
    pub fn colour(self) -> (u8, u8, u8) {
        self.facts().colour
    }

    /// Its heading in `REPORT.md`.
    pub fn title(self) -> &'static str {
        self.facts().title
    }

    /// What it does per client, for the CPU table (as Stevens describes each row of UNP
    /// Figure 30.1).
    pub fn design(self) -> &'static str {
        self.facts().design
    }

    /// Whether the tree at `root` has its crate, `crates/server-<name>`.
    pub fn in_tree(self, root: &Path) -> bool {
        root.join("crates")
            .join(self.binary())
            .join("Cargo.toml")
            .is_file()
    }

    /// Every name, in order, separated by `separator`.
    pub fn names(list: &[Architecture], separator: &str) -> String {
        list.iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(separator)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown architecture name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownArchitecture(pub String);

impl fmt::Display for UnknownArchitecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a server: name some of {}",
            self.0,
            Architecture::names(Architecture::ALL, ", ")
        )
    }
}

impl std::error::Error for UnknownArchitecture {}

impl FromStr for Architecture {
    type Err = UnknownArchitecture;

    /// The architecture of that name, exactly as [`Architecture::name`] spells it.
    fn from_str(name: &str) -> Result<Architecture, UnknownArchitecture> {
        Architecture::ALL
            .iter()
            .copied()
            .find(|a| a.name() == name)
            .ok_or_else(|| UnknownArchitecture(name.to_owned()))
    }
}

impl From<Architecture> for &'static str {
    fn from(architecture: Architecture) -> &'static str {
        architecture.name()
    }
}

impl TryFrom<String> for Architecture {
    type Error = UnknownArchitecture;

    fn try_from(name: String) -> Result<Architecture, UnknownArchitecture> {
        name.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name reads back as its architecture, names and colours are unique, and the
    /// binary is `server-<name>`.
    #[test]
    fn names_are_unique_and_read_back() {
        for &a in Architecture::ALL {
            assert_eq!(a.name().parse::<Architecture>(), Ok(a));
            assert_eq!(a.binary(), format!("server-{a}"));
            let same_name = Architecture::ALL.iter().filter(|b| b.name() == a.name());
            assert_eq!(same_name.count(), 1, "{a}");
            let same_colour = Architecture::ALL
                .iter()
                .filter(|b| b.colour() == a.colour());
            assert_eq!(same_colour.count(), 1, "{a}");
        }
        let err = "nginx".parse::<Architecture>().unwrap_err().to_string();
        assert!(err.starts_with("'nginx' is not a server: name some of sequential, "));
        assert!("Threaded".parse::<Architecture>().is_err());
    }

    /// The JSON and CSV value is the name; an unknown name is refused when read.
    #[test]
    fn serde_uses_the_name() {
        let json = serde_json::to_string(&Architecture::Pool).unwrap();
        assert_eq!(json, "\"pool\"");
        let back: Architecture = serde_json::from_str("\"evented\"").unwrap();
        assert_eq!(back, Architecture::Evented);
        assert!(serde_json::from_str::<Architecture>("\"nginx\"").is_err());
    }

    /// The tutorial's three come first, in its order, then the four newer designs.
    #[test]
    fn order_and_models() {
        assert!(Architecture::ALL.starts_with(&[
            Architecture::Sequential,
            Architecture::Forking,
            Architecture::Threaded
        ]));
        assert_eq!(Architecture::Sequential.model(), Model::OneAtATime);
        assert!(Architecture::Pool.takes_workers() && Architecture::Async.takes_workers());
        assert!(!Architecture::Forking.takes_workers());
    }
}
