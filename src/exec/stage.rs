//! Staged writes: a Delta commit prepared in full but not yet visible, so that `silt build`
//! can test a model's new data before publishing it (audit before publish).
//!
//! A Delta table's current version is whatever its `_delta_log` says, and a commit is the
//! single act of creating the next `NNN.json` file there; data files written before it are
//! invisible to every reader. A [`Stage`] runs the ordinary deltalake operations (write,
//! merge, everything a materialization does) against the real table through an object
//! store that keeps new log entries in memory and lets everything else through. The
//! operation's data files land in the table's folder, its commit in the stage. Tests then
//! read the staged version through a provider of the staged table. Publishing writes the
//! staged log entries into `_delta_log` with put-if-absent, exactly as a commit would (a
//! concurrent writer makes it fail, never overwrites); discarding deletes the data files
//! the staged commits added, and the table stays at its previous version, untouched.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::logstore::object_store::local::LocalFileSystem;
use deltalake::logstore::object_store::memory::InMemory;
use deltalake::logstore::object_store::path::Path as StorePath;
use deltalake::logstore::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use super::ExecError;

/// A table whose next commits are held back until [`Stage::publish`].
#[derive(Clone)]
pub struct Stage {
    dir: PathBuf,
    url: url::Url,
    store: Arc<Overlay>,
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stage({})", self.dir.display())
    }
}

impl Stage {
    /// A stage for the table in `dir` (which need not exist yet).
    pub fn new(dir: &Path) -> Result<Stage, ExecError> {
        std::fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
        let url = deltalake::ensure_table_uri(dir.to_string_lossy()).map_err(|e| ExecError::delta(dir, e))?;
        let table_path = url
            .to_file_path()
            .map_err(|()| ExecError::io(dir, std::io::Error::other("not a local path")))?;
        let log_prefix = StorePath::from_absolute_path(table_path.join("_delta_log")).map_err(|e| {
            ExecError::io(dir, std::io::Error::other(e.to_string()))
        })?;
        let table_prefix = StorePath::from_absolute_path(&table_path).map_err(|e| ExecError::io(dir, std::io::Error::other(e.to_string())))?;
        Ok(Stage {
            dir: dir.to_path_buf(),
            url,
            store: Arc::new(Overlay {
                inner: Arc::new(LocalFileSystem::new()),
                staged: InMemory::new(),
                log_prefix,
                table_prefix,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn builder(&self) -> Result<DeltaTableBuilder, ExecError> {
        Ok(DeltaTableBuilder::from_url(self.url.clone())
            .map_err(|e| ExecError::delta(&self.dir, e))?
            .with_storage_backend(self.store.clone(), self.url.clone()))
    }

    /// Whether the table exists, counting staged commits.
    pub async fn exists(&self) -> bool {
        super::storage::exists(&self.dir) || self.has_staged().await
    }

    async fn has_staged(&self) -> bool {
        self.store
            .staged
            .list(None)
            .next()
            .await
            .is_some_and(|r| r.is_ok())
    }

    /// The table at its latest version, staged commits included.
    pub async fn open(&self) -> Result<DeltaTable, ExecError> {
        self.builder()?
            .load()
            .await
            .map_err(|e| ExecError::delta(&self.dir, e))
    }

    /// The table as [`Stage::open`], or an unloaded handle a write will create.
    pub async fn open_or_new(&self) -> Result<DeltaTable, ExecError> {
        if self.exists().await {
            self.open().await
        } else {
            self.builder()?.build().map_err(|e| ExecError::delta(&self.dir, e))
        }
    }

    /// A provider that reads the staged version.
    pub async fn provider(&self) -> Result<Arc<dyn TableProvider>, ExecError> {
        let table = self.open().await?;
        table
            .table_provider()
            .await
            .map_err(|e| ExecError::from(e).on_table(&self.dir))
    }

    /// The staged log entries, in version order.
    async fn staged_entries(&self) -> Result<Vec<(StorePath, Vec<u8>)>, ExecError> {
        let mut metas: Vec<ObjectMeta> = self
            .store
            .staged
            .list(None)
            .try_collect()
            .await
            .map_err(|e| self.io(e))?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let mut out = Vec::new();
        for m in metas {
            let bytes = self
                .store
                .staged
                .get(&m.location)
                .await
                .map_err(|e| self.io(e))?
                .bytes()
                .await
                .map_err(|e| self.io(e))?;
            out.push((m.location, bytes.to_vec()));
        }
        Ok(out)
    }

    fn io(&self, e: object_store::Error) -> ExecError {
        ExecError::io(&self.dir, std::io::Error::other(e.to_string()))
    }

    /// Makes the staged commits the table's current version. Each log entry is created
    /// only if absent: if another writer committed meanwhile, publishing fails and the
    /// staged data is discarded.
    pub async fn publish(&self) -> Result<(), ExecError> {
        let entries = self.staged_entries().await?;
        for (i, (location, bytes)) in entries.iter().enumerate() {
            let put = self
                .store
                .inner
                .put_opts(
                    location,
                    PutPayload::from(bytes.clone()),
                    PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    },
                )
                .await;
            if let Err(e) = put {
                if i == 0 {
                    // Nothing was published: the staged data files are garbage.
                    let _ = self.remove_added_files(&entries).await;
                }
                self.clear().await;
                let what = if i == 0 {
                    "nothing was published".to_owned()
                } else {
                    // Earlier entries are the table's now; it is consistent at that version.
                    format!(
                        "{i} of its {} commits were published, the rest were not",
                        entries.len()
                    )
                };
                return Err(match e {
                    object_store::Error::AlreadyExists { .. } => ExecError::delta_message(
                        &self.dir,
                        format!("another writer committed to the table while its new data was being tested; {what}"),
                    ),
                    other => ExecError::delta_message(
                        &self.dir,
                        format!("cannot publish the new data ({other}); {what}"),
                    )
                    .with_source(other),
                });
            }
        }
        self.clear().await;
        Ok(())
    }

    /// Drops the staged commits and deletes the data files they added. The table stays
    /// as it was (or absent, if the stage created it).
    pub async fn discard(&self) -> Result<(), ExecError> {
        let entries = self.staged_entries().await?;
        let result = self.remove_added_files(&entries).await;
        self.clear().await;
        // A table the stage created leaves nothing behind.
        if !super::storage::exists(&self.dir) {
            remove_empty_dirs(&self.dir);
        }
        result
    }

    async fn clear(&self) {
        let paths: Vec<StorePath> = self
            .store
            .staged
            .list(None)
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .unwrap_or_default();
        for p in paths {
            let _ = self.store.staged.delete(&p).await;
        }
    }

    async fn remove_added_files(&self, entries: &[(StorePath, Vec<u8>)]) -> Result<(), ExecError> {
        for (location, bytes) in entries {
            if !location.as_ref().ends_with(".json") {
                continue;
            }
            for line in String::from_utf8_lossy(bytes).lines() {
                let Ok(action) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                // Data files, change data files, and deletion vectors stored beside them.
                let mut paths: Vec<String> = Vec::new();
                for kind in ["add", "cdc"] {
                    if let Some(p) = action.get(kind).and_then(|a| a.get("path")).and_then(serde_json::Value::as_str) {
                        paths.push(p.to_owned());
                    }
                }
                if let Some(dv) = action.get("add").and_then(|a| a.get("deletionVector")) {
                    // A relative ("u") deletion vector is a file named from its id; inline
                    // ("i") and absolute ("p") ones are not files of this write.
                    if dv.get("storageType").and_then(serde_json::Value::as_str) == Some("u")
                        && let Some(id) = dv.get("pathOrInlineDv").and_then(serde_json::Value::as_str)
                            && let Some(name) = deletion_vector_file(id) {
                                paths.push(name);
                            }
                }
                for path in paths {
                    // Paths are relative to the table and URL-encoded.
                    let decoded = super::storage::percent_decode(&path);
                    if decoded.contains("..") || decoded.starts_with('/') || decoded.contains("://") {
                        continue;
                    }
                    let file = self.dir.join(&decoded);
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(ExecError::io(&file, e));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The file of a relative deletion vector: an optional prefix, then a base85-encoded
/// UUID (20 characters) naming `deletion_vector_<uuid>.bin` (Delta protocol).
fn deletion_vector_file(id: &str) -> Option<String> {
    if id.len() < 20 {
        return None;
    }
    let (prefix, encoded) = id.split_at(id.len() - 20);
    let bytes = z85_decode(encoded)?;
    let uuid = uuid::Uuid::from_slice(&bytes).ok()?;
    let name = format!("deletion_vector_{uuid}.bin");
    Some(if prefix.is_empty() { name } else { format!("{prefix}/{name}") })
}

/// Z85 (ZeroMQ's base85), the alphabet Delta encodes deletion vector ids in.
fn z85_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if !s.len().is_multiple_of(5) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 5 * 4);
    for chunk in s.as_bytes().chunks(5) {
        let mut v: u64 = 0;
        for &c in chunk {
            let d = ALPHABET.iter().position(|&a| a == c)? as u64;
            v = v * 85 + d;
        }
        if v > u32::MAX as u64 {
            return None;
        }
        out.extend_from_slice(&(v as u32).to_be_bytes());
    }
    Some(out)
}

/// Removes `dir` and the empty folders under it, if they hold no files.
fn remove_empty_dirs(dir: &Path) {
    fn prune(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let mut empty = true;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !prune(&p) {
                    empty = false;
                }
            } else {
                empty = false;
            }
        }
        empty && std::fs::remove_dir(dir).is_ok()
    }
    prune(dir);
}

/// The local file system, with new entries of one table's `_delta_log` kept in memory.
#[derive(Debug)]
struct Overlay {
    inner: Arc<dyn ObjectStore>,
    staged: InMemory,
    /// `<table>/_delta_log`, as an object store path.
    log_prefix: StorePath,
    table_prefix: StorePath,
}

impl fmt::Display for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Overlay({})", self.table_prefix)
    }
}

impl Overlay {
    fn in_log(&self, p: &StorePath) -> bool {
        p.prefix_matches(&self.log_prefix)
    }

    /// Whether a listing under `prefix` can include log entries.
    fn lists_log(&self, prefix: Option<&StorePath>) -> bool {
        match prefix {
            None => true,
            Some(p) => self.log_prefix.prefix_matches(p) || p.prefix_matches(&self.log_prefix),
        }
    }
}

#[async_trait]
impl ObjectStore for Overlay {
    async fn put_opts(
        &self,
        location: &StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if !self.in_log(location) {
            return self.inner.put_opts(location, payload, opts).await;
        }
        if matches!(opts.mode, PutMode::Create) && self.inner.head(location).await.is_ok() {
            return Err(object_store::Error::AlreadyExists {
                path: location.to_string(),
                source: "the version exists in the table's log".into(),
            });
        }
        self.staged.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &StorePath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if self.in_log(location) {
            return self.staged.put_multipart_opts(location, opts).await;
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &StorePath, options: GetOptions) -> object_store::Result<GetResult> {
        if self.in_log(location) {
            match self.staged.get_opts(location, options.clone()).await {
                Err(object_store::Error::NotFound { .. }) => {}
                other => return other,
            }
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        // Log entries are deleted from the stage only: a staged operation never removes
        // what the table's published log holds.
        let log_prefix = self.log_prefix.clone();
        let inner = self.inner.clone();
        let staged = self.staged.clone();
        locations
            .then(move |loc| {
                let (inner, staged, log_prefix) = (inner.clone(), staged.clone(), log_prefix.clone());
                async move {
                    let loc = loc?;
                    if loc.prefix_matches(&log_prefix) {
                        match staged.delete(&loc).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(loc),
                            Err(e) => Err(e),
                        }
                    } else {
                        inner.delete(&loc).await.map(|()| loc)
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&StorePath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let real = self.inner.list(prefix);
        if !self.lists_log(prefix) {
            return real;
        }
        let staged = self.staged.list(prefix);
        futures::stream::select(real, staged).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&StorePath>,
        offset: &StorePath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let real = self.inner.list_with_offset(prefix, offset);
        if !self.lists_log(prefix) {
            return real;
        }
        let staged = self.staged.list_with_offset(prefix, offset);
        futures::stream::select(real, staged).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&StorePath>) -> object_store::Result<ListResult> {
        let mut real = self.inner.list_with_delimiter(prefix).await?;
        if self.lists_log(prefix) {
            let staged = self.staged.list_with_delimiter(prefix).await?;
            for o in staged.objects {
                if !real.objects.iter().any(|r| r.location == o.location) {
                    real.objects.push(o);
                }
            }
            for p in staged.common_prefixes {
                if !real.common_prefixes.contains(&p) {
                    real.common_prefixes.push(p);
                }
            }
        }
        Ok(real)
    }

    async fn copy_opts(&self, from: &StorePath, to: &StorePath, options: CopyOptions) -> object_store::Result<()> {
        if !self.in_log(to) {
            return self.inner.copy_opts(from, to, options).await;
        }
        let bytes = self.get_opts(from, GetOptions::default()).await?.bytes().await?;
        let mode = match options.mode {
            object_store::CopyMode::Create => PutMode::Create,
            _ => PutMode::Overwrite,
        };
        self.put_opts(
            to,
            PutPayload::from(bytes),
            PutOptions {
                mode,
                ..Default::default()
            },
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_deletion_vector_names() {
        // The example of Delta's PROTOCOL.md: "ab^-aqEH.-t@S}K{vb[*k^" is the UUID
        // d2c639aa-8816-431a-aaf6-d3fe2512ff61 with the prefix "ab".
        assert_eq!(
            deletion_vector_file("ab^-aqEH.-t@S}K{vb[*k^").as_deref(),
            Some("ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin")
        );
        assert_eq!(deletion_vector_file("short"), None);
    }
}
