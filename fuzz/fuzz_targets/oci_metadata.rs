//! An OCI layout's `index.json`, manifest and config (NUL-separated), then the label readers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_oci::fuzz::image_metadata(data);
});
