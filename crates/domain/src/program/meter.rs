//! The meter of a run: every term jaq evaluates asks the context for the program's
//! table ([`MeteredData`]), and each ask is one step of [`MAX_STEPS`]; the deadline is
//! read every [`CLOCK_EVERY`] steps and the native stack's depth at every step. A run over
//! a limit is unwound to [`metered`]. Also the natives that would bypass the meter,
//! replaced by metered or bounded ones (`range`, `multiply`).

use std::{cell::Cell, panic::AssertUnwindSafe, time::Instant};

use jaq_core::{DataT, Lut, box_iter::box_once, data::HasLut};
use jaq_json::Val;

use super::{CLOCK_EVERY, MAX_OUTPUT_BYTES, MAX_STACK_BYTES, MAX_STEPS, RunFailure, TIME_BUDGET};

/// The value and data types of Herald's programs: jaq's JSON values, and a context
/// whose every look at the program's table is one metered step.
pub struct Metered;

#[derive(Clone)]
pub struct MeteredData<'a>(pub(super) &'a Lut<Metered>);

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

/// How a metered run stopped before it ended.
pub(super) enum Interrupted {
    /// It reached a limit.
    Cutoff(RunFailure),
    /// It panicked: a bug in the interpreter.
    Panic,
}

/// Runs `run` on this thread under a fresh meter: no steps taken yet, the stack counted
/// from here, the deadline [`TIME_BUDGET`] away. A run that reaches a limit is unwound
/// back to here.
pub(super) fn metered<T>(run: impl FnOnce() -> T) -> Result<T, Interrupted> {
    let started = Instant::now();
    let base = stack_position();
    METER.with(|m| {
        m.steps.set(0);
        m.base.set(base);
        m.deadline.set(Some(started + TIME_BUDGET));
    });
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(run));
    METER.with(|m| m.deadline.set(None));
    outcome.map_err(|payload| match payload.downcast::<Cutoff>() {
        Ok(cutoff) => Interrupted::Cutoff(cutoff.0),
        Err(_) => Interrupted::Panic,
    })
}

/// The payload a run is unwound with when it reaches a limit.
struct Cutoff(RunFailure);

/// One step: cuts the run off (by unwinding to [`metered`]) at a limit.
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

/// Bits a product of two integers may have: more would take long to compute and print.
const MAX_PRODUCT_BITS: u64 = 1 << 16;

/// `multiply($a; $b)`: jq's `$a * $b` (numbers, a string repeated, objects merged deeply),
/// refused when a repeated string would be longer than [`MAX_OUTPUT_BYTES`] or a product
/// of big integers longer than [`MAX_PRODUCT_BITS`].
pub(super) fn bounded_multiply(mut cv: jaq_core::Cv<'_, Metered>) -> jaq_core::ValXs<'_, Val> {
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
pub(super) fn metered_range(mut cv: jaq_core::Cv<'_, Metered>) -> jaq_core::ValXs<'_, Val> {
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
