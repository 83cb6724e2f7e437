//! `cimle synth`: a folder of built-in scenes (`images/`, `labels/` as train ids, `factors/`,
//! `synth.json`), checked against the size and count limits before a folder is created, and
//! removed again if writing fails.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cimle::layout::Layout;

use super::checks::{at_least, at_most};
use crate::cli::flags::SynthFlags;
use crate::fs::{CreatedDir, write_atomic};
use crate::limits::{MAX_SCENES, check_image};
use crate::picture::RgbImage;
use crate::progress::progress_bar;
use crate::synth;

/// A checked `cimle synth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSettings {
    pub out: PathBuf,
    pub count: usize,
    pub seed: u64,
    pub height: usize,
    pub width: usize,
}

/// The smallest scene: the street needs some room.
pub const MIN_SCENE: (usize, usize) = (32, 64);

/// `--size HxW` of a scene: at least [`MIN_SCENE`], at most the image-size limit.
pub fn scene_size(flag: &str, height: usize, width: usize) -> Result<()> {
    if height < MIN_SCENE.0 || width < MIN_SCENE.1 {
        bail!(
            "{flag} {height}x{width}: scenes need at least {}x{}",
            MIN_SCENE.0,
            MIN_SCENE.1
        );
    }
    check_image(
        &format!("{flag} {height}x{width}: a scene"),
        height,
        width,
        "give a smaller size",
    )?;
    Ok(())
}

impl SynthSettings {
    pub fn from_flags(f: &SynthFlags) -> Result<Self> {
        let (height, width) = (f.size.height, f.size.width);
        scene_size("--size", height, width)?;
        at_least("--count", f.count, 1, "a dataset needs a scene")?;
        at_most("--count", f.count, MAX_SCENES, "scenes a call")?;
        Ok(Self {
            out: f.out.clone(),
            count: f.count,
            seed: f.seed,
            height,
            width,
        })
    }
}

/// Writes the scenes; a folder this call created is removed again if anything fails.
pub fn synth(s: &SynthSettings) -> Result<()> {
    let created = CreatedDir::create("--out", &s.out)?;
    write_scenes(s)?;
    created.keep();
    eprintln!(
        "wrote {} scenes of {}x{} to {}",
        s.count,
        s.height,
        s.width,
        s.out.display()
    );
    Ok(())
}

fn write_scenes(s: &SynthSettings) -> Result<()> {
    let (h, w) = (s.height, s.width);
    for sub in ["images", "labels", "factors"] {
        std::fs::create_dir_all(s.out.join(sub))
            .with_context(|| format!("creating {}", s.out.join(sub).display()))?;
    }
    let pb = progress_bar(s.count as u64, "synth", true);
    for i in 0..s.count {
        let scene = synth::generate_scene(s.seed, i as u64, h, w);
        let name = format!("{i:06}");
        let image = RgbImage::from_rgb(w, h, scene.image).context("scene image size")?;
        let layout = Layout::new(h, w, scene.labels).context("scene labels")?;
        let write = |sub: &str, ext: &str, bytes: &[u8]| {
            write_file(&s.out.join(sub).join(format!("{name}.{ext}")), bytes)
        };
        write("images", "png", &image.encode_png())?;
        write("labels", "png", &layout.encode_train_id_png())?;
        write(
            "factors",
            "json",
            &serde_json::to_vec_pretty(&scene.factors)?,
        )?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let meta = serde_json::json!({
        "generator": "cimle synth",
        "seed": s.seed,
        "count": s.count,
        "height": h,
        "width": w,
        "labels": "train-id PNG (void = 255)",
        "factors": synth::factor_spec(),
    });
    write_file(
        &s.out.join("synth.json"),
        &serde_json::to_vec_pretty(&meta)?,
    )
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_flags;

    fn settings(args: &[&str]) -> Result<SynthSettings> {
        let argv: Vec<&str> = ["--out", "d"].iter().chain(args).copied().collect();
        SynthSettings::from_flags(&parse_flags::<SynthFlags>(&argv)?)
    }

    #[test]
    fn size_and_count_are_bounded_before_anything_is_written() {
        let s = settings(&["--size", "32x64", "--count", "3"]).unwrap();
        assert_eq!((s.height, s.width, s.count), (32, 64, 3));
        for (args, said) in [
            (
                &["--size", "100000x100000"][..],
                "--size 100000x100000: a scene is",
            ),
            (
                &["--size", "16x64"],
                "--size 16x64: scenes need at least 32x64",
            ),
            (&["--count", "0"], "--count 0"),
            (&["--count", "2000000"], "--count 2000000: at most 1000000"),
        ] {
            let err = settings(args).err().unwrap().to_string();
            assert!(err.starts_with(said), "{args:?}: {err}");
        }
        assert!(settings(&["--size", "64"]).is_err());
    }

    #[test]
    fn writes_scenes_and_keeps_what_was_there_on_failure() {
        let root = std::env::temp_dir().join(format!("cimle-synth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        // `images` is a file: creating the images folder fails after --out was created.
        let out = root.join("new");
        let s = SynthSettings {
            out: out.clone(),
            count: 1,
            seed: 0,
            height: 32,
            width: 64,
        };
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("images"), b"x").unwrap();
        // An existing folder is kept (it may hold other things)...
        assert!(synth(&s).is_err());
        assert!(out.join("images").is_file());
        // ...while one this call created goes.
        std::fs::remove_dir_all(&out).unwrap();
        let blocked = SynthSettings {
            out: root.join("file").join("sub"),
            ..s.clone()
        };
        std::fs::write(root.join("file"), b"x").unwrap();
        assert!(synth(&blocked).is_err());
        let fresh = SynthSettings {
            out: root.join("fresh"),
            count: 2,
            ..s
        };
        synth(&fresh).unwrap();
        assert_eq!(
            std::fs::read_dir(fresh.out.join("labels")).unwrap().count(),
            2
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
