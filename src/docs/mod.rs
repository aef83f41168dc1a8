//! The docs site: a static, self-contained site in `target/docs/` built from the artifacts
//! (`manifest.json`, `catalog.json`, `column_lineage.json`, the nodes' last results). It
//! opens from `file://` with no network: the page, its script and style are embedded in the
//! binary, and the data is JavaScript files loaded with `<script>` tags (browsers refuse
//! `fetch` on `file://`).
//!
//! The data is split so that a 10,000-model project opens at once: `data/index.js` holds
//! what the list, search and graph need (names, types, descriptions' first lines, column
//! names, tags, edges, statuses); everything else (SQL, full descriptions, columns with
//! types, tests and lineage, statistics) sits in chunks of [`CHUNK`] nodes, loaded when a
//! node is opened.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

pub mod serve;

/// Nodes per detail chunk: small enough that opening a node loads little, large enough
/// that a 10,000-model project writes tens of files, not thousands.
pub const CHUNK: usize = 256;

const INDEX_HTML: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/docs.js");
const STYLE: &str = include_str!("assets/docs.css");

/// What the site is built from.
pub struct Inputs<'a> {
    /// `manifest.json`.
    pub manifest: &'a Json,
    /// `catalog.json`: types, statistics.
    pub catalog: &'a Json,
    /// `column_lineage.json`: model -> column -> upstream `{node, column}`s.
    pub lineage: &'a Json,
    /// The last result of each node, as [`crate::report::node_status`] keeps them.
    pub status: &'a Json,
}

/// What was written.
#[derive(Debug)]
pub struct Site {
    pub index: PathBuf,
    pub nodes: usize,
    pub chunks: usize,
}

/// Resource types the site lists, in the order its list groups them.
const LISTED: &[&str] = &["model", "source", "seed", "snapshot", "test", "unit_test", "analysis", "exposure"];

/// Writes the site into `dir` (replacing what a previous run wrote there).
pub fn write_site(dir: &Path, inputs: &Inputs) -> std::io::Result<Site> {
    let (index, chunks) = build(inputs);
    let data = dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    std::fs::create_dir_all(&data)?;
    write(&dir.join("docs.js"), SCRIPT.as_bytes())?;
    write(&dir.join("docs.css"), STYLE.as_bytes())?;
    write(&data.join("index.js"), script("siltIndex", None, &index).as_bytes())?;
    for (k, chunk) in chunks.iter().enumerate() {
        write(&data.join(format!("chunk-{k}.js")), script("siltChunk", Some(k), chunk).as_bytes())?;
    }
    let html = INDEX_HTML.replace("{{project}}", &html_escape(index["project"]["name"].as_str().unwrap_or("silt")));
    let page = dir.join("index.html");
    write(&page, html.as_bytes())?;
    Ok(Site { index: page, nodes: index["nodes"].as_array().map_or(0, Vec::len), chunks: chunks.len() })
}

/// Written beside the final name and renamed, so a browser open on the site never reads
/// half a file.
fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// `siltIndex(JSON.parse("..."))`: V8 parses a JSON string several times faster than the
/// same data as an object literal, which matters at tens of megabytes.
fn script(callback: &str, chunk: Option<usize>, value: &Json) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    // A JSON string literal of the JSON text; `</` is escaped so no text closes a script.
    let literal = serde_json::to_string(&text).unwrap_or_default().replace("</", "<\\/");
    match chunk {
        Some(k) => format!("{callback}({k},JSON.parse({literal}));\n"),
        None => format!("{callback}(JSON.parse({literal}));\n"),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A node as the site sees it, from the manifest's `nodes`, `sources` or `unit_tests`.
struct Entry<'a> {
    id: &'a str,
    kind: &'a str,
    /// What the list shows: `source.table` for sources, the name otherwise.
    name: String,
    json: &'a Json,
}

fn str_of<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key).and_then(Json::as_str).unwrap_or("")
}

/// The first paragraph of a description, shortened, for the list and search.
fn summary(description: &str) -> String {
    let first = description.split("\n\n").next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    if first.chars().count() > 160 {
        let cut: String = first.chars().take(157).collect();
        format!("{cut}...")
    } else {
        first
    }
}

/// The index and the chunks.
fn build(inputs: &Inputs) -> (Json, Vec<Json>) {
    let m = inputs.manifest;
    let mut entries: Vec<Entry> = Vec::new();
    for section in ["nodes", "sources", "unit_tests", "exposures"] {
        if let Some(map) = m.get(section).and_then(Json::as_object) {
            for (id, json) in map {
                let kind = str_of(json, "resource_type");
                if LISTED.contains(&kind) {
                    let name = if kind == "source" {
                        format!("{}.{}", str_of(json, "source_name"), str_of(json, "name"))
                    } else {
                        str_of(json, "name").to_owned()
                    };
                    entries.push(Entry { id, kind, name, json });
                }
            }
        }
    }
    // Grouped by type as the list shows them, then by name.
    entries.sort_by(|a, b| {
        let rank = |k: &str| LISTED.iter().position(|l| *l == k).unwrap_or(LISTED.len());
        rank(a.kind)
            .cmp(&rank(b.kind))
            .then_with(|| natural(&a.name, &b.name))
            .then_with(|| a.id.cmp(b.id))
    });
    let position: HashMap<&str, usize> = entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();

    // Tests by the node they test and, where they test a column, by column.
    let mut tests_of: HashMap<usize, Vec<(usize, Option<String>)>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.kind != "test" {
            continue;
        }
        let attached = str_of(e.json, "attached_node");
        let target = if attached.is_empty() {
            // Singular tests: every node they read.
            deps(e.json).into_iter().filter_map(|d| position.get(d).copied()).collect::<Vec<_>>()
        } else {
            position.get(attached).copied().into_iter().collect()
        };
        let column = e.json.get("column_name").and_then(Json::as_str).map(str::to_owned);
        for t in target {
            tests_of.entry(t).or_default().push((i, column.clone()));
        }
    }

    let catalog_of = |id: &str| -> Option<&Json> {
        inputs.catalog.get("nodes").and_then(|n| n.get(id)).or_else(|| inputs.catalog.get("sources").and_then(|s| s.get(id)))
    };
    let status_of = |id: &str| inputs.status.get("nodes").and_then(|n| n.get(id));

    let mut index_nodes = Vec::with_capacity(entries.len());
    let mut chunks: Vec<Map<String, Json>> = vec![Map::new(); entries.len().div_ceil(CHUNK)];
    for (i, e) in entries.iter().enumerate() {
        let catalog = catalog_of(e.id);
        let columns = columns_of(e.json, catalog);
        let parents: Vec<usize> = deps(e.json).into_iter().filter_map(|d| position.get(d).copied()).collect();
        let status = status_of(e.id);
        let mut node = json!({
            "i": e.id,
            "t": e.kind,
            "n": e.name,
            "d": summary(str_of(e.json, "description")),
            "c": columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
            "p": parents,
        });
        let o = node.as_object_mut().expect("an object");
        let tags = e.json.get("tags").and_then(Json::as_array).filter(|t| !t.is_empty());
        if let Some(tags) = tags {
            o.insert("g".into(), json!(tags));
        }
        let materialized = e.json.get("config").map(|c| str_of(c, "materialized")).unwrap_or("");
        if !materialized.is_empty() && e.kind == "model" {
            o.insert("m".into(), json!(materialized));
        }
        let relation = relation_of(e.json);
        if !relation.is_empty() {
            o.insert("r".into(), json!(relation));
        }
        if let Some(s) = status {
            o.insert("s".into(), json!(str_of(s, "status")));
        }
        if e.kind == "test" {
            if let Some(a) = position.get(str_of(e.json, "attached_node")) {
                o.insert("a".into(), json!(a));
            }
        }
        index_nodes.push(node);

        chunks[i / CHUNK].insert(e.id.to_owned(), detail(e, &columns, catalog, status, tests_of.get(&i), inputs.lineage, &position));
    }
    let project = m.get("metadata").cloned().unwrap_or(Json::Null);
    let index = json!({
        "project": {
            "name": str_of(&project, "project_name"),
            "generated_at": str_of(&project, "generated_at"),
            "version": str_of(&project, "dbt_version"),
            "invocation_id": str_of(&project, "invocation_id"),
        },
        "chunk": CHUNK,
        "nodes": index_nodes,
    });
    (index, chunks.into_iter().map(Json::Object).collect())
}

/// Names compared as people read them: `m2` before `m10`.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (n, m) = (digits(x), digits(y));
                let (p, q) = (&x[..n], &y[..m]);
                // Leading zeros aside, a longer number is larger.
                let trim = |s: &[u8]| s.iter().skip_while(|c| **c == b'0').count();
                let order = trim(p).cmp(&trim(q)).then_with(|| {
                    let (p, q) = (&p[n - trim(p)..], &q[m - trim(q)..]);
                    p.cmp(q)
                });
                if order != std::cmp::Ordering::Equal {
                    return order;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn deps(json: &Json) -> Vec<&str> {
    json.get("depends_on")
        .and_then(|d| d.get("nodes"))
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

/// `schema.identifier`, without the manifest's quoting and database.
fn relation_of(json: &Json) -> String {
    let name = str_of(json, "relation_name");
    if name.is_empty() {
        return String::new();
    }
    let parts: Vec<&str> = name.split('.').map(|p| p.trim_matches('"')).collect();
    parts[parts.len().saturating_sub(2)..].join(".")
}

/// Columns in the warehouse's order (the catalog), then those only documented in YAML:
/// (name, type, description).
fn columns_of<'a>(json: &'a Json, catalog: Option<&'a Json>) -> Vec<(String, String, String)> {
    let documented = json.get("columns").and_then(Json::as_object);
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    if let Some(cols) = catalog.and_then(|c| c.get("columns")).and_then(Json::as_object) {
        let mut ordered: Vec<&Json> = cols.values().collect();
        ordered.sort_by_key(|c| c.get("index").and_then(Json::as_u64).unwrap_or(u64::MAX));
        for c in ordered {
            let name = str_of(c, "name").to_owned();
            seen.insert(name.to_lowercase(), out.len());
            out.push((name, str_of(c, "type").to_owned(), String::new()));
        }
    }
    if let Some(documented) = documented {
        for (name, c) in documented {
            let description = str_of(c, "description").to_owned();
            let declared = c.get("data_type").and_then(Json::as_str).unwrap_or("").to_owned();
            match seen.get(&name.to_lowercase()) {
                Some(&k) => {
                    out[k].2 = description;
                    if out[k].1.is_empty() {
                        out[k].1 = declared;
                    }
                }
                None => {
                    seen.insert(name.to_lowercase(), out.len());
                    out.push((name.clone(), declared, description));
                }
            }
        }
    }
    out
}

/// Everything the node's page shows beyond the index.
fn detail(
    e: &Entry,
    columns: &[(String, String, String)],
    catalog: Option<&Json>,
    status: Option<&Json>,
    tests: Option<&Vec<(usize, Option<String>)>>,
    lineage: &Json,
    position: &HashMap<&str, usize>,
) -> Json {
    let j = e.json;
    let lineage = lineage.get(e.id).and_then(Json::as_object);
    let tests = tests.map(Vec::as_slice).unwrap_or(&[]);
    let cols: Vec<Json> = columns
        .iter()
        .map(|(name, ty, description)| {
            let mut c = json!({"name": name, "type": ty, "description": description});
            let on: Vec<usize> = tests
                .iter()
                .filter(|(_, col)| col.as_deref().is_some_and(|col| col.eq_ignore_ascii_case(name)))
                .map(|(t, _)| *t)
                .collect();
            if !on.is_empty() {
                c["tests"] = json!(on);
            }
            let ups = lineage.and_then(|l| l.get(name).or_else(|| l.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)));
            if let Some(ups) = ups.and_then(Json::as_array) {
                // Upstream columns by node position when the node is in the project, by
                // relation name otherwise.
                let ups: Vec<Json> = ups
                    .iter()
                    .map(|u| {
                        let node = str_of(u, "node");
                        let column = str_of(u, "column");
                        match position.get(node) {
                            Some(p) => json!([p, column]),
                            None => json!([node, column]),
                        }
                    })
                    .collect();
                c["up"] = json!(ups);
            }
            c
        })
        .collect();
    let mut d = json!({
        "description": str_of(j, "description"),
        "columns": cols,
        "path": str_of(j, "original_file_path"),
        "package": str_of(j, "package_name"),
    });
    let o = d.as_object_mut().expect("an object");
    let node_tests: Vec<usize> = tests.iter().filter(|(_, c)| c.is_none()).map(|(t, _)| *t).collect();
    if !node_tests.is_empty() {
        o.insert("tests".into(), json!(node_tests));
    }
    for (key, field) in [("raw", "raw_code"), ("compiled", "compiled_code")] {
        let code = str_of(j, field);
        if !code.is_empty() {
            o.insert(key.into(), json!(code));
        }
    }
    if e.kind == "source" {
        let sd = str_of(j, "source_description");
        if !sd.is_empty() {
            o.insert("source_description".into(), json!(sd));
        }
        if let Some(l) = j.get("loader").and_then(Json::as_str).filter(|l| !l.is_empty()) {
            o.insert("loader".into(), json!(l));
        }
    }
    if let Some(config) = j.get("config").and_then(Json::as_object) {
        o.insert("config".into(), Json::Object(interesting_config(config)));
    }
    if let Some(t) = j.get("test_metadata").filter(|t| !t.is_null()) {
        o.insert("test".into(), t.clone());
    }
    if let Some(stats) = catalog.and_then(|c| c.get("stats")).and_then(Json::as_object) {
        let shown: BTreeMap<&str, &Json> = stats
            .iter()
            .filter(|(_, s)| s.get("include").and_then(Json::as_bool).unwrap_or(false))
            .map(|(k, s)| (k.as_str(), s.get("value").unwrap_or(&Json::Null)))
            .collect();
        o.insert("stats".into(), json!(shown));
        if let Some(kind) = catalog.and_then(|c| c.get("metadata")).map(|m| str_of(m, "type")) {
            o.insert("table_type".into(), json!(kind));
        }
    }
    if let Some(s) = status {
        o.insert("run".into(), s.clone());
    }
    d
}

/// Config worth showing: what differs from the defaults every node carries.
fn interesting_config(config: &Map<String, Json>) -> Map<String, Json> {
    config
        .iter()
        .filter(|(k, v)| {
            let empty = match v {
                Json::Null => true,
                Json::Array(a) => a.is_empty(),
                Json::Object(o) => o.is_empty(),
                Json::String(s) => s.is_empty(),
                _ => false,
            };
            !empty && !matches!(k.as_str(), "enabled" | "tags" | "meta" | "docs" | "quoting" | "column_types" | "persist_docs" | "post-hook" | "pre-hook" | "packages" | "event_time" | "lookback" | "batch_size" | "concurrent_batches" | "full_refresh" | "grants" | "on_configuration_change" | "begin" | "freshness")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
