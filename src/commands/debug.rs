//! `silt debug`: whether the project and the profile load, and whether the target's
//! warehouse can be written.

use crate::diagnostic::Diagnostics;
use crate::settings::{LoadOptions, Settings};

/// What `silt debug` found. The project and warehouse checks run once the project and
/// profile files resolve.
pub struct Report {
    /// The project and profile files, resolved.
    pub settings: Result<Settings, Diagnostics>,
    /// The project's nodes load, parse and form a graph.
    pub project: Option<Result<(), Diagnostics>>,
    /// A file could be written in the warehouse.
    pub writable: Option<std::io::Result<()>>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.settings.is_ok()
            && matches!(self.project, Some(Ok(())))
            && matches!(self.writable, Some(Ok(())))
    }
}

/// `silt debug`.
pub fn debug(project: &LoadOptions) -> Report {
    let settings = Settings::load(project);
    let Ok(s) = &settings else {
        return Report {
            settings,
            project: None,
            writable: None,
        };
    };
    let loaded = crate::project::Project::load(s.clone())
        .and_then(|p| crate::parse::parse(p, &Default::default()))
        .and_then(|parsed| crate::graph::Graph::build(&parsed).map(|_| ()));
    let warehouse = &s.target.warehouse_path;
    let writable = std::fs::create_dir_all(warehouse).and_then(|_| {
        let probe = warehouse.join(".silt-debug-probe");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(&probe)
    });
    Report {
        settings,
        project: Some(loaded),
        writable: Some(writable),
    }
}
