//! Library-level integration tests: fixture projects under tests/fixtures/ loaded,
//! compiled and run through Silt's library, with real Delta tables on disk.

#[path = "../common/mod.rs"]
mod common;
mod commands;
mod compile;
mod dbt_compare;
mod errors;
mod ingest;
mod materializations;
mod robustness;
mod selection;
mod support;
mod testing;
