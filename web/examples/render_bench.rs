//! Native milliseconds per sample of the web crate's CPU render path (burn's Flex backend):
//! the figure `cargo xtask bench-web` puts beside the browser's.
//!
//! `target/release/examples/render_bench WEIGHTS LAYOUT_PNG [COUNT]` prints one JSON line.

use std::time::Instant;

use cimle_web::{Model, Style, import::import_layout_text};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(weights), Some(layout)) = (args.first(), args.get(1)) else {
        return Err("usage: render_bench WEIGHTS LAYOUT_PNG [COUNT]".into());
    };
    let count: usize = args
        .get(2)
        .map_or(Ok(4), |c| c.parse())
        .map_err(|e| format!("COUNT: {e}"))?;
    let bytes = std::fs::read(weights).map_err(|e| format!("{weights}: {e}"))?;
    let model = Model::from_bytes(&bytes).map_err(|e| format!("{weights}: {e}"))?;
    let (h, w) = (model.height(), model.width());
    let png = std::fs::read(layout).map_err(|e| format!("{layout}: {e}"))?;
    let ids = import_layout_text(layout, &png, h, w)?.ids();
    model.render_rgba_blocking(&ids, h, w, &Style::from_seed(0))?;
    let mut times = Vec::new();
    for i in 0..count {
        let t0 = Instant::now();
        model.render_rgba_blocking(&ids, h, w, &Style::from_seed(i as u32 + 1))?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"backend\": \"native CPU (Flex, {} threads)\", \"resolution\": \"{w}x{h}\", \"ms_per_sample_median\": {:.1}, \"samples\": {:?}}}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        sorted[sorted.len() / 2],
        times
            .iter()
            .map(|t| (t * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    Ok(())
}
