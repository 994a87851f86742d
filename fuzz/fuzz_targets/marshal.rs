//! The Marshal framing behind the tag check, which fuzzing the whole file cannot reach (no
//! mutation forges an AES-GCM tag): any payload is one of the two String framings or an error,
//! and lengths that claim more than the payload holds fail without being allocated.
#![no_main]

use lsenv::store::marshal::{unwrap_string, wrap_string};

/// The String's bytes in `payload`, if it holds one.
fn string(payload: &[u8]) -> Option<&[u8]> {
    unwrap_string(payload).ok().map(|range| &payload[range])
}

libfuzzer_sys::fuzz_target!(|payload: &[u8]| {
    if let Some(string) = string(payload) {
        // What was read is the payload's own bytes, and writing them frames them back.
        assert!(payload.len() > string.len());
        assert_eq!(self::string(&wrap_string(string)), Some(string));
    }
    // Any bytes at all survive the framing lsenv writes.
    assert_eq!(string(&wrap_string(payload)), Some(payload));
});
