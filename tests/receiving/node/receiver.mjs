// A receiver of Herald's webhooks: checks each delivery with the Standard Webhooks
// library, answers at once, skips a webhook-id it has already taken, and does the work
// after answering.
//
// Run it: WEBHOOK_SECRET=whsec_... PORT=8000 node receiver.mjs

import http from "node:http";

import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
// The webhook-ids already taken. A real receiver keeps them in its database, with a
// unique key, so that they survive a restart and every copy of the receiver shares them.
const seen = new Set();

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // The signature covers the body byte for byte: keep it raw, parse it after.
    const body = Buffer.concat(chunks);
    let event;
    try {
      event = webhook.verify(body, req.headers);
    } catch (error) {
      res.writeHead(401).end(`invalid webhook: ${error.message}`);
      return;
    }
    const msgId = req.headers["webhook-id"];
    if (seen.has(msgId)) {
      console.log(`duplicate ${msgId}`);
      res.writeHead(200).end("already received");
      return;
    }
    seen.add(msgId);
    res.writeHead(204).end();
    setImmediate(() => handle(msgId, event));
  });
});

function handle(msgId, event) {
  // The slow part (emails, database writes, calls to other services) goes here, after
  // Herald got its answer.
  console.log(`handled ${msgId} ${JSON.stringify(event.type)}`);
}

server.listen(Number(process.env.PORT ?? 8000), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
