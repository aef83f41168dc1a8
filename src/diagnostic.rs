//! User-facing diagnostics: a message, the place in a project file it points at, and help.
//!
//! Every stage that reads user input (settings, project loading, templates, SQL, the graph)
//! reports problems as [`Diagnostic`]s so that they render the same way everywhere: a
//! rustc-style header, the file with line and column, a snippet of the offending line with a
//! caret under the narrowest span we know, then notes and a help line. Loading and compiling
//! collect every diagnostic instead of stopping at the first (see [`Diagnostics`]).

use std::fmt;
use std::path::Path;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A place in a project file: 1-based line and column, a length in characters, and the text
/// of that line, captured when the span is made so rendering never has to reread files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The file, relative to the project root where possible, with `/` separators.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub len: usize,
    pub line_text: Option<String>,
}

impl Span {
    /// A span for a whole file, with no line.
    pub fn file(file: impl Into<String>) -> Span {
        Span {
            file: file.into(),
            line: 0,
            column: 0,
            len: 0,
            line_text: None,
        }
    }

    /// A span at `line:column` (1-based) of `source`, `len` characters long.
    pub fn at(
        file: impl Into<String>,
        source: &str,
        line: usize,
        column: usize,
        len: usize,
    ) -> Span {
        let line_text = if line > 0 {
            source.lines().nth(line - 1).map(str::to_owned)
        } else {
            None
        };
        Span {
            file: file.into(),
            line,
            column: column.max(1),
            len,
            line_text,
        }
    }

    /// A span covering the byte range `start..end` of `source`, clipped to its first line.
    pub fn from_byte_range(
        file: impl Into<String>,
        source: &str,
        start: usize,
        end: usize,
    ) -> Span {
        let start = floor_char_boundary(source, start.min(source.len()));
        let end = floor_char_boundary(source, end.clamp(start, source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let len = source[start..end.min(line_end)].chars().count();
        Span::at(file, source, line, column, len.max(1))
    }

    /// The line-only span for `line` (1-based) of `source`, underlining the line's text.
    pub fn line(file: impl Into<String>, source: &str, line: usize) -> Span {
        let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let indent = text.chars().take_while(|c| c.is_whitespace()).count();
        let len = text.trim().chars().count();
        Span::at(file, source, line, indent + 1, len.max(1))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

/// One problem found in a project, ready to show to its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            notes: vec![],
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn with_span(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn with_span_opt(mut self, span: Option<Span>) -> Diagnostic {
        if span.is_some() {
            self.span = span;
        }
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(self, help: Option<String>) -> Diagnostic {
        match help {
            Some(h) => self.with_help(h),
            None => self,
        }
    }

    /// Adds "did you mean `x`?" when one of `candidates` is close to `wrong`.
    pub fn with_suggestion<'a>(
        self,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.with_help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic, with ANSI colours when `color` is true.
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let (label, code) = match self.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let mut out = format!(
            "{}{}\n",
            paint(code, label),
            paint("1", &format!(": {}", self.message))
        );
        let gutter_width = self.span.as_ref().map_or(1, |s| s.line.to_string().len());
        let pad = " ".repeat(gutter_width);
        if let Some(span) = &self.span {
            out.push_str(&format!("{pad}{} {span}\n", paint("1;34", "-->")));
            if let (Some(text), true) = (&span.line_text, span.line > 0) {
                let bar = paint("1;34", "|");
                out.push_str(&format!("{pad} {bar}\n"));
                out.push_str(&format!(
                    "{} {bar} {}\n",
                    paint("1;34", &span.line.to_string()),
                    text.trim_end()
                ));
                // Tabs in the line would shift the caret; mirror them in the padding.
                let lead: String = text
                    .chars()
                    .take(span.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let available = text
                    .chars()
                    .count()
                    .saturating_sub(span.column.saturating_sub(1))
                    .max(1);
                let carets = "^".repeat(span.len.clamp(1, available));
                out.push_str(&format!("{pad} {bar} {lead}{}\n", paint(code, &carets)));
            }
        }
        // Continuation lines of a note or help line up under its first line.
        let indent = |label: &str, text: &str| {
            text.replace('\n', &format!("\n{pad}   {}", " ".repeat(label.len() + 2)))
        };
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {}\n", indent("note", note)));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {}\n", indent("help", help)));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

impl std::error::Error for Diagnostic {}

/// Every diagnostic found while loading or compiling a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorts by file, line and column so that output is stable whatever order the
    /// (possibly parallel) stages found them in.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.span.as_ref().map(|s| (s.file.clone(), s.line, s.column));
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
        self.0.dedup();
    }

    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render(color));
            out.push('\n');
        }
        let errors = self.errors().count();
        if errors > 0 {
            let noun = if errors == 1 { "error" } else { "errors" };
            out.push_str(&format!("{errors} {noun} found\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The closest candidate to `wrong`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let cand_lower = candidate.to_lowercase();
        if cand_lower == wrong_lower {
            return Some(candidate);
        }
        let score = strsim::jaro_winkler(&wrong_lower, &cand_lower);
        // Optimal string alignment counts a swap of neighbours (`rwa` for `raw`) as one edit.
        let distance = strsim::osa_distance(&wrong_lower, &cand_lower);
        // Accept near spellings by either measure: Jaro-Winkler favours shared prefixes
        // (`materialised`), Levenshtein catches short names with one slip (`tabel`).
        let close = score >= 0.85 || distance <= (cand_lower.len().max(3) / 3);
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// A path for display: relative to `root` when inside it, with `/` separators.
pub fn display_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("unnnique_key", ["unique_key", "alias"]),
            Some("unique_key")
        );
        assert_eq!(did_you_mean("tabel", ["table", "view"]), Some("table"));
        assert_eq!(did_you_mean("zzz", ["table", "view"]), None);
    }

    #[test]
    fn renders_snippet_with_caret() {
        let src = "models:\n  - name: orders\n    confg: {}\n";
        let d = Diagnostic::error("unknown key `confg` in model properties")
            .with_span(Span::at("models/schema.yml", src, 3, 5, 5))
            .with_suggestion("confg", ["config", "columns"]);
        insta::assert_snapshot!(d.render(false), @r"
        error: unknown key `confg` in model properties
         --> models/schema.yml:3:5
          |
        3 |     confg: {}
          |     ^^^^^
          = help: did you mean `config`?
        ");
    }

    #[test]
    fn byte_range_maps_to_line_and_column() {
        let src = "select 1\nfrom {{ ref('x') }}\n";
        let start = src.find("{{").unwrap();
        let s = Span::from_byte_range("m.sql", src, start, start + 15);
        assert_eq!((s.line, s.column, s.len), (2, 6, 14));
    }
}
