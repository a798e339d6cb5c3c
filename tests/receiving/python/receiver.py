"""A receiver of Herald's webhooks: checks each delivery with the Standard Webhooks
library, answers at once, skips a webhook-id it has already taken, and does the work
on a background thread.

Run it: WEBHOOK_SECRET=whsec_... PORT=8000 python receiver.py
"""

import json
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
# The webhook-ids already taken. A real receiver keeps them in its database, with a
# unique key, so that they survive a restart and every copy of the receiver shares them.
seen = set()
seen_lock = threading.Lock()
jobs = queue.Queue()


class WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        # The signature covers the body byte for byte: read it raw, parse it after.
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError as error:
            self.answer(401, f"invalid webhook: {error}")
            return
        msg_id = self.headers["webhook-id"]
        with seen_lock:
            duplicate = msg_id in seen
            seen.add(msg_id)
        if duplicate:
            print(f"duplicate {msg_id}", flush=True)
            self.answer(200, "already received")
            return
        jobs.put((msg_id, event))
        self.answer(204)

    def answer(self, status, text=""):
        data = text.encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


def work():
    while True:
        msg_id, event = jobs.get()
        # The slow part (emails, database writes, calls to other services) goes here,
        # long after Herald got its answer.
        print(f"handled {msg_id} {json.dumps(event['type'])}", flush=True)


threading.Thread(target=work, daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), WebhookHandler)
print(f"listening on 127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
