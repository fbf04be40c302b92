//! The single writer with group commit.
//!
//! SQLite allows one writer at a time. Rather than let every request fight for the lock, one
//! thread owns the write connection; requests queue up, and the thread runs everything that
//! queued meanwhile in one transaction, each request inside its own savepoint (so one failed
//! request changes nothing and does not disturb the others), and answers every request only
//! after `COMMIT` returns. With power-loss durability that is one `fsync` for the whole batch
//! instead of one per request. Every change is still committed before its caller hears of it.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::backend_error;
use crate::{StoreError, StoreResult};

/// The most requests folded into one transaction.
const MAX_BATCH: usize = 512;

/// A request's work, run on the writer thread inside a savepoint.
trait Job: Send {
    /// Runs the work; the outcome says whether it succeeded and how to answer.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Outcome>;
    /// Answers without running: the batch could not start.
    fn refuse(self: Box<Self>, error: &StoreError);
}

/// A finished request waiting for the batch's commit.
trait Outcome: Send {
    /// Whether the work succeeded (its savepoint is kept) or failed (rolled back).
    fn succeeded(&self) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn deliver(self: Box<Self>, commit: &StoreResult<()>);
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

struct Done<T> {
    result: StoreResult<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Outcome> {
        let Pending { work, reply } = *self;
        Box::new(Done {
            result: work(conn),
            reply,
        })
    }

    fn refuse(self: Box<Self>, error: &StoreError) {
        let _ = self.reply.send(Err(StoreError::Backend(error.to_string())));
    }
}

impl<T: Send + 'static> Outcome for Done<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn deliver(self: Box<Self>, commit: &StoreResult<()>) {
        let result = match (self.result, commit) {
            (Ok(_), Err(e)) => Err(StoreError::Backend(format!("commit failed: {e}"))),
            (result, _) => result,
        };
        // The caller may have gone away (its future dropped); the change stands regardless.
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread. Dropping it stops the thread after the queued work.
#[derive(Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        thread::Builder::new()
            .name("eid-sqlite-writer".into())
            .spawn(move || run(conn, jobs))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Runs `work` in a write transaction and answers after it is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Pending { work, reply }))
            .map_err(|_| StoreError::Backend("the writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the writer thread has stopped".into()))?
    }
}

fn run(conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

/// Runs one transaction-control statement through the statement cache: they run several
/// times per batch, and parsing them each time cost more than running them.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn run_batch(conn: &Connection, batch: Vec<Box<dyn Job>>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let error = backend_error(e);
        for job in batch {
            job.refuse(&error);
        }
        return;
    }
    let mut outcomes: Vec<Box<dyn Outcome>> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = control(conn, "SAVEPOINT job") {
            let error = backend_error(e);
            job.refuse(&error);
            jobs.for_each(|job| job.refuse(&error));
            return abandon(conn, outcomes, error);
        }
        let outcome = job.run(conn);
        let end = if outcome.succeeded() {
            control(conn, "RELEASE job")
        } else {
            control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job"))
        };
        outcomes.push(outcome);
        if let Err(e) = end {
            // The transaction is in an unknown state: abandon the whole batch.
            let error = backend_error(e);
            jobs.for_each(|job| job.refuse(&error));
            return abandon(conn, outcomes, error);
        }
    }
    let commit = control(conn, "COMMIT").map_err(backend_error);
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for outcome in outcomes {
        outcome.deliver(&commit);
    }
}

fn abandon(conn: &Connection, outcomes: Vec<Box<dyn Outcome>>, error: StoreError) {
    let _ = conn.execute_batch("ROLLBACK");
    let failed = Err(error);
    for outcome in outcomes {
        outcome.deliver(&failed);
    }
}
