//! Videos from the generator (supplementary appendix C; docs/METHOD.md "What the paper shows"):
//!
//! - **interpolation** (C.1): one layout, a latent code moving smoothly from one seed's code to
//!   another's ([`interpolation_codes`]);
//! - **evolving layouts** (C.2): a sequence of layouts (a car driving away and back) rendered with
//!   one fixed code, or with a code interpolated across the frames (day to night);
//! - **temporal consistency** (figure 4): the difference between adjacent frames
//!   ([`frame_differences`]): dark where consecutive frames agree, light where they differ.
//!
//! Frames are rendered in batches ([`render_frames`]) and stored as an animated PNG
//! ([`encode_apng`]), which browsers play like a GIF but without its 256-colour palette, in a
//! folder with every frame and the difference maps ([`write_video`]).

use std::path::Path;

use burn::tensor::Device;
use cimle::apng::ApngError;
use cimle::config::GeneratorConfig;
use cimle::generator::Generator;
use cimle::latent::{Interpolation, LatentCode, LatentError};
use cimle::layout::Layout;

use crate::fs::write_atomic;
use crate::picture::{RgbImage, draw_text, grid};
use crate::render::Renderer;

/// Renders per forward pass in [`render_frames`].
pub const RENDER_BATCH: usize = 8;

/// The fixed scale of the difference maps of [`frame_differences`]: a pixel whose mean absolute
/// RGB difference is this many levels (of 0..255) or more is white; 0 is black, and the grey
/// levels in between are linear (a gain of 255 / 64, about 4x). A fixed scale, rather than one
/// stretched to each sequence's largest difference, keeps maps of different videos comparable
/// (the paper's figure 4 sets two videos side by side) and keeps a nearly constant video dark
/// instead of amplifying its smallest flicker to white.
pub const DIFFERENCE_WHITE: f64 = 64.0;

/// Why frames could not be rendered, compared or encoded.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error(
        "frame {index} is {width}x{height} (width x height) but frame 0 is \
         {first_width}x{first_height}: every frame of a video must have the same size"
    )]
    FrameSize {
        index: usize,
        width: usize,
        height: usize,
        first_width: usize,
        first_height: usize,
    },
    /// The frames cannot make an animated PNG: none, a buffer of the wrong length (build frames
    /// with `RgbImage::from_rgb`), a side outside PNG's limits, or a zero delay.
    #[error(transparent)]
    Apng(#[from] ApngError),
    #[error(
        "{layouts} layouts and {codes} latent codes: give as many of each, or a single layout (or \
         code) to use for every frame"
    )]
    CountMismatch { layouts: usize, codes: usize },
    #[error(
        "layout {index} is {height}x{width}, the model renders {model_height}x{model_width}: \
         resize it first (Layout::resize_nearest)"
    )]
    LayoutSize {
        index: usize,
        height: usize,
        width: usize,
        model_height: usize,
        model_width: usize,
    },
    #[error(
        "latent code {index} has shape {got:?}, the model needs {expected:?} (channels x height x \
         width): draw it with LatentCode::from_seed(seed, {c}, {h}, {w})",
        c = expected[0], h = expected[1], w = expected[2]
    )]
    CodeShape {
        index: usize,
        got: [usize; 3],
        expected: [usize; 3],
    },
    #[error(
        "the generator ({gen_height}x{gen_width}, {gen_classes} classes) does not match its \
         config ({height}x{width}, {classes} classes): pass the config read with the weights"
    )]
    ConfigMismatch {
        gen_height: usize,
        gen_width: usize,
        gen_classes: usize,
        height: usize,
        width: usize,
        classes: usize,
    },
    #[error("rendering: {0}")]
    Render(#[from] cimle::model::RenderError),
    #[error(transparent)]
    Latent(#[from] LatentError),
    #[error("writing {}: {error}", path.display())]
    Write {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// Frame 0's size, after checking that every frame has it (the encoder checks each buffer's
/// length against it).
fn frame_size(frames: &[RgbImage]) -> Result<(usize, usize), VideoError> {
    let first = frames.first().ok_or(ApngError::NoFrames)?;
    let (w, h) = (first.width, first.height);
    for (index, f) in frames.iter().enumerate() {
        if (f.width, f.height) != (w, h) {
            return Err(VideoError::FrameSize {
                index,
                width: f.width,
                height: f.height,
                first_width: w,
                first_height: h,
            });
        }
    }
    Ok((w, h))
}

/// An animated PNG (APNG) of `frames`, each shown `delay_ms` milliseconds, looping forever.
/// Frame 0 is also the PNG's still image, so viewers without APNG support show the first frame.
/// Fails (never panics) on no frames, frames of different sizes or malformed buffers, a side of
/// zero or above 2^31 - 1, or a delay of 0 ms (which viewers treat as "as fast as possible").
pub fn encode_apng(frames: &[RgbImage], delay_ms: u16) -> Result<Vec<u8>, VideoError> {
    let (w, h) = frame_size(frames)?;
    let views: Vec<&[u8]> = frames.iter().map(|f| f.data.as_slice()).collect();
    // The encoder is the model crate's, shared with the browser app's "Download animation".
    Ok(cimle::apng::encode_apng(
        &views,
        w,
        h,
        cimle::apng::FrameColor::Rgb,
        delay_ms,
    )?)
}

/// The difference between each pair of adjacent frames, as in the paper's figure 4:
///
/// - a **map** per pair `(i, i + 1)`: each pixel's mean absolute difference over R, G and B, drawn
///   as grey on the fixed scale [`DIFFERENCE_WHITE`] (0 = black, 64 levels or more = white);
/// - the **mean** absolute difference per pair over all pixels and channels, in 0..255 units.
///
/// `n` frames give `n - 1` maps and means (none for fewer than two frames). Frames are meant to
/// have one size; if two differ, they are compared over their common top-left region, and bytes
/// missing from a malformed buffer count as 0.
pub fn frame_differences(frames: &[RgbImage]) -> (Vec<RgbImage>, Vec<f64>) {
    let mut maps = Vec::with_capacity(frames.len().saturating_sub(1));
    let mut means = Vec::with_capacity(frames.len().saturating_sub(1));
    for pair in frames.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (w, h) = (a.width.min(b.width), a.height.min(b.height));
        let mut map = RgbImage::filled(w, h, [0, 0, 0]);
        let mut total = 0u64;
        for y in 0..h {
            for x in 0..w {
                let px = |img: &RgbImage, c: usize| -> i32 {
                    i32::from(
                        img.data
                            .get((y * img.width + x) * 3 + c)
                            .copied()
                            .unwrap_or(0),
                    )
                };
                let sum: u32 = (0..3).map(|c| (px(a, c) - px(b, c)).unsigned_abs()).sum();
                total += u64::from(sum);
                let level = f64::from(sum) / 3.0 * 255.0 / DIFFERENCE_WHITE;
                let grey = level.round().clamp(0.0, 255.0) as u8;
                map.put(x, y, [grey; 3]);
            }
        }
        let count = (w * h * 3) as f64;
        means.push(if count > 0.0 {
            total as f64 / count
        } else {
            0.0
        });
        maps.push(map);
    }
    (maps, means)
}

/// Renders frame `i` from `(layouts[i], codes[i])`, where a single layout (or a single code) is
/// used for every frame: `max(layouts.len(), codes.len())` frames, in batches of
/// [`RENDER_BATCH`]. Layouts must be at the model's size (`config.height x config.width`) and
/// codes of shape `[config.latent_channels, height, width]`; mismatches are errors, not panics.
pub fn render_frames(
    generator: &Generator,
    config: &GeneratorConfig,
    layouts: &[Layout],
    codes: &[LatentCode],
    device: &Device,
) -> Result<Vec<RgbImage>, VideoError> {
    let (h, w) = (config.height, config.width);
    if generator.resolution() != [h, w] || generator.num_classes() != config.num_classes() {
        let [gen_height, gen_width] = generator.resolution();
        return Err(VideoError::ConfigMismatch {
            gen_height,
            gen_width,
            gen_classes: generator.num_classes(),
            height: h,
            width: w,
            classes: config.num_classes(),
        });
    }
    let n = layouts.len().max(codes.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let compatible = |k: usize| k == n || k == 1;
    if !compatible(layouts.len()) || !compatible(codes.len()) {
        return Err(VideoError::CountMismatch {
            layouts: layouts.len(),
            codes: codes.len(),
        });
    }
    for (index, layout) in layouts.iter().enumerate() {
        if (layout.height(), layout.width()) != (h, w) {
            return Err(VideoError::LayoutSize {
                index,
                height: layout.height(),
                width: layout.width(),
                model_height: h,
                model_width: w,
            });
        }
    }
    let expected = [config.latent_channels, h, w];
    for (index, code) in codes.iter().enumerate() {
        if code.shape() != expected {
            return Err(VideoError::CodeShape {
                index,
                got: code.shape(),
                expected,
            });
        }
    }
    let pick = |k: usize, i: usize| if k == 1 { 0 } else { i };
    let frame_layouts: Vec<&Layout> = (0..n).map(|i| &layouts[pick(layouts.len(), i)]).collect();
    let frame_codes: Vec<&LatentCode> = (0..n).map(|i| &codes[pick(codes.len(), i)]).collect();
    Renderer::new(generator, config, device)
        .render(&frame_layouts, &frame_codes, RENDER_BATCH)
        .map_err(VideoError::from)
}

/// What [`write_video`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenVideo {
    /// Frames written.
    pub frames: usize,
    /// Mean adjacent-frame difference (0..255) over the pairs, and its largest value.
    pub mean: f64,
    pub max: f64,
    /// Adjacent pairs measured.
    pub pairs: usize,
    /// `frame-NNN.png` files after the last frame written, left from an earlier, longer video.
    pub stale_frames: usize,
}

/// Writes a rendered video into `dir`: `frame-NNN.png`, `interpolation.png` (animated,
/// `delay_ms` a frame), `differences.png` (the adjacent-frame difference maps, each labelled with
/// its mean) and `differences.csv`; every file atomically.
pub fn write_video(
    dir: &Path,
    frames: &[RgbImage],
    delay_ms: u16,
) -> Result<WrittenVideo, VideoError> {
    let write = |name: &str, bytes: &[u8]| -> Result<(), VideoError> {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(|error| VideoError::Write { path, error })
    };
    for (i, f) in frames.iter().enumerate() {
        write(&format!("frame-{i:03}.png"), &f.encode_png())?;
    }
    // Frames of an earlier, longer video in the same folder would mix with these.
    let stale_frames = (frames.len()..)
        .take_while(|i| dir.join(format!("frame-{i:03}.png")).exists())
        .count();
    write("interpolation.png", &encode_apng(frames, delay_ms)?)?;
    let (maps, means) = frame_differences(frames);
    let labelled: Vec<RgbImage> = maps
        .into_iter()
        .zip(&means)
        .map(|(mut map, mean)| {
            draw_text(&mut map, &format!("{mean:.1}"), 2, 2, 1, [255, 90, 60]);
            map
        })
        .collect();
    let columns = labelled.len().clamp(1, 4);
    write(
        "differences.png",
        &grid(&labelled, columns, 4, [40, 40, 40]).encode_png(),
    )?;
    let mut csv = String::from("pair,mean_abs_diff\n");
    for (i, m) in means.iter().enumerate() {
        csv.push_str(&format!("{i},{m:.4}\n"));
    }
    write("differences.csv", csv.as_bytes())?;
    let mean = if means.is_empty() {
        0.0
    } else {
        means.iter().sum::<f64>() / means.len() as f64
    };
    Ok(WrittenVideo {
        frames: frames.len(),
        mean,
        max: means.iter().copied().fold(0.0, f64::max),
        pairs: means.len(),
        stale_frames,
    })
}

/// `frames` codes on the path from `a` to `b`: code `i` is `a.interpolate(b, t_i, how)` with
/// `t_i = i / (frames - 1)`, so the first is exactly `a` and the last exactly `b` (one frame:
/// just `a`; zero: none). Slerp keeps the norm of Gaussian codes along the path; lerp's
/// midpoints are shorter (about 0.71x) and render washed out.
pub fn interpolation_codes(
    a: &LatentCode,
    b: &LatentCode,
    frames: usize,
    how: Interpolation,
) -> Result<Vec<LatentCode>, VideoError> {
    if a.shape() != b.shape() {
        return Err(LatentError::ShapeMismatch {
            a: a.shape(),
            b: b.shape(),
        }
        .into());
    }
    (0..frames)
        .map(|i| {
            if i == 0 {
                Ok(a.clone())
            } else if i + 1 == frames {
                Ok(b.clone())
            } else {
                let t = i as f64 / (frames - 1) as f64;
                Ok(a.interpolate(b, t as f32, how)?)
            }
        })
        .collect()
}
