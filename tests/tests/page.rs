//! The site end to end in headless Chromium (Debian's), served from a local static server.
//!
//! - On a desktop with SwiftShader's WebGPU: load, draw a stroke, generate N samples that differ
//!   pairwise, interpolate with the slider, pick a sample with the keyboard, resample a region
//!   (pixels outside it must not change), restore a copied link in the same tab (hashchange)
//!   and in a fresh one, upload a layout and a broken file, switch models, and check that no
//!   request left the origin; along the way, the accessible names and states of the controls.
//! - On a phone without WebGPU: the notice says in plain words why the CPU runs, the current
//!   image is right below the layout, and every control is large enough to tap.
//! - On the CPU at 256x512: the page keeps answering while samples render (the model renders
//!   in a Web Worker): no page timer waits half the time of one render.
//!
//! Screenshots go to `target/e2e/`. Needs the built site (`cargo xtask site`, or
//! `CIMLE_SITE=folder`), hence `#[ignore]`: `cargo xtask test` builds it and runs these with
//! `--ignored`. The tests take turns: each starts its own Chromium.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use cimle_e2e::server::{Server, serve};
use cimle_e2e::webdriver::{
    Browser, KEY_ARROW_LEFT, KEY_ARROW_RIGHT, KEY_ENTER, KEY_SPACE, Options,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(900);
/// Opening a link renders one 64x128 sample: seconds, even on SwiftShader.
const LINK_WAIT: Duration = Duration::from_secs(120);

/// One Chromium at a time: the timing check must not share the machine with another test.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn site() -> PathBuf {
    let root = std::env::var_os("CIMLE_SITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site"));
    assert!(
        root.join("index.html").exists(),
        "no built site in {}: run `cargo xtask site`",
        root.display()
    );
    root
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

/// Opens the site and waits for its first grid of 8 samples.
fn open(b: &Browser, server: &Server, query: &str) {
    b.goto(&format!("{}{query}", server.url)).unwrap();
    b.wait_for("document.body.dataset.samples === '8'", WAIT)
        .unwrap();
    idle(b);
}

/// Waits until the page is idle (no render running) and shows no error.
fn idle(b: &Browser) {
    b.wait_for("document.body.dataset.state === 'idle'", WAIT)
        .unwrap();
    let alert = js(b, "document.getElementById('alert')?.textContent ?? ''");
    assert_eq!(alert, "", "the page shows an error");
}

/// An element's text.
fn text(b: &Browser, css: &str) -> String {
    b.eval(&format!(
        "return document.querySelector('{css}').textContent;"
    ))
    .unwrap()
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The value of a JavaScript expression, as a string.
fn js(b: &Browser, expression: &str) -> String {
    let v = b.eval(&format!("return String({expression});")).unwrap();
    v.as_str().unwrap_or_default().to_string()
}

/// A canvas's RGBA pixels, as one comma-separated string (cheap to compare; compare with
/// `assert!(a == b)`, as `assert_eq!` would print a million numbers).
fn pixels(b: &Browser, css: &str) -> Value {
    b.eval(&format!(
        "{PIXELS} return px(document.querySelector('{css}')).join(',');"
    ))
    .unwrap()
}

/// Pixels of a canvas (RGBA, as numbers).
const PIXELS: &str =
    "const px = (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);";

/// The browser's console messages at level SEVERE (errors).
fn console_errors(b: &Browser) -> Vec<String> {
    b.console()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.contains("SEVERE"))
        .collect()
}

#[test]
#[ignore = "needs the built site and Chromium: cargo xtask test runs it"]
fn the_site_draws_generates_interpolates_and_resamples_a_region() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = site();
    let server = serve(&root, 0).unwrap();
    let b = Browser::start().unwrap();
    open(&b, &server, "");
    eprintln!("page backend: {}", text(&b, "#backend"));
    shot(&b, "1-loaded");

    // CSP: the page allows only its own origin, workers included.
    let csp = js(
        &b,
        "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content",
    );
    assert!(
        csp.contains("default-src 'self'") && csp.contains("worker-src 'self'"),
        "{csp}"
    );

    // One size convention (height x width), in the menu and in the footer.
    let menu = js(
        &b,
        "document.getElementById('model').selectedOptions[0].text",
    );
    let footer = text(&b, "#model-info");
    assert!(menu.contains("64x128"), "{menu}");
    assert!(
        footer.contains("64x128 pixels (height x width)"),
        "{footer}"
    );

    // Tool buttons say which one is pressed.
    let pressed = "[...document.querySelectorAll('.tool')].map(t => t.dataset.tool + '=' + t.getAttribute('aria-pressed')).join(' ')";
    assert_eq!(
        js(&b, pressed),
        "brush=true rect=false fill=false eraser=false region=false"
    );
    b.click("button[data-tool=rect]").unwrap();
    assert_eq!(
        js(&b, pressed),
        "brush=false rect=true fill=false eraser=false region=false"
    );
    b.click("button[data-tool=brush]").unwrap();

    // The 20 classes are one radio group with one tab stop; the arrow keys move the choice.
    let radios = "[...document.querySelectorAll('#palette [role=radio]')]";
    assert_eq!(js(&b, &format!("{radios}.length")), "20");
    let stops = format!("{radios}.filter(r => r.tabIndex >= 0).map(r => r.textContent).join()");
    let checked = format!(
        "{radios}.filter(r => r.getAttribute('aria-checked') === 'true').map(r => r.textContent).join()"
    );
    assert_eq!(js(&b, &stops), "car");
    assert_eq!(js(&b, &checked), "car");
    b.send_keys("#palette [tabindex='0']", KEY_ARROW_RIGHT)
        .unwrap();
    assert_eq!(js(&b, &checked), "truck");
    assert_eq!(js(&b, &stops), "truck");
    assert_eq!(js(&b, "document.activeElement.textContent"), "truck");
    b.send_keys("#palette [tabindex='0']", KEY_ARROW_LEFT)
        .unwrap();
    assert_eq!(js(&b, &checked), "car");

    // Draw a stroke of the current class across the layout; the layout canvas must change.
    let before = pixels(&b, "#layout");
    b.drag("#layout", &[(-150, 40), (-50, 45), (60, 50), (150, 55)])
        .unwrap();
    idle(&b);
    let after = pixels(&b, "#layout");
    assert!(before != after, "the stroke did not change the layout");
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

    // Every A and B button has its own accessible name.
    let names = js(
        &b,
        "[...document.querySelectorAll('#grid .picks button')].map(p => p.getAttribute('aria-label')).join('|')",
    );
    let expected: Vec<String> = (1..=8)
        .flat_map(|i| {
            [
                format!("Use sample {i} as A"),
                format!("Use sample {i} as B"),
            ]
        })
        .collect();
    assert_eq!(names, expected.join("|"));

    // The slider without two ends asks for them; the request goes once both are picked.
    b.eval("const s = document.getElementById('interp'); s.value = 30; s.dispatchEvent(new Event('input')); return 0;")
        .unwrap();
    assert!(text(&b, "#notice").contains("Pick two samples"));
    b.click("#grid .sample:nth-child(1) .picks button:nth-child(1)")
        .unwrap();
    idle(&b);
    b.click("#grid .sample:nth-child(2) .picks button:nth-child(2)")
        .unwrap();
    idle(&b);
    let notice = text(&b, "#notice");
    assert!(
        !notice.contains("Pick two samples"),
        "still asks for A and B after both were picked: {notice}"
    );
    assert_eq!(
        js(
            &b,
            "[...document.querySelectorAll('#grid .picks button[aria-pressed=true]')].map(p => p.getAttribute('aria-label')).join()"
        ),
        "Use sample 1 as A,Use sample 2 as B"
    );

    // Interpolate between samples 1 and 2 with the slider.
    let end_b = pixels(&b, "#current");
    b.eval("const s = document.getElementById('interp'); s.value = 50; s.dispatchEvent(new Event('input')); return 0;")
        .unwrap();
    idle(&b);
    let mid = pixels(&b, "#current");
    assert!(mid != end_b, "moving the slider did not change the image");
    let label = text(&b, "#style-label");
    assert!(label.contains('→'), "{label}");
    shot(&b, "4-interpolated");

    // Animate along the latent path from A to B: frames render, then play.
    b.click("#animate-path").unwrap();
    idle(&b);
    let playing = b
        .eval("return !document.getElementById('stop-animation').disabled && !document.getElementById('download-animation').disabled;")
        .unwrap();
    assert_eq!(playing, Value::Bool(true), "the animation did not start");
    b.click("#stop-animation").unwrap();

    // Pick samples with the keyboard: Enter on sample 3, then Space on sample 1.
    for (n, key) in [(3, KEY_ENTER), (1, KEY_SPACE)] {
        let sample = format!("#grid .sample:nth-child({n}) canvas");
        b.send_keys(&sample, key).unwrap();
        idle(&b);
        assert!(
            pixels(&b, "#current") == pixels(&b, &sample),
            "the key did not make sample {n} current"
        );
        assert_eq!(
            js(
                &b,
                &format!("document.querySelector('{sample}').getAttribute('aria-pressed')")
            ),
            "true"
        );
    }

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

    // Copy a link to this layout and style.
    let image = pixels(&b, "#current");
    let layout = pixels(&b, "#layout");
    b.click("#link").unwrap();
    idle(&b);
    let link = js(&b, "document.getElementById('link-text').value");
    assert!(link.contains("#m=") && link.contains("&l="), "{link}");

    // Change style and layout, then paste the link into the same tab: only the fragment
    // changes (no reload), and the page restores what the link holds.
    b.send_keys("#grid .sample:nth-child(2) canvas", KEY_ENTER)
        .unwrap();
    b.click("#clear").unwrap();
    idle(&b);
    assert!(pixels(&b, "#current") != image, "the style did not change");
    assert!(pixels(&b, "#layout") != layout, "the layout did not change");
    assert_eq!(
        js(&b, "location.hash"),
        "",
        "the address bar still shows a link to what the page no longer shows"
    );
    b.eval("window.__sameDocument = true; document.getElementById('status').textContent = ''; return 0;")
        .unwrap();
    b.goto(&link).unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.getElementById('status').textContent.includes('Restored from the link')",
        LINK_WAIT,
    )
    .unwrap();
    idle(&b);
    assert_eq!(
        js(&b, "window.__sameDocument === true"),
        "true",
        "the page reloaded"
    );
    assert!(
        pixels(&b, "#current") == image,
        "the pasted link did not restore the image"
    );
    assert!(
        pixels(&b, "#layout") == layout,
        "the pasted link did not restore the layout"
    );
    shot(&b, "6-link-pasted");

    // The same link in a fresh page.
    b.goto("about:blank").unwrap();
    b.goto(&link).unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.getElementById('status').textContent.includes('Restored from the link')",
        WAIT,
    )
    .unwrap();
    idle(&b);
    assert!(
        pixels(&b, "#current") == image,
        "the link did not restore the same image"
    );
    shot(&b, "7-restored");

    // Uploads: a layout PNG is read (with a notice), a corrupt one gets an error naming it,
    // announced as an alert; the page says it is ready again, not that it stopped.
    let dir = std::env::temp_dir().join(format!("cimle-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = root.join("examples/street-2.png");
    b.upload("#upload", &good).unwrap();
    idle(&b);
    let note = text(&b, "#notice");
    assert!(note.contains("street-2.png: read as train ids"), "{note}");
    let bad = dir.join("broken.png");
    std::fs::write(&bad, b"\x89PNG not really").unwrap();
    b.upload("#upload", &bad).unwrap();
    b.wait_for("document.body.dataset.state === 'idle'", WAIT)
        .unwrap();
    let alert = text(&b, "#alert");
    assert!(alert.contains("broken.png: not a readable PNG"), "{alert}");
    assert_eq!(
        js(&b, "document.getElementById('alert').getAttribute('role')"),
        "alert"
    );
    let status = text(&b, "#status");
    assert!(
        status.contains("Ready") && !status.contains("Stopped"),
        "{status}"
    );
    shot(&b, "8-upload-error");

    // Switch to the shipped 256x512 model: it loads and fills the grid at its resolution.
    b.eval("document.getElementById('count').value = '4'; const m = document.getElementById('model'); m.value = 'streets-256x512'; m.dispatchEvent(new Event('change')); return 0;")
        .unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.querySelectorAll('#grid canvas').length === 4 && document.querySelector('#grid canvas').width === 512",
        WAIT,
    )
    .unwrap();
    idle(&b);
    assert!(text(&b, "#model-info").contains("256x512 pixels (height x width)"));
    shot(&b, "9-browser-model");

    // Nothing left the origin: every resource the page loaded is on the local server.
    let foreign = b
        .eval("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));")
        .unwrap();
    assert_eq!(foreign, Value::Array(vec![]), "requests left the origin");
    let log = server.log.lock().unwrap().clone();
    for file in ["cimle_web_bg.wasm", "worker.js"] {
        assert!(log.iter().any(|l| l.contains(file)), "{file}: {log:?}");
    }
    let errors = console_errors(&b);
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
#[ignore = "needs the built site and Chromium: cargo xtask test runs it"]
fn on_a_phone_without_webgpu_the_page_fits_and_says_why_it_uses_the_cpu() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve(&site(), 0).unwrap();
    let b = Browser::start_with(Options {
        webgpu: false,
        phone: Some((390, 844)),
    })
    .unwrap();
    open(&b, &server, "");
    assert_eq!(js(&b, "window.innerWidth"), "390");
    shot(&b, "phone-1-top");

    // Without WebGPU: a plain sentence on the page, the technical reason only in the console.
    assert_eq!(text(&b, "#backend"), "Running on CPU");
    let notice = text(&b, "#notice");
    eprintln!("notice without WebGPU: {notice}");
    assert!(
        notice.contains("runs on the CPU") && notice.contains("For WebGPU, use"),
        "{notice}"
    );
    for internal in ["Wgpu", "{", "noop", "adapter", "navigator"] {
        assert!(!notice.contains(internal), "{internal:?} in {notice}");
    }
    let console = b.console().unwrap_or_default();
    assert!(
        console.iter().any(|l| l.contains("WebGPU said")),
        "the reason is not in the console: {console:?}"
    );

    // The current image follows the layout: both fit on the screen at once.
    let geometry = b
        .eval(
            "const l = document.getElementById('layout').getBoundingClientRect();
             const c = document.getElementById('current').getBoundingClientRect();
             return [c.top - l.bottom, c.bottom - l.top, window.innerHeight,
                     document.documentElement.scrollWidth, window.innerWidth];",
        )
        .unwrap();
    eprintln!(
        "phone: [layout bottom to current top, layout top to current bottom, viewport height, page width, viewport width] = {geometry}"
    );
    let g: Vec<f64> = geometry
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (0.0..=100.0).contains(&g[0]),
        "the current image is {} px below the layout",
        g[0]
    );
    assert!(
        g[1] <= g[2],
        "layout and current image do not fit on one screen: {geometry}"
    );
    assert!(g[3] <= g[4], "the page is wider than the phone: {geometry}");

    // Tap targets: every control at least 24x24 CSS px, the main ones at least 44x44.
    let small = js(
        &b,
        "[...document.querySelectorAll('button, select, input, [tabindex]')]
           .filter(e => e.tabIndex >= -1 && e.getClientRects().length > 0)
           .map(e => [e, e.getBoundingClientRect()])
           .filter(([e, r]) => r.width < 24 || r.height < 24
             || (e.matches('#generate, .tool, #palette button, .picks button') && (r.width < 44 || r.height < 44)))
           .map(([e, r]) => `${e.id || e.getAttribute('aria-label') || e.textContent || e.tagName} ${Math.round(r.width)}x${Math.round(r.height)}`)
           .join('; ')",
    );
    assert_eq!(small, "", "controls too small to tap");
    b.eval("document.getElementById('layout').scrollIntoView({block: 'start'}); return 0;")
        .unwrap();
    shot(&b, "phone-2-drawing");
    b.eval("document.getElementById('grid').scrollIntoView({block: 'start'}); return 0;")
        .unwrap();
    shot(&b, "phone-3-samples");
    let errors = console_errors(&b);
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[test]
#[ignore = "needs the built site and Chromium: cargo xtask test runs it"]
fn the_page_keeps_answering_while_samples_render() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve(&site(), 0).unwrap();
    let b = Browser::start().unwrap();
    open(&b, &server, "?backend=cpu");
    // A page timer every 20 ms records the longest time it had to wait (and the status then),
    // and what the progress counter beside the status said; then 4 samples of the 256x512
    // model render on the CPU. A render on the main thread would hold the timer for the whole
    // render (2 s per sample on the idle 2-core build machine, 6 s and more when other jobs
    // share it), so the longest wait is compared with the measured time per sample rather than
    // with a fixed number: it must stay under half of it. Measured: 0.01 of it on a quiet
    // machine, 0.24 under a load average of 13 on 2 cores; the previous page, which rendered on
    // the main thread, waited twice the time per sample.
    b.eval(
        "const t = window.__timer = { last: performance.now(), longest: 0, during: '', progress: new Set() };
         t.id = setInterval(() => {
           const now = performance.now();
           if (now - t.last > t.longest) {
             t.longest = now - t.last;
             t.during = document.getElementById('status').textContent;
           }
           t.last = now;
           t.progress.add(document.getElementById('elapsed').textContent);
         }, 20);
         document.getElementById('count').value = '4';
         const m = document.getElementById('model');
         m.value = 'streets-256x512';
         m.dispatchEvent(new Event('change'));
         return 0;",
    )
    .unwrap();
    b.wait_for(
        "document.body.dataset.state === 'idle' && document.querySelectorAll('#grid canvas').length === 4 && document.querySelector('#grid canvas').width === 512",
        WAIT,
    )
    .unwrap();
    idle(&b);
    let status = text(&b, "#status");
    let timer = b
        .eval("const t = window.__timer; clearInterval(t.id); return [t.longest, t.progress.size, t.during];")
        .unwrap();
    eprintln!(
        "while rendering: {status} [longest timer wait in ms, progress texts, status then] = {timer}"
    );
    let per_sample: f64 = status
        .split(" ms each on CPU")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no time per sample on the CPU in {status:?}"));
    let longest = timer[0].as_f64().unwrap();
    assert!(
        longest < per_sample / 2.0,
        "the page froze for {longest:.0} ms while rendering samples of {per_sample:.0} ms \
         (during {})",
        timer[2]
    );
    assert!(
        timer[1].as_u64().unwrap() >= 5,
        "the progress line did not keep updating: {timer}"
    );
    shot(&b, "cpu-256x512");
    let errors = console_errors(&b);
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
