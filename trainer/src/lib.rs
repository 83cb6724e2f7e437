//! cimle's native trainer: built-in scenes, datasets, perceptual distance, the conditional IMLE
//! loop, sampling and export. The `cimle` binary is a thin CLI over this library.

pub mod adam;
pub mod backend;
pub mod bench;
pub mod compare;
pub mod cpu_train;
pub mod cpu_vgg;
pub mod curves;
pub mod data;
pub mod engine;
pub mod evaluate;
pub mod factors;
pub mod imle;
pub mod perceptual;
pub mod picture;
pub mod rebalance;
pub mod run;
pub mod selection;
pub mod synth;
pub mod video;
