//! The one writer: a dedicated thread that owns the read-write connection and commits queued
//! writes in batches (group commit).
//!
//! With `synchronous=FULL` every commit costs an fsync, which is the real limit on write
//! throughput. Requests that arrive while a commit is on disk wait in the channel; the next
//! batch takes all of them into one transaction and one fsync. Each request runs inside its own
//! savepoint, so one failing request does not undo its neighbours, and each caller is answered
//! only after the commit that contains its write has returned: an acknowledged write is on disk.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::error::from_sqlite;
use crate::StoreError;

/// Called with the outcome of the commit that contains a request's write.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A queued write request.
trait WriteOp: Send {
    /// Runs the request inside the open transaction; returns how to answer it after commit.
    fn run(self: Box<Self>, conn: &Connection) -> Completion;
    /// Answers the request without running it.
    fn fail(self: Box<Self>, error: StoreError);
}

/// A request: a closure over the connection and where to send its result.
struct Op<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> WriteOp for Op<F, T>
where
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completion {
        let Op { work, reply } = *self;
        let result = match conn.execute_batch("SAVEPOINT op") {
            Err(e) => Err(from_sqlite(e)),
            Ok(()) => {
                let result = work(conn);
                // If SQLite already rolled the whole transaction back (I/O error, disk full),
                // there is no savepoint left to touch; the batch loop notices and fails it all.
                if !conn.is_autocommit() {
                    let end = if result.is_ok() {
                        "RELEASE op"
                    } else {
                        "ROLLBACK TO op; RELEASE op"
                    };
                    if let Err(e) = conn.execute_batch(end) {
                        tracing::warn!(error = %e, "could not end a write savepoint");
                    }
                }
                result
            }
        };
        Box::new(move |commit: Result<(), StoreError>| {
            // The caller may have gone away (request cancelled); the write stands regardless.
            let _ = reply.send(commit.and(result));
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The handle to the writer thread. Dropping it lets the thread finish the queued writes and
/// close the connection, and waits for that.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn WriteOp>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn`; a batch holds at most `max_batch` requests.
    pub(super) fn start(conn: Connection, max_batch: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cloister-sqlite-writer".into())
            .spawn(move || run(&conn, &queue, max_batch.max(1)))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `work` and waits until the transaction containing it has committed.
    pub(super) async fn write<F, T>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Box::new(Op { work, reply }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Whether the writer thread is still running.
    pub(super) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

fn run(conn: &Connection, queue: &mpsc::Receiver<Box<dyn WriteOp>>, max_batch: usize) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        commit_batch(conn, batch);
    }
}

/// Runs `batch` in one transaction and answers every request after the commit.
fn commit_batch(conn: &Connection, batch: Vec<Box<dyn WriteOp>>) {
    let mut ops = batch.into_iter();
    let mut pending: Vec<Completion> = Vec::new();
    let mut open = false;
    while let Some(op) = ops.next() {
        if !open {
            // IMMEDIATE takes the write lock now (waiting up to the busy timeout if another
            // process holds it), so no statement inside can fail later for want of it.
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                let error = from_sqlite(e);
                op.fail(error.clone());
                ops.for_each(|op| op.fail(error.clone()));
                return;
            }
            open = true;
        }
        pending.push(op.run(conn));
        if conn.is_autocommit() {
            // SQLite rolled the transaction back on its own: every write so far is gone.
            let error = StoreError::Unavailable(
                "SQLite rolled back the write transaction (I/O error or full disk)".into(),
            );
            pending.drain(..).for_each(|done| done(Err(error.clone())));
            open = false;
        }
    }
    if open {
        let outcome = conn.execute_batch("COMMIT").map_err(from_sqlite);
        if outcome.is_err() && !conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "could not roll back after a failed commit");
            }
        }
        pending.into_iter().for_each(|done| done(outcome.clone()));
    }
}
