"""Holds the receivers of docs/receiving.md to what the page says, against a real Herald.

Started by run.sh with the receivers already listening. One endpoint per receiver and
one whose receiver saves the raw request, as `nc -l` would, all with the same signing
secret; one message to them all. Then: every receiver took the genuine delivery once
and did its work, `herald verify` calls the saved request valid and a tampered copy not,
every receiver refuses the tampered copy (400/401) and answers a replay of the genuine
one 2xx without doing the work again.

Environment: HERALD_URL, HERALD_TOKEN, HERALD_BIN, WEBHOOK_SECRET, LOGS (the folder
holding NAME.log, each receiver's standard output) and RECEIVERS ("NAME=URL ...").
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

HERALD_URL = os.environ["HERALD_URL"]
TOKEN = os.environ["HERALD_TOKEN"]
SECRET = os.environ["WEBHOOK_SECRET"]
LOGS = os.environ["LOGS"]
RECEIVERS = dict(pair.split("=", 1) for pair in os.environ["RECEIVERS"].split())
DEADLINE = 30


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def api(method, path, body=None):
    request = urllib.request.Request(
        f"{HERALD_URL}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def eventually(what, probe):
    deadline = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def log(name):
    with open(os.path.join(LOGS, f"{name}.log")) as f:
        return f.read().splitlines()


def capture_server():
    """Keeps the first request's bytes as they came and answers 204: `nc -l` that answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    captured = []

    def serve():
        connection, _ = listener.accept()
        raw = b""
        while True:
            head, blank, body = raw.partition(b"\r\n\r\n")
            if blank:
                length = next(
                    (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )
                if len(body) >= length:
                    break
            chunk = connection.recv(65536)
            if not chunk:
                break
            raw += chunk
        connection.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        connection.close()
        captured.append(raw)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/webhooks", captured


def parse(raw):
    """The headers (minus the ones the HTTP client sets) and body of a captured request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode().split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() not in ("host", "content-length", "connection"):
            headers[name] = value.strip()
    return headers, body


def post(url, headers, body):
    request = urllib.request.Request(url, method="POST", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def verify(capture, secret=SECRET):
    return subprocess.run(
        [os.environ["HERALD_BIN"], "verify", "--secret", secret],
        input=capture, capture_output=True, timeout=30,
    )


def send(app, n):
    payload = {"type": "invoice.paid", "data": {"invoice": f"in_{n}", "amount": 1250 * n}}
    return api("POST", f"/api/v1/app/{app}/msg", {"eventType": "invoice.paid", "payload": payload})["id"]


def handled(name, msg_id):
    return log(name).count(f'handled {msg_id} "invoice.paid"')


def main():
    capture_url, captured = capture_server()
    app = f"receiving-{uuid.uuid4().hex[:8]}"
    api("POST", "/api/v1/app", {"name": "Receivers", "uid": app})
    endpoints = {}
    for name, url in [*RECEIVERS.items(), ("capture", capture_url)]:
        endpoint = {"url": url, "secret": SECRET, "description": name}
        endpoints[api("POST", f"/api/v1/app/{app}/endpoint", endpoint)["id"]] = name

    first = send(app, 1)
    for name in RECEIVERS:
        eventually(f"{name} to handle {first}", lambda: handled(name, first))
    raw = eventually("the capture of the genuine delivery", lambda: captured and captured[0])

    # Herald's attempt log agrees: every endpoint answered 2xx at the first try.
    attempts = api("GET", f"/api/v1/app/{app}/attempt/msg/{first}")["data"]
    statuses = {endpoints[a["endpointId"]]: a["responseStatusCode"] for a in attempts}
    if sorted(statuses) != sorted(endpoints.values()) or any(not 200 <= s < 300 for s in statuses.values()):
        fail(f"Herald's attempts of {first}: {statuses}")

    # `herald verify` on the capture, and on a tampered copy of it.
    headers, body = parse(raw)
    tampered = body.replace(b'"in_1"', b'"in_9"')
    if tampered == body:
        fail(f"the payload is not in the capture: {raw!r}")
    ok = verify(raw)
    if ok.returncode != 0 or not ok.stdout.startswith(f"valid: {first}".encode()):
        fail(f"herald verify on a genuine delivery: {ok.returncode} {ok.stdout!r} {ok.stderr!r}")
    bad = verify(raw.replace(body, tampered))
    if bad.returncode != 1 or b"no signature matches" not in bad.stderr:
        fail(f"herald verify on a tampered delivery: {bad.returncode} {bad.stdout!r} {bad.stderr!r}")
    print(f"ok herald verify: the captured delivery {first} is valid, a tampered copy is not")

    for name, url in RECEIVERS.items():
        status = post(url, headers, tampered)
        if status not in (400, 401):
            fail(f"{name} answered {status} to a tampered copy of {first}")
        status = post(url, headers, body)
        if not 200 <= status < 300:
            fail(f"{name} answered {status} to a replay of {first}")
        if f"duplicate {first}" not in log(name):
            fail(f"{name} did not take the replay of {first} for a duplicate: {log(name)}")

    # A second message is handled after anything the replay could have queued: by then
    # the first must still have been handled exactly once.
    second = send(app, 2)
    for name in RECEIVERS:
        eventually(f"{name} to handle {second}", lambda: handled(name, second))
        if handled(name, first) != 1:
            fail(f"{name} handled {first} {handled(name, first)} times: {log(name)}")
        print(f"ok {name}: took the delivery, refused a tampered copy, answered a replay without redoing it")


main()
