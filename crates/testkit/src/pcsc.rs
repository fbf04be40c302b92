//! A private PC/SC stack for one test: pcscd with vsmartcard's virtual reader (vpcd), and
//! virtual cards served into its reader slots by `eid card serve`.
//!
//! pcscd's socket folder is fixed at `/run/pcscd`, so each [`PcscDaemon`] runs in its own
//! mount namespace (`unshare -m`, root only) with a temporary folder bound there: tests run
//! in parallel and never touch (or need) the machine's pcscd. Clients find the daemon
//! through `PCSCLITE_CSOCK_NAME`, which pcsc-lite's client library reads once per process;
//! the workspace forbids the unsafe `set_var`, so every PC/SC client in a test is a
//! subprocess made by [`PcscDaemon::command`] (`eid …`, `opensc-tool`, `pkcs11-tool`).
//!
//! vpcd opens two reader slots: slot 0 ("Virtual PCD 00 00") listens for a card on
//! [`PcscDaemon::vpcd_addr`]`(0)`, slot 1 ("Virtual PCD 00 01") on the next port. It
//! listens on every interface (its configuration has no address); cards connect over
//! loopback.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::RngExt;

/// The vpcd driver Debian's `vsmartcard-vpcd` installs.
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// OpenSC's PKCS#11 module as Debian's `opensc-pkcs11` installs it.
pub const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// How long the daemon or a card may take to show up.
const PATIENCE: Duration = Duration::from_secs(15);

/// pcscd with a vpcd reader (two slots), private to the test; killed when dropped.
pub struct PcscDaemon {
    dir: tempfile::TempDir,
    daemon: Child,
    port: u16,
}

impl PcscDaemon {
    /// Starts pcscd in its own mount namespace and waits until both reader slots are
    /// listed. Panics, saying what is missing, when not root or a package is not
    /// installed (pcscd, vsmartcard-vpcd, opensc, util-linux's unshare).
    pub fn start() -> Self {
        preconditions();
        let mut last = String::new();
        // A port taken between the check and vpcd's bind shows as missing readers: retry.
        for _ in 0..4 {
            match Self::try_start() {
                Ok(daemon) => return daemon,
                Err(why) => last = why,
            }
        }
        panic!("pcscd with vpcd did not start: {last}");
    }

    fn try_start() -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::create_dir(dir.path().join("cache")).unwrap();
        let port = free_port_pair();
        let conf = dir.path().join("reader.conf");
        std::fs::write(
            &conf,
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:{port}\n\
                 LIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("pcscd.log")).unwrap();
        // unshare and sh exec: the child is pcscd itself, killed by PID on drop.
        let script = format!(
            "mkdir -p /run/pcscd && mount --bind '{}' /run/pcscd && exec pcscd -f -c '{}'",
            run.display(),
            conf.display()
        );
        let daemon = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
        let mut daemon = PcscDaemon { dir, daemon, port };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = daemon.daemon.try_wait().unwrap() {
                return Err(format!("pcscd exited ({status}): {}", daemon.log()));
            }
            if daemon.socket().exists() {
                let readers = daemon.readers();
                if (0..2).all(|slot| readers.contains(&Self::reader_name(slot))) {
                    return Ok(daemon);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no vpcd readers after {PATIENCE:?} (port {port} taken?): {}",
            daemon.log()
        ))
    }

    /// The daemon's socket, as clients name it in `PCSCLITE_CSOCK_NAME`.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("pcscd.comm")
    }

    /// A folder of the test's own, removed with the daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a PC/SC client needs to use this daemon (and an OpenSC cache of
    /// its own).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PCSCLITE_CSOCK_NAME".into(),
                self.socket().display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".into(),
                self.dir.path().join("cache").display().to_string(),
            ),
        ]
    }

    /// `program` with [`env`](PcscDaemon::env) set.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env()).env_remove("EID_DATA");
        command
    }

    /// Runs `program args` with [`env`](PcscDaemon::env); returns its output.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// Where a card for `slot` (0 or 1) connects: `127.0.0.1:PORT`.
    pub fn vpcd_addr(&self, slot: u8) -> String {
        format!("127.0.0.1:{}", self.port + u16::from(slot))
    }

    /// The PC/SC name of reader `slot` (0 or 1).
    pub fn reader_name(slot: u8) -> String {
        format!("Virtual PCD 00 {slot:02}")
    }

    /// `opensc-tool -l`: the readers and whether a card is in each.
    pub fn readers(&self) -> String {
        let out = self.run("opensc-tool", &["-l"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether `opensc-tool -l` shows a card in reader `slot`.
    pub fn card_in(&self, slot: u8) -> bool {
        let name = Self::reader_name(slot);
        self.readers()
            .lines()
            .find(|line| line.trim_end().ends_with(&name))
            .is_some_and(|line| line.split_whitespace().nth(1) == Some("Yes"))
    }

    /// Waits until reader `slot` shows a card (`present`) or none.
    pub fn wait_for_card(&self, slot: u8, present: bool) {
        let deadline = Instant::now() + PATIENCE;
        while self.card_in(slot) != present {
            assert!(
                Instant::now() < deadline,
                "reader {slot} still {} a card after {PATIENCE:?}:\n{}",
                if present { "without" } else { "with" },
                self.readers()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `eid card serve CARD_FILE --vpcd <slot's address>` (`eid` is the binary, e.g.
    /// `env!("CARGO_BIN_EXE_eid")`) and waits until the reader shows the card.
    pub fn serve(&self, eid: impl AsRef<OsStr>, card_file: &Path, slot: u8) -> ServedCard {
        let command = self.command(eid);
        self.serve_with(command, card_file, slot)
    }

    /// As [`serve`](PcscDaemon::serve), with the card armed to abort its process (the
    /// card pulled out) when it reaches `failpoint` (`EID_CARD_FAILPOINT`; the binary must
    /// be built with eid-card's `failpoints` feature, e.g. `command-DB`: as PUT DATA
    /// arrives).
    pub fn serve_armed(
        &self,
        eid: impl AsRef<OsStr>,
        card_file: &Path,
        slot: u8,
        failpoint: &str,
    ) -> ServedCard {
        let mut command = self.command(eid);
        command.env("EID_CARD_FAILPOINT", failpoint);
        self.serve_with(command, card_file, slot)
    }

    fn serve_with(&self, mut command: Command, card_file: &Path, slot: u8) -> ServedCard {
        // Its own file: the process may outlive the daemon (and the daemon's folder).
        let out = tempfile::NamedTempFile::new().unwrap();
        let file = out.reopen().unwrap();
        let child = command
            .args(["card", "serve"])
            .arg(card_file)
            .args(["--vpcd", &self.vpcd_addr(slot)])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut card = ServedCard { child, out };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = card.child.try_wait().unwrap() {
                panic!("eid card serve exited ({status}): {}", card.output());
            }
            if card.output().contains("is in the virtual reader") && self.card_in(slot) {
                return card;
            }
            assert!(
                Instant::now() < deadline,
                "the card is not in reader {slot} after {PATIENCE:?}: {}\n{}",
                card.output(),
                self.readers()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What pcscd wrote (for a failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pcscd.log")).unwrap_or_default()
    }
}

impl Drop for PcscDaemon {
    fn drop(&mut self) {
        // pcscd runs no processes of its own; its namespace goes with it.
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// An `eid card serve` process with a card in a reader; killed (card taken out) when
/// dropped.
pub struct ServedCard {
    child: Child,
    out: tempfile::NamedTempFile,
}

impl ServedCard {
    /// What the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.out.path()).unwrap_or_default()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process with SIGTERM, as an operator would; returns how it exited and
    /// what it printed.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let status = self.child.wait().unwrap();
        (status, self.output())
    }

    /// Kills the process (SIGKILL): the card is pulled out with no warning.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServedCard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn preconditions() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        == Some("0");
    assert!(
        root,
        "PC/SC tests run pcscd in a mount namespace of their own: they must run as root"
    );
    for (path, package) in [
        ("/usr/sbin/pcscd", "pcscd"),
        (VPCD_DRIVER, "vsmartcard-vpcd"),
        ("/usr/bin/opensc-tool", "opensc"),
        ("/usr/bin/unshare", "util-linux"),
    ] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install the Debian package {package} (scripts/test.sh does)"
        );
    }
}

/// A port whose successor is free too, below the ephemeral range (where the cards' own
/// connections take their ports): vpcd binds both on every interface.
fn free_port_pair() -> u16 {
    loop {
        let port = rand::rng().random_range(20_000..32_000u16) & !1;
        let free = |p: u16| TcpListener::bind(("0.0.0.0", p)).is_ok();
        if free(port) && free(port + 1) {
            return port;
        }
    }
}
