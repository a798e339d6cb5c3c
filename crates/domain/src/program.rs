//! jq programs of endpoints (filters and transformations), run by the pure-Rust `jaq`
//! interpreter with hard limits, so that a tenant's program can neither escape nor stall
//! Herald.
//!
//! A [`Program`] is parsed and compiled when it is saved: a syntax error or an undefined
//! name is refused with its line and column. What a program may call is jq's standard
//! library less everything that reaches outside: no `input`/`inputs`, `env`/`$ENV`,
//! `debug`/`stderr`, `halt`/`halt_error`, `input_filename`, local time zones, and no
//! modules (`import`/`include` read nothing).
//!
//! jaq evaluates lazily: every term it evaluates asks its context for the program's
//! table, and that is where Herald meters a run (see [`Metered`]): a step budget, a
//! deadline checked every few steps, and the depth of the native stack. Generators that
//! produce values without evaluating terms (`range`) are replaced by metered ones. A run
//! over its limits is cut off by unwinding (without the panic hook: nothing is logged as
//! a panic) and caught where it started. Runs happen on a few threads of Herald's own
//! with large stacks ([`RUNNER_STACK`]), so that even a value nested as deep as the step
//! budget allows can be dropped without overflowing a stack.

// A run is cut off by unwinding; with `panic = "abort"` that would end the process.
#[cfg(panic = "abort")]
compile_error!("jq programs are cut off by unwinding: Herald must be built with panic = \"unwind\"");

use std::{
    cell::Cell,
    collections::HashMap,
    fmt,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, OnceLock, PoisonError, Weak, mpsc},
    time::{Duration, Instant},
};

use jaq_core::{
    Compiler, Ctx, DataT, Lut, Vars,
    box_iter::box_once,
    data::HasLut,
    load::{Arena, File, Loader},
    native::{Fun, v},
};
use jaq_json::Val;

use crate::{Error, Result};

/// A program's source may be at most this long.
pub const MAX_PROGRAM_BYTES: usize = 16 * 1024;
/// Terms one run may evaluate.
pub const MAX_STEPS: u64 = 200_000;
/// Wall-clock time one run may take.
pub const TIME_BUDGET: Duration = Duration::from_millis(10);
/// A run's output (its first value, as JSON) may be at most this long.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Native stack a run may use beyond where it started.
const MAX_STACK_BYTES: usize = 8 << 20;
/// Stack of the threads that run programs: room for `MAX_STACK_BYTES` and for dropping a
/// value nested as deep as `MAX_STEPS` allows.
pub const RUNNER_STACK: usize = 64 << 20;
/// The deadline is read every this many steps.
const CLOCK_EVERY: u64 = 64;

/// Natives of jaq's standard library a program may not call.
const FORBIDDEN_NATIVES: &[&str] = &[
    "env",
    "halt",
    "debug_empty",
    "stderr_empty",
    "localtime",
    "strflocaltime",
    "range",
];
/// Definitions of the standard library that use the forbidden natives.
const FORBIDDEN_DEFS: &[&str] = &["debug", "stderr", "halt", "halt_error", "localdate"];

/// A compiled jq program with its source. Cloning is cheap (the compiled form is shared).
#[derive(Clone)]
pub struct Program(Arc<Compiled>);

struct Compiled {
    source: String,
    filter: jaq_core::Filter<Metered>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Program").field(&self.0.source).finish()
    }
}

impl PartialEq for Program {
    fn eq(&self, other: &Self) -> bool {
        self.0.source == other.0.source
    }
}

impl Eq for Program {}

/// Where and why a program does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

/// Why a run gave no value: the program failed, or it was cut off at a limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunFailure {
    /// The program raised an error (`error("…")`, `.a.b` on a string, …).
    Error(String),
    /// It evaluated more than [`MAX_STEPS`] terms.
    Steps,
    /// It ran longer than [`TIME_BUDGET`].
    Time,
    /// It recursed too deep.
    Depth,
    /// Its output is longer than [`MAX_OUTPUT_BYTES`].
    Output,
    /// Its input is not JSON jq can read.
    Input(String),
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "the program failed: {e}"),
            Self::Steps => write!(f, "the program was stopped after {MAX_STEPS} steps"),
            Self::Time => write!(f, "the program was stopped after {} ms", TIME_BUDGET.as_millis()),
            Self::Depth => write!(f, "the program was stopped: it recursed too deep"),
            Self::Output => write!(f, "the program's output is longer than {MAX_OUTPUT_BYTES} bytes"),
            Self::Input(e) => write!(f, "the program's input could not be read: {e}"),
        }
    }
}

impl Program {
    /// Parses and compiles `source`; a bad program is an [`Error::Invalid`] of `field` whose
    /// reason names the line and column.
    pub fn parse(field: &'static str, source: &str) -> Result<Self> {
        Self::compile(source).map_err(|e| Error::invalid(field, e.to_string()))
    }

    /// Parses and compiles `source`, saying where it is wrong.
    pub fn compile(source: &str) -> std::result::Result<Self, Refused> {
        if source.len() > MAX_PROGRAM_BYTES {
            return Err(Refused::Size);
        }
        if source.trim().is_empty() {
            return Err(Refused::Empty);
        }
        let at = |part: &str, message: String| {
            let start = jaq_core::load::span(source, part).start.min(source.len());
            let start = (0..=start)
                .rev()
                .find(|&i| source.is_char_boundary(i))
                .unwrap_or(0);
            let before = &source[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Refused::At(CompileError {
                line,
                column,
                message,
            })
        };
        // jq's `*` repeats a string or multiplies big integers in one step, as large as
        // asked: no step or time limit sees it, and an allocation that fails ends the
        // process. Programs multiply with the bounded `multiply(a; b)` instead.
        if let Ok(tokens) = jaq_core::load::Lexer::new(source).lex()
            && let Some(star) = find_star(&tokens)
        {
            return Err(at(
                star,
                format!(
                    "`{star}` is not available; use multiply(a; b), which refuses results over {MAX_OUTPUT_BYTES} bytes"
                ),
            ));
        }
        let arena = Arena::default();
        let loader = Loader::new(defs());
        let modules = loader
            .load(
                &arena,
                File {
                    code: source,
                    path: (),
                },
            )
            .map_err(|errors| {
                let first = errors.into_iter().next().map(|(_, e)| e);
                match first {
                    Some(jaq_core::load::Error::Lex(es)) => match es.into_iter().next() {
                        Some((expected, found)) => at(found, format!("expected {}", expected.as_str())),
                        None => at(source, "cannot be read".into()),
                    },
                    Some(jaq_core::load::Error::Parse(es)) => match es.into_iter().next() {
                        Some((expected, found)) => {
                            let shown = if found.is_empty() {
                                "the end of the program".to_owned()
                            } else {
                                format!("`{found}`")
                            };
                            at(found, format!("expected {}, found {shown}", expected.as_str()))
                        }
                        None => at(source, "cannot be parsed".into()),
                    },
                    Some(jaq_core::load::Error::Io(_)) => {
                        at(source, "modules (import, include) are not available".into())
                    }
                    None => at(source, "cannot be parsed".into()),
                }
            })?;
        let filter = Compiler::default()
            .with_funs(funs())
            .compile(modules)
            .map_err(|errors| match errors.into_iter().flat_map(|(_, es)| es).next() {
                Some((name, undefined)) => at(
                    name,
                    format!("{} `{name}` is not defined{}", undefined.as_str(), why_not(name)),
                ),
                None => at(source, "cannot be compiled".into()),
            })?;
        Ok(Self(Arc::new(Compiled {
            source: source.to_owned(),
            filter,
        })))
    }

    /// [`Program::compile`], shared: while any copy of a program compiled from the same
    /// source is alive, that copy is returned instead of compiling again. Compiling loads
    /// jq's whole standard library (about a millisecond); the caches that hold programs
    /// (endpoints in workers, applications at intake) reload their rows every few seconds,
    /// and a burst of deliveries may miss a cache all at once.
    pub fn shared(source: &str) -> std::result::Result<Self, Refused> {
        static LIVE: OnceLock<Mutex<HashMap<String, Weak<Compiled>>>> = OnceLock::new();
        let live = LIVE.get_or_init(Mutex::default);
        let lock = || live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(compiled) = lock().get(source).and_then(Weak::upgrade) {
            return Ok(Self(compiled));
        }
        // Compiled outside the lock: two threads may both compile a new source once.
        let program = Self::compile(source)?;
        let mut live = lock();
        if live.len() >= live.capacity() {
            // Before the map grows, forget the programs nobody holds any more.
            live.retain(|_, compiled| compiled.strong_count() > 0);
        }
        live.insert(source.to_owned(), Arc::downgrade(&program.0));
        Ok(program)
    }

    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// Runs the program on `input` (JSON text) on this thread and returns its first
    /// output as JSON text, `None` if it has none. Only for threads with a large stack:
    /// everything else goes through [`run_all`].
    fn first_output(&self, input: &Val) -> std::result::Result<Option<String>, RunFailure> {
        let started = Instant::now();
        let base = stack_position();
        METER.with(|m| {
            m.steps.set(0);
            m.base.set(base);
            m.deadline.set(Some(started + TIME_BUDGET));
        });
        let filter = &self.0.filter;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
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
        }));
        METER.with(|m| m.deadline.set(None));
        match outcome {
            Ok(result) => result,
            Err(payload) => match payload.downcast::<Cutoff>() {
                Ok(cutoff) => Err(cutoff.0),
                // A bug in the interpreter: that run fails, the runner goes on.
                Err(_) => {
                    tracing::error!(program = %self.0.source, "a jq program run panicked");
                    Err(RunFailure::Error("the program hit an internal error".to_owned()))
                }
            },
        }
    }
}

/// `value` as JSON text, written straight into bytes (jaq's `Display` goes through a
/// formatter, several times slower) and cut off at [`MAX_OUTPUT_BYTES`].
fn json_text(value: &Val) -> std::result::Result<String, RunFailure> {
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

/// A hint for names that exist in jq but not in Herald.
fn why_not(name: &str) -> &'static str {
    match name.trim_start_matches('$') {
        "input" | "inputs" | "input_filename" | "env" | "ENV" | "debug" | "stderr" | "halt"
        | "halt_error" | "localtime" | "strflocaltime" | "input_line_number" => {
            " (Herald's programs have no I/O)"
        }
        _ => "",
    }
}

/// Why a source is not a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    Size,
    Empty,
    At(CompileError),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size => write!(f, "a program is at most {MAX_PROGRAM_BYTES} bytes"),
            Self::Empty => write!(f, "the program is empty; use null to remove it"),
            Self::At(e) => e.fmt(f),
        }
    }
}

fn defs() -> impl Iterator<Item = jaq_core::load::parse::Def<&'static str>> {
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|d| !FORBIDDEN_DEFS.contains(&d.name))
}

fn funs() -> impl Iterator<Item = Fun<Metered>> {
    jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !FORBIDDEN_NATIVES.contains(name))
        .chain([
            jaq_core::native::run::<Metered>(("range", v(3), metered_range)),
            jaq_core::native::run::<Metered>(("multiply", v(2), bounded_multiply)),
        ])
}

/// The first `*` or `*=` among `tokens`, inside blocks and string interpolations too.
fn find_star<'a>(tokens: &[jaq_core::load::lex::Token<&'a str>]) -> Option<&'a str> {
    use jaq_core::load::lex::{StrPart, Tok};
    tokens
        .iter()
        .find_map(|jaq_core::load::lex::Token(text, tok)| match tok {
            Tok::Sym if *text == "*" || *text == "*=" => Some(*text),
            Tok::Block(inner) => find_star(inner),
            Tok::Str(parts) => parts.iter().find_map(|part| match part {
                StrPart::Term(token) => find_star(std::slice::from_ref(token)),
                _ => None,
            }),
            _ => None,
        })
}

/// Bits a product of two integers may have: more would take long to compute and print.
const MAX_PRODUCT_BITS: u64 = 1 << 16;

/// `multiply($a; $b)`: jq's `$a * $b` (numbers, a string repeated, objects merged deeply),
/// refused when a repeated string would be longer than [`MAX_OUTPUT_BYTES`] or a product
/// of big integers longer than [`MAX_PRODUCT_BITS`].
fn bounded_multiply(mut cv: jaq_core::Cv<'_, Metered>) -> jaq_core::ValXs<'_, Val> {
    use jaq_json::Num;
    let b = cv.0.pop_var();
    let a = cv.0.pop_var();
    tick();
    let bits = |v: &Val| match v {
        Val::Num(Num::BigInt(i)) => i.bits(),
        Val::Num(Num::Dec(d)) => d.len() as u64 * 4,
        Val::Num(_) => 64,
        _ => 0,
    };
    let repeated = |s: &Val, n: &Val| match (s, n) {
        (Val::TStr(s) | Val::BStr(s), Val::Num(Num::Int(n))) => {
            Some(s.len().saturating_mul((*n).max(0).unsigned_abs()))
        }
        (Val::TStr(_) | Val::BStr(_), Val::Num(Num::BigInt(_) | Num::Dec(_))) => Some(usize::MAX),
        _ => None,
    };
    let too_big = match repeated(&a, &b).or_else(|| repeated(&b, &a)) {
        Some(len) => len > MAX_OUTPUT_BYTES,
        None => bits(&a) + bits(&b) > MAX_PRODUCT_BITS,
    };
    if too_big {
        return box_once(Err(jaq_core::Error::str(
            "multiply: the result would be too large",
        )
        .into()));
    }
    box_once((a * b).map_err(Into::into))
}

/// jq's `range($from; $upto; $by)`, one step of the budget per value.
fn metered_range(mut cv: jaq_core::Cv<'_, Metered>) -> jaq_core::ValXs<'_, Val> {
    let by = cv.0.pop_var();
    let upto = cv.0.pop_var();
    let from = cv.0.pop_var();
    let rising = match by.partial_cmp(&Val::from(0isize)) {
        Some(std::cmp::Ordering::Less) => false,
        Some(_) => true,
        None => return box_once(Err(jaq_core::Error::str("range: step is not a number").into())),
    };
    let mut next = Some(from);
    Box::new(std::iter::from_fn(move || {
        tick();
        let x = next.take()?;
        let more = if rising { x < upto } else { x > upto };
        if !more {
            return None;
        }
        match x.clone() + by.clone() {
            Ok(after) => next = Some(after),
            Err(e) => return Some(Err(e.into())),
        }
        Some(Ok(x))
    }))
}

/// The value and data types of Herald's programs: jaq's JSON values, and a context
/// whose every look at the program's table is one metered step.
pub struct Metered;

#[derive(Clone)]
pub struct MeteredData<'a>(&'a Lut<Metered>);

impl DataT for Metered {
    type V<'a> = Val;
    type Data<'a> = MeteredData<'a>;
}

impl<'a> HasLut<'a, Metered> for MeteredData<'a> {
    fn lut(&self) -> &'a Lut<Metered> {
        tick();
        self.0
    }
}

/// The meter of the run on this thread.
struct Meter {
    steps: Cell<u64>,
    base: Cell<usize>,
    /// `None` outside a run (a value's methods may evaluate nothing then).
    deadline: Cell<Option<Instant>>,
}

thread_local! {
    static METER: Meter = const {
        Meter {
            steps: Cell::new(0),
            base: Cell::new(0),
            deadline: Cell::new(None),
        }
    };
}

/// The payload a run is unwound with when it reaches a limit.
struct Cutoff(RunFailure);

/// One step: cuts the run off (by unwinding to [`Program::first_output`]) at a limit.
fn tick() {
    let cut = METER.with(|m| {
        let deadline = m.deadline.get()?;
        let steps = m.steps.get() + 1;
        m.steps.set(steps);
        if steps > MAX_STEPS {
            return Some(RunFailure::Steps);
        }
        if m.base.get().saturating_sub(stack_position()) > MAX_STACK_BYTES {
            return Some(RunFailure::Depth);
        }
        if steps % CLOCK_EVERY == 0 && Instant::now() > deadline {
            return Some(RunFailure::Time);
        }
        None
    });
    if let Some(failure) = cut {
        // Not `panic!`: no hook runs, nothing is logged; `first_output` catches it.
        std::panic::resume_unwind(Box::new(Cutoff(failure)));
    }
}

/// Where this thread's stack is now (it grows downwards on every platform Herald runs on).
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker) as usize
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
pub async fn run_all(jobs: Vec<Job>) -> Vec<std::result::Result<Option<String>, RunFailure>> {
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
pub async fn run_one(program: &Program, input: &str) -> std::result::Result<Option<String>, RunFailure> {
    run_all(vec![(program.clone(), Arc::from(input))])
        .await
        .pop()
        .unwrap_or(Ok(None))
}

/// [`run_all`] on this thread, which must be a runner.
fn run_here(jobs: &[Job]) -> Vec<std::result::Result<Option<String>, RunFailure>> {
    let mut parsed: Option<(Arc<str>, std::result::Result<Val, RunFailure>)> = None;
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

/// Whether a filter's output lets a message through: jq's truthiness (anything but
/// `false`, `null` and no output at all).
pub fn truthy(output: Option<&str>) -> bool {
    !matches!(output.map(str::trim), None | Some("false" | "null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_err(source: &str) -> CompileError {
        match Program::compile(source) {
            Err(Refused::At(e)) => e,
            other => panic!("{source}: {other:?}"),
        }
    }

    async fn first(source: &str, input: &str) -> std::result::Result<Option<String>, RunFailure> {
        let program = Program::compile(source).expect("compiles");
        run_one(&program, input).await
    }

    #[tokio::test]
    async fn multiplication_is_bounded() {
        // `*` could build a value of any size in one step: refused where it is written,
        // in string interpolations and updates too.
        for (source, column) in [
            (r#""x" * 10000000000"#, 5),
            (".a *= 2", 4),
            (r#""\(.a * 2)""#, 7),
            ("[.[] | (. * 2)]", 11),
        ] {
            let e = compile_err(source);
            assert_eq!((e.line, e.column), (1, column), "{source}: {e}");
            assert!(e.message.contains("multiply(a; b)"), "{e}");
        }
        assert!(
            Program::compile(r#"{text: "*bold*"} | .text"#).is_ok(),
            "a star in a string is text"
        );
        let input = r#"{"n": 6, "s": "ab", "o": {"a": {"b": 1}}}"#;
        assert_eq!(first("multiply(.n; 7)", input).await, Ok(Some("42".into())));
        assert_eq!(
            first("multiply(.s; 3)", input).await,
            Ok(Some(r#""ababab""#.into()))
        );
        assert_eq!(first("multiply(.s; 0)", input).await, Ok(Some("null".into())));
        assert_eq!(
            first(r#"multiply(.o; {a: {c: 2}})"#, input).await,
            Ok(Some(r#"{"a":{"b":1,"c":2}}"#.into()))
        );
        // Past the bounds: an error of the run, not an allocation that ends the process.
        for source in [
            "multiply(.s; 10000000000)",
            "multiply(.s; 100000000000000000000000)",
            "reduce range(20) as $i (3; multiply(.; .))",
        ] {
            assert!(
                matches!(first(source, input).await, Err(RunFailure::Error(_))),
                "{source}"
            );
        }
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = compile_err(".payload |\n  foo(1)");
        assert_eq!((e.line, e.column), (2, 3), "{e}");
        assert!(e.message.contains("foo"), "{e}");
        let e = compile_err(".a | $ENV");
        assert_eq!((e.line, e.column), (1, 6), "{e}");
        assert!(e.message.contains("no I/O"), "{e}");
        for name in [
            "input",
            "inputs",
            "env",
            "debug",
            "stderr",
            "halt",
            "input_filename",
            "halt_error(1)",
        ] {
            let e = compile_err(name);
            assert_eq!((e.line, e.column), (1, 1), "{name}: {e}");
        }
        let e = compile_err(".a | (.b");
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.starts_with("expected"), "{e}");
        assert!(matches!(Program::compile("  "), Err(Refused::Empty)));
        assert!(matches!(
            Program::compile(&"1 + ".repeat(MAX_PROGRAM_BYTES)),
            Err(Refused::Size)
        ));
        assert!(
            Program::compile(r#"import "x" as x; ."#).is_err(),
            "modules read nothing"
        );
    }

    #[tokio::test]
    async fn runs_standard_jq() {
        let input = r#"{"payload":{"amount":1200,"region":"eu","email":"a@acme.com"}}"#;
        assert_eq!(
            first(".payload.amount > 1000 and .payload.region == \"eu\"", input).await,
            Ok(Some("true".into()))
        );
        assert_eq!(
            first(r#".payload.email | test("@acme\\.com$")"#, input).await,
            Ok(Some("true".into()))
        );
        assert_eq!(first("[range(3)]", input).await, Ok(Some("[0,1,2]".into())));
        assert_eq!(
            first("[range(5; 0; -2)]", input).await,
            Ok(Some("[5,3,1]".into()))
        );
        assert_eq!(first("empty", input).await, Ok(None));
        assert_eq!(
            first(r#"{text: "a \"b\"\n", n: 1.5, x: null}"#, input).await,
            Ok(Some(r#"{"text":"a \"b\"\n","n":1.5,"x":null}"#.into()))
        );
        assert!(
            matches!(first(r#"error("no")"#, input).await, Err(RunFailure::Error(e)) if e.contains("no"))
        );
    }

    #[test]
    fn programs_of_one_source_are_compiled_once() {
        let a = Program::shared(". + 1").expect("compiles");
        let b = Program::shared(". + 1").expect("compiles");
        assert!(Arc::ptr_eq(&a.0, &b.0), "the second is the first's copy");
        let other = Program::shared(". + 2").expect("compiles");
        assert!(!Arc::ptr_eq(&a.0, &other.0));
        let held = Arc::downgrade(&a.0);
        drop((a, b));
        assert!(held.upgrade().is_none(), "a program nobody holds is freed");
        assert_eq!(Program::shared(". + 1").expect("compiles").source(), ". + 1");
        assert!(matches!(Program::shared("1 +"), Err(Refused::At(_))));
    }

    #[tokio::test]
    async fn outputs_are_json_text_within_the_limit() {
        let got = first(
            r#"{a: "é\n\"\u0001", b: [1, 2.5, null, true, {}], c: 100000000000000000000}"#,
            "{}",
        )
        .await;
        assert_eq!(
            got,
            Ok(Some(
                r#"{"a":"é\n\"\u0001","b":[1,2.5,null,true,{}],"c":100000000000000000000}"#.into()
            ))
        );
        // Each half is within the limit, the whole is not.
        let half = MAX_OUTPUT_BYTES / 2 + 1;
        let got = first(&format!("multiply(\"x\"; {half}) as $s | [$s, $s]"), "{}").await;
        assert_eq!(got, Err(RunFailure::Output));
        let got = first(&format!("multiply(\"x\"; {half}) | length"), "{}").await;
        assert_eq!(got, Ok(Some(half.to_string())));
    }

    #[tokio::test]
    async fn runaway_programs_are_cut_off() {
        let input = "{}";
        for (source, expected) in [
            ("def f: f; f", [RunFailure::Steps, RunFailure::Time]),
            ("[range(1e9)] | length", [RunFailure::Steps, RunFailure::Time]),
            ("last(range(1e9))", [RunFailure::Steps, RunFailure::Time]),
            ("def f: 1 + f; f", [RunFailure::Depth, RunFailure::Time]),
            ("[repeat(1)]", [RunFailure::Steps, RunFailure::Time]),
        ] {
            let started = Instant::now();
            let got = first(source, input).await;
            assert!(
                got.as_ref().is_err_and(|e| expected.contains(e)),
                "{source}: {got:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{source} took {:?}",
                started.elapsed()
            );
        }
        // A value nested as deep as the budget allows is dropped without a stack overflow.
        let got = first("reduce range(1e6) as $i (null; [.])", input).await;
        assert!(got.is_err(), "{got:?}");
        // The runner threads are still there.
        assert_eq!(first("1 + 1", input).await, Ok(Some("2".into())));
    }

    #[test]
    fn truthiness_is_jq_s() {
        assert!(truthy(Some("true")));
        assert!(truthy(Some("0")));
        assert!(truthy(Some("\"\"")));
        assert!(!truthy(Some("false")));
        assert!(!truthy(Some("null")));
        assert!(!truthy(None));
    }
}
