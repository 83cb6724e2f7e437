//! The one progress-bar style of every long command: a prefix, the bar, count, rate and ETA.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// A terminal progress bar with rate and ETA (hidden when `show` is false; indicatif also hides
/// it when stderr is not a terminal).
pub fn progress_bar(len: u64, prefix: impl Into<String>, show: bool) -> ProgressBar {
    let pb = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>18} [{bar:28}] {pos}/{len} {rate:>9} ETA {eta:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = std::fmt::Write::write_fmt(w, format_args!("{:.2}/s", s.per_sec()));
        })
        .progress_chars("=> "),
    );
    pb.set_prefix(prefix.into());
    pb
}
