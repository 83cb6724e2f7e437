//! cimle's native trainer: built-in scenes, datasets, perceptual distance, the conditional IMLE
//! loop, sampling and export. The `cimle` binary is a thin CLI over this library.

pub mod adam;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod cpu_train;
pub mod cpu_vgg;
pub mod curves;
pub mod data;
pub mod engine;
pub mod evaluate;
pub mod factors;
pub mod fs;
pub mod imle;
pub mod layout_file;
pub mod limits;
pub mod memory;
pub mod method;
pub mod perceptual;
pub mod picture;
pub mod progress;
pub mod rebalance;
pub mod render;
pub mod run;
pub mod sample;
pub mod selection;
pub mod synth;
pub mod vgg;
pub mod video;
pub mod weights_file;
