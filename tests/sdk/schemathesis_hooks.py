"""Loaded by run-schemathesis.sh. Drops the one kind of report that is not a fault of
Herald or of its document: a well-shaped request refused for what a field *means*, which
JSON Schema cannot state. Every other failure stands, including every other refusal of
these same operations.
"""

import schemathesis

# Body fields whose rule is about meaning, not shape, and why the document cannot say it.
MEANING = {
    "filter": "a jq program must compile",
    "transformation": "a jq program must compile",
    "tls": "PEM certificates and keys must decode and belong together",
    "auth": "OAuth token URLs must parse, and credentials depend on their type",
    "until": "a window must end after it starts (`since`)",
    "deliverAt": "a scheduled message must be due within the next 24 hours",
    "spec": "an imported document must be OpenAPI with a `webhooks` section",
    "specRaw": "an imported document must be OpenAPI with a `webhooks` section",
}


def details(response):
    """The items of a 422's `detail`, or nothing."""
    if response.status_code != 422:
        return []
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return []
    return [item for item in detail if isinstance(item, dict)] if isinstance(detail, list) else []


def refused_for_meaning(response, meaning=MEANING):
    """The field a 422 names, when it is one of `meaning`'s."""
    detail = details(response)
    fields = {tuple(item.get("loc", []))[1:2] for item in detail}
    if len(fields) == 1:
        (field,) = fields
        if field and field[0] in meaning:
            return field[0]
    return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    # DELETE on an event type archives it, as on Svix: it stays readable, marked
    # `archived`, until deleted with `expunge=true`.
    if type(failure).__name__ == "UseAfterFree" and str(getattr(failure, "free", "")).startswith("DELETE /api/v1/event-type/"):
        return False
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    # Operational webhook endpoints take the endpoint body of applications' endpoints, whose
    # `eventTypes` are any names; theirs must be operational event types.
    if case.path.startswith("/api/v1/operational-webhook/") and refused_for_meaning(response, {"eventTypes"}):
        return False
    # The import takes `spec` or `specRaw`, exactly one, and answers 400 otherwise: a
    # choice between two fields that may each be null, which the document leaves to prose.
    if case.path == "/api/v1/event-type/import/openapi" and response.status_code == 400:
        return False
    # JSON Schema counts `402.0` as an integer and no keyword can tell it from `402`; Herald,
    # like Svix, reads an integer field only from a number written without a fraction.
    if any(str(item.get("msg", "")).startswith("invalid type: floating point") for item in details(response)):
        return False
    return refused_for_meaning(response) is None
