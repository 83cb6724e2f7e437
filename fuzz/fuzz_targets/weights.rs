//! The weights reader on arbitrary bytes: a header is read or refused, and a generator is built
//! or refused, without a panic or an allocation the file's size does not justify.
#![no_main]

use burn::tensor::Device;
use cimle::weights::{load_generator, read_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = read_header(data);
    let device = Device::flex();
    match load_generator(data, &device) {
        Ok((_, loaded)) => {
            let header = header.expect("a loadable file has a readable header");
            assert_eq!(header.config, loaded.config);
        }
        Err(_) => {}
    }
});
