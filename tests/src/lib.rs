//! Browser tests for cimle's static site, with no browser download and no npm: a static file
//! server ([`server`]), used by `cargo xtask serve` too, and a small WebDriver client
//! ([`webdriver`]) for Debian's `chromium` + `chromium-driver`.

pub mod server;
pub mod webdriver;
