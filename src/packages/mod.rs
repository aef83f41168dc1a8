//! Packages, as `dbt deps` handles them: `packages.yml` (or `dependencies.yml`) read and
//! rendered, each package and what it depends on resolved (local folders, git repositories
//! at a revision pinned to its commit, dbt Hub packages at the highest version every
//! declaration's range admits, tarballs), the result locked in `package-lock.yml` with
//! dbt's hash of the declarations, and installed into `dbt_packages/` (or
//! `packages-install-path`) under each package's project name.
//!
//! The lock is dbt's: a lock written by dbt with the same declarations is used as it is, and
//! dbt uses Silt's. While the declarations hash to the lock's `sha1_hash`, `deps` installs
//! what the lock names without resolving again (`--upgrade` resolves anew).

pub mod git;
pub mod remote;
pub mod semver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::settings::PackagesSettings;
use crate::template::{Vars, render_settings_value};
use crate::yaml::{Node, YamlDoc};
use remote::Remote;

/// The lock file, beside the project file.
pub const LOCK_FILE: &str = "package-lock.yml";

/// Where a package comes from, as declared.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A folder, relative to the root project.
    Local { path: String },
    /// A git repository at a revision (`None`: the default branch), optionally a folder of it.
    Git {
        url: String,
        revision: Option<String>,
        subdirectory: Option<String>,
        warn_unpinned: Option<bool>,
    },
    /// A package of dbt Hub, by name and version range.
    Hub {
        package: String,
        version: Json,
        install_prerelease: bool,
    },
    /// A tarball at a URL.
    Tarball { url: String, name: String },
}

/// One entry of `packages.yml`.
#[derive(Debug, Clone)]
pub struct Spec {
    pub source: Source,
    /// The entry as written, before rendering (dbt's lock hash covers it).
    pub unrendered: Map<String, Json>,
    /// Where it is declared.
    pub span: Span,
}

impl Spec {
    /// How dbt keys the package when it merges declarations: the folder, the repository
    /// (and its folder), the Hub name or the tarball's URL.
    pub fn key(&self) -> String {
        match &self.source {
            Source::Local { path } => path.clone(),
            Source::Git { url, subdirectory, .. } => match subdirectory {
                Some(s) => format!("{url}/{s}"),
                None => url.clone(),
            },
            Source::Hub { package, .. } => package.clone(),
            Source::Tarball { url, .. } => url.clone(),
        }
    }

    /// The entry as dbt's package contract serializes it (`PackageSpec.to_dict()`): what
    /// the lock's hash is computed over.
    fn dbt_dict(&self) -> Json {
        let unrendered = Json::Object(self.unrendered.clone());
        match &self.source {
            Source::Local { path } => json!({"local": path, "unrendered": unrendered}),
            Source::Git { url, revision, subdirectory, warn_unpinned } => json!({
                "git": url,
                "revision": revision,
                "subdirectory": subdirectory,
                "unrendered": unrendered,
                "warn-unpinned": warn_unpinned,
            }),
            Source::Hub { package, version, install_prerelease } => json!({
                "install_prerelease": install_prerelease,
                "package": package,
                "unrendered": unrendered,
                "version": version,
            }),
            Source::Tarball { url, name } => json!({"name": name, "tarball": url, "unrendered": unrendered}),
        }
    }
}

/// Why packages could not be read, resolved or installed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A declaration is invalid; the diagnostics say where.
    #[error("{}", .0.render(false).trim_end())]
    Invalid(Diagnostics),
    #[error("cannot check out revision `{revision}` of `{url}`: {message}")]
    Git { url: String, revision: String, message: String },
    #[error("cannot download `{url}`: {message}")]
    Network { url: String, message: String },
    #[error("cannot use `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A package that cannot be resolved or installed as declared.
    #[error("{0}")]
    Unsupported(String),
}

impl PackageError {
    fn io(path: &Path, source: std::io::Error) -> PackageError {
        PackageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<Diagnostic> for PackageError {
    fn from(d: Diagnostic) -> PackageError {
        PackageError::Invalid(d.into())
    }
}

/// The packages a project (the root, or a package) declares, rendered; and the file they
/// are declared in. None declared: an empty list.
pub fn read_specs(dir: &Path, vars: &Vars) -> Result<(Vec<Spec>, Option<&'static str>), PackageError> {
    let read = |name: &str| -> Result<Option<YamlDoc>, PackageError> {
        let path = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| PackageError::io(&path, e))?;
        Ok(Some(YamlDoc::parse(name, text)?))
    };
    let packages = read("packages.yml")?;
    let dependencies = read("dependencies.yml")?;
    let declares = |d: &Option<YamlDoc>| d.as_ref().and_then(|d| d.root.get("packages")).is_some();
    if declares(&packages) && declares(&dependencies) {
        return Err(Diagnostic::error(
            "the `packages` key cannot be in both packages.yml and dependencies.yml",
        )
        .with_span(Span::file("dependencies.yml"))
        .into());
    }
    let (doc, file) = match (dependencies, packages) {
        (Some(d), _) if d.root.get("packages").is_some() => (d, "dependencies.yml"),
        (_, Some(p)) => (p, "packages.yml"),
        _ => return Ok((Vec::new(), None)),
    };
    let mut diags = Diagnostics::new();
    let mut specs = Vec::new();
    match doc.root.get("packages") {
        None => {}
        Some(list) => match list.as_seq() {
            Some(items) => {
                for item in items {
                    match spec_of(&doc, item, vars) {
                        Ok(s) => specs.push(s),
                        Err(d) => diags.push(d),
                    }
                }
            }
            None if list.is_null() => {}
            None => diags.push(
                Diagnostic::error(format!("`packages` must be a list, not {}", list.kind())).with_span(doc.span(list.id)),
            ),
        },
    }
    if diags.has_errors() {
        return Err(PackageError::Invalid(diags));
    }
    Ok((specs, Some(file)))
}

/// One declaration, rendered (`env_var`, `var`), with the kind of package it is.
fn spec_of(doc: &YamlDoc, item: &Node, vars: &Vars) -> Result<Spec, Diagnostic> {
    let span = doc.span(item.id);
    let Some(entries) = item.as_map() else {
        return Err(Diagnostic::error("a package is a mapping such as `- git: <url>` or `- local: <folder>`").with_span(span));
    };
    let text = |key: &str| -> Result<Option<String>, Diagnostic> {
        let Some(node) = item.get(key) else { return Ok(None) };
        match node.scalar_text() {
            Some(s) => render_settings_value(&doc.file, &s, vars, None)
                .map(Some)
                .map_err(|e| Diagnostic::error(e.message).with_span(doc.span(node.id))),
            None => Err(Diagnostic::error(format!("`{key}` must be a string, not {}", node.kind())).with_span(doc.span(node.id))),
        }
    };
    const KINDS: [&str; 5] = ["local", "git", "package", "tarball", "private"];
    let kind = KINDS.iter().find(|k| item.get(k).is_some());
    let allowed: &[&str] = match kind {
        Some(&"local") => &["local"],
        Some(&"git") => &["git", "revision", "subdirectory", "warn-unpinned"],
        Some(&"package") => &["package", "version", "install_prerelease"],
        Some(&"tarball") => &["tarball", "name"],
        Some(_) => {
            return Err(Diagnostic::error(
                "`private` packages need dbt Cloud's git provider integration: declare the repository with `git:` instead",
            )
            .with_span(span));
        }
        None => {
            return Err(Diagnostic::error("a package needs one of `local`, `git`, `package` or `tarball`").with_span(span));
        }
    };
    for e in entries {
        if !allowed.contains(&e.key.as_str()) {
            return Err(Diagnostic::error(format!("unknown key `{}` in a `{}` package", e.key, kind.unwrap_or(&"")))
                .with_span(doc.span(e.key_id))
                .with_suggestion(&e.key, allowed.iter().copied()));
        }
    }
    let unrendered = match item.to_json() {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    let source = match *kind.unwrap_or(&"") {
        "local" => Source::Local {
            path: text("local")?.unwrap_or_default(),
        },
        "git" => Source::Git {
            url: text("git")?.unwrap_or_default(),
            revision: text("revision")?,
            subdirectory: text("subdirectory")?,
            warn_unpinned: item.get("warn-unpinned").and_then(Node::as_bool),
        },
        "package" => {
            let version = match item.get("version") {
                Some(v) => render_json(doc, v, vars)?,
                None => {
                    return Err(Diagnostic::error("a Hub package needs a `version` (such as `[\">=1.0.0\", \"<2.0.0\"]`)").with_span(span));
                }
            };
            Source::Hub {
                package: text("package")?.unwrap_or_default(),
                version,
                install_prerelease: item.get("install_prerelease").and_then(Node::as_bool).unwrap_or(false),
            }
        }
        _ => Source::Tarball {
            url: text("tarball")?.unwrap_or_default(),
            name: text("name")?.ok_or_else(|| Diagnostic::error("a tarball package needs a `name`").with_span(span.clone()))?,
        },
    };
    Ok(Spec { source, unrendered, span })
}

/// A `version:` rendered: a string, or a list of strings.
fn render_json(doc: &YamlDoc, node: &Node, vars: &Vars) -> Result<Json, Diagnostic> {
    let one = |n: &Node| -> Result<Json, Diagnostic> {
        match n.scalar_text() {
            Some(s) => render_settings_value(&doc.file, &s, vars, None)
                .map(Json::String)
                .map_err(|e| Diagnostic::error(e.message).with_span(doc.span(n.id))),
            None => Err(Diagnostic::error(format!("a version must be a string, not {}", n.kind())).with_span(doc.span(n.id))),
        }
    };
    match node.as_seq() {
        Some(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>().map(Json::Array),
        None => one(node),
    }
}

/// The version specifiers of a Hub declaration's `version:`.
fn version_list(version: &Json) -> Vec<String> {
    match version {
        Json::Array(items) => items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect(),
        Json::Null => Vec::new(),
        Json::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// dbt's hash of a project's declarations (`_create_sha1_hash`): each entry's dict as
/// Python's `json.dumps(..., sort_keys=True)` writes it, the lines sorted, joined by
/// newlines, SHA-1 in hex.
pub fn sha1_hash(specs: &[Spec]) -> String {
    use sha1::Digest;
    let mut lines: Vec<String> = specs.iter().map(|s| python_json(&s.dbt_dict())).collect();
    lines.sort();
    let digest = sha1::Sha1::digest(lines.join("\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON as Python's `json.dumps(value, sort_keys=True)` writes it: `", "` and `": "`
/// separators, keys sorted, non-ASCII escaped.
fn python_json(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => python_string(s),
        Json::Array(items) => format!("[{}]", items.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", python_string(k), python_json(&map[k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A package resolved to what is installed: a folder, a repository at a commit, a Hub
/// package at a version, or a tarball.
#[derive(Debug, Clone, PartialEq)]
pub enum Pinned {
    Local { path: String },
    Git {
        url: String,
        commit: String,
        subdirectory: Option<String>,
    },
    Hub { package: String, version: String },
    Tarball { url: String },
}

impl Pinned {
    /// How `deps` names it while installing.
    pub fn key(&self) -> String {
        match self {
            Pinned::Local { path } => path.clone(),
            Pinned::Git { url, subdirectory, .. } => match subdirectory {
                Some(s) => format!("{url}/{s}"),
                None => url.clone(),
            },
            Pinned::Hub { package, .. } => package.clone(),
            Pinned::Tarball { url } => url.clone(),
        }
    }

    /// Where it was installed from, as `deps` reports it.
    pub fn version(&self) -> String {
        match self {
            Pinned::Local { path } => format!("<local @ {path}>"),
            Pinned::Git { commit, .. } => format!("revision {commit}"),
            Pinned::Hub { version, .. } => format!("version {version}"),
            Pinned::Tarball { url } => format!("tarball (url: {url})"),
        }
    }
}

/// One package of the lock: where it comes from and its project name.
#[derive(Debug, Clone, PartialEq)]
pub struct Locked {
    pub pinned: Pinned,
    /// The `name` of its `dbt_project.yml`: its folder under the install path.
    pub name: String,
}

/// `package-lock.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub packages: Vec<Locked>,
    /// dbt's hash of the declarations the lock was made from.
    pub sha1_hash: String,
}

impl Lock {
    /// The lock in `root`, if there is one.
    pub fn read(root: &Path) -> Result<Option<Lock>, PackageError> {
        let path = root.join(LOCK_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| PackageError::io(&path, e))?;
        let doc = YamlDoc::parse(LOCK_FILE, text)?;
        let bad = |node: &Node, what: &str| Diagnostic::error(format!("{LOCK_FILE}: {what}")).with_span(doc.span(node.id));
        let mut packages = Vec::new();
        for item in doc.root.get("packages").and_then(Node::as_seq).unwrap_or(&[]) {
            let get = |k: &str| item.get(k).and_then(Node::scalar_text);
            let name = get("name").ok_or_else(|| bad(item, "a package has no `name`: run `silt deps --upgrade`"))?;
            let pinned = if let Some(path) = get("local") {
                Pinned::Local { path }
            } else if let Some(url) = get("git") {
                Pinned::Git {
                    url,
                    commit: get("revision").ok_or_else(|| bad(item, "a git package has no `revision`"))?,
                    subdirectory: get("subdirectory"),
                }
            } else if let Some(package) = get("package") {
                Pinned::Hub {
                    package,
                    version: get("version").ok_or_else(|| bad(item, "a Hub package has no `version`"))?,
                }
            } else if let Some(url) = get("tarball") {
                Pinned::Tarball { url }
            } else {
                return Err(bad(item, "a package is none of `local`, `git`, `package` or `tarball`").into());
            };
            packages.push(Locked { pinned, name });
        }
        let sha1_hash = doc.root.get("sha1_hash").and_then(Node::scalar_text).unwrap_or_default();
        Ok(Some(Lock { packages, sha1_hash }))
    }

    /// The lock as dbt writes it: the packages in resolution order, each entry's keys
    /// sorted, then the hash.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("packages:\n");
        for p in &self.packages {
            let mut entry: Vec<(&str, String)> = vec![("name", p.name.clone())];
            match &p.pinned {
                Pinned::Local { path } => entry.push(("local", path.clone())),
                Pinned::Git { url, commit, subdirectory } => {
                    entry.push(("git", url.clone()));
                    entry.push(("revision", commit.clone()));
                    if let Some(s) = subdirectory {
                        entry.push(("subdirectory", s.clone()));
                    }
                }
                Pinned::Hub { package, version } => {
                    entry.push(("package", package.clone()));
                    entry.push(("version", version.clone()));
                }
                Pinned::Tarball { url } => entry.push(("tarball", url.clone())),
            }
            entry.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in entry.iter().enumerate() {
                out.push_str(if i == 0 { "  - " } else { "    " });
                out.push_str(&format!("{k}: {}\n", yaml_scalar(v)));
            }
        }
        out.push_str(&format!("sha1_hash: {}\n", self.sha1_hash));
        out
    }
}

/// A string as a YAML scalar: plain when YAML reads it back as the same string, else
/// double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`~ ".contains(c))
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && crate::yaml::from_yaml_string(s).ok().as_ref().and_then(Json::as_str) == Some(s);
    if plain { s.to_owned() } else { python_string(s) }
}

/// Resolves the declarations and what they depend on, breadth first as dbt does: each
/// package is fetched (a git repository checked out, a tarball unpacked, under
/// `downloads`), its project name read, and its own declarations added. A Hub package's
/// version ranges from every declaration are intersected, and the Hub says what each
/// version depends on. Local paths, at every depth, are relative to the root project.
pub fn resolve(
    settings: &PackagesSettings,
    specs: &[Spec],
    downloads: &Path,
    remote: &mut Remote,
) -> Result<Vec<Locked>, PackageError> {
    let mut order: Vec<String> = Vec::new();
    let mut done: HashMap<String, Locked> = HashMap::new();
    // The revision each git package was first declared at.
    let mut asked: HashMap<String, String> = HashMap::new();
    // Each Hub package's version specifiers, whether prereleases may be installed, and
    // the versions whose dependencies were read.
    let mut hub: HashMap<String, (Vec<String>, bool)> = HashMap::new();
    let mut expanded: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut pending: Vec<Spec> = specs.to_vec();
    while !pending.is_empty() {
        let mut next = Vec::new();
        for spec in pending {
            let key = spec.key();
            if let Source::Hub { package, version, install_prerelease } = &spec.source {
                if done.contains_key(&key) || (!hub.contains_key(&key) && order.contains(&key)) {
                    return Err(mixed_kinds(&key));
                }
                let want = hub.entry(key.clone()).or_default();
                want.0.extend(version_list(version));
                want.1 |= *install_prerelease;
                if !order.contains(&key) {
                    order.push(key.clone());
                }
                let (wanted, prerelease) = want.clone();
                let picked = remote.pick(package, &wanted, prerelease)?;
                if expanded.insert((package.clone(), picked.clone())) {
                    let meta = remote.version(package, &picked)?;
                    for dep in &meta.packages {
                        next.push(spec_from_hub(dep, package, &spec.span)?);
                    }
                }
                continue;
            }
            if hub.contains_key(&key) {
                return Err(mixed_kinds(&key));
            }
            if let Source::Git { revision, .. } = &spec.source {
                let revision = revision.clone().unwrap_or_else(|| "HEAD".into());
                let first = asked.entry(key.clone()).or_insert_with(|| revision.clone());
                if *first != revision {
                    return Err(PackageError::Unsupported(format!(
                        "git package `{key}` is declared at two revisions (`{first}` and `{revision}`): declare one"
                    )));
                }
            }
            if done.contains_key(&key) {
                continue;
            }
            let (pinned, dir) = fetch(settings, &spec, downloads, remote)?;
            let name = project_name(&dir, &spec)?;
            let (deps, _) = read_specs(&dir, &settings.vars)?;
            next.extend(deps);
            order.push(key.clone());
            done.insert(key, Locked { pinned, name });
        }
        pending = next;
    }
    let mut packages = Vec::new();
    for key in order {
        if let Some((wanted, prerelease)) = hub.get(&key) {
            let version = remote.pick(&key, wanted, *prerelease)?;
            let meta = remote.version(&key, &version)?;
            packages.push(Locked {
                pinned: Pinned::Hub { package: key, version },
                name: meta.name,
            });
        } else if let Some(locked) = done.remove(&key) {
            packages.push(locked);
        }
    }
    let mut names: HashMap<&str, &Locked> = HashMap::new();
    for p in &packages {
        if p.name == settings.project_name {
            return Err(PackageError::Unsupported(format!(
                "package `{}` has the root project's name `{}`: a project cannot depend on itself",
                p.pinned.key(),
                p.name
            )));
        }
        if let Some(first) = names.insert(&p.name, p) {
            return Err(PackageError::Unsupported(format!(
                "`{}` and `{}` are both the project `{}`: keep one of them",
                first.pinned.key(),
                p.pinned.key(),
                p.name
            )));
        }
    }
    Ok(packages)
}

fn mixed_kinds(key: &str) -> PackageError {
    PackageError::Unsupported(format!(
        "package `{key}` is declared both as a Hub package and as another kind: declare it one way"
    ))
}

/// A dependency the Hub lists for a package version, as a declaration.
fn spec_from_hub(dep: &Json, parent: &str, span: &Span) -> Result<Spec, PackageError> {
    let text = |k: &str| dep.get(k).and_then(Json::as_str).map(str::to_owned);
    let unrendered = dep.as_object().cloned().unwrap_or_default();
    let source = if let Some(package) = text("package") {
        Source::Hub {
            package,
            version: dep.get("version").cloned().unwrap_or(Json::Null),
            install_prerelease: dep.get("install_prerelease").and_then(Json::as_bool).unwrap_or(false),
        }
    } else if let Some(url) = text("git") {
        Source::Git {
            url,
            revision: text("revision"),
            subdirectory: text("subdirectory"),
            warn_unpinned: None,
        }
    } else if let Some(url) = text("tarball") {
        Source::Tarball { url, name: text("name").unwrap_or_default() }
    } else {
        return Err(PackageError::Unsupported(format!(
            "the Hub lists a dependency of `{parent}` Silt cannot install: {dep}"
        )));
    };
    Ok(Spec { source, unrendered, span: span.clone() })
}

/// Fetches a declared package (not a Hub one): where its project is now, and what pins it.
fn fetch(
    settings: &PackagesSettings,
    spec: &Spec,
    downloads: &Path,
    remote: &mut Remote,
) -> Result<(Pinned, PathBuf), PackageError> {
    match &spec.source {
        Source::Local { path } => {
            let dir = settings.root.join(path);
            if !dir.is_dir() {
                return Err(Diagnostic::error(format!("local package `{path}` is not a folder (`{}`)", dir.display()))
                    .with_span(spec.span.clone())
                    .into());
            }
            Ok((Pinned::Local { path: path.clone() }, dir))
        }
        Source::Git { url, revision, subdirectory, .. } => {
            let revision = revision.clone().unwrap_or_else(|| "HEAD".into());
            let checkout = downloads.join(format!("{:x}", md5_of(&spec.key())));
            if checkout.exists() {
                std::fs::remove_dir_all(&checkout).map_err(|e| PackageError::io(&checkout, e))?;
            }
            let commit = git::checkout(url, &checkout, &revision, subdirectory.as_deref())?;
            let pinned = Pinned::Git {
                url: url.clone(),
                commit,
                subdirectory: subdirectory.clone(),
            };
            Ok((pinned, git::package_dir(&checkout, subdirectory.as_deref())))
        }
        Source::Tarball { url, .. } => {
            let dir = tarball_dir(url, downloads, remote)?;
            Ok((Pinned::Tarball { url: url.clone() }, dir))
        }
        Source::Hub { package, .. } => Err(PackageError::Unsupported(format!("`{package}` is resolved through the Hub (this is a bug)"))),
    }
}

/// A tarball package downloaded and unpacked under `downloads`: the one folder it holds.
fn tarball_dir(url: &str, downloads: &Path, remote: &mut Remote) -> Result<PathBuf, PackageError> {
    let dest = downloads.join(format!("{:x}", md5_of(url)));
    let top = match std::fs::read_dir(&dest) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => remote::untar(&remote.get(url)?, &dest, url)?,
    };
    match top.as_slice() {
        [one] if one.is_dir() => Ok(one.clone()),
        _ => Err(PackageError::Unsupported(format!(
            "tarball package `{url}` should contain exactly one folder, and holds {} entries",
            top.len()
        ))),
    }
}

/// A Hub package version downloaded and unpacked under `downloads`: its folder.
fn hub_dir(package: &str, version: &str, downloads: &Path, remote: &mut Remote) -> Result<PathBuf, PackageError> {
    let meta = remote.version(package, version)?;
    let dest = downloads.join(format!("{:x}", md5_of(&format!("{package}@{version}"))));
    let top = remote::untar(&remote.get(&meta.tarball)?, &dest, &meta.tarball)?;
    // dbt takes the entries' common prefix: GitHub's archives hold one folder.
    match top.as_slice() {
        [one] if one.is_dir() => Ok(one.clone()),
        _ => Ok(dest),
    }
}

fn md5_of(text: &str) -> md5::digest::Output<md5::Md5> {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes())
}

/// The `name` in a package's project file.
fn project_name(dir: &Path, spec: &Spec) -> Result<String, PackageError> {
    let file = ["dbt_project.yml", "project.yml"].into_iter().map(|f| dir.join(f)).find(|p| p.is_file());
    let Some(file) = file else {
        return Err(Diagnostic::error(format!(
            "package `{}` has no dbt_project.yml (in `{}`)",
            spec.key(),
            dir.display()
        ))
        .with_span(spec.span.clone())
        .into());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| PackageError::io(&file, e))?;
    let doc = YamlDoc::parse(file.display().to_string(), text)?;
    doc.root
        .get("name")
        .and_then(Node::scalar_text)
        .ok_or_else(|| Diagnostic::error(format!("the project file of package `{}` has no `name`", spec.key())).with_span(spec.span.clone()).into())
}

/// Installs the locked packages into the install path, replacing what is there: a local
/// package as a link to its folder (a copy where links are not available), a git package
/// checked out at its commit, a Hub or tarball package unpacked.
pub fn install(settings: &PackagesSettings, lock: &Lock, downloads: &Path, remote: &mut Remote) -> Result<(), PackageError> {
    let dest_root = &settings.install_path;
    if dest_root.exists() || dest_root.is_symlink() {
        std::fs::remove_dir_all(dest_root).map_err(|e| PackageError::io(dest_root, e))?;
    }
    std::fs::create_dir_all(dest_root).map_err(|e| PackageError::io(dest_root, e))?;
    for p in &lock.packages {
        let dest = dest_root.join(&p.name);
        match &p.pinned {
            Pinned::Local { path } => {
                let joined = settings.root.join(path);
                let src = joined.canonicalize().map_err(|e| PackageError::io(&joined, e))?;
                link_or_copy(&src, &dest)?;
            }
            Pinned::Git { url, commit, subdirectory } => {
                let checkout = downloads.join(format!("{:x}", md5_of(&p.pinned.key())));
                if checkout.exists() {
                    std::fs::remove_dir_all(&checkout).map_err(|e| PackageError::io(&checkout, e))?;
                }
                git::checkout(url, &checkout, commit, subdirectory.as_deref())?;
                let src = git::package_dir(&checkout, subdirectory.as_deref());
                move_dir(&src, &dest)?;
            }
            Pinned::Hub { package, version } => move_dir(&hub_dir(package, version, downloads, remote)?, &dest)?,
            Pinned::Tarball { url } => move_dir(&tarball_dir(url, downloads, remote)?, &dest)?,
        }
    }
    Ok(())
}

#[cfg(unix)]
fn link_or_copy(src: &Path, dest: &Path) -> Result<(), PackageError> {
    match std::os::unix::fs::symlink(src, dest) {
        Ok(()) => Ok(()),
        Err(_) => copy_dir(src, dest),
    }
}

#[cfg(not(unix))]
fn link_or_copy(src: &Path, dest: &Path) -> Result<(), PackageError> {
    copy_dir(src, dest)
}

/// Moves a folder (renaming it, or copying it across file systems).
fn move_dir(src: &Path, dest: &Path) -> Result<(), PackageError> {
    if std::fs::rename(src, dest).is_ok() {
        return Ok(());
    }
    copy_dir(src, dest)
}

fn copy_dir(src: &Path, dest: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(dest).map_err(|e| PackageError::io(dest, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| PackageError::io(src, e))? {
        let entry = entry.map_err(|e| PackageError::io(src, e))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| PackageError::io(&from, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(text: &str) -> Vec<Spec> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("packages.yml"), text).unwrap();
        read_specs(dir.path(), &Vars::default()).unwrap().0
    }

    #[test]
    fn hashes_hub_and_tarball_declarations_as_dbt_does() {
        // dbt-core 1.11.16's `_create_sha1_hash` of the same declarations.
        let s = specs(
            "packages:\n  - package: acme/base_hub\n    version: 0.5.0\n  - package: acme/helpers_hub\n    version: [\">=1.0.0\", \"<2.0.0\"]\n    install_prerelease: true\n  - tarball: https://example.com/tb.tar.gz\n    name: tb\n",
        );
        assert_eq!(sha1_hash(&s), "0a437fc8be5c564f0708aed78ac9870340ec15e9");
    }

    #[test]
    fn hashes_declarations_as_dbt_does() {
        // The hash dbt-core 1.11.16 wrote for this packages.yml (`dbt deps`).
        let s = specs("packages:\n  - local: ../pkga\n  - git: \"file:///tmp/dpt/pkgb\"\n    revision: v1.0\n");
        assert_eq!(sha1_hash(&s), "c789d67bdde12f4eb254a06028092b6548288289");
        assert_eq!(
            python_json(&s[1].dbt_dict()),
            r#"{"git": "file:///tmp/dpt/pkgb", "revision": "v1.0", "subdirectory": null, "unrendered": {"git": "file:///tmp/dpt/pkgb", "revision": "v1.0"}, "warn-unpinned": null}"#
        );
        let hub = specs("packages:\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n");
        assert_eq!(
            python_json(&hub[0].dbt_dict()),
            r#"{"install_prerelease": false, "package": "dbt-labs/dbt_utils", "unrendered": {"package": "dbt-labs/dbt_utils", "version": [">=1.0.0", "<2.0.0"]}, "version": [">=1.0.0", "<2.0.0"]}"#
        );
        assert_eq!(python_string("é\u{1F600}"), r#""\u00e9\ud83d\ude00""#);
    }

    #[test]
    fn bad_declarations_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("packages.yml"), "packages:\n  - git: x\n    revison: v1\n").unwrap();
        let e = read_specs(dir.path(), &Vars::default()).unwrap_err().to_string();
        assert!(e.contains("unknown key `revison` in a `git` package") && e.contains("packages.yml:3"), "{e}");
        assert!(e.contains("did you mean `revision`"), "{e}");
    }

    #[test]
    fn locks_read_back_what_they_write() {
        let lock = Lock {
            packages: vec![
                Locked { pinned: Pinned::Local { path: "../pkga".into() }, name: "pkg_a".into() },
                Locked {
                    pinned: Pinned::Git { url: "https://x/y.git".into(), commit: "0".repeat(40), subdirectory: Some("sub dir".into()) },
                    name: "pkg_b".into(),
                },
            ],
            sha1_hash: "abc".into(),
        };
        let text = lock.to_yaml();
        assert!(text.starts_with("packages:\n  - local: ../pkga\n    name: pkg_a\n  - git: https://x/y.git\n"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), &text).unwrap();
        assert_eq!(Lock::read(dir.path()).unwrap(), Some(lock));
    }
}
