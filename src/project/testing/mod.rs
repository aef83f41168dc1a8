//! Tests declared in YAML, read into nodes: generic data tests and unit tests.

pub mod generic;
pub mod unit;
