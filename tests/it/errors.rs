//! Every `err_*` fixture fails with the diagnostics in its snapshot: at load when the
//! project is invalid, else when its models are compiled. A new error case is a new folder.

use silt::compile::{CompileOptions, compile};
use silt::diagnostic::Diagnostics;
use silt::parse::ParseOptions;
use silt::project::ResourceType;

use crate::support::{fixture, fixtures, options};

fn errors_of(name: &str) -> String {
    let dir = fixture(name);
    let loaded = match silt::load(&options(dir.path(), None), &ParseOptions::default()) {
        Ok(l) => l,
        Err(d) => return d.render(false),
    };
    let ids = silt::graph::select(&loaded.parsed, &loaded.graph,
        &[],
        &[],
        &[
            ResourceType::Model,
            ResourceType::Test,
            ResourceType::Analysis,
        ],
    )
    .expect("select");
    let compiled = compile(&loaded.parsed, &ids, &CompileOptions::default());
    let mut diags = Diagnostics::new();
    for r in compiled.into_values() {
        if let Err(d) = r {
            diags.push(d);
        }
    }
    diags.sort();
    assert!(
        !diags.is_empty(),
        "{name} loaded and compiled without errors"
    );
    diags.render(false)
}

#[test]
fn error_fixtures_render_their_diagnostics() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("err_"))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "error fixtures are missing: {names:?}");
    for name in names {
        let rendered = errors_of(&name);
        insta::assert_snapshot!(name.as_str(), rendered);
    }
}
