//! wasm-bindgen tests in headless Chromium (`cargo xtask test` runs them with Debian's
//! chromedriver and `--enable-unsafe-webgpu`, which gives a SwiftShader WebGPU adapter):
//! the shipped model loads from bytes and renders in wasm, on the CPU equal to the native
//! render (`tests/reference.rs`) within 1e-4, and on WebGPU within the tolerance below; a
//! crafted link is refused by its stated size limits in wasm's 32-bit address space.

#![cfg(target_arch = "wasm32")]

#[path = "common/mod.rs"]
mod common;

use cimle_web::Model;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const REFERENCE: &[u8] = include_bytes!("fixtures/reference.bin");

/// WebGPU against the native CPU: other kernels, summation orders and transcendental functions
/// in f32 (SwiftShader here). Measured on 2026-11-25: max 8.2e-4, mean 3.9e-4 on the [-1, 1]
/// scale. Allowed: half of one 8-bit output level (2 / 255 / 2 = 3.9e-3) for any value, and
/// a mean of 1e-3, so no pixel of the page's 8-bit image moves by more than one level.
const WEBGPU_MAX: f32 = 3.9e-3;
const WEBGPU_MEAN: f32 = 1e-3;

#[wasm_bindgen_test]
fn wasm_cpu_render_equals_the_native_render() {
    let model = Model::from_bytes(common::SHIPPED_MODEL).unwrap();
    assert_eq!((model.height(), model.width()), (256, 512));
    let floats = common::render_reference(&model);
    assert_eq!(floats.len(), 3 * 256 * 512);
    let reference = common::decode_reference(REFERENCE);
    let diff = common::max_abs_diff(&common::sample(&floats), &reference);
    log(&format!("wasm CPU vs native: max |diff| = {diff:e}"));
    assert!(
        diff <= 1e-4,
        "wasm CPU render differs from native by {diff}"
    );
}

#[wasm_bindgen_test]
async fn webgpu_render_matches_the_native_render() {
    let model = match Model::load_webgpu(common::SHIPPED_MODEL.to_vec()).await {
        Ok(m) => m,
        Err(e) => panic!("WebGPU did not start in this browser: {e:?}"),
    };
    log(&format!("backend: {}", model.backend()));
    let ids = common::layout(&model);
    let style = common::style(&model, &ids);
    let floats = model
        .render_floats_async(&ids, model.height(), model.width(), &style)
        .await
        .unwrap();
    let reference = common::decode_reference(REFERENCE);
    let sampled = common::sample(&floats);
    let (max, mean) = (
        common::max_abs_diff(&sampled, &reference),
        common::mean_abs_diff(&sampled, &reference),
    );
    log(&format!(
        "WebGPU vs native: max |diff| = {max:e}, mean = {mean:e}"
    ));
    assert!(
        max <= WEBGPU_MAX,
        "WebGPU render differs from native by {max} at most"
    );
    assert!(
        mean <= WEBGPU_MEAN,
        "WebGPU render differs from native by {mean} on average"
    );
}

#[wasm_bindgen_test]
fn a_corrupt_weights_file_is_an_error_not_a_panic() {
    let mut bytes = common::SHIPPED_MODEL.to_vec();
    bytes.truncate(1000);
    let err = Model::from_bytes(&bytes).err().unwrap();
    assert!(err.contains("weights file"), "{err}");
}

/// On wasm32 a `usize` is 32 bits, so a region of 65536x65536 pixels claims 2^32 mask values,
/// which wraps to 0: the size must be refused before any product is taken or allocated.
#[wasm_bindgen_test]
fn a_crafted_link_is_an_error_not_an_allocation() {
    use cimle_web::base64url::base64url_encode;
    use cimle_web::codec::encode_layout;
    let layout = encode_layout(&[0; 4], 2, 2);
    let style = base64url_encode(
        br#"{"k":"r","base":{"k":"s","s":1},"seed":2,"h":65536,"w":65536,"runs":[0,9]}"#,
    );
    let err = cimle_web::Link::parse(&format!("#m=x&l={layout}&s={style}"), 20).unwrap_err();
    assert!(err.contains("65536x65536 (height x width)"), "{err}");
    // Version 1, 65535x65535, one run: 4 GiB of class ids, the whole wasm address space.
    let huge = base64url_encode(&[1, 0xff, 0xff, 0xff, 0xff, 0, 1]);
    let err = cimle_web::Link::parse(&format!("#m=x&l={huge}&s={style}"), 20).unwrap_err();
    assert!(err.contains("at most 8192 pixels a side"), "{err}");
}

fn log(text: &str) {
    wasm_bindgen_test::console_log!("{}", text);
}
