//! Where programs run: a few threads of Herald's own with [`RUNNER_STACK`]-sized stacks,
//! fed through one channel; [`run_all`] hands them a batch and awaits its first outputs,
//! written as JSON text within [`MAX_OUTPUT_BYTES`].

use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};

use jaq_core::{Ctx, Vars};
use jaq_json::Val;

use super::{
    MAX_OUTPUT_BYTES, Program, RUNNER_STACK, RunFailure,
    meter::{Interrupted, Metered, MeteredData, metered},
};

impl Program {
    /// Runs the program on `input` (JSON text) on this thread and returns its first
    /// output as JSON text, `None` if it has none. Only for threads with a large stack:
    /// everything else goes through [`run_all`].
    fn first_output(&self, input: &Val) -> Result<Option<String>, RunFailure> {
        let filter = &self.0.filter;
        let outcome = metered(|| {
            let ctx = Ctx::<Metered>::new(MeteredData(&filter.lut), Vars::new([]));
            // Not `jaq_core::unwrap_valr`: that exits the process on `halt` (which no
            // program here can call, but nothing in a tenant's run may end the process).
            let mut outputs = filter.id.run((ctx, input.clone()));
            match outputs.next() {
                None => Ok(None),
                Some(Err(exn)) => Err(RunFailure::Error(match exn.get_err() {
                    Ok(e) => e.to_string(),
                    Err(_) => "the program stopped without a value".to_owned(),
                })),
                Some(Ok(value)) => json_text(&value).map(Some),
            }
        });
        match outcome {
            Ok(result) => result,
            Err(Interrupted::Cutoff(failure)) => Err(failure),
            // A bug in the interpreter: that run fails, the runner goes on.
            Err(Interrupted::Panic) => {
                tracing::error!(program = %self.0.source, "a jq program run panicked");
                Err(RunFailure::Error("the program hit an internal error".to_owned()))
            }
        }
    }
}

/// `value` as JSON text, written straight into bytes (jaq's `Display` goes through a
/// formatter, several times slower) and cut off at [`MAX_OUTPUT_BYTES`].
fn json_text(value: &Val) -> Result<String, RunFailure> {
    /// Refuses to grow past the limit, so a huge output is never built whole.
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + bytes.len() > MAX_OUTPUT_BYTES {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::with_capacity(256));
    jaq_json::write::write(&mut out, &jaq_json::write::Pp::default(), 0, value)
        .map_err(|_| RunFailure::Output)?;
    // A string of invalid UTF-8 is written as is; JSON text is UTF-8.
    Ok(String::from_utf8(out.0).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// One run to do: a program and its input.
pub type Job = (Program, Arc<str>);

type Task = Box<dyn FnOnce() + Send>;

/// The threads that run programs.
struct Runners {
    tx: Mutex<mpsc::Sender<Task>>,
}

fn runners() -> &'static Runners {
    static RUNNERS: OnceLock<Runners> = OnceLock::new();
    RUNNERS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("herald-jq-{i}"))
                .stack_size(RUNNER_STACK)
                .spawn(move || {
                    loop {
                        let task = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match task {
                            Ok(task) => task(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a jq runner thread");
            }
        }
        Runners { tx: Mutex::new(tx) }
    })
}

/// Runs each program on its input on a runner thread (all of them one after the other,
/// in one hand-over) and gives each one's first output as JSON text.
pub async fn run_all(jobs: Vec<Job>) -> Vec<Result<Option<String>, RunFailure>> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let n = jobs.len();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let task: Task = Box::new(move || {
        let _ = reply.send(run_here(&jobs));
    });
    let sent = runners()
        .tx
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(task)
        .is_ok();
    let lost = || vec![Err(RunFailure::Error("the program runner stopped".into())); n];
    if !sent {
        return lost();
    }
    answer.await.unwrap_or_else(|_| lost())
}

/// Runs one program on its input on a runner thread.
pub async fn run_one(program: &Program, input: &str) -> Result<Option<String>, RunFailure> {
    run_all(vec![(program.clone(), Arc::from(input))])
        .await
        .pop()
        .unwrap_or(Ok(None))
}

/// [`run_all`] on this thread, which must be a runner.
fn run_here(jobs: &[Job]) -> Vec<Result<Option<String>, RunFailure>> {
    let mut parsed: Option<(Arc<str>, Result<Val, RunFailure>)> = None;
    jobs.iter()
        .map(|(program, input)| {
            // Jobs of one message share their input: it is read once.
            let value = match &parsed {
                Some((text, value)) if Arc::ptr_eq(text, input) => value.clone(),
                _ => {
                    let value = jaq_json::read::parse_single(input.as_bytes())
                        .map_err(|e| RunFailure::Input(e.to_string()));
                    parsed = Some((Arc::clone(input), value.clone()));
                    value
                }
            }?;
            program.first_output(&value)
        })
        .collect()
}
