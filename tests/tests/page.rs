//! The site end to end in headless Chromium (Debian's), served from a local static server:
//! load, draw a stroke, generate N samples that differ pairwise, interpolate with the slider,
//! resample a region (pixels outside it must not change), restore a copied link, and check that
//! no request left the origin. Screenshots go to `target/e2e/`.
//!
//! Needs the built site (`cargo xtask site`, or `CIMLE_SITE=folder`), hence `#[ignore]`:
//! `cargo xtask test` builds it and runs this with `--ignored`.

use std::path::PathBuf;
use std::time::Duration;

use cimle_e2e::server::serve;
use cimle_e2e::webdriver::Browser;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(900);

fn site() -> PathBuf {
    std::env::var_os("CIMLE_SITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site"))
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shot(b: &Browser, name: &str) {
    let png = b.screenshot().unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "screenshot {name} is not a PNG"
    );
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page is idle (no render running) and has no error notice.
fn idle(b: &Browser) {
    b.wait_for("document.body.dataset.state === 'idle'", WAIT)
        .unwrap();
    let err = b
        .eval("const n = document.getElementById('notice'); return n.classList.contains('error') && !n.hidden ? n.textContent : '';")
        .unwrap();
    assert_eq!(err, Value::from(""), "the page shows an error");
}

/// A canvas's RGBA pixels, as one comma-separated string (cheap to compare).
fn pixels(b: &Browser, canvas_id: &str) -> Value {
    b.eval(&format!(
        "{PIXELS} return px(document.getElementById('{canvas_id}')).join(',');"
    ))
    .unwrap()
}

/// Pixels of a canvas (RGBA, as numbers).
const PIXELS: &str =
    "const px = (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);";

#[test]
#[ignore = "needs the built site and Chromium: cargo xtask test runs it"]
fn the_site_draws_generates_interpolates_and_resamples_a_region() {
    let root = site();
    assert!(
        root.join("index.html").exists(),
        "no built site in {}: run `cargo xtask site`",
        root.display()
    );
    let server = serve(&root, 0).unwrap();
    let b = Browser::start().unwrap();
    b.goto(&server.url).unwrap();
    b.wait_for("document.body.dataset.samples === '8'", WAIT)
        .unwrap();
    idle(&b);
    let backend = b
        .eval("return document.getElementById('backend').textContent;")
        .unwrap();
    eprintln!("page backend: {backend}");
    shot(&b, "1-loaded");

    // CSP: the page allows only its own origin.
    let csp = b
        .eval("return document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content;")
        .unwrap();
    assert!(
        csp.as_str().unwrap().contains("default-src 'self'"),
        "{csp}"
    );

    // Draw a stroke of the current class across the layout; the layout canvas must change.
    let before = pixels(&b, "layout");
    b.drag("#layout", &[(-150, 40), (-50, 45), (60, 50), (150, 55)])
        .unwrap();
    idle(&b);
    let after = pixels(&b, "layout");
    assert_ne!(before, after, "the stroke did not change the layout");
    shot(&b, "2-stroke");

    // Generate N samples: they appear and differ pairwise.
    b.click("#generate").unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.querySelectorAll('#grid canvas').length === 8",
        WAIT,
    )
    .unwrap();
    idle(&b);
    let min_diff = b
        .eval(&format!(
            "{PIXELS} const all = [...document.querySelectorAll('#grid canvas')].map(px);
             let min = Infinity;
             for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) {{
               let d = 0; for (let k = 0; k < all[i].length; k++) d += Math.abs(all[i][k] - all[j][k]);
               min = Math.min(min, d / all[i].length);
             }}
             return min;"
        ))
        .unwrap();
    eprintln!("smallest mean pairwise difference between samples: {min_diff}");
    assert!(
        min_diff.as_f64().unwrap() > 0.5,
        "two samples are (nearly) the same: {min_diff}"
    );
    shot(&b, "3-generated");

    // Interpolate between samples 1 and 2 with the slider.
    b.click("#grid .sample:nth-child(1) .picks button:nth-child(1)")
        .unwrap();
    idle(&b);
    b.click("#grid .sample:nth-child(2) .picks button:nth-child(2)")
        .unwrap();
    idle(&b);
    let end_b = pixels(&b, "current");
    b.eval("const s = document.getElementById('interp'); s.value = 50; s.dispatchEvent(new Event('input')); return 0;")
        .unwrap();
    idle(&b);
    let mid = pixels(&b, "current");
    assert_ne!(mid, end_b, "moving the slider did not change the image");
    let label = b
        .eval("return document.getElementById('style-label').textContent;")
        .unwrap();
    assert!(label.as_str().unwrap().contains('→'), "{label}");
    shot(&b, "4-interpolated");

    // Animate along the latent path from A to B: frames render, then play.
    b.click("#animate-path").unwrap();
    idle(&b);
    let playing = b
        .eval("return !document.getElementById('stop-animation').disabled && !document.getElementById('download-animation').disabled;")
        .unwrap();
    assert_eq!(playing, Value::Bool(true), "the animation did not start");
    b.click("#stop-animation").unwrap();
    b.click("#grid .sample:nth-child(1) canvas").unwrap();
    idle(&b);

    // Resample the sky: pixels outside it stay exactly as they were.
    let sky = b
        .eval("return [...document.getElementById('region-source').options].find(o => o.text === 'class: sky').value;")
        .unwrap();
    b.eval(&format!(
        "document.getElementById('region-source').value = '{}'; return 0;",
        sky.as_str().unwrap()
    ))
    .unwrap();
    let check = format!(
        "{PIXELS} const cur = document.getElementById('current');
         window.__before = px(cur); return 0;"
    );
    b.eval(&check).unwrap();
    b.click("#resample-region").unwrap();
    idle(&b);
    let result = b
        .eval(&format!(
            "{PIXELS} const cur = document.getElementById('current');
             const after = px(cur), before = window.__before;
             const lay = document.getElementById('layout').getContext('2d').getImageData(0, 0, 512, 256).data;
             const w = cur.width, h = cur.height;
             let outsideChanged = 0, insideChanged = 0, inside = 0;
             for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {{
               const sy = Math.min(255, Math.floor((2 * y + 1) * 256 / (2 * h)));
               const sx = Math.min(511, Math.floor((2 * x + 1) * 512 / (2 * w)));
               const l = 4 * (sy * 512 + sx);
               const isSky = lay[l] === 70 && lay[l + 1] === 130 && lay[l + 2] === 180;
               const i = 4 * (y * w + x);
               const changed = [0, 1, 2].some(c => after[i + c] !== before[i + c]);
               if (isSky) {{ inside++; if (changed) insideChanged++; }} else if (changed) outsideChanged++;
             }}
             return [outsideChanged, insideChanged, inside];"
        ))
        .unwrap();
    eprintln!("region resample: [outside changed, inside changed, inside] = {result}");
    assert_eq!(result[0], 0, "pixels outside the region changed");
    assert!(
        result[1].as_u64().unwrap() * 2 > result[2].as_u64().unwrap(),
        "most sky pixels should change: {result}"
    );
    shot(&b, "5-region");

    // The Region tool marks an area on the overlay; "Clear region" unmarks it.
    let marked = "const d = document.getElementById('overlay').getContext('2d').getImageData(0, 0, 512, 256).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;";
    b.click("button[data-tool=region]").unwrap();
    b.drag("#layout", &[(-40, -20), (0, -20), (40, -20)])
        .unwrap();
    assert!(
        b.eval(marked).unwrap().as_u64().unwrap() > 100,
        "the Region tool marked nothing"
    );
    b.click("#clear-region").unwrap();
    assert_eq!(
        b.eval(marked).unwrap(),
        Value::from(0),
        "Clear region left marks"
    );
    b.click("button[data-tool=brush]").unwrap();
    idle(&b);

    // A copied link restores layout and style: the same image in a fresh page.
    let image = pixels(&b, "current");
    b.click("#link").unwrap();
    idle(&b);
    let link = b
        .eval("return document.getElementById('link-text').value;")
        .unwrap();
    let link = link.as_str().unwrap().to_string();
    assert!(link.contains("#m=") && link.contains("&l="), "{link}");
    b.goto("about:blank").unwrap();
    b.goto(&link).unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.getElementById('status').textContent.includes('Restored from the link')",
        WAIT,
    )
    .unwrap();
    idle(&b);
    let restored = pixels(&b, "current");
    assert_eq!(restored, image, "the link did not restore the same image");
    shot(&b, "6-restored");

    // Uploads: a layout PNG is read (with a notice), a corrupt one gets an error naming it.
    let dir = std::env::temp_dir().join(format!("cimle-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = root.join("examples/street-2.png");
    b.upload("#upload", &good).unwrap();
    idle(&b);
    let note = b
        .eval("return document.getElementById('notice').textContent;")
        .unwrap();
    assert!(
        note.as_str()
            .unwrap()
            .contains("street-2.png: read as train ids"),
        "{note}"
    );
    let bad = dir.join("broken.png");
    std::fs::write(&bad, b"\x89PNG not really").unwrap();
    b.upload("#upload", &bad).unwrap();
    b.wait_for("document.body.dataset.state === 'idle'", WAIT)
        .unwrap();
    let note = b
        .eval("return document.getElementById('notice').textContent;")
        .unwrap();
    assert!(
        note.as_str()
            .unwrap()
            .contains("broken.png: not a readable PNG"),
        "{note}"
    );
    shot(&b, "7-upload-error");

    // Switch to the shipped 256x512 model: it loads and fills the grid at its resolution.
    b.eval("document.getElementById('count').value = '4'; const m = document.getElementById('model'); m.value = 'streets-256x512'; m.dispatchEvent(new Event('change')); return 0;")
        .unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.querySelectorAll('#grid canvas').length === 4 && document.querySelector('#grid canvas').width === 512",
        WAIT,
    )
    .unwrap();
    idle(&b);
    shot(&b, "8-browser-model");

    // Nothing left the origin: every resource the page loaded is on the local server.
    let foreign = b
        .eval("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));")
        .unwrap();
    assert_eq!(foreign, Value::Array(vec![]), "requests left the origin");
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l.contains("cimle_web_bg.wasm")),
        "{log:?}"
    );
    let console = b.console().unwrap_or_default();
    let errors: Vec<_> = console.iter().filter(|l| l.contains("SEVERE")).collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
