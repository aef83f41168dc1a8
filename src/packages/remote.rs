//! What `deps` fetches over HTTP: dbt Hub's API (package versions and where their
//! tarballs are) and tarballs, unpacked. The one module that uses reqwest, flate2 and tar.
//!
//! As dbt does: the Hub is `https://hub.getdbt.com/` unless `DBT_PACKAGE_HUB_URL` names
//! another (a mirror); each request waits at most 30 seconds and is tried 5 times when the
//! network fails or the server errs, one second apart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::PackageError;
use super::semver::{self, Specifier};

const DEFAULT_HUB: &str = "https://hub.getdbt.com/";
const ATTEMPTS: u32 = 5;

/// The dbt-core version whose packages Silt installs: a Hub version is compatible when its
/// `require_dbt_version` admits it (Silt follows dbt-core 1.11).
pub const DBT_VERSION: &str = "1.11.0";

/// One version of a Hub package, as the Hub describes it.
#[derive(Debug, Clone)]
pub struct HubVersion {
    /// The package's project name (its folder under the install path).
    pub name: String,
    /// What it depends on, as `packages.yml` entries.
    pub packages: Vec<Json>,
    /// Where its code is.
    pub tarball: String,
}

/// A lazily opened HTTP client, the Hub's answers kept for the run.
pub struct Remote {
    hub: String,
    client: Option<(reqwest::Client, tokio::runtime::Runtime)>,
    packages: HashMap<String, Map<String, Json>>,
    index: Option<Vec<String>>,
}

impl Default for Remote {
    fn default() -> Self {
        Self::new()
    }
}

impl Remote {
    pub fn new() -> Remote {
        let hub = std::env::var("DBT_PACKAGE_HUB_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_HUB.to_owned());
        Remote {
            hub,
            client: None,
            packages: HashMap::new(),
            index: None,
        }
    }

    /// The body of `url`.
    pub fn get(&mut self, url: &str) -> Result<Vec<u8>, PackageError> {
        if self.client.is_none() {
            self.client = Some(open_client()?);
        }
        let Some((client, rt)) = &self.client else { unreachable!("opened above") };
        let network = |message: String| PackageError::Network { url: url.to_owned(), message };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = rt.block_on(async {
                let response = client.get(url).send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            });
            let retry = match result {
                Ok((status, body)) if status.is_success() => return Ok(body.to_vec()),
                // The server answered: a missing page stays missing.
                Ok((status, _)) if status.is_client_error() => return Err(network(format!("the server answered {status}"))),
                Ok((status, _)) => format!("the server answered {status}"),
                Err(e) => error_chain(&e),
            };
            if attempt >= ATTEMPTS {
                return Err(network(format!("{retry} (tried {ATTEMPTS} times)")));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn get_json(&mut self, url: &str) -> Result<Json, PackageError> {
        let body = self.get(url)?;
        serde_json::from_slice(&body).map_err(|e| PackageError::Network {
            url: url.to_owned(),
            message: format!("the answer is not JSON: {e}"),
        })
    }

    fn api(&self, name: &str) -> String {
        let base = if self.hub.ends_with('/') { self.hub.clone() } else { format!("{}/", self.hub) };
        format!("{base}api/v1/{name}.json")
    }

    /// Every version the Hub has of `package` (`dbt-labs/dbt_utils`), by version string.
    fn versions(&mut self, package: &str) -> Result<&Map<String, Json>, PackageError> {
        if !self.packages.contains_key(package) {
            self.check_in_index(package)?;
            let url = self.api(package);
            let answer = self.get_json(&url)?;
            let bad = |what: &str| PackageError::Network {
                url: url.clone(),
                message: format!("unexpected answer from the Hub: {what}"),
            };
            let versions = answer
                .get("versions")
                .and_then(Json::as_object)
                .ok_or_else(|| bad("no `versions`"))?
                .clone();
            for (v, info) in &versions {
                let ok = ["name", "packages", "downloads"].iter().all(|k| info.get(k).is_some());
                if !ok {
                    return Err(bad(&format!("version {v} lacks `name`, `packages` or `downloads`")));
                }
            }
            self.packages.insert(package.to_owned(), versions);
        }
        Ok(&self.packages[package])
    }

    fn check_in_index(&mut self, package: &str) -> Result<(), PackageError> {
        if self.index.is_none() {
            let url = self.api("index");
            let names = match self.get_json(&url)? {
                Json::Array(items) => items.into_iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                _ => {
                    return Err(PackageError::Network {
                        url,
                        message: "unexpected answer from the Hub: the index is not a list".into(),
                    });
                }
            };
            self.index = Some(names);
        }
        let index = self.index.as_deref().unwrap_or_default();
        if index.iter().any(|n| n == package) {
            return Ok(());
        }
        let suggestion = crate::diagnostic::did_you_mean(package, index.iter().map(String::as_str));
        Err(PackageError::Unsupported(format!(
            "package `{package}` was not found in the package index ({}){}",
            self.hub,
            suggestion.map(|s| format!(": did you mean `{s}`?")).unwrap_or_default()
        )))
    }

    /// The version of `package` dbt would install for these version specifiers: the
    /// highest installable one in their intersection, among those compatible with
    /// [`DBT_VERSION`].
    pub fn pick(&mut self, package: &str, wanted: &[String], prerelease: bool) -> Result<String, PackageError> {
        let specs: Vec<Specifier> = wanted
            .iter()
            .map(|w| Specifier::parse(w).map_err(|e| PackageError::Unsupported(format!("package `{package}`: {e}"))))
            .collect::<Result<_, _>>()?;
        let range = semver::reduce(&specs).map_err(|e| PackageError::Unsupported(format!("version error for package `{package}`: {e}")))?;
        let versions = self.versions(package)?;
        let compatible: Vec<String> = versions
            .iter()
            .filter(|(_, info)| dbt_compatible(info))
            .map(|(v, _)| v.clone())
            .collect();
        let prerelease = prerelease || specs.iter().any(Specifier::is_prerelease);
        let installable = semver::installable(&compatible, prerelease);
        match semver::resolve(&range, &installable) {
            Some(v) => Ok(v.to_owned()),
            None => Err(PackageError::Unsupported(format!(
                "could not find a matching compatible version for package `{package}`\n  requested range: {range}\n  compatible versions: {}",
                if installable.is_empty() { "none".to_owned() } else { installable.join(", ") }
            ))),
        }
    }

    /// The newest release of `package` compatible with [`DBT_VERSION`], whatever the
    /// declared range: what `deps` says an update is available to.
    pub fn latest(&mut self, package: &str) -> Result<Option<String>, PackageError> {
        let compatible: Vec<String> = self
            .versions(package)?
            .iter()
            .filter(|(_, info)| dbt_compatible(info))
            .map(|(v, _)| v.clone())
            .collect();
        Ok(semver::installable(&compatible, false).pop())
    }

    /// What the Hub says of one version of `package`.
    pub fn version(&mut self, package: &str, version: &str) -> Result<HubVersion, PackageError> {
        let hub = self.hub.clone();
        let info = self.versions(package)?.get(version).cloned().ok_or_else(|| {
            PackageError::Unsupported(format!("the Hub ({hub}) has no version {version} of package `{package}`"))
        })?;
        let text = |v: Option<&Json>| v.and_then(Json::as_str).map(str::to_owned);
        Ok(HubVersion {
            name: text(info.get("name")).unwrap_or_default(),
            packages: info.get("packages").and_then(Json::as_array).cloned().unwrap_or_default(),
            tarball: text(info.get("downloads").and_then(|d| d.get("tarball"))).ok_or_else(|| PackageError::Network {
                url: self.api(package),
                message: format!("version {version} has no `downloads.tarball`"),
            })?,
        })
    }
}

/// Whether a Hub version's `require_dbt_version` admits [`DBT_VERSION`].
fn dbt_compatible(info: &Json) -> bool {
    let wanted: Vec<String> = match info.get("require_dbt_version") {
        None | Some(Json::Null) => return true,
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(_) => return true,
    };
    if wanted.is_empty() {
        return true;
    }
    let Ok(specs) = wanted.iter().map(|w| Specifier::parse(w)).collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    semver::compatible(DBT_VERSION, &specs)
}

fn open_client() -> Result<(reqwest::Client, tokio::runtime::Runtime), PackageError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| PackageError::Unsupported(format!("cannot open an HTTP client ({what}): {e}"));
    // reqwest is built without a TLS crypto provider of its own; use the one in the tree.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed("runtime", &e))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("silt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed("client", &e))?;
    Ok((client, rt))
}

/// An error with its causes: reqwest's own message is often just "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// Unpacks a gzipped tarball into `dest` (made empty first); returns its top-level
/// entries. Entries cannot leave `dest`.
pub fn untar(bytes: &[u8], dest: &Path, url: &str) -> Result<Vec<PathBuf>, PackageError> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| PackageError::io(dest, e))?;
    }
    std::fs::create_dir_all(dest).map_err(|e| PackageError::io(dest, e))?;
    let bad = |e: std::io::Error| PackageError::Network {
        url: url.to_owned(),
        message: format!("not a gzipped tarball: {e}"),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        // `pax_global_header` (GitHub's archives have one) is metadata, not a file.
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        entry.unpack_in(dest).map_err(bad)?;
    }
    let mut top: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(|e| PackageError::io(dest, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    top.sort();
    Ok(top)
}
