//! `eid app`: the card holder's PIN dialog on 127.0.0.1 (`crates/app`) over card files,
//! PC/SC readers and PKCS#11 modules, `eid app --launch LINK` (opens an `eid://` link's
//! launch page in the default browser) and `eid app register` (installs the URL-scheme
//! handler).
//!
//! With a fixed `--port`, the running app leaves its launch base in
//! `$XDG_RUNTIME_DIR/eid-app-<port>` (mode 0600), so a later `--launch` (a click on another
//! link) finds the app that already runs instead of failing to bind.

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use eid_app::{App, CardSource, Config, StartError};
use eid_protocol::LaunchLink;

use crate::cli::{AppArgs, AppCommand, AppRunArgs};
use crate::failure::{Failure, Outcome};

/// Runs `eid app …`.
pub async fn run(args: AppArgs) -> Outcome {
    match args.command {
        Some(AppCommand::Register(run)) => register(&run),
        None => serve(args.run, args.launch).await,
    }
}

fn passed_on(run: &AppRunArgs) -> Vec<String> {
    let mut out = Vec::new();
    for c in &run.cards {
        let c = std::path::absolute(c).unwrap_or_else(|_| c.clone());
        out.push("--card".to_owned());
        out.push(c.to_string_lossy().into_owned());
    }
    for r in &run.readers {
        out.push("--reader".to_owned());
        out.push(r.clone());
    }
    if run.pcsc {
        out.push("--pcsc".to_owned());
    }
    for m in &run.pkcs11 {
        let m = std::path::absolute(m).unwrap_or_else(|_| m.clone());
        out.push("--pkcs11".to_owned());
        out.push(m.to_string_lossy().into_owned());
    }
    for s in &run.servers {
        out.push("--server".to_owned());
        out.push(s.clone());
    }
    if let Some(p) = run.port {
        out.push("--port".to_owned());
        out.push(p.to_string());
    }
    out
}

/// The card sources in the order the holder sees them: files, named readers, every reader,
/// the cards of PKCS#11 modules.
fn card_sources(run: &AppRunArgs) -> Vec<CardSource> {
    let files = run.cards.iter().cloned().map(CardSource::File);
    let readers = run.readers.iter().cloned().map(CardSource::Reader);
    let all = run.pcsc.then_some(CardSource::AllReaders);
    let modules = run.pkcs11.iter().cloned().map(CardSource::Pkcs11);
    files.chain(readers).chain(all).chain(modules).collect()
}

/// Loads every `--pkcs11` module once, so a wrong path or a module that does not start is
/// said at start-up rather than as an empty card list later.
fn load_modules(run: &AppRunArgs) -> Result<(), Failure> {
    for module in &run.pkcs11 {
        eid_card::pkcs11::Pkcs11Module::load(module).map_err(|e| match e {
            // The module's own words, without "could not talk to the card".
            eid_card::CardError::Transport(eid_card::TransportError::Failed(why)) => {
                Failure::Usage(format!("--pkcs11: {why}"))
            }
            other => Failure::Usage(format!("--pkcs11: {other}")),
        })?;
    }
    Ok(())
}

fn register(run: &AppRunArgs) -> Outcome {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Internal(format!("cannot find this program: {e}")))?;
    let path = eid_app::register(&exe, &passed_on(run))
        .map_err(|e| Failure::Internal(format!("cannot write the desktop file: {e}")))?;
    println!(
        "eid:// links now open the eID app ({})",
        path.to_string_lossy()
    );
    Ok(())
}

fn runtime_file(port: u16) -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(format!("eid-app-{port}")))
}

/// Opens `url` with `xdg-open`, or prints it.
fn open_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok();
    if !opened {
        println!("Open {url}");
    }
}

async fn serve(run: AppRunArgs, launch: Option<String>) -> Outcome {
    let link = launch
        .as_deref()
        .map(LaunchLink::parse)
        .transpose()
        .map_err(|e| Failure::Usage(format!("--launch: {e}")))?;
    load_modules(&run)?;
    let config = Config {
        cards: card_sources(&run),
        servers: run.servers,
        port: run.port.unwrap_or(0),
    };
    let app = match App::bind(config).await {
        Ok(app) => app,
        Err(StartError::Bind { port, source })
            if source.kind() == ErrorKind::AddrInUse && port != 0 =>
        {
            // Another `eid app` may run on this port: hand it the link.
            let base = runtime_file(port).and_then(|f| std::fs::read_to_string(f).ok());
            return match (link, base) {
                (Some(link), Some(base)) => {
                    open_browser(&format!("{}{}", base.trim(), link.autostart_token()));
                    Ok(())
                }
                _ => Err(Failure::Refused(format!(
                    "cannot listen on 127.0.0.1:{port}: {source}"
                ))),
            };
        }
        Err(e @ (StartError::NoCard | StartError::NoServer | StartError::BadServer(_))) => {
            return Err(Failure::Usage(e.to_string()));
        }
        Err(e) => return Err(Failure::Internal(e.to_string())),
    };
    println!("eID app on {}", app.url());
    println!("launch base {}", app.launch_base());
    let runtime = run.port.and_then(runtime_file);
    if let Some(file) = &runtime {
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, app.launch_base().as_bytes()));
        if let Err(e) = written {
            tracing::warn!(error = %e, "the launch base could not be saved");
        }
    }
    if let Some(link) = &link {
        open_browser(&app.launch_url(link));
    }
    let served = app
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    if let Some(file) = &runtime {
        let _ = std::fs::remove_file(file);
    }
    served.map_err(|e| Failure::Internal(format!("the app stopped: {e}")))
}
