//! What programs may do, how they are refused, and where their runs are cut off.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

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
    assert!(matches!(first(r#"error("no")"#, input).await, Err(RunFailure::Error(e)) if e.contains("no")));
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
