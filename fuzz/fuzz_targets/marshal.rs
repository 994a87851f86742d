//! The Marshal framing behind the tag check, which fuzzing the whole file cannot reach (no
//! mutation forges an AES-GCM tag): any payload is one of the two String framings or an error,
//! and lengths that claim more than the payload holds fail without being allocated.
#![no_main]

use lsenv::store::marshal::{unwrap_string, wrap_string};

libfuzzer_sys::fuzz_target!(|payload: &[u8]| {
    if let Ok(string) = unwrap_string(payload) {
        // What was read is the payload's own bytes, and writing them frames them back.
        assert!(payload.len() > string.len());
        assert_eq!(unwrap_string(&wrap_string(string)), Ok(string));
    }
    // Any bytes at all survive the framing lsenv writes.
    assert_eq!(unwrap_string(&wrap_string(payload)), Ok(payload));
});
