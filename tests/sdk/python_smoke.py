"""Drives a running Herald with the official `svix` Python SDK, changing nothing but the
server URL and the token. Usage: HERALD_URL=... HERALD_TOKEN=... python python_smoke.py
"""

import os
import uuid

from svix.api import (
    ApplicationIn,
    ApplicationPatch,
    EndpointIn,
    EndpointPatch,
    EventTypeIn,
    EventTypePatch,
    MessageGetOptions,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError

svix = Svix(os.environ["HERALD_TOKEN"], SvixOptions(server_url=os.environ["HERALD_URL"]))
uid = f"py-{uuid.uuid4().hex[:12]}"

# Applications: create, read, list, change.
app = svix.application.create(ApplicationIn(name="Python customer", uid=uid))
assert app.id.startswith("app_"), app.id
assert svix.application.get(uid).id == app.id
assert any(a.id == app.id for a in svix.application.list().data)
app = svix.application.patch(uid, ApplicationPatch(name="Renamed"))
assert app.name == "Renamed", app.name
assert svix.application.get_or_create(ApplicationIn(name="x", uid=uid)).id == app.id

# Event types.
event = f"py.event.{uuid.uuid4().hex[:8]}"
svix.event_type.create(EventTypeIn(name=event, description="From Python"))
assert svix.event_type.get(event).description == "From Python"
assert svix.event_type.patch(event, EventTypePatch(description="Changed")).description == "Changed"
assert any(e.name == event for e in svix.event_type.list().data)

# Endpoints, with their secret.
ep = svix.endpoint.create(uid, EndpointIn(url="https://example.com/hook", event_types=[event], uid="main"))
assert ep.id.startswith("ep_"), ep.id
assert svix.endpoint.get(uid, "main").url == "https://example.com/hook"
assert svix.endpoint.patch(uid, ep.id, EndpointPatch(description="Primary")).description == "Primary"
assert svix.endpoint.get_secret(uid, ep.id).key.startswith("whsec_")
assert [e.id for e in svix.endpoint.list(uid).data] == [ep.id]

# Messages.
msg = svix.message.create(uid, MessageIn(event_type=event, payload={"hello": "world"}, event_id="evt-1"))
assert msg.id.startswith("msg_"), msg.id
# SDK v2 asks for no content back unless told; Herald honours `with_content` like Svix.
assert svix.message.get(uid, msg.id).payload == {}
assert svix.message.get(uid, msg.id, MessageGetOptions(with_content=True)).payload == {"hello": "world"}
assert [m.id for m in svix.message.list(uid).data] == [msg.id]
try:
    svix.message.create(uid, MessageIn(event_type=event, payload={}, event_id="evt-1"))
    raise AssertionError("a duplicate eventId must be refused")
except HttpError as e:
    assert e.status_code == 409, e.status_code
destinations = svix.message_attempt.list_attempted_destinations(uid, msg.id).data
assert [d.id for d in destinations] == [ep.id]

svix.application.delete(uid)
print("python svix SDK: applications, event types, endpoints and messages OK")
