//! Finding a project's files in its resource folders.
//!
//! Each kind of resource lives under its configured paths (`model-paths`, `seed-paths`...).
//! The walk is sorted, so every run sees files in the same order, and it never enters a
//! folder that holds a project file of its own: test fixtures and vendored projects under
//! the reference project are not part of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics, Span, display_path};
use crate::settings::{ProjectSettings, Settings};

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
    /// sha256 of the text (computed while reading, on the reading threads).
    pub checksum: String,
    /// The project it belongs to: the root project's name, or an installed package's.
    pub package: Arc<str>,
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
    /// SQL files in `snapshot-paths`: each holds `{% snapshot %}` blocks.
    pub snapshots: Vec<SourceFile>,
    pub docs: Vec<SourceFile>,
    pub yaml: Vec<SourceFile>,
}

/// Seeds larger than this are not read to compute their checksum (dbt does the same).
const SEED_CHECKSUM_LIMIT: u64 = 1 << 20;

/// What a found file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Model,
    Seed,
    Macro,
    Analysis,
    SingularTest,
    Snapshot,
    Doc,
    Yaml,
}

/// Finds the files of the root project and of every installed package.
pub fn discover(settings: &Settings, diags: &mut Diagnostics) -> Files {
    let root = &settings.root;
    let mut found: Vec<(Role, PathBuf, String, Arc<str>)> = Vec::new();
    for p in settings.projects() {
        find_files(root, p, &mut found, diags);
    }
    // Reading (and hashing, later) thousands of files is the slow part: spread it.
    let read_all = crate::par::map(&found, |(role, path, rel, package)| {
        if *role == Role::Seed {
            // Seeds are read when loaded; only their checksum is needed here.
            let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= SEED_CHECKSUM_LIMIT);
            if !small {
                return (source_file(root, path, rel, package), None);
            }
        }
        read(root, path, rel, package)
    });
    let mut files = Files::default();
    for ((role, _, _, _), (file, problem)) in found.iter().zip(read_all) {
        if let Some(d) = problem {
            diags.push(d);
        }
        let list = match role {
            Role::Model => &mut files.models,
            Role::Seed => &mut files.seeds,
            Role::Macro => &mut files.macros,
            Role::Analysis => &mut files.analyses,
            Role::SingularTest => &mut files.singular_tests,
            Role::Snapshot => &mut files.snapshots,
            Role::Doc => &mut files.docs,
            Role::Yaml => &mut files.yaml,
        };
        list.push(file);
    }
    files
}

/// The files of one project (`p.dir` under `root`), by role.
fn find_files(root: &Path, p: &ProjectSettings, found: &mut Vec<(Role, PathBuf, String, Arc<str>)>, diags: &mut Diagnostics) {
    let base = root.join(&p.dir);
    let package: Arc<str> = Arc::from(p.name.as_str());
    let docs_from_resources = p.docs_paths.is_none();
    let mut seen_yaml = std::collections::BTreeSet::new();
    let mut push = |found: &mut Vec<(Role, PathBuf, String, Arc<str>)>, role: Role, path: PathBuf, rel: String| {
        // A properties file under two configured paths is read once.
        if role != Role::Yaml || seen_yaml.insert(path.clone()) {
            found.push((role, path, rel, package.clone()));
        }
    };
    let groups: [(&[String], Role); 5] = [
        (&p.model_paths, Role::Model),
        (&p.seed_paths, Role::Seed),
        (&p.macro_paths, Role::Macro),
        (&p.test_paths, Role::SingularTest),
        (&p.analysis_paths, Role::Analysis),
    ];
    for (dirs, role) in groups {
        for dir in dirs {
            for (path, rel) in walk(&base, dir) {
                let kind = match (ext(&path), role) {
                    ("sql", Role::Model) => Some(Role::Model),
                    ("py", Role::Model) => {
                        diags.push(
                            Diagnostic::error("Python models are not supported")
                                .with_span(Span::file(display_path(root, &path)))
                                .with_help("write the model in SQL"),
                        );
                        None
                    }
                    ("csv", Role::Seed) => Some(Role::Seed),
                    ("sql", Role::Macro) => Some(Role::Macro),
                    // `tests/generic/` holds generic test definitions, which are macros.
                    ("sql", Role::SingularTest) if rel.starts_with("generic/") => Some(Role::Macro),
                    // `tests/fixtures/` holds unit test fixtures, read when a unit test names them.
                    ("sql", Role::SingularTest) if rel.starts_with("fixtures/") => None,
                    ("sql", Role::SingularTest) => Some(Role::SingularTest),
                    ("sql", Role::Analysis) => Some(Role::Analysis),
                    ("yml" | "yaml", _) => Some(Role::Yaml),
                    ("md", _) if docs_from_resources => Some(Role::Doc),
                    _ => None,
                };
                if let Some(kind) = kind {
                    push(found, kind, path, rel);
                }
            }
        }
    }
    for dir in &p.snapshot_paths {
        for (path, rel) in walk(&base, dir) {
            match ext(&path) {
                "sql" => push(found, Role::Snapshot, path, rel),
                "yml" | "yaml" => push(found, Role::Yaml, path, rel),
                _ => {}
            }
        }
    }
    if let Some(docs_paths) = &p.docs_paths {
        for dir in docs_paths {
            for (path, rel) in walk(&base, dir) {
                if ext(&path) == "md" {
                    push(found, Role::Doc, path, rel);
                }
            }
        }
    }
}

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn source_file(root: &Path, path: &Path, rel: &str, package: &Arc<str>) -> SourceFile {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    SourceFile {
        display: display_path(root, path),
        rel_path: rel.to_owned(),
        stem,
        text: Arc::from(""),
        checksum: String::new(),
        package: package.clone(),
    }
}

fn read(root: &Path, path: &Path, rel: &str, package: &Arc<str>) -> (SourceFile, Option<Diagnostic>) {
    let mut file = source_file(root, path, rel, package);
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(mut text) => {
                // A byte-order mark is not part of the SQL or YAML.
                if text.starts_with('\u{feff}') {
                    text.drain(..3);
                }
                file.checksum = super::sha256_hex(text.as_bytes());
                file.text = Arc::from(text);
                (file, None)
            }
            Err(_) => {
                let d = Diagnostic::error("file is not valid UTF-8").with_span(Span::file(file.display.clone()));
                (file, Some(d))
            }
        },
        Err(e) => {
            let d = Diagnostic::error(format!("cannot read file: {e}")).with_span(Span::file(file.display.clone()));
            (file, Some(d))
        }
    }
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
