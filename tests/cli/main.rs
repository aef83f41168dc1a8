//! Tests that run the `silt` binary.
