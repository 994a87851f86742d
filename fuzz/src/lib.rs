//! What the fuzz targets share: scratch files standing in for the user's, and the size caps.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Larger than every cap lsenv puts on a file it reads (credentials 16 MiB, TOML 1 MiB).
const OVERSIZED: u64 = lsenv::store::rails::MAX_FILE_BYTES + 1;

/// A path in a directory of this process. The directory lives as long as the process, which
/// libFuzzer ends with `exit`: `scripts/fuzz.sh` points `TMPDIR` at a RAM-backed directory it
/// removes afterwards (lsenv fsyncs what it writes, which costs nothing there).
pub fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("lsenv-fuzz-")
            .tempdir()
            .expect("a scratch directory")
            .keep()
    })
    .join(name)
}

/// Writes `data` to `path` as the file lsenv will read. About one input in 1024, picked by a
/// hash of its bytes (FNV-1a) (so that a crash reproduces from the input alone), is then grown past every
/// size cap, sparsely: such a file must be refused for its size, whatever it holds. (Rarely,
/// because lsenv reads up to the cap before refusing, which costs milliseconds.) Returns whether
/// it was.
pub fn write_input(path: &Path, data: &[u8]) -> bool {
    std::fs::write(path, data).expect("write the input");
    let hash = data.iter().fold(0x811c_9dc5_u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    let oversized = hash % 1024 == 0;
    if oversized {
        File::options()
            .write(true)
            .open(path)
            .and_then(|file| file.set_len(OVERSIZED))
            .expect("grow the input");
    }
    oversized
}

/// The refusal of a file over its size cap: a configuration error saying so.
pub fn assert_size_refusal(result: Result<impl Sized, lsenv::Error>) {
    match result {
        Ok(_) => panic!("an oversized file was read"),
        Err(err) => assert!(
            err.exit_code() == lsenv::error::exit::CONFIG
                && err.to_string().contains("the file is larger than"),
            "an oversized file gave another error: {err}"
        ),
    }
}
