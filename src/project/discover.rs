//! Finding a project's files in its resource folders.
//!
//! Each kind of resource lives under its configured paths (`model-paths`, `seed-paths`...).
//! The walk is sorted, so every run sees files in the same order, and it never enters a
//! folder that holds a project file of its own: test fixtures and vendored projects under
//! the reference project are not part of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, Span, display_path};
use crate::settings::Settings;

/// A file found in a resource folder.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the project root, with `/`.
    pub display: String,
    /// Path relative to the resource folder it was found in.
    pub rel_path: String,
    /// File name without extension.
    pub stem: String,
    pub text: Arc<str>,
}

impl SourceFile {
    /// The folders between the resource folder and the file.
    pub fn rel_dir_parts(&self) -> Vec<String> {
        let mut parts: Vec<String> = self.rel_path.split('/').map(str::to_owned).collect();
        parts.pop();
        parts
    }
}

/// Every file of a project, by role.
#[derive(Debug, Default)]
pub struct Files {
    pub models: Vec<SourceFile>,
    pub seeds: Vec<SourceFile>,
    pub macros: Vec<SourceFile>,
    pub analyses: Vec<SourceFile>,
    pub singular_tests: Vec<SourceFile>,
    pub docs: Vec<SourceFile>,
    pub yaml: Vec<SourceFile>,
}

/// Seeds larger than this are not read to compute their checksum (dbt does the same).
const SEED_CHECKSUM_LIMIT: u64 = 1 << 20;

pub fn discover(settings: &Settings, diags: &mut Diagnostics) -> Files {
    let root = &settings.root;
    let p = &settings.project;
    let mut files = Files::default();
    let mut seen_yaml = std::collections::BTreeSet::new();
    let mut add_yaml = |files: &mut Files, f: SourceFile| {
        if seen_yaml.insert(f.display.clone()) {
            files.yaml.push(f);
        }
    };
    let docs_from_resources = p.docs_paths.is_none();
    for dir in &p.model_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                "sql" => files.models.push(read(root, &path, &rel, diags)),
                "py" => diags.push(
                    Diagnostic::error("Python models are not supported")
                        .with_span(Span::file(display_path(root, &path)))
                        .with_help("write the model in SQL"),
                ),
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                "md" if docs_from_resources => files.docs.push(read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    for dir in &p.seed_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                "csv" => {
                    // Seeds are read when loaded; only their checksum is needed here.
                    let small =
                        std::fs::metadata(&path).is_ok_and(|m| m.len() <= SEED_CHECKSUM_LIMIT);
                    let text: Arc<str> = if small {
                        read(root, &path, &rel, diags).text
                    } else {
                        Arc::from("")
                    };
                    files.seeds.push(SourceFile {
                        text,
                        ..source_file(root, &path, &rel)
                    });
                }
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                "md" if docs_from_resources => files.docs.push(read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    for dir in &p.macro_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                "sql" => files.macros.push(read(root, &path, &rel, diags)),
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                "md" if docs_from_resources => files.docs.push(read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    for dir in &p.test_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                // `tests/generic/` holds generic test definitions, which are macros.
                "sql" if rel.starts_with("generic/") => {
                    files.macros.push(read(root, &path, &rel, diags))
                }
                "sql" => files.singular_tests.push(read(root, &path, &rel, diags)),
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                "md" if docs_from_resources => files.docs.push(read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    for dir in &p.analysis_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                "sql" => files.analyses.push(read(root, &path, &rel, diags)),
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                "md" if docs_from_resources => files.docs.push(read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    for dir in &p.snapshot_paths {
        for (path, rel) in walk(root, dir) {
            match ext(&path) {
                "sql" => diags.push(
                    Diagnostic::warning("snapshots are not supported yet; this file is skipped")
                        .with_span(Span::file(display_path(root, &path))),
                ),
                "yml" | "yaml" => add_yaml(&mut files, read(root, &path, &rel, diags)),
                _ => {}
            }
        }
    }
    if let Some(docs_paths) = &p.docs_paths {
        for dir in docs_paths {
            for (path, rel) in walk(root, dir) {
                if ext(&path) == "md" {
                    files.docs.push(read(root, &path, &rel, diags));
                }
            }
        }
    }
    files
}

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn source_file(root: &Path, path: &Path, rel: &str) -> SourceFile {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    SourceFile {
        display: display_path(root, path),
        rel_path: rel.to_owned(),
        stem,
        text: Arc::from(""),
    }
}

fn read(root: &Path, path: &Path, rel: &str, diags: &mut Diagnostics) -> SourceFile {
    let mut file = source_file(root, path, rel);
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(mut text) => {
                // A byte-order mark is not part of the SQL or YAML.
                if text.starts_with('\u{feff}') {
                    text.drain(..3);
                }
                file.text = Arc::from(text);
            }
            Err(_) => diags.push(
                Diagnostic::error("file is not valid UTF-8")
                    .with_span(Span::file(file.display.clone())),
            ),
        },
        Err(e) => diags.push(
            Diagnostic::error(format!("cannot read file: {e}"))
                .with_span(Span::file(file.display.clone())),
        ),
    }
    file
}

/// Files under `root/dir`, sorted, as (path, path relative to `dir` with `/`).
fn walk(root: &Path, dir: &str) -> Vec<(PathBuf, String)> {
    let base = root.join(dir);
    let mut out = Vec::new();
    walk_into(&base, &base, &mut out, true);
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn walk_into(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>, top: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // A folder with a project file of its own is another project.
    if !top && (dir.join("project.yml").is_file() || dir.join("dbt_project.yml").is_file()) {
        return;
    }
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk_into(base, &path, out, false);
        } else if kind.is_file() || kind.is_symlink() {
            let rel = display_path(base, &path);
            out.push((path, rel));
        }
    }
}
