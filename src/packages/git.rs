//! Git repositories as dbt's `deps` reads them, through the `git` command (as dbt does):
//! a shallow clone, the revision fetched and checked out (a tag before a branch of the same
//! name; a 40-hex revision is a commit), and the commit it resolved to.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::PackageError;

/// Whether `revision` names a commit (dbt's rule: 40 hex digits).
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Clones `url` into `dir` (which must not exist) and checks out `revision` (`HEAD`: the
/// default branch). With `subdirectory`, only that folder is checked out. Returns the
/// commit checked out.
pub fn checkout(url: &str, dir: &Path, revision: &str, subdirectory: Option<&str>) -> Result<String, PackageError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut clone: Vec<&str> = vec!["clone", "--quiet", "--depth", "1"];
    if subdirectory.is_some() {
        clone.extend(["--filter=blob:none", "--sparse"]);
    }
    if revision != "HEAD" && !is_commit(revision) {
        clone.extend(["--branch", revision]);
    }
    clone.extend([url, &name]);
    run(parent, &clone, url, revision)?;
    if let Some(sub) = subdirectory {
        run(dir, &["sparse-checkout", "set", sub], url, revision)?;
    }
    if is_commit(revision) {
        // A shallow clone holds only the tip: fetch the commit itself.
        run(dir, &["fetch", "--quiet", "origin", "--depth", "1", revision], url, revision)?;
        run(dir, &["reset", "--quiet", "--hard", revision], url, revision)?;
    }
    current_commit(dir, url, revision)
}

/// The commit checked out in `dir`.
fn current_commit(dir: &Path, url: &str, revision: &str) -> Result<String, PackageError> {
    Ok(run(dir, &["rev-parse", "HEAD"], url, revision)?.trim().to_owned())
}

/// Runs `git args` in `cwd`; a failure names the repository, the revision and what git
/// said.
fn run(cwd: &Path, args: &[&str], url: &str, revision: &str) -> Result<String, PackageError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C")
        // Never wait for a password on the terminal: a private repository fails instead.
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| PackageError::Git {
            url: url.to_owned(),
            revision: revision.to_owned(),
            message: format!("cannot run `git` ({e}); install git to use git packages"),
        })?;
    if !out.status.success() {
        return Err(PackageError::Git {
            url: url.to_owned(),
            revision: revision.to_owned(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The folder of a checkout that holds the package: the checkout, or its subdirectory.
pub fn package_dir(checkout: &Path, subdirectory: Option<&str>) -> PathBuf {
    match subdirectory {
        Some(sub) => checkout.join(sub),
        None => checkout.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_forty_lower_hex_digits() {
        assert!(is_commit("471516ed99dfc3c98cf56b7c8bc76227ce7bdb0c"));
        assert!(!is_commit("v1.0"));
        assert!(!is_commit("471516ED99DFC3C98CF56B7C8BC76227CE7BDB0C"));
        assert!(!is_commit("471516ed"));
    }
}
