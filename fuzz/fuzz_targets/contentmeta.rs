//! rpm-ostree's contentmeta JSON, plain or gzip (`plan --contentmeta`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_datasets::contentmeta::load_bytes(data, "fuzz");
});
