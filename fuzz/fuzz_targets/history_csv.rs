//! A generic history CSV (`compare --history FILE`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rechunk_datasets::generic::parse(data, "fuzz", "fuzz".into());
});
