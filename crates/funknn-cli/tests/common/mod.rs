//! Helpers shared by the CLI tests: scratch folders, running the binary, checking its exit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder for one test, removed when the test passes (kept for a look if it fails).
pub struct Scratch(pub PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("funknn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// `funknn ARGS`, with the hub cache pointed at an empty folder and offline, so that no test
/// can reach the network.
pub fn funknn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funknn"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env(
            "HF_HUB_CACHE",
            std::env::temp_dir().join("funknn-no-hub-cache"),
        )
        .output()
        .unwrap()
}

pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "funknn failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "funknn should fail ({needle})");
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert!(!err.contains("panicked"), "funknn panicked:\n{err}");
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A file of `tests/fixtures/` at the repository root.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path)
}
