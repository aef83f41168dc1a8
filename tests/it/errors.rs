//! Every `err_*` fixture fails with the diagnostics in its snapshot: at load when the
//! project is invalid, else when its models are compiled. A new error case is a new folder.

use silt::compile::{CompileOptions, compile};
use silt::diagnostic::Diagnostics;
use silt::parse::ParseOptions;
use silt::project::ResourceType;

use crate::support::{fixture, options};

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
    // One snapshot per fixture; a failing case does not hide the others (insta reports
    // every mismatch of the glob at the end).
    let mut seen = 0;
    insta::glob!("../fixtures", "err_*/project.yml", |path| {
        let name = path.parent().and_then(|p| p.file_name()).expect("fixture folder");
        insta::assert_snapshot!(errors_of(&name.to_string_lossy()));
        seen += 1;
    });
    assert!(seen >= 15, "error fixtures are missing: {seen} found");
}
