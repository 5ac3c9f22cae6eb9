//! Tests of the whole config module: fakes, golden files of bad pipelines, the example pipeline.

mod example;
mod fakes;
mod schema;
mod ui;
