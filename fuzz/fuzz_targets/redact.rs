//! The redactor of `exec --redact`, on secrets and output taken from the input: the first byte
//! says how many secrets (0–3) come first, each ended by 0x1E (ASCII's record separator), the
//! second seeds where the rest, the output, is cut into the chunks a pipe would deliver.
//!
//! * Cut anywhere, the stream gives exactly what redacting the output at once gives.
//! * No secret value (one without `[` or `]`, so that it cannot be made out of a replacement's
//!   own text) is left in what comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsenv::redact::{Filter, MIN_REDACTED, Redactor};
use lsenv::secret::Secret;

fn redacted(redactor: &Redactor, text: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut filter = Filter::new(redactor);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([text.len()].iter()) {
        filter.feed(&text[start..cut], &mut out);
        start = cut;
    }
    filter.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let [count, seed, rest @ ..] = data else {
        return;
    };
    let wanted = usize::from(count % 4);
    let parts: Vec<&[u8]> = rest.splitn(wanted + 1, |&byte| byte == 0x1E).collect();
    let Some((text, values)) = parts.split_last() else {
        return;
    };
    if values.len() < wanted {
        return;
    }
    // As the supervisor does: shorter values are not redacted.
    let secrets: Vec<(String, Secret)> = values
        .iter()
        .filter(|value| value.len() >= MIN_REDACTED)
        .enumerate()
        .map(|(i, value)| (format!("S{i}"), Secret::copy_from(value)))
        .collect();
    let Ok(redactor) = Redactor::new(secrets.iter().map(|(name, value)| (name.as_str(), value)))
    else {
        return;
    };
    let whole = redacted(&redactor, text, &[]);

    let mut state = u64::from(*seed) | 1;
    let mut cuts: Vec<usize> = (0..usize::from(seed % 8))
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap() % (text.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    assert_eq!(redacted(&redactor, text, &cuts), whole, "cut at {cuts:?}");
    let bytewise: Vec<usize> = (1..text.len()).collect();
    assert_eq!(
        redacted(&redactor, text, &bytewise),
        whole,
        "cut at every byte"
    );

    for (name, value) in &secrets {
        let value = value.expose();
        if value.contains(&b'[') || value.contains(&b']') {
            continue;
        }
        assert!(
            !whole.windows(value.len()).any(|window| window == value),
            "{name} left in the output"
        );
    }
});
