//! `silt deps`: the packages of `packages.yml` (or `dependencies.yml`) resolved, locked in
//! `package-lock.yml` and installed, as `dbt deps` does. No profile is read.

use std::path::{Path, PathBuf};

use super::CommandError;
use crate::packages::{self, Lock, Locked, PackageError, Pinned};
use crate::settings::{LoadOptions, PackagesSettings};

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project: LoadOptions,
    /// Resolve again even when the lock matches the declarations (`--upgrade`).
    pub upgrade: bool,
    /// Only resolve and write the lock; install nothing (`--lock`).
    pub lock_only: bool,
}

/// What `deps` did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file the packages are declared in; `None` when the project declares none.
    pub declared_in: Option<&'static str>,
    /// `package-lock.yml`, when it was written anew.
    pub lock_written: Option<PathBuf>,
    /// The packages installed (none with `--lock`), in the lock's order.
    pub installed: Vec<Locked>,
    /// For each Hub package installed, the newest compatible release on the Hub.
    pub latest: std::collections::HashMap<String, String>,
}

/// `silt deps`.
pub fn deps(opts: &Options) -> Result<Report, CommandError> {
    let settings = PackagesSettings::load(&opts.project)?;
    let (specs, declared_in) = packages::read_specs(&settings.root, &settings.vars).map_err(package_error)?;
    let downloads = Downloads::new()?;
    let mut remote = packages::remote::Remote::new();
    let mut lock_written = None;
    let lock = match Lock::read(&settings.root).map_err(package_error)? {
        Some(lock) if !opts.upgrade && lock.sha1_hash == packages::sha1_hash(&specs) => lock,
        _ if specs.is_empty() => Lock {
            packages: Vec::new(),
            sha1_hash: String::new(),
        },
        _ => {
            let lock = Lock {
                packages: packages::resolve(&settings, &specs, &downloads.0, &mut remote).map_err(package_error)?,
                sha1_hash: packages::sha1_hash(&specs),
            };
            let path = std::path::absolute(settings.root.join(packages::LOCK_FILE))
                .unwrap_or_else(|_| settings.root.join(packages::LOCK_FILE));
            std::fs::write(&path, lock.to_yaml()).map_err(|source| CommandError::Write {
                what: format!("`{}`", path.display()),
                source,
            })?;
            lock_written = Some(path);
            lock
        }
    };
    if opts.lock_only {
        return Ok(Report {
            declared_in,
            lock_written,
            installed: Vec::new(),
            latest: Default::default(),
        });
    }
    packages::install(&settings, &lock, &downloads.0, &mut remote).map_err(package_error)?;
    let mut latest = std::collections::HashMap::new();
    for p in &lock.packages {
        if let Pinned::Hub { package, .. } = &p.pinned
            && let Some(v) = remote.latest(package).map_err(package_error)?
        {
            latest.insert(package.clone(), v);
        }
    }
    Ok(Report {
        declared_in,
        lock_written,
        installed: lock.packages,
        latest,
    })
}

/// A package problem: the project's (exit 1), or the machine's when a file cannot be used.
fn package_error(e: PackageError) -> CommandError {
    match e {
        PackageError::Invalid(d) => CommandError::Project(d),
        PackageError::Io { path, source } => CommandError::Write {
            what: format!("`{}`", path.display()),
            source,
        },
        other => CommandError::Failed(other.to_string()),
    }
}

/// A scratch folder for checkouts, removed when `deps` ends.
struct Downloads(PathBuf);

impl Downloads {
    fn new() -> Result<Downloads, CommandError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("silt-deps-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| CommandError::Write {
            what: format!("`{}`", dir.display()),
            source,
        })?;
        Ok(Downloads(dir))
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
