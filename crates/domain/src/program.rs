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
//!
//! This file compiles programs and says what they may call; `meter` meters a run and
//! `run` holds the runner threads.

// A run is cut off by unwinding; with `panic = "abort"` that would end the process.
#[cfg(panic = "abort")]
compile_error!("jq programs are cut off by unwinding: Herald must be built with panic = \"unwind\"");

mod meter;
mod run;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, OnceLock, PoisonError, Weak},
    time::Duration,
};

use jaq_core::{
    Compiler,
    load::{Arena, File, Loader},
    native::{Fun, v},
};

pub use self::{
    meter::{Metered, MeteredData},
    run::{Job, run_all, run_one},
};
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
            jaq_core::native::run::<Metered>(("range", v(3), meter::metered_range)),
            jaq_core::native::run::<Metered>(("multiply", v(2), meter::bounded_multiply)),
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

/// Whether a filter's output lets a message through: jq's truthiness (anything but
/// `false`, `null` and no output at all).
pub fn truthy(output: Option<&str>) -> bool {
    !matches!(output.map(str::trim), None | Some("false" | "null"))
}
