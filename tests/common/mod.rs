//! Fixture projects for both test binaries (`it` and `cli`): each test copies one into a
//! temporary folder first and never writes into the repository.

use std::path::{Path, PathBuf};

/// `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture `name` copied into a fresh temporary folder, without what a run of it in
/// place would have left (`target/`, `warehouse/`) or the oracle's `expected/` results.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixtures().join(name), dir.path());
    dir
}

/// Copies a folder tree, leaving out `target/`, `warehouse/` and `expected/`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if ["target", "warehouse", "expected"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy file");
        }
    }
}
