//! `lsenv keygen --plugin NAME`: an age plugin's key is made by the plugin itself (in a hardware
//! key, a TPM, the Secure Enclave), so lsenv hands over to the plugin's own key generation for the
//! plugins whose command it knows, and for any other says how, running nothing.
//!
//! The plugin talks to the user on the terminal (PIN, touch); what it prints on stdout, the
//! identity (a handle for the key, which stays in the device), goes to the identity file like
//! `lsenv keygen`'s own, and its recipient is printed.

use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr as _;

use crate::env::Env;
use crate::error::{Error, Failure, Result, UsageProblem};
use crate::project::Project;
use crate::store::{age, plugin};

/// The plugins whose key generation lsenv knows: name and the arguments that make a key and print
/// its identity on stdout. Taken from each plugin's documentation; none of them is exercised by
/// lsenv's tests (they need the hardware).
const KNOWN: [(&str, &[&str]); 3] = [
    // A new key in a PIV slot of the YubiKey, with the plugin's default PIN and touch policies.
    ("yubikey", &["--generate"]),
    // A new key in the machine's TPM 2.0.
    ("tpm", &["--generate"]),
    // A new key in the Mac's Secure Enclave.
    ("se", &["keygen"]),
];

pub(crate) fn run(project: &Project, name: &str, output: Option<&Path>, env: &Env) -> Result<()> {
    let binary = plugin::binary_name(name);
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
        || name.is_empty()
    {
        return Err(Error::usage(UsageProblem::NotAPluginName {
            shown: name.escape_debug().to_string(),
        }));
    }
    let Some((_, arguments)) = KNOWN.iter().find(|(known, _)| *known == name) else {
        return Err(Error::usage(UsageProblem::UnknownPluginKeygen {
            name: name.to_owned(),
        }));
    };
    let program = crate::launch::find_program(
        std::ffi::OsStr::new(&binary),
        env.get("PATH")
            .map(|path| std::ffi::OsStr::from_bytes(path.expose())),
        Path::new("."),
    )
    .map_err(|err| match err {
        Error::CommandNotFound { .. } => {
            plugin::missing(name, "lsenv keygen --plugin", Path::new(&binary))
        }
        other => other,
    })?;
    let path = match output {
        Some(path) if path != Path::new("-") => Some(path.to_path_buf()),
        Some(_) => None,
        None => Some(crate::commands::keygen::default_path(env)?),
    };
    if let Some(path) = &path {
        crate::commands::keygen::refuse_existing(path)?;
    }
    crate::terminal::say(&format!(
        "running {binary} {}: follow its instructions",
        arguments.join(" ")
    ));
    let ran = Command::new(&program)
        .args(*arguments)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| crate::launch::cannot_execute(program.clone(), &err))?;
    let printed = zeroize::Zeroizing::new(ran.stdout);
    if !ran.status.success() {
        return Err(Error::failed(Failure::PluginKeygen {
            command: format!("{binary} {}", arguments.join(" ")),
            outcome: format!("failed ({})", ran.status),
        }));
    }
    // Checked before it is kept: what lsenv writes must be an identity it can read.
    age::parse_identities(&printed, &format!("the output of {binary}"))?;
    let recipients: Vec<String> = String::from_utf8_lossy(&printed)
        .split_whitespace()
        .filter(|word| word.starts_with(&format!("age1{name}1")))
        .filter_map(|word| ::age::plugin::Recipient::from_str(word).ok())
        .map(|recipient| recipient.to_string())
        .collect();
    let Some(path) = path else {
        return crate::terminal::print(&printed);
    };
    if !path.exists() && project.ignore_if_inside(&path)? {
        crate::terminal::say(&format!(
            "listed {} in the project's .gitignore before writing it",
            path.display()
        ));
    }
    crate::commands::keygen::write_identity(
        &path,
        std::str::from_utf8(&printed).map_err(|_| {
            Error::failed(Failure::PluginKeygen {
                command: binary.clone(),
                outcome: "printed text that is not UTF-8".into(),
            })
        })?,
    )?;
    let mut out = String::new();
    for recipient in &recipients {
        out.push_str(recipient);
        out.push('\n');
    }
    if recipients.is_empty() {
        crate::terminal::say(&format!(
            "{binary} printed no recipient; it can print it again (see {binary} --help)"
        ));
    }
    crate::terminal::print(out.as_bytes())
}
