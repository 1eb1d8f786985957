//! Convention checks, run as tests (`cargo test -p xtask`): what the style guide and the
//! architecture promise, checked over the whole tree so that no change quietly breaks it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::project_root;

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// The source files of the workspace's crates and of xtask.
fn workspace_sources() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("xtask")));
    assert!(files.len() > 20, "found only {} source files", files.len());
    files
}

/// Every Rust file opens with a `//!` doc saying what it is for.
#[test]
fn every_file_opens_with_a_module_doc() {
    let missing: Vec<_> = workspace_sources()
        .into_iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:#?}");
}

/// No `unwrap()` in the code that handles what clients send: the wire protocol, the
/// engine, server-core and every `server-*` crate (tests, after `#[cfg(test)]` or in a
/// module file of their own named `tests.rs`, may unwrap).
#[test]
fn no_unwrap_on_the_serving_path() {
    let root = project_root();
    let mut crates: Vec<String> = ["protocol", "engine"].map(String::from).to_vec();
    crates.extend(
        fs::read_dir(root.join("crates"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with("server-")),
    );
    assert!(crates.len() >= 6, "{crates:?}");
    let mut found = Vec::new();
    for name in &crates {
        for file in rust_files(&root.join("crates").join(name).join("src")) {
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = fs::read_to_string(&file).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if !line.starts_with("//") && line.contains(".unwrap()") {
                    found.push(format!("{}:{}: {line}", file.display(), i + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "unwrap() on the serving path:\n{}",
        found.join("\n")
    );
}

/// The two leaves depend on nothing: no `[dependencies]` in their manifests.
#[test]
fn leaves_depend_on_std_only() {
    for leaf in ["protocol", "engine"] {
        let manifest = project_root().join("crates").join(leaf).join("Cargo.toml");
        let text = fs::read_to_string(&manifest).unwrap_or_default();
        assert!(
            text.contains("[package]"),
            "{} unreadable",
            manifest.display()
        );
        assert!(
            !text.lines().any(|l| l.trim() == "[dependencies]"),
            "{leaf} must depend on std only"
        );
    }
}
