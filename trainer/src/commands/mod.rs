//! The commands of the `cimle` binary, one function each: the raw flags ([`crate::cli::flags`])
//! are checked into settings (every number, choice and output location before any work), then
//! the work is done by the library's modules.

pub mod bench;
pub mod budget;
pub mod checks;
pub mod compare;
pub mod distance;
pub mod evaluate;
pub mod rarity;
pub mod sample;
pub mod synth;
pub mod train;
pub mod video;
