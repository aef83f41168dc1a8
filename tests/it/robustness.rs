//! No input panics: every parser and checker that sees user text is fed random and
//! mangled text (a seeded generator, so failures reproduce) and must return, with an error
//! or not.

use silt::diagnostic::did_you_mean;
use silt::graph::selector::Selection;
use silt::template::scan_macros;
use silt::yaml::YamlDoc;

/// xorshift64*: small, seeded, good enough to shake parsers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// Text made of fragments that matter to the parsers, plus odd characters.
    fn text(&mut self, pieces: usize) -> String {
        const FRAGMENTS: &[&str] = &[
            "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "macro", "endmacro", "test", "endtest",
            "docs", "enddocs", "ref(", "'", "\"", ")", "(", ":", "\n", "  ", "- ", "[", "]", "{",
            "}", ",", "@", "*", "name", "models", "select", "with", "as", "é", "🦀", "\t", "\\",
            "&a", "*a", "<<", "!tag", "0", "1.5", "null", "~", "|", ">", "%", "raw", "endraw",
            "--", "/*", "*/", ";",
        ];
        (0..pieces).map(|_| self.pick(FRAGMENTS)).collect()
    }
}

#[test]
fn parsers_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let n = (rng.next() % 40) as usize;
        let text = rng.text(n);
        if let Ok(doc) = YamlDoc::parse("f.yml", text.as_str()) {
            let mut diags = Vec::new();
            silt::settings::schema::check_properties_file(&doc, &mut diags);
            silt::settings::schema::check_project_file(&doc, &mut diags);
            for d in &diags {
                let _ = d.render(false);
            }
            let mut ids = Vec::new();
            doc.root.walk(&mut |n| ids.push(n.id));
            for id in ids {
                let _ = doc.span(id);
            }
        }
        let _ = scan_macros("m.sql", &text, "p");
        let _ = silt::project::parse_doc_blocks("d.md", &text);
        let _ = Selection::parse(&[text.clone()], &[]);
        let _ = silt::sql::check_query(&text);
        let _ = silt::sql::parse_for_engine(&text);
        let _ = silt::sql::inject_ctes(&text, &[" __dbt__cte__x as (\nselect 1\n)".to_owned()]);
        let _ = did_you_mean(&text, ["materialized", "unique_key"]);
        let cells: Vec<Option<&str>> = text.split(',').map(Some).collect();
        let _ = silt::exec::seed::infer(&cells);
        let _ = silt::yaml::parse_inline(&text);
    }
}

#[test]
fn rendering_garbage_templates_never_panics() {
    let dir = crate::support::fixture("jinja");
    let loaded = crate::support::load(dir.path(), None);
    let templates = &loaded.parsed.templates;
    let mut rng = Rng(0x5eed_0000_0000_0042);
    for _ in 0..500 {
        let n = (rng.next() % 30) as usize;
        let text = rng.text(n);
        if let Err(e) = templates.render("models/x.sql", &text, None) {
            let _ = e
                .to_diagnostic("models/x.sql", &text, &|_| None)
                .render(false);
        }
    }
}
