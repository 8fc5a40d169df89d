//! A manifest, config or `skopeo inspect` JSON file, then the label readers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_oci::fuzz::image_json(data);
});
