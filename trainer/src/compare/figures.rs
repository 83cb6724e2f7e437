//! The pictures of `cimle compare`: every run's samples of one layout (`samples.png`), the bar
//! charts of its measures (`metrics.png`), and the frames and adjacent-frame differences of the
//! built-in car sequence (`frames.png`, figure 4 of the paper).

use burn::tensor::Device;
use cimle::layout::Layout;

use super::{CompareError, CompareOptions, Measured, RunReport, VideoReport};
use crate::evaluate::RenderedLayout;
use crate::picture::{RgbImage, bar_chart, draw_text, labelled_rows};
use crate::synth;
use crate::video::{frame_differences, render_frames};

/// Rows of labelled pictures.
type Rows = Vec<(String, Vec<RgbImage>)>;

/// Figure 4: the built-in layout sequence rendered with one code by the `cimle` and `crn`
/// models, each followed by its adjacent-frame difference maps. Returns the rows of
/// `frames.png` and the measurement.
pub(super) fn video_figure(
    models: &[Measured],
    options: &CompareOptions,
    device: &Device,
) -> Result<(Rows, VideoReport), CompareError> {
    let Some(first) = models.first() else {
        return Err(CompareError::Options("no model to render".into()));
    };
    let config = &first.header.config;
    let (h, w) = (config.height, config.width);
    let sequence = synth::layout_sequence(options.video_seed, options.video_frames, h, w)
        .into_iter()
        .enumerate()
        .map(|(i, ids)| {
            Layout::new(h, w, ids).map_err(|e| {
                CompareError::Options(format!("frame {i} of the built-in sequence: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let layouts = sequence
        .iter()
        .map(|l| RgbImage::from_rgb(w, h, l.to_color_rgb()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| CompareError::Options("a layout picture of the wrong size".into()))?;
    let mut rows = vec![("layouts".to_string(), layouts)];
    let mut runs = Vec::new();
    for m in models.iter().filter(|m| ["cimle", "crn"].contains(&m.name)) {
        let code = m.method.sampling_code(
            options.video_code_seed,
            m.header.config.latent_channels,
            h,
            w,
        );
        let frames = render_frames(&m.generator, &m.header.config, &sequence, &[code], device)?;
        let (maps, means) = frame_differences(&frames);
        let labelled: Vec<RgbImage> = maps
            .into_iter()
            .zip(&means)
            .map(|(mut map, mean)| {
                draw_text(&mut map, &format!("{mean:.1}"), 1, 1, 1, [255, 90, 60]);
                map
            })
            .collect();
        let mean = means.iter().sum::<f64>() / means.len().max(1) as f64;
        rows.push((format!("{} frames", m.name), frames));
        rows.push((format!("{} differences", m.name), labelled));
        runs.push((m.name.to_string(), mean, means));
    }
    let report = VideoReport {
        scene_seed: options.video_seed,
        frames: options.video_frames,
        code_seed: options.video_code_seed,
        runs,
    };
    Ok((rows, report))
}

/// `samples.png`: the first measured layout and its photo, then each run's samples of it.
pub(super) fn samples_picture(
    runs: &[RunReport],
    rendered_first: &[RenderedLayout],
    photo: Vec<u8>,
    (h, w): (usize, usize),
) -> RgbImage {
    let cell =
        |data: Vec<u8>| RgbImage::from_rgb(w, h, data).unwrap_or(RgbImage::filled(w, h, [0; 3]));
    let mut rows = Vec::new();
    if let Some((layout, _)) = rendered_first.first() {
        rows.push((
            "layout, photo".to_string(),
            vec![cell(layout.to_color_rgb()), cell(photo)],
        ));
    }
    for (run, (_, images)) in runs.iter().zip(rendered_first) {
        rows.push((run.name.clone(), images.iter().cloned().map(cell).collect()));
    }
    labelled_rows(&rows, 2, [255, 255, 255], [30, 30, 30])
}

/// `frames.png`, from the rows of [`video_figure`].
pub(super) fn frames_picture(rows: &Rows) -> RgbImage {
    labelled_rows(rows, 2, [40, 40, 40], [235, 235, 235])
}

/// `metrics.png`: diversity, and on built-in scenes rare-mode recall and mean TV, per run.
pub(super) fn metrics_picture(runs: &[RunReport], synth_data: bool) -> RgbImage {
    let bars = |value: &dyn Fn(&RunReport) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        runs.iter().map(|r| (r.name.clone(), value(r))).collect()
    };
    let mut charts = vec![(
        String::new(),
        vec![bar_chart(
            "diversity (mean pairwise distance, higher = more diverse)",
            &bars(&|r| Some(r.diversity)),
            160,
        )],
    )];
    if synth_data {
        charts.push((
            String::new(),
            vec![bar_chart(
                "rare-mode recall (mean over factors, higher = better)",
                &bars(&|r| r.rare_recall),
                160,
            )],
        ));
        charts.push((
            String::new(),
            vec![bar_chart(
                "mean TV distance to the true frequencies (lower = better)",
                &bars(&|r| r.mean_tv),
                160,
            )],
        ));
    }
    labelled_rows(&charts, 8, [255, 255, 255], [30, 30, 30])
}
