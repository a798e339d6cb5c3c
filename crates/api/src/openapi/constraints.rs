//! The rules the server enforces on input, written into the OpenAPI document: lengths,
//! patterns, ranges and enums of body fields and query parameters. utoipa knows the wire
//! types; the rules live in the domain's values and parsers, so they are added here from
//! the same constants, and a test checks that every rule lands on a field that exists.
//!
//! A field that may be `null` gets its rule inside `anyOf: [{rule}, {type: null}]`: a
//! `type: [string, null]` list beside a format or pattern is not read the same way by
//! every generator, and the rule is then half said.

use domain::{
    id::{self, AppId, AttemptId, DestinationId, EndpointId, InboxId, InboxRequestId, MessageId, TaskId},
    pagination::MAX_LIMIT,
    service::{application, endpoint, event_type, inspector, message},
    values::{
        Channel, CustomHeaders, EndpointUrl, EventTypeName, GracePeriod, PortalExpiry, RetrySchedule,
        Timeout, Uid, WithdrawalGrace,
    },
};
use serde_json::{Value, json};

/// Letters, digits, `-`, `_` and `.`: Svix's rule for uids, event type names, channels.
const IDENTIFIER: &str = r"^[a-zA-Z0-9\-_.]+$";

/// An http(s) URL with a host and no credentials or fragment, which `EndpointUrl` takes.
/// The host is a name whose last label starts with a letter (an all-digit one would be
/// read as an IPv4 address). Addresses are taken too but not written here: a pattern for
/// them would be most of this file.
const URL: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*)?(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?$";

/// A signing key: `whsec_`, optionally, then 32 to 100 characters of canonical base64
/// (whole quanta, padding only where due, no stray bits in the last character).
const SIGNING_KEY: &str = r"^(?:whsec_)?(?:[A-Za-z0-9+/]{4}){7,24}(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)$";

/// Not only white space (Unicode's `White_Space`, which Rust's `trim` removes).
const NOT_BLANK: &str = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// An HTTP header name (a token).
const HEADER_NAME: &str = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$";

fn identifier(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": IDENTIFIER})
}

fn event_type_name() -> Value {
    identifier(EventTypeName::MAX_LEN)
}

fn channels(max: usize) -> Value {
    json!({"items": identifier(Channel::MAX_LEN), "maxItems": max, "uniqueItems": true})
}

/// An id of one kind, or nothing: a text query parameter given empty is as if absent.
fn id_or_empty(prefix: &str) -> Value {
    json!({"pattern": format!("^(?:{prefix}_{})?$", id::BODY_PATTERN)})
}

/// A list's iterator: an id of the kind it lists, `-` first to page backwards, or nothing.
fn iterator(prefix: &str) -> Value {
    json!({"pattern": format!("^(?:-?{prefix}_{})?$", id::BODY_PATTERN)})
}

/// A uid: an identifier that does not read as one of Herald's ids.
fn uid() -> Value {
    let mut rule = identifier(Uid::MAX_LEN);
    rule["not"] = json!({"pattern": format!("^(?:{})_{}$", id::PREFIXES.join("|"), id::BODY_PATTERN)});
    rule
}

/// `text` matched without regard to case, in a pattern every regex dialect reads.
fn caseless(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()),
            c if c.is_ascii_alphanumeric() => c.to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

fn header_name() -> Value {
    let reserved: Vec<String> = CustomHeaders::RESERVED_NAMES
        .iter()
        .map(|name| format!("{}$", caseless(name)))
        .chain(
            CustomHeaders::RESERVED_PREFIXES
                .iter()
                .map(|prefix| caseless(prefix)),
        )
        .collect();
    json!({
        "minLength": 1,
        "maxLength": CustomHeaders::MAX_NAME_LEN,
        "pattern": HEADER_NAME,
        "not": {"pattern": format!("^(?:{})", reserved.join("|"))},
    })
}

fn header_value() -> Value {
    json!({"maxLength": CustomHeaders::MAX_VALUE_LEN, "pattern": "^[^\\r\\n]*$"})
}

/// A map of custom headers; with `removable`, a `null` value removes that header.
fn headers(removable: bool) -> Value {
    let value = if removable {
        json!({"anyOf": [header_value(), {"type": "null"}]})
    } else {
        header_value()
    };
    json!({"propertyNames": header_name(), "additionalProperties": value, "maxProperties": CustomHeaders::MAX})
}

fn date_time() -> Value {
    json!({"format": "date-time"})
}

fn range(min: i64, max: i64) -> Value {
    json!({"minimum": min, "maximum": max})
}

/// A field that may be omitted but not `null`. Only these rules name a type: a rule
/// without one leaves a field that takes `null` taking it.
fn required_type(kind: &str, rule: Value) -> Value {
    let mut rule = rule;
    rule["type"] = json!(kind);
    rule
}

/// The rules for body fields: (schema, property, rule).
fn body_rules() -> Vec<(&'static str, &'static str, Value)> {
    let app_name = json!({"minLength": 1, "maxLength": 256, "pattern": NOT_BLANK});
    let throttle = range(1, i64::from(u16::MAX));
    let retention = range(1, i64::from(application::MAX_RETENTION_DAYS));
    let url = json!({"maxLength": EndpointUrl::MAX_LEN, "pattern": URL});
    let timeout = range(i64::from(Timeout::MIN_SECS), i64::from(Timeout::MAX_SECS));
    let retries = json!({
        "maxItems": RetrySchedule::MAX_RETRIES,
        "items": range(1, i64::from(RetrySchedule::MAX_DELAY_SECS)),
    });
    let endpoint_channels = channels(endpoint::MAX_CHANNELS);
    let filter_types = json!({"items": event_type_name()});
    let key = json!({"pattern": SIGNING_KEY});
    let schemas = json!({"additionalProperties": {"type": "object"}});
    let flags = json!({"items": event_type_name(), "maxItems": event_type::MAX_FEATURE_FLAGS});
    let description = json!({"maxLength": event_type::MAX_DESCRIPTION});
    let mut rules = vec![
        ("ApplicationIn", "name", app_name.clone()),
        ("ApplicationPatch", "name", required_type("string", app_name)),
        (
            "ApplicationPatch",
            "requireEndpointVerification",
            required_type("boolean", json!({})),
        ),
        (
            "AppPortalAccessIn",
            "expiry",
            range(PortalExpiry::MIN_SECS, PortalExpiry::MAX_SECS),
        ),
        (
            "ApplicationTokenExpireIn",
            "expiry",
            range(0, WithdrawalGrace::MAX_SECS),
        ),
        (
            "BulkExpungeContentsIn",
            "ids",
            json!({"items": identifier(256), "uniqueItems": true}),
        ),
        ("BulkReplayIn", "until", date_time()),
        (
            "BulkReplayIn",
            "eventTypes",
            json!({"items": event_type_name(), "uniqueItems": true}),
        ),
        ("BulkReplayIn", "channel", identifier(Channel::MAX_LEN)),
        ("BulkReplayIn", "tag", identifier(Channel::MAX_LEN)),
        ("BulkReplayIn", "status", range(0, 4)),
        (
            "BulkReplayIn",
            "statusCodeClass",
            json!({"enum": [0, 100, 200, 300, 400, 500]}),
        ),
        ("RecoverIn", "until", date_time()),
        ("ReplayIn", "until", date_time()),
        ("EndpointHeadersIn", "headers", headers(false)),
        ("EndpointHeadersPatchIn", "headers", headers(true)),
        (
            "EndpointHeadersPatchIn",
            "deleteHeaders",
            json!({"items": header_name()}),
        ),
        ("EndpointIn", "secret", key.clone()),
        ("EndpointIn", "headers", headers(false)),
        ("EndpointPatch", "url", required_type("string", url.clone())),
        ("EndpointPatch", "disabled", json!({"type": "boolean"})),
        ("EndpointSecretRotateIn", "key", key),
        (
            "EndpointSecretRotateIn",
            "gracePeriodSeconds",
            range(0, GracePeriod::MAX_SECS),
        ),
        ("EventExampleIn", "eventType", event_type_name()),
        ("EventExampleIn", "exampleIndex", json!({"minimum": 0})),
        ("EventTypeIn", "name", event_type_name()),
        (
            "EventTypePatch",
            "description",
            required_type("string", description.clone()),
        ),
        ("EventTypePatch", "archived", json!({"type": "boolean"})),
        ("EventTypePatch", "deprecated", json!({"type": "boolean"})),
        ("MessageIn", "eventType", event_type_name()),
        ("MessageIn", "eventId", identifier(256)),
        ("MessageIn", "channels", channels(message::MAX_CHANNELS)),
        ("MessageIn", "tags", channels(message::MAX_TAGS)),
        ("MessageIn", "deliverAt", date_time()),
        ("MessagePrecheckIn", "eventType", event_type_name()),
        ("MessagePrecheckIn", "channels", channels(message::MAX_CHANNELS)),
    ];
    rules.extend(inspector_rules());
    for app in ["ApplicationIn", "ApplicationPatch"] {
        rules.extend([
            (app, "uid", uid()),
            (app, "throttleRate", throttle.clone()),
            (app, "retentionDays", retention.clone()),
        ]);
    }
    for body in ["EndpointIn", "EndpointUpdate", "EndpointPatch"] {
        if body != "EndpointPatch" {
            rules.push((body, "url", url.clone()));
        }
        rules.extend([
            (body, "uid", uid()),
            (body, "eventTypes", filter_types.clone()),
            (body, "channels", endpoint_channels.clone()),
            (body, "throttleRate", throttle.clone()),
            (body, "timeoutSeconds", timeout.clone()),
            (body, "retrySchedule", retries.clone()),
        ]);
    }
    for body in ["EventTypeIn", "EventTypeUpdate", "EventTypePatch"] {
        if body != "EventTypePatch" {
            rules.push((body, "description", description.clone()));
        }
        rules.extend([
            (body, "schemas", schemas.clone()),
            (body, "featureFlags", flags.clone()),
            (body, "featureFlag", event_type_name()),
            (body, "groupName", event_type_name()),
        ]);
    }
    rules
}

/// The rules for the bodies of inspector inboxes (Herald's extension).
fn inspector_rules() -> Vec<(&'static str, &'static str, Value)> {
    let name = json!({"minLength": 1, "maxLength": inspector::MAX_NAME_LEN, "pattern": NOT_BLANK});
    let status = range(i64::from(inspector::MIN_STATUS), i64::from(inspector::MAX_STATUS));
    let body = json!({"maxLength": inspector::MAX_RESPONSE_BODY});
    let delay = range(0, i64::from(inspector::MAX_DELAY_MS));
    let script = json!({"minItems": 1, "maxItems": inspector::MAX_SCRIPT_STEPS});
    let mut rules = vec![
        ("InboxIn", "name", name.clone()),
        (
            "InboxIn",
            "expiresInSeconds",
            range(inspector::MIN_EXPIRY_SECS, inspector::MAX_EXPIRY_SECS),
        ),
        ("InboxIn", "script", script.clone()),
        ("InboxPatch", "name", required_type("string", name)),
        ("InboxPatch", "script", script),
        (
            "VerifyIn",
            "endpointId",
            required_type(
                "string",
                json!({"pattern": format!("^{}_{}$", EndpointId::PREFIX, id::BODY_PATTERN)}),
            ),
        ),
        (
            "VerifyIn",
            "secret",
            required_type("string", json!({"pattern": SIGNING_KEY})),
        ),
    ];
    for schema in ["InboxResponseIn", "ScriptStepIn"] {
        rules.extend([
            (schema, "status", status.clone()),
            (schema, "body", body.clone()),
            (schema, "delayMs", delay.clone()),
        ]);
    }
    rules
}

/// The rules for path parameters, on every path that has them: (name, rule). A path that
/// names something absent answers 404; one that cannot name anything may answer 422.
fn path_rules() -> Vec<(&'static str, Value)> {
    let id = |prefix: &str| json!({"pattern": format!("^{prefix}_{}$", id::BODY_PATTERN)});
    vec![
        ("app_id", identifier(Uid::MAX_LEN)),
        ("endpoint_id", identifier(Uid::MAX_LEN)),
        ("msg_id", identifier(256)),
        ("event_type_name", event_type_name()),
        ("attempt_id", id(AttemptId::PREFIX)),
        ("task_id", id(TaskId::PREFIX)),
        ("inbox_id", id(InboxId::PREFIX)),
        ("request_id", id(InboxRequestId::PREFIX)),
    ]
}

/// Rules on a body as a whole: (schema, rule).
fn whole_body_rules() -> Vec<(&'static str, Value)> {
    // `orderedOnFailure` belongs to an ordered endpoint; with `ordered: false` it is refused.
    let unordered_line = json!({"not": {
        "required": ["ordered", "orderedOnFailure"],
        "properties": {"ordered": {"const": false}, "orderedOnFailure": {"type": "string"}},
    }});
    let mut rules: Vec<(&'static str, Value)> = ["EndpointIn", "EndpointUpdate", "EndpointPatch"]
        .into_iter()
        .map(|body| (body, unordered_line.clone()))
        .collect();
    // A signature is checked with an endpoint's keys or a pasted key: exactly one.
    rules.push((
        "VerifyIn",
        json!({"oneOf": [{"required": ["endpointId"]}, {"required": ["secret"]}]}),
    ));
    rules
}

/// The rules for query parameters: (path, or `None` for every path; name; rule).
fn query_rules() -> Vec<(Option<&'static str>, &'static str, Value)> {
    let mut rules = vec![
        (
            None,
            "limit",
            range(1, i64::try_from(MAX_LIMIT).unwrap_or(i64::MAX)),
        ),
        (None, "order", json!({"enum": ["ascending", "descending"]})),
        (
            None,
            "event_types",
            json!({"items": {"maxLength": EventTypeName::MAX_LEN, "pattern": r"^[a-zA-Z0-9\-_.]*$"}}),
        ),
        (
            None,
            "status_code_class",
            json!({"enum": [0, 100, 200, 300, 400, 500]}),
        ),
        (None, "endpoint_id", id_or_empty(EndpointId::PREFIX)),
        (
            Some("/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}"),
            "status",
            json!({"enum": [0, 2]}),
        ),
        (
            Some("/api/v1/app/{app_id}/attempt/msg/{msg_id}"),
            "status",
            json!({"enum": [0, 2]}),
        ),
        (
            Some("/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg"),
            "status",
            json!({"enum": [0, 1, 2, 3]}),
        ),
        (
            Some("/api/v1/background-task"),
            "status",
            json!({"enum": ["running", "finished", "failed"]}),
        ),
        (
            Some("/api/v1/background-task"),
            "task",
            json!({"enum": crate::tasks::SVIX_TASKS}),
        ),
        (
            Some("/api/v1/event-type"),
            "iterator",
            json!({"maxLength": EventTypeName::MAX_LEN + 1, "pattern": r"^-?[a-zA-Z0-9\-_.]*$"}),
        ),
    ];
    for name in ["before", "after", "since", "until"] {
        rules.push((None, name, date_time()));
    }
    for (path, prefix) in [
        ("/api/v1/app", AppId::PREFIX),
        ("/api/v1/app/{app_id}/endpoint", EndpointId::PREFIX),
        ("/api/v1/operational-webhook/endpoint", EndpointId::PREFIX),
        ("/api/v1/app/{app_id}/msg", MessageId::PREFIX),
        (
            "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
            AttemptId::PREFIX,
        ),
        ("/api/v1/app/{app_id}/attempt/msg/{msg_id}", AttemptId::PREFIX),
        (
            "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
            DestinationId::PREFIX,
        ),
        (
            "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
            DestinationId::PREFIX,
        ),
        ("/api/v1/background-task", TaskId::PREFIX),
        ("/api/v1/inspector", InboxId::PREFIX),
        ("/api/v1/inspector/{inbox_id}/request", InboxRequestId::PREFIX),
    ] {
        rules.push((Some(path), "iterator", iterator(prefix)));
    }
    rules
}

/// Merges `rule` into `schema`: objects key by key, anything else replaced.
fn merge(schema: &mut Value, rule: &Value) {
    match (schema, rule) {
        (Value::Object(schema), Value::Object(rule)) => {
            for (key, value) in rule {
                match schema.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        schema.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (schema, rule) => *schema = rule.clone(),
    }
}

/// Adds `rule` to a field's schema; a field that may be `null` keeps `null` beside it.
fn constrain(schema: &mut Value, rule: &Value) {
    let nullable_type = schema
        .get("type")
        .and_then(Value::as_array)
        .filter(|types| types.iter().any(|t| t == "null"))
        .map(|types| types.iter().filter(|t| *t != "null").cloned().collect::<Vec<_>>());
    if let (Some(mut kinds), Some(fields)) = (nullable_type, schema.as_object_mut()) {
        let description = fields.remove("description");
        let mut inner = fields.clone();
        inner.insert(
            "type".to_owned(),
            if kinds.len() == 1 {
                kinds.remove(0)
            } else {
                Value::Array(kinds)
            },
        );
        let mut inner = Value::Object(inner);
        merge(&mut inner, rule);
        // The rule may say the field takes no `null` after all.
        let takes_null = rule.get("type").is_none();
        fields.clear();
        if let Some(description) = description {
            fields.insert("description".to_owned(), description);
        }
        if takes_null {
            fields.insert("anyOf".to_owned(), json!([inner, {"type": "null"}]));
        } else if let Value::Object(inner) = inner {
            fields.extend(inner);
        }
        return;
    }
    merge(schema, rule);
}

/// Writes every rule into `doc`; returns the rules that found no field to go on.
pub(super) fn apply(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (schema, property, rule) in body_rules() {
        match doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{property}")) {
            Some(field) => constrain(field, &rule),
            None => missing.push(format!("{schema}.{property}")),
        }
    }
    for (schema, rule) in whole_body_rules() {
        match doc.pointer_mut(&format!("/components/schemas/{schema}")) {
            Some(body) => merge(body, &rule),
            None => missing.push(schema.to_owned()),
        }
    }
    let parameters = path_rules()
        .into_iter()
        .map(|(name, rule)| ("path", None, name, rule))
        .chain(
            query_rules()
                .into_iter()
                .map(|(only, name, rule)| ("query", only, name, rule)),
        );
    for (place, only, name, rule) in parameters {
        let mut found = false;
        let Some(paths) = doc.pointer_mut("/paths").and_then(Value::as_object_mut) else {
            missing.push("/paths".to_owned());
            break;
        };
        for (_, item) in paths
            .iter_mut()
            .filter(|(path, _)| only.is_none_or(|only| only == path.as_str()))
        {
            let operations = item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut());
            for parameter in operations
                .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
                .flatten()
                .filter(|p| p["in"] == place && p["name"] == name)
            {
                if let Some(schema) = parameter.get_mut("schema") {
                    constrain(schema, &rule);
                    found = true;
                }
            }
        }
        if !found {
            missing.push(format!("{place} {name} on {}", only.unwrap_or("any path")));
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_lands_on_a_field() {
        let mut doc = serde_json::to_value(<super::super::HeraldApi as utoipa::OpenApi>::openapi()).unwrap();
        assert_eq!(apply(&mut doc), Vec::<String>::new());
    }

    #[test]
    fn a_nullable_field_keeps_null_beside_its_rule() {
        let mut field = json!({"type": ["string", "null"], "description": "d"});
        constrain(&mut field, &json!({"format": "date-time"}));
        assert_eq!(
            field,
            json!({"description": "d", "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]})
        );
        let mut field = json!({"type": ["string", "null"]});
        constrain(&mut field, &required_type("string", json!({"minLength": 1})));
        assert_eq!(field, json!({"type": "string", "minLength": 1}));
    }

    /// Strings of up to `max` characters drawn from `alphabet`, many of them.
    fn drawn(alphabet: &[&str], max: usize, count: usize) -> Vec<String> {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..count)
            .map(|_| {
                let len = usize::try_from(next() % (max as u64 + 1)).unwrap_or(0);
                (0..len)
                    .map(|_| alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)])
                    .collect()
            })
            .collect()
    }

    fn regex(pattern: &str) -> regex_lite::Regex {
        regex_lite::Regex::new(pattern).unwrap()
    }

    #[test]
    fn the_signing_key_pattern_takes_what_the_parser_takes() {
        let pattern = regex(SIGNING_KEY);
        let alphabet = ["A", "Q", "g", "w", "B", "z", "0", "9", "+", "/"];
        let mut accepted = 0;
        for body in drawn(&alphabet, 104, 10_000) {
            for key in [
                body.clone(),
                format!("{body}="),
                format!("{body}=="),
                format!("whsec_{body}"),
                format!("{body}-"),
            ] {
                let parsed = domain::signing::SigningSecret::parse(&key).is_ok();
                assert_eq!(pattern.is_match(&key), parsed, "{key}");
                accepted += usize::from(parsed);
            }
        }
        assert!(
            accepted > 1_000,
            "the draw should hit valid keys too ({accepted})"
        );
    }

    #[test]
    fn id_patterns_take_what_the_parsers_take() {
        let alphabet = ["0", "7", "8", "Z", "z", "I", "l", "U", "A", "k", "5"];
        let rule = iterator(AppId::PREFIX);
        let pattern = regex(rule["pattern"].as_str().unwrap());
        for body in drawn(&alphabet, 27, 20_000).into_iter().filter(|b| b.len() >= 25) {
            for id in [format!("app_{body}"), format!("-app_{body}")] {
                let key = id.strip_prefix('-').unwrap_or(&id);
                assert_eq!(pattern.is_match(&id), AppId::parse(key).is_ok(), "{id}");
            }
        }
    }

    #[test]
    fn header_name_rules_take_what_the_parser_takes() {
        let alphabet = [
            "a", "T", "e", "h", "o", "s", "t", "-", "_", ":", " ", "w", "b", "k", "i", "d",
        ];
        let rule = header_name();
        let (name, reserved) = (
            regex(rule["pattern"].as_str().unwrap()),
            regex(rule["not"]["pattern"].as_str().unwrap()),
        );
        let mut names = drawn(&alphabet, 12, 20_000);
        names.extend(
            [
                "Host",
                "TE",
                "webhook-id",
                "Svix-Signature",
                "X-Herald-Attempt",
                "X-Team",
                "hosts",
            ]
            .map(String::from),
        );
        for candidate in names {
            let documented = name.is_match(&candidate) && !reserved.is_match(&candidate);
            assert_eq!(
                documented,
                CustomHeaders::check(&candidate, None).is_ok(),
                "{candidate:?}"
            );
        }
    }
}
