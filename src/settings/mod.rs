//! Project and profile settings: `project.yml` (or `dbt_project.yml`) and `profiles.yml`,
//! read into raw YAML, checked against dbt's key lists, rendered, and resolved once into
//! [`Settings`] that later stages read without caring where a value came from.

pub mod kafka;
pub mod schema;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Diagnostics, Span, did_you_mean};
use crate::template::{Vars, render_settings_value};
use crate::yaml::{Node, NodeId, Yaml, YamlDoc};

pub use schema::ConfigPath;

/// What the command line says about where and how to load a project.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub project_dir: PathBuf,
    pub profiles_dir: Option<PathBuf>,
    pub target: Option<String>,
    /// `--vars`, as YAML or JSON text.
    pub vars: Option<String>,
    pub threads: Option<usize>,
}

/// Everything resolved from the project and profile files.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project's root folder.
    pub root: PathBuf,
    pub project: ProjectSettings,
    /// The packages installed under `packages-install-path`, in name order.
    pub packages: Vec<ProjectSettings>,
    pub target: Target,
    pub vars: Vars,
    /// Findings that do not stop loading: warnings, and errors (such as unknown keys) that
    /// the project loader reports together with its own.
    pub warnings: Vec<Diagnostic>,
}

/// The resolved project file.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    /// `project.yml` or `dbt_project.yml`.
    pub file_name: String,
    pub doc: YamlDoc,
    pub name: String,
    pub version: Option<String>,
    pub profile: String,
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub docs_paths: Option<Vec<String>>,
    pub target_path: String,
    /// Where `silt deps` installs packages (`packages-install-path`, default `dbt_packages`).
    pub packages_install_path: String,
    pub clean_targets: Vec<String>,
    /// Config trees by resource kind (`models`, `seeds`, `data_tests`, `sources`...), with
    /// their Jinja rendered.
    pub config_trees: Vec<(String, Node)>,
    /// The folder/resource keys of the config trees, checked against the project's files.
    pub config_paths: Vec<ConfigPath>,
    /// `dispatch:`: for a macro namespace, the packages `adapter.dispatch` searches in order.
    pub dispatch: Vec<(String, Vec<String>)>,
    /// `on-run-start` and `on-run-end`: SQL templates run before and after `run`, `seed`,
    /// `test` and `build`, rendered when they run.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// The project's folder, relative to the root project: empty for the root project,
    /// `dbt_packages/<name>` for an installed package.
    pub dir: String,
}

/// The profile target a command runs against.
#[derive(Debug, Clone)]
pub struct Target {
    pub profile_name: String,
    pub name: String,
    /// Always `datafusion`.
    pub kind: String,
    /// The warehouse as written (a folder or URL).
    pub warehouse: String,
    /// The warehouse as a local folder, resolved against the project root.
    pub warehouse_path: PathBuf,
    pub schema: String,
    pub database: String,
    pub threads: usize,
    /// The profiles file this came from, for `silt debug`.
    pub profiles_file: PathBuf,
    /// `target` as templates see it.
    pub jinja: Json,
    /// The target's `kafka:` section, for Kafka-fed sources.
    pub kafka: Option<kafka::KafkaSettings>,
}

const PROJECT_FILES: [&str; 2] = ["project.yml", "dbt_project.yml"];

impl Settings {
    /// Loads and resolves the project and profile. Every problem found is returned.
    pub fn load(opts: &LoadOptions) -> Result<Settings, Diagnostics> {
        let ProjectFile {
            root,
            file_name,
            doc,
            raw,
            vars,
            key_diags,
            config_paths,
            mut diags,
        } = ProjectFile::read(opts)?;
        let target = match load_target(&root, opts, &raw.profile, &vars) {
            Ok(t) => Some(t),
            Err(d) => {
                diags.extend(d);
                None
            }
        };
        if diags.has_errors() {
            return Err(diags);
        }
        let target = target.expect("errors returned above");
        let mut vars = vars;
        let packages = load_packages(&root, &raw, &mut vars, &target.jinja, &mut diags);
        // Config trees can use `target` and vars; render them now that both are known.
        let config_trees = render_trees(&doc, &vars, &target.jinja, &mut diags);
        if diags.has_errors() {
            return Err(diags);
        }
        let project = ProjectSettings::of(file_name, doc, raw, config_trees, config_paths, String::new());
        Ok(Settings {
            root,
            project,
            packages,
            target,
            vars,
            warnings: diags
                .0
                .into_iter()
                .chain(key_diags)
                .collect(),
        })
    }

    /// The folder artifacts go to (`target/` by default).
    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.project.target_path)
    }

    /// The root project, then each installed package.
    pub fn projects(&self) -> impl Iterator<Item = &ProjectSettings> {
        std::iter::once(&self.project).chain(&self.packages)
    }

    /// The project (the root, or an installed package) named `name`.
    pub fn project_named(&self, name: &str) -> Option<&ProjectSettings> {
        self.projects().find(|p| p.name == name)
    }

    /// A path relative to the root project, made relative to its own `package`'s folder
    /// (dbt's `original_file_path`): `dbt_packages/marts/models/a.sql` is `models/a.sql`.
    pub fn package_relative<'a>(&self, package: &str, path: &'a str) -> &'a str {
        match self.project_named(package) {
            Some(p) if p.is_package() => path
                .strip_prefix(p.dir.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(path),
            _ => path,
        }
    }
}

impl ProjectSettings {
    fn of(
        file_name: &str,
        doc: YamlDoc,
        raw: RawProject,
        config_trees: Vec<(String, Node)>,
        config_paths: Vec<ConfigPath>,
        dir: String,
    ) -> ProjectSettings {
        ProjectSettings {
            file_name: file_name.to_owned(),
            name: raw.name,
            version: raw.version,
            profile: raw.profile,
            model_paths: raw.model_paths,
            seed_paths: raw.seed_paths,
            macro_paths: raw.macro_paths,
            test_paths: raw.test_paths,
            analysis_paths: raw.analysis_paths,
            snapshot_paths: raw.snapshot_paths,
            docs_paths: raw.docs_paths,
            target_path: raw.target_path,
            packages_install_path: raw.packages_install_path,
            clean_targets: raw.clean_targets,
            dispatch: raw.dispatch,
            on_run_start: raw.on_run_start,
            on_run_end: raw.on_run_end,
            config_trees,
            config_paths,
            doc,
            dir,
        }
    }

    /// Whether this is an installed package (not the root project).
    pub fn is_package(&self) -> bool {
        !self.dir.is_empty()
    }
}

/// The config trees of a project file, with their Jinja rendered.
fn render_trees(doc: &YamlDoc, vars: &Vars, target: &Json, diags: &mut Diagnostics) -> Vec<(String, Node)> {
    let mut trees = Vec::new();
    for entry in doc.root.as_map().unwrap_or(&[]) {
        if is_config_tree(&entry.key) && !entry.value.is_null() {
            let mut tree = entry.value.clone();
            render_tree(doc, &mut tree, vars, Some(target), diags);
            trees.push((tree_kind(&entry.key).to_owned(), tree));
        }
    }
    trees
}

/// The packages installed under the root project's `packages-install-path`, each read as a
/// project (its own vars go into `vars.packages`). A package `package-lock.yml` names, or
/// more declared packages than are installed, is an error asking for `silt deps`.
fn load_packages(
    root: &Path,
    raw: &RawProject,
    vars: &mut Vars,
    target: &Json,
    diags: &mut Diagnostics,
) -> Vec<ProjectSettings> {
    let install = root.join(&raw.packages_install_path);
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(&install)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .filter(|(_, p)| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let mut packages = Vec::new();
    for (folder, path) in dirs {
        let Some(file_name) = PROJECT_FILES.iter().find(|f| path.join(f).is_file()) else {
            continue;
        };
        let dir = format!("{}/{folder}", raw.packages_install_path.trim_end_matches('/'));
        let shown = format!("{dir}/{file_name}");
        let doc = match std::fs::read_to_string(path.join(file_name)) {
            Ok(text) => match YamlDoc::parse(shown.clone(), text) {
                Ok(doc) => doc,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            },
            Err(e) => {
                diags.push(Diagnostic::error(format!("cannot read `{shown}`: {e}")));
                continue;
            }
        };
        // A package's files are not the user's to fix: its unknown keys are not reported.
        let config_paths = schema::check_project_file(&doc, &mut Vec::new());
        let Some(package) = RawProject::read(&doc, vars, diags) else { continue };
        if let Some(Json::Object(own)) = package.vars.clone() {
            vars.packages.insert(package.name.clone(), own);
        }
        let trees = render_trees(&doc, vars, target, diags);
        packages.push(ProjectSettings::of(file_name, doc, package, trees, config_paths, dir));
    }
    check_installed(root, raw, &packages, vars, diags);
    packages
}

/// Every package the project declares must be installed.
fn check_installed(root: &Path, raw: &RawProject, packages: &[ProjectSettings], vars: &Vars, diags: &mut Diagnostics) {
    let installed: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let run_deps = "run `silt deps` to install the project's packages";
    match crate::packages::Lock::read(root) {
        Ok(Some(lock)) => {
            for p in &lock.packages {
                if !installed.contains(&p.name.as_str()) {
                    diags.push(
                        Diagnostic::error(format!(
                            "package `{}` ({}) is not installed in `{}`",
                            p.name,
                            p.pinned.key(),
                            raw.packages_install_path
                        ))
                        .with_span(Span::file(crate::packages::LOCK_FILE))
                        .with_help(run_deps),
                    );
                }
            }
        }
        // Without a lock, declared packages are counted, as dbt does.
        _ => {
            let declared = crate::packages::read_specs(root, vars).map(|(s, f)| (s.len(), f));
            if let Ok((n, Some(file))) = declared
                && n > installed.len()
            {
                diags.push(
                    Diagnostic::error(format!(
                        "{file} declares {}, but {} installed in `{}`",
                        plural(n, "package"),
                        match installed.len() {
                            0 => "none is".to_owned(),
                            1 => "1 is".to_owned(),
                            k => format!("{k} are"),
                        },
                        raw.packages_install_path
                    ))
                    .with_span(Span::file(file))
                    .with_help(run_deps),
                );
            }
        }
    }
}

/// The project file read (with `--vars`): what loading needs before the profile.
struct ProjectFile {
    root: PathBuf,
    file_name: &'static str,
    doc: YamlDoc,
    raw: RawProject,
    vars: Vars,
    /// Unknown keys: they do not stop loading (the project loader reports them with the
    /// rest it finds).
    key_diags: Vec<Diagnostic>,
    config_paths: Vec<ConfigPath>,
    diags: Diagnostics,
}

impl ProjectFile {
    fn read(opts: &LoadOptions) -> Result<ProjectFile, Diagnostics> {
        let root = opts.project_dir.clone();
        let mut diags = Diagnostics::new();
        let mut vars = Vars::default();
        if let Some(text) = &opts.vars {
            match crate::yaml::parse_inline(text) {
                Ok(Json::Object(map)) => vars.cli = map,
                Ok(Json::Null) => {}
                Ok(other) => {
                    return Err(Diagnostic::error(format!(
                        "`--vars` must be a mapping, not `{other}`"
                    ))
                    .with_help("for example --vars '{start_date: 2024-01-01, limit: 10}'")
                    .into());
                }
                Err(e) => {
                    return Err(Diagnostic::error(format!(
                        "`--vars` is neither YAML nor JSON: {e}"
                    ))
                    .into());
                }
            }
        }
        let Some(file_name) = PROJECT_FILES.iter().find(|f| root.join(f).is_file()) else {
            return Err(Diagnostic::error(format!(
                "no `project.yml` or `dbt_project.yml` in `{}`",
                root.display()
            ))
            .with_help("run silt from a project folder or pass --project-dir")
            .into());
        };
        let doc = read_yaml(&root, file_name)?;
        // Unknown keys do not stop loading: the project loader reports them with everything
        // else it finds (such as config paths that match no folder).
        let mut key_diags = Vec::new();
        let config_paths = schema::check_project_file(&doc, &mut key_diags);
        let raw = RawProject::read(&doc, &vars, &mut diags);
        let Some(raw) = raw else {
            return Err(diags);
        };
        if let Some(Json::Object(project_vars)) = raw.vars.clone() {
            vars.project = project_vars;
        }
        Ok(ProjectFile {
            root,
            file_name,
            doc,
            raw,
            vars,
            key_diags,
            config_paths,
            diags,
        })
    }
}

/// What `silt deps` needs of the project, read without a profile.
#[derive(Debug, Clone)]
pub struct PackagesSettings {
    pub root: PathBuf,
    /// The root project's name (a package may not have it).
    pub project_name: String,
    /// Where packages are installed (`packages-install-path`), under the root.
    pub install_path: PathBuf,
    /// `--vars` and the project's vars, for rendering `packages.yml`.
    pub vars: Vars,
}

impl PackagesSettings {
    pub fn load(opts: &LoadOptions) -> Result<PackagesSettings, Diagnostics> {
        let file = ProjectFile::read(opts)?;
        if file.diags.has_errors() {
            return Err(file.diags);
        }
        Ok(PackagesSettings {
            install_path: file.root.join(&file.raw.packages_install_path),
            project_name: file.raw.name,
            root: file.root,
            vars: file.vars,
        })
    }
}

fn is_config_tree(key: &str) -> bool {
    matches!(
        key,
        "models"
            | "seeds"
            | "data_tests"
            | "tests"
            | "sources"
            | "snapshots"
            | "analyses"
            | "unit_tests"
            | "exposures"
            | "metrics"
            | "semantic-models"
            | "saved-queries"
            | "functions"
    )
}

/// `tests:` is the older name of the `data_tests:` tree.
fn tree_kind(key: &str) -> &str {
    if key == "tests" { "data_tests" } else { key }
}

fn read_yaml(root: &Path, name: &str) -> Result<YamlDoc, Diagnostics> {
    let path = root.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Diagnostic::error(format!("cannot read `{}`: {e}", path.display()))
            .with_span(Span::file(name))
    })?;
    YamlDoc::parse(name, text).map_err(Diagnostics::from)
}

/// Renders Jinja in every string of a YAML tree, except hooks, which run later.
fn render_tree(
    doc: &YamlDoc,
    node: &mut Node,
    vars: &Vars,
    target: Option<&Json>,
    diags: &mut Diagnostics,
) {
    let mut errors = Vec::new();
    let _ = node.map_strings(&mut |s, id| -> Result<Option<String>, ()> {
        let templated = s.contains("{{") || s.contains("{%");
        if !templated || is_hook_path(doc, id) {
            return Ok(None);
        }
        match render_settings_value(&doc.file, s, vars, target) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                errors.push(Diagnostic::error(e.message).with_span(doc.span(id)));
                Ok(None)
            }
        }
    });
    diags.extend(errors);
}

fn is_hook_path(doc: &YamlDoc, id: NodeId) -> bool {
    let path = doc.path_string(id);
    path.contains("pre-hook")
        || path.contains("post-hook")
        || path.contains("pre_hook")
        || path.contains("post_hook")
}

/// The project file's keys that Silt acts on, typed.
struct RawProject {
    name: String,
    version: Option<String>,
    profile: String,
    model_paths: Vec<String>,
    seed_paths: Vec<String>,
    macro_paths: Vec<String>,
    test_paths: Vec<String>,
    analysis_paths: Vec<String>,
    snapshot_paths: Vec<String>,
    docs_paths: Option<Vec<String>>,
    target_path: String,
    packages_install_path: String,
    clean_targets: Vec<String>,
    vars: Option<Json>,
    dispatch: Vec<(String, Vec<String>)>,
    on_run_start: Vec<String>,
    on_run_end: Vec<String>,
}

impl RawProject {
    fn read(doc: &YamlDoc, vars: &Vars, diags: &mut Diagnostics) -> Option<RawProject> {
        let root = &doc.root;
        if root.as_map().is_none() {
            diags.push(
                Diagnostic::error("the project file must be a mapping of keys")
                    .with_span(Span::file(&doc.file)),
            );
            return None;
        }
        let mut string = |key: &str| -> Option<String> {
            let node = root.get(key)?;
            match node.scalar_text() {
                Some(s) => match render_settings_value(&doc.file, &s, vars, None) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        diags.push(Diagnostic::error(e.message).with_span(doc.span(node.id)));
                        None
                    }
                },
                None if node.is_null() => None,
                None => {
                    diags.push(
                        Diagnostic::error(format!("`{key}` must be a string, not {}", node.kind()))
                            .with_span(doc.span(node.id)),
                    );
                    None
                }
            }
        };
        let name = string("name");
        let version = string("version");
        let profile = string("profile");
        let target_path = string("target-path").unwrap_or_else(|| "target".to_owned());
        let packages_install_path = string("packages-install-path").unwrap_or_else(|| "dbt_packages".to_owned());
        if let Some(cv) = root.get("config-version")
            && cv.as_i64() != Some(2) {
                diags.push(
                    Diagnostic::error("only `config-version: 2` is supported")
                        .with_span(doc.span(cv.id)),
                );
            }
        let mut list = |key: &str, default: &[&str]| -> Vec<String> {
            match root.get(key) {
                None => default.iter().map(|s| s.to_string()).collect(),
                Some(node) => match string_list(doc, node) {
                    Ok(v) => v,
                    Err(d) => {
                        diags.push(d);
                        Vec::new()
                    }
                },
            }
        };
        let model_paths = list("model-paths", &["models"]);
        let seed_paths = list("seed-paths", &["seeds"]);
        let macro_paths = list("macro-paths", &["macros"]);
        let test_paths = list("test-paths", &["tests"]);
        // dbt 1.x reads `analyses/` unless told otherwise.
        let analysis_paths = list("analysis-paths", &["analyses"]);
        let snapshot_paths = list("snapshot-paths", &["snapshots"]);
        let clean_targets = list("clean-targets", &[]);
        let on_run_start = list("on-run-start", &[]);
        let on_run_end = list("on-run-end", &[]);
        let docs_paths = root.get("docs-paths").map(|_| list("docs-paths", &[]));
        for (old, new) in [
            ("source-paths", "model-paths"),
            ("data-paths", "seed-paths"),
        ] {
            if let Some(e) = root.entry(old) {
                diags.push(
                    Diagnostic::error(format!("`{old}` was renamed `{new}` in dbt 1.0"))
                        .with_span(doc.span(e.key_id)),
                );
            }
        }
        let name = match name {
            Some(n) if is_identifier(&n) => n,
            Some(n) => {
                let span = root.get("name").map(|n| doc.span(n.id));
                diags.push(
                    Diagnostic::error(format!("project name `{n}` must be letters, digits and underscores, not starting with a digit"))
                        .with_span_opt(span),
                );
                return None;
            }
            None => {
                diags.push(
                    Diagnostic::error("the project file has no `name`")
                        .with_span(Span::file(&doc.file)),
                );
                return None;
            }
        };
        let profile = profile.unwrap_or_else(|| name.clone());
        let mut dispatch = Vec::new();
        for entry in root.get("dispatch").and_then(Node::as_seq).unwrap_or(&[]) {
            let namespace = entry.get("macro_namespace").and_then(Node::scalar_text);
            let order = entry.get("search_order").map(|o| string_list(doc, o));
            match (namespace, order) {
                (Some(ns), Some(Ok(order))) => dispatch.push((ns, order)),
                (_, Some(Err(d))) => diags.push(d),
                _ => diags.push(
                    Diagnostic::error("a `dispatch` entry needs `macro_namespace` and `search_order`")
                        .with_span(doc.span(entry.id)),
                ),
            }
        }
        Some(RawProject {
            dispatch,
            on_run_start,
            on_run_end,
            vars: root.get("vars").map(Node::to_json),
            name,
            version,
            profile,
            model_paths,
            seed_paths,
            macro_paths,
            test_paths,
            analysis_paths,
            snapshot_paths,
            docs_paths,
            target_path,
            packages_install_path,
            clean_targets,
        })
    }
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A string or list of strings.
pub fn string_list(doc: &YamlDoc, node: &Node) -> Result<Vec<String>, Diagnostic> {
    match &node.value {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Seq(items) => items
            .iter()
            .map(|i| {
                i.scalar_text().ok_or_else(|| {
                    Diagnostic::error(format!("expected a string, found {}", i.kind()))
                        .with_span(doc.span(i.id))
                })
            })
            .collect(),
        _ => node.scalar_text().map(|s| vec![s]).ok_or_else(|| {
            Diagnostic::error(format!("expected a list of strings, found {}", node.kind()))
                .with_span(doc.span(node.id))
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Profiles.

const TARGET_KEYS: &[&str] = &["type", "warehouse", "schema", "threads", "database", "kafka"];

fn profiles_dirs(root: &Path, opts: &LoadOptions) -> Vec<PathBuf> {
    if let Some(dir) = &opts.profiles_dir {
        return vec![dir.clone()];
    }
    let mut dirs = vec![root.to_path_buf()];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".silt"));
    }
    dirs
}

/// The profile's target for this project: the `profiles.yml` found, its profile and
/// target chosen, rendered (`env_var`) and checked.
fn load_target(
    root: &Path,
    opts: &LoadOptions,
    profile_name: &str,
    vars: &Vars,
) -> Result<Target, Vec<Diagnostic>> {
    let (path, display) = find_profiles(root, opts, profile_name)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| vec![Diagnostic::error(format!("cannot read `{display}`: {e}"))])?;
    let doc = YamlDoc::parse(display.clone(), text).map_err(|d| vec![d])?;
    let mut diags = Vec::new();
    let profile = profile_of(&doc, profile_name, &mut diags)?;
    let (target_name, output) = output_of(&doc, profile, profile_name, opts, vars)?;
    let mut rendered = output.clone();
    let mut render_diags = Diagnostics::new();
    render_tree(&doc, &mut rendered, vars, None, &mut render_diags);
    diags.extend(render_diags);
    for e in rendered.as_map().unwrap_or(&[]) {
        if !TARGET_KEYS.contains(&e.key.as_str()) {
            diags.push(
                Diagnostic::error(format!("unknown key `{}` in target `{target_name}`", e.key))
                    .with_span(doc.span(e.key_id))
                    .with_suggestion(&e.key, TARGET_KEYS.iter().copied()),
            );
        }
    }
    let out = Output {
        doc: &doc,
        node: output,
        rendered: &rendered,
        name: &target_name,
    };
    let kind = out.kind(&mut diags);
    let warehouse = out.warehouse(&mut diags);
    let schema = out.schema(&mut diags);
    let threads = out.threads(opts.threads, &mut diags);
    let mut kafka_diags = Diagnostics::new();
    let kafka = rendered.get("kafka").and_then(|k| kafka::read(&doc, k, &mut kafka_diags));
    diags.extend(kafka_diags.0);
    if !diags.is_empty() {
        return Err(diags);
    }
    let local = warehouse.strip_prefix("file://").unwrap_or(&warehouse);
    let warehouse_path = if Path::new(local).is_absolute() {
        PathBuf::from(local)
    } else {
        root.join(local)
    };
    let database = out.get("database").unwrap_or_else(|| "silt".to_owned());
    // What templates see as `target`: the output's keys, resolved ones overriding.
    let mut jinja = rendered.to_json();
    if let Json::Object(map) = &mut jinja {
        map.insert("name".into(), Json::String(target_name.clone()));
        map.insert("target_name".into(), Json::String(target_name.clone()));
        map.insert("profile_name".into(), Json::String(profile_name.to_owned()));
        map.insert("type".into(), Json::String(kind.clone()));
        map.insert("schema".into(), Json::String(schema.clone()));
        map.insert("threads".into(), Json::from(threads));
        map.insert("database".into(), Json::String(database.clone()));
        map.insert("warehouse".into(), Json::String(warehouse.clone()));
    }
    Ok(Target {
        profile_name: profile_name.to_owned(),
        name: target_name,
        kind,
        warehouse,
        warehouse_path,
        schema,
        database,
        threads,
        profiles_file: path,
        jinja,
        kafka,
    })
}

/// The first `profiles.yml` of the folders searched, and how messages name it.
fn find_profiles(root: &Path, opts: &LoadOptions, profile_name: &str) -> Result<(PathBuf, String), Vec<Diagnostic>> {
    let dirs = profiles_dirs(root, opts);
    let Some(path) = dirs.iter().map(|d| d.join("profiles.yml")).find(|p| p.is_file()) else {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let looked: Vec<String> = dirs
            .iter()
            .map(|d| {
                if d == root {
                    "the project folder".to_owned()
                } else if let Some(rest) = home.as_ref().and_then(|h| d.strip_prefix(h).ok()) {
                    format!("~/{}", rest.display())
                } else {
                    d.display().to_string()
                }
            })
            .collect();
        return Err(vec![
            Diagnostic::error("no `profiles.yml` found")
                .with_note(format!("looked in: {}", looked.join(", ")))
                .with_help(format!(
                    "create one with a `{profile_name}` profile, for example:\n{profile_name}:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      warehouse: warehouse\n      schema: main"
                )),
        ]);
    };
    let display = if path.starts_with(root) {
        crate::diagnostic::display_path(root, &path)
    } else {
        path.display().to_string()
    };
    Ok((path, display))
}

/// The project's profile in the file; its keys other than `target` and `outputs` are
/// reported in `diags`.
fn profile_of<'a>(doc: &'a YamlDoc, profile_name: &str, diags: &mut Vec<Diagnostic>) -> Result<&'a Node, Vec<Diagnostic>> {
    let display = &doc.file;
    let names: Vec<&str> = doc
        .root
        .as_map()
        .unwrap_or(&[])
        .iter()
        .map(|e| e.key.as_str())
        .filter(|k| *k != "config")
        .collect();
    let Some(profile) = doc.root.get(profile_name) else {
        let mut d = Diagnostic::error(format!("profile `{profile_name}` not found in `{display}`"))
            .with_span(Span::file(display.clone()));
        if let Some(s) = did_you_mean(profile_name, names.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`? (the project file's `profile:` names it)"));
        } else if !names.is_empty() {
            d = d.with_note(format!("profiles in that file: {}", names.join(", ")));
        }
        return Err(vec![d]);
    };
    for e in profile.as_map().unwrap_or(&[]) {
        if e.key != "target" && e.key != "outputs" {
            diags.push(
                Diagnostic::error(format!("unknown key `{}` in profile `{profile_name}`", e.key))
                    .with_span(doc.span(e.key_id))
                    .with_suggestion(&e.key, ["target", "outputs"]),
            );
        }
    }
    Ok(profile)
}

/// The target to use (`--target`, else the profile's `target`, else `default`) and its
/// output.
fn output_of<'a>(
    doc: &'a YamlDoc,
    profile: &'a Node,
    profile_name: &str,
    opts: &LoadOptions,
    vars: &Vars,
) -> Result<(String, &'a Node), Vec<Diagnostic>> {
    let display = &doc.file;
    let default_target = profile.get("target").and_then(Node::scalar_text);
    let target_name = match (&opts.target, default_target) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => {
            render_settings_value(display, &t, vars, None).map_err(|e| vec![Diagnostic::error(e.message)])?
        }
        (None, None) => "default".to_owned(),
    };
    let outputs = profile.get("outputs");
    let Some(output) = outputs.and_then(|o| o.get(&target_name)) else {
        let output_names: Vec<&str> =
            outputs.and_then(Node::as_map).unwrap_or(&[]).iter().map(|e| e.key.as_str()).collect();
        let mut d = Diagnostic::error(format!("target `{target_name}` not found in profile `{profile_name}`"))
            .with_span(outputs.map_or(Span::file(display.clone()), |o| doc.span(o.id)));
        if let Some(s) = did_you_mean(&target_name, output_names.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_note(format!("targets: {}", output_names.join(", ")));
        }
        return Err(vec![d]);
    };
    Ok((target_name, output))
}

/// A target's output, rendered, and what each of its keys resolves to.
struct Output<'a> {
    doc: &'a YamlDoc,
    /// As written (for spans of keys rendering removed).
    node: &'a Node,
    rendered: &'a Node,
    name: &'a str,
}

impl Output<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.rendered.get(key).and_then(Node::scalar_text)
    }

    fn kind(&self, diags: &mut Vec<Diagnostic>) -> String {
        let kind = self.get("type").unwrap_or_default();
        if kind != "datafusion" {
            let span = self
                .rendered
                .get("type")
                .map_or(self.doc.span(self.node.id), |n| self.doc.span(n.id));
            diags.push(
                Diagnostic::error(if kind.is_empty() {
                    format!("target `{}` has no `type`", self.name)
                } else {
                    format!("target type `{kind}` is not supported: Silt runs on DataFusion")
                })
                .with_span(span)
                .with_help("use `type: datafusion` with a `warehouse` folder and a `schema`"),
            );
        }
        kind
    }

    fn warehouse(&self, diags: &mut Vec<Diagnostic>) -> String {
        let warehouse = self.get("warehouse").unwrap_or_else(|| "warehouse".to_owned());
        if warehouse.contains("://") && !warehouse.starts_with("file://") {
            let span = self.rendered.get("warehouse").map(|n| self.doc.span(n.id));
            diags.push(
                Diagnostic::error(format!("warehouse `{warehouse}`: object-store warehouses are not supported yet"))
                    .with_span_opt(span)
                    .with_help("use a local folder for now"),
            );
        }
        warehouse
    }

    fn schema(&self, diags: &mut Vec<Diagnostic>) -> String {
        match self.get("schema") {
            Some(s) if !s.is_empty() => s,
            _ => {
                diags.push(
                    Diagnostic::error(format!("target `{}` has no `schema`", self.name))
                        .with_span(self.doc.span(self.node.id)),
                );
                String::new()
            }
        }
    }

    /// `--threads`, else the target's `threads`, else one per core.
    fn threads(&self, flag: Option<usize>, diags: &mut Vec<Diagnostic>) -> usize {
        match (flag, self.rendered.get("threads")) {
            (Some(t), _) => t,
            (None, Some(n)) => match n.as_i64().or_else(|| n.as_str().and_then(|s| s.parse().ok())) {
                Some(t) if t >= 1 => t as usize,
                _ => {
                    diags.push(
                        Diagnostic::error("`threads` must be a whole number of at least 1").with_span(self.doc.span(n.id)),
                    );
                    1
                }
            },
            (None, None) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// `1 package`, `2 packages`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
