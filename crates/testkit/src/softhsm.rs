//! A SoftHSM2 of one test: its own configuration and token folder, found by the module
//! through `SOFTHSM2_CONF` in the environment of the process that loads it (so tests load
//! it in child processes: `eid app --pkcs11`, `pkcs11-tool`, or the test binary itself).
//!
//! This file uses only `std` and `tempfile`: `eid-card`'s own tests include it by path
//! (they cannot depend on this crate, which depends on them), the rest through
//! `eid_testkit::softhsm`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Debian's SoftHSM2 PKCS#11 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 configuration and token folder, removed when dropped.
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    /// A new configuration with no tokens.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir(dir.path().join("tokens")).expect("the token folder");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}/tokens/\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().display()
            ),
        )
        .expect("the SoftHSM2 configuration");
        SoftHsm { dir }
    }

    /// The configuration file (`SOFTHSM2_CONF`).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// A file in the test's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `program` with this configuration in its environment.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SOFTHSM2_CONF", self.conf());
        command
    }

    /// Runs `program args` with this configuration; it must succeed.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            text(&output)
        );
        output
    }

    /// A new token `label` with its SO PIN and user PIN.
    pub fn init_token(&self, label: &str, so_pin: &str, pin: &str) {
        self.run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so_pin,
                "--pin",
                pin,
            ],
        );
    }

    /// `pkcs11-tool` on token `label`, whatever its outcome.
    pub fn pkcs11_tool(&self, label: &str, args: &[&str]) -> Output {
        self.command("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", label])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run pkcs11-tool: {e}"))
    }

    /// `pkcs11-tool` on token `label`; it must succeed.
    pub fn tool(&self, label: &str, args: &[&str]) -> Output {
        let output = self.pkcs11_tool(label, args);
        assert!(
            output.status.success(),
            "pkcs11-tool {args:?}: {}",
            text(&output)
        );
        output
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}

/// A process's standard output and error, as text.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
