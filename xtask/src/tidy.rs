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

/// Whether `file` is a `tests.rs` that its parent module declares only for tests
/// (`#[cfg(test)]` on the line before `mod tests;`): a file named so but compiled into
/// the server is still checked.
fn is_test_module(file: &Path) -> bool {
    let Some(dir) = file.parent() else {
        return false;
    };
    if file.file_name().is_none_or(|n| n != "tests.rs") {
        return false;
    }
    let parents = [
        dir.with_extension("rs"),
        dir.join("mod.rs"),
        dir.join("lib.rs"),
        dir.join("main.rs"),
    ];
    parents.iter().any(|parent| {
        let text = fs::read_to_string(parent).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines
            .windows(2)
            .any(|pair| pair == ["#[cfg(test)]", "mod tests;"])
    })
}

/// No `unwrap()` in the code that handles what clients send: the wire protocol, the
/// engine, server-core and every `server-*` crate (tests, after `#[cfg(test)]` or in a
/// `tests.rs` module declared under `#[cfg(test)]`, may unwrap).
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
            if is_test_module(&file) {
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

/// A `tests.rs` is skipped only when its parent declares it under `#[cfg(test)]`.
#[test]
fn tests_rs_counts_as_tests_only_under_cfg_test() {
    let dir = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
    fs::create_dir_all(dir.join("session")).unwrap();
    let file = dir.join("session").join("tests.rs");
    fs::write(&file, "fn f() { x.unwrap(); }\n").unwrap();
    fs::write(dir.join("session.rs"), "mod tests;\n").unwrap();
    assert!(!is_test_module(&file));
    fs::write(dir.join("session.rs"), "#[cfg(test)]\nmod tests;\n").unwrap();
    assert!(is_test_module(&file));
    assert!(!is_test_module(&dir.join("session.rs")));
    fs::remove_dir_all(&dir).unwrap();
}
