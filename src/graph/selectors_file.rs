//! `selectors.yml`: named selections, as dbt's (`--selector nightly`, and the one marked
//! `default: true` when nothing is selected). Each definition becomes the `--select` and
//! `--exclude` texts it stands for: a union of intersections (an intersection of unions is
//! spread out), with `exclude` taken away from the whole definition.

use std::path::Path;

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::yaml::{Node, YamlDoc};

/// One named selection.
#[derive(Debug, Clone)]
pub struct NamedSelector {
    pub name: String,
    pub default: bool,
    /// The `definition`, as written.
    definition: Json,
    /// Where it is declared, for messages.
    span: Span,
}

/// The project's `selectors.yml` (none when the file is absent).
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub selectors: Vec<NamedSelector>,
}

const FILE: &str = "selectors.yml";

impl Selectors {
    /// Reads `<root>/selectors.yml`.
    pub fn load(root: &Path) -> Result<Selectors, Diagnostic> {
        let path = root.join(FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Selectors::default());
        };
        let doc = YamlDoc::parse(FILE, text)?;
        let Some(list) = doc.root.get("selectors") else {
            return Err(Diagnostic::error("`selectors.yml` needs a `selectors:` list").with_span(Span::file(FILE)));
        };
        let Some(items) = list.as_seq() else {
            return Err(Diagnostic::error("`selectors:` must be a list").with_span(doc.span(list.id)));
        };
        let mut selectors = Vec::new();
        for item in items {
            let name = item.get("name").and_then(Node::scalar_text);
            let Some(name) = name else {
                return Err(Diagnostic::error("a selector needs a `name`").with_span(doc.span(item.id)));
            };
            let Some(definition) = item.get("definition") else {
                return Err(Diagnostic::error(format!("selector `{name}` needs a `definition`")).with_span(doc.span(item.id)));
            };
            let default = item.get("default").map(Node::to_json).is_some_and(|d| d == Json::Bool(true));
            selectors.push(NamedSelector { name, default, definition: definition.to_json(), span: doc.span(item.id) });
        }
        if selectors.iter().filter(|s| s.default).count() > 1 {
            return Err(Diagnostic::error("more than one selector is marked `default: true`").with_span(Span::file(FILE)));
        }
        Ok(Selectors { selectors })
    }

    /// The selector marked `default: true`, if any.
    pub fn default_selector(&self) -> Option<&str> {
        self.selectors.iter().find(|s| s.default).map(|s| s.name.as_str())
    }

    /// The `--select` and `--exclude` texts the selector `name` stands for.
    pub fn resolve(&self, name: &str) -> Result<(Vec<String>, Vec<String>), Diagnostic> {
        let (terms, exclude) = self.expand(name, &mut Vec::new(), true)?;
        Ok((terms, exclude))
    }

    fn find(&self, name: &str) -> Result<&NamedSelector, Diagnostic> {
        self.selectors.iter().find(|s| s.name == name).ok_or_else(|| {
            let mut d = Diagnostic::error(format!("no selector named `{name}` in {FILE}"));
            if let Some(s) = did_you_mean(name, self.selectors.iter().map(|s| s.name.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if self.selectors.is_empty() {
                d = d.with_help(format!("define it under `selectors:` in {FILE}"));
            }
            d
        })
    }

    fn expand(&self, name: &str, seen: &mut Vec<String>, top: bool) -> Result<(Vec<String>, Vec<String>), Diagnostic> {
        if seen.iter().any(|s| s == name) {
            return Err(Diagnostic::error(format!("selector `{name}` refers to itself (through {})", seen.join(" -> "))));
        }
        seen.push(name.to_owned());
        let s = self.find(name)?;
        let out = self.definition(&s.definition, s, seen, top);
        seen.pop();
        out.map_err(|m| Diagnostic::error(format!("selector `{name}`: {m}")).with_span(s.span.clone()))
    }

    /// A definition as (union of intersection texts, exclusions).
    fn definition(
        &self,
        def: &Json,
        at: &NamedSelector,
        seen: &mut Vec<String>,
        top: bool,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        match def {
            // CLI syntax: spaces union, commas intersect.
            Json::String(text) => Ok((text.split_whitespace().map(str::to_owned).collect(), Vec::new())),
            Json::Object(map) if map.contains_key("union") || map.contains_key("intersection") => {
                let (key, items) = if let Some(u) = map.get("union") { ("union", u) } else { ("intersection", &map["intersection"]) };
                let items = items.as_array().ok_or_else(|| format!("`{key}` must be a list"))?;
                let mut parts: Vec<Vec<String>> = Vec::new();
                let mut exclude: Vec<String> = Vec::new();
                for item in items {
                    if let Some(ex) = item.as_object().and_then(|o| o.get("exclude")) {
                        if !top {
                            return Err("`exclude` is supported at the top of a definition only".into());
                        }
                        let ex = ex.as_array().ok_or("`exclude` must be a list")?;
                        for e in ex {
                            let (terms, nested) = self.definition(e, at, seen, false)?;
                            if !nested.is_empty() {
                                return Err("an `exclude` inside an `exclude` is not supported".into());
                            }
                            exclude.extend(terms);
                        }
                        continue;
                    }
                    let (terms, nested) = self.definition(item, at, seen, false)?;
                    if !nested.is_empty() {
                        return Err("`exclude` is supported at the top of a definition only".into());
                    }
                    parts.push(terms);
                }
                let terms = if key == "union" {
                    parts.into_iter().flatten().collect()
                } else {
                    // (a ∪ b) ∩ (c ∪ d) = (a∩c) ∪ (a∩d) ∪ (b∩c) ∪ (b∩d)
                    let mut acc: Vec<String> = vec![String::new()];
                    for p in parts {
                        let mut next = Vec::new();
                        for a in &acc {
                            for t in &p {
                                next.push(if a.is_empty() { t.clone() } else { format!("{a},{t}") });
                            }
                        }
                        acc = next;
                    }
                    acc.into_iter().filter(|t| !t.is_empty()).collect()
                };
                Ok((terms, exclude))
            }
            Json::Object(map) => {
                let method = map.get("method").and_then(Json::as_str).ok_or("a criterion needs a `method`")?;
                let value = match map.get("value") {
                    Some(Json::String(s)) => s.clone(),
                    Some(Json::Number(n)) => n.to_string(),
                    Some(Json::Bool(b)) => b.to_string(),
                    _ => return Err(format!("the `{method}` criterion needs a `value`")),
                };
                for key in map.keys() {
                    if !matches!(
                        key.as_str(),
                        "method" | "value" | "parents" | "children" | "parents_depth" | "children_depth" | "childrens_parents" | "indirect_selection" | "exclude"
                    ) {
                        return Err(format!("unknown key `{key}` in a criterion"));
                    }
                }
                if let Some(i) = map.get("indirect_selection").and_then(Json::as_str)
                    && i != "eager"
                {
                    return Err(format!("`indirect_selection: {i}` in a selector is not supported: pass --indirect-selection {i}"));
                }
                if method == "selector" {
                    let (terms, exclude) = self
                        .expand(&value, seen, top)
                        .map_err(|d| d.message)?;
                    return Ok((terms, exclude));
                }
                let flag = |k: &str| map.get(k).is_some_and(|v| v == &Json::Bool(true));
                let depth = |k: &str| map.get(k).and_then(Json::as_u64);
                let mut text = String::new();
                if flag("childrens_parents") {
                    text.push('@');
                }
                if flag("parents") || depth("parents_depth").is_some() {
                    if let Some(n) = depth("parents_depth") {
                        text.push_str(&n.to_string());
                    }
                    text.push('+');
                }
                text.push_str(&format!("{method}:{value}"));
                if flag("children") || depth("children_depth").is_some() {
                    text.push('+');
                    if let Some(n) = depth("children_depth") {
                        text.push_str(&n.to_string());
                    }
                }
                let mut exclude = Vec::new();
                if let Some(ex) = map.get("exclude") {
                    if !top {
                        return Err("`exclude` is supported at the top of a definition only".into());
                    }
                    for e in ex.as_array().ok_or("`exclude` must be a list")? {
                        exclude.extend(self.definition(e, at, seen, false)?.0);
                    }
                }
                Ok((vec![text], exclude))
            }
            other => Err(format!("a definition is a selection text, a criterion or a union/intersection, not `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selectors(yaml: &str) -> Selectors {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), yaml).unwrap();
        Selectors::load(dir.path()).unwrap()
    }

    #[test]
    fn definitions_become_selection_texts() {
        let s = selectors(
            "selectors:
  - name: nightly
    default: true
    definition:
      union:
        - method: tag
          value: nightly
          parents: true
        - intersection:
            - 'path:models/marts'
            - union: ['tag:a', {method: fqn, value: x, children: true, children_depth: 2}]
        - exclude:
            - method: selector
              value: slow
  - name: slow
    definition: 'tag:slow config.materialized:table'
  - name: loop
    definition: {method: selector, value: loop}
",
        );
        assert_eq!(s.default_selector(), Some("nightly"));
        let (select, exclude) = s.resolve("nightly").unwrap();
        assert_eq!(select, vec!["+tag:nightly", "path:models/marts,tag:a", "path:models/marts,fqn:x+2"]);
        assert_eq!(exclude, vec!["tag:slow", "config.materialized:table"]);
        let err = s.resolve("nightlly").unwrap_err();
        assert!(err.message.contains("no selector named `nightlly`"), "{}", err.message);
        assert_eq!(err.help.as_deref(), Some("did you mean `nightly`?"));
        assert!(s.resolve("loop").unwrap_err().message.contains("refers to itself"));
    }
}
