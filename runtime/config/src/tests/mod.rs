//! Tests of the whole config module: fakes, golden files of bad pipelines, the example pipeline.

mod example;
mod expressions;
mod fakes;
mod limits;
mod schema;
mod ui;
