//! A data folder made with the real `eid` binary, as an ID administrator makes one:
//! initialised, the organisation Region Exempel (self-service signing certificates) and
//! Anna Andersson, entitled. Shared by the root package's test binaries through `#[path]`.

use std::path::PathBuf;
use std::process::{Child, Command, Output};

/// The binary under test.
pub const EID: &str = env!("CARGO_BIN_EXE_eid");
/// Region Exempel's organisation number.
pub const ORG: &str = "2321000016";
/// Anna Andersson's HSA-id.
pub const HOLDER: &str = "SE2321000016-A1B2";

/// The folder (in a temporary directory, removed when dropped).
pub struct Folder {
    /// The temporary directory; the data folder is its `data`.
    pub dir: tempfile::TempDir,
    /// The data folder.
    pub data: PathBuf,
}

impl Folder {
    /// Initialised, with the organisation and Anna.
    pub fn new() -> Self {
        Self::init_with(&[])
    }

    /// Initialised with `eid admin init INIT_ARGS` (`--public-url`, `--store`, …), with the
    /// organisation and Anna.
    pub fn init_with(init_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let folder = Folder { dir, data };
        let mut init = vec!["admin", "init"];
        init.extend_from_slice(init_args);
        folder.ok(&init);
        folder.ok(&[
            "admin",
            "org",
            "add",
            "--number",
            ORG,
            "--name",
            "Region Exempel",
            "--signing",
            "self-service",
        ]);
        folder.ok(&[
            "admin",
            "person",
            "add",
            "--hsa-id",
            HOLDER,
            "--given-name",
            "Anna",
            "--surname",
            "Andersson",
            "--org",
            ORG,
            "--entitled",
        ]);
        folder
    }

    /// `eid ARGS --data <folder>` (the environment's `EID_DATA` ignored).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(EID);
        command
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .env_remove("EID_DATA")
            .env_remove("EID_STORE__URL")
            .env_remove("EID_STORE__NODE");
        command
    }

    /// Runs `eid ARGS`; it must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(out.status.success(), "eid {args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `eid ARGS --json`; it must succeed; its JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

/// A process's standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends `child` SIGTERM (as Ctrl-C or a service manager does) and waits: it must stop
/// cleanly, `what` saying which program did not.
pub fn stop_cleanly(child: &mut Child, what: &str) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert!(
        child.wait().unwrap().success(),
        "{what} did not stop cleanly"
    );
}
