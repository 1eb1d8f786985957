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

/// The targets of the Markdown links and images in `text` (`[text](target)`,
/// `![alt](target)`), without a `#fragment` or a `"title"`.
fn link_targets(text: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.split('#').next().unwrap_or(""));
        rest = &rest[end..];
    }
    targets
}

/// A relative link that does not resolve, as `file: target`; web links and links within
/// the page are not checked.
fn broken_links(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("."));
    link_targets(&text)
        .into_iter()
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .filter(|t| !dir.join(t).exists())
        .map(|t| format!("{}: {t}", file.display()))
        .collect()
}

/// Every relative link in README.md, ARCHITECTURE.md and docs/*.md points to a file or
/// folder of the repository.
#[test]
fn every_relative_link_resolves() {
    let root = project_root();
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let docs = fs::read_dir(root.join("docs")).expect("docs/ exists");
    pages.extend(
        docs.flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    assert!(pages.len() >= 7, "pages: {pages:#?}");
    let broken: Vec<String> = pages.iter().flat_map(|p| broken_links(p)).collect();
    assert!(broken.is_empty(), "links to nowhere: {broken:#?}");
}

/// The link reader finds links and images, drops fragments and titles, and the check
/// reports a link to a missing file and not one to a file that exists.
#[test]
fn link_check_finds_a_broken_link() {
    let text = "See [a](docs/a.md#part) and ![plot](b.svg \"Plot\"), [web](https://x.org), \
                [here](#top).";
    assert_eq!(
        link_targets(text),
        ["docs/a.md", "b.svg", "https://x.org", ""]
    );
    let dir = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("there.md"), "").unwrap();
    let page = dir.join("page.md");
    fs::write(
        &page,
        "[ok](there.md) [gone](missing.md) [web](https://x.org)",
    )
    .unwrap();
    let broken = broken_links(&page);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].ends_with(": missing.md"), "{broken:?}");
    fs::remove_dir_all(&dir).unwrap();
}
