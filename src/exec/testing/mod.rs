//! Running tests: data tests (queries returning failing rows) and unit tests (a model run
//! on given rows in memory).

pub mod data;
pub mod unit;
