//! The native half of the wasm-versus-native check: the shipped browser model, rendering an
//! example layout with a fixed style on the CPU, must give the floats stored in
//! `tests/fixtures/reference.bin`. The wasm tests (`tests/browser.rs`, run in headless
//! Chromium by `cargo xtask test`) compare their CPU and WebGPU renders with the same file, so
//! together they show wasm CPU == native within 1e-4.
//!
//! After retraining the shipped model, regenerate the file with
//! `CIMLE_UPDATE_REFERENCE=1 cargo test --release --workspace --test reference`.

#![cfg(not(target_arch = "wasm32"))]

#[path = "common/mod.rs"]
mod common;

use cimle_web::Model;

#[test]
fn native_cpu_render_matches_the_reference_fixture() {
    let model = Model::from_bytes(common::SHIPPED_MODEL).unwrap();
    assert_eq!(
        (model.height(), model.width()),
        (256, 512),
        "not the shipped resolution"
    );
    let floats = common::render_reference(&model);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.bin");
    if std::env::var_os("CIMLE_UPDATE_REFERENCE").is_some() {
        std::fs::write(path, common::encode_reference(&floats)).unwrap();
        eprintln!("wrote {path}");
    }
    let reference = common::decode_reference(&std::fs::read(path).unwrap());
    let diff = common::max_abs_diff(&common::sample(&floats), &reference);
    // The same build on the same kind of CPU: equal up to summation order in the matrix
    // products (different CPUs pick different SIMD kernels).
    assert!(
        diff < 1e-5,
        "native render differs from the fixture by {diff}"
    );
}
