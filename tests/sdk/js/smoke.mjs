// Drives a running Herald with the official `svix` JavaScript SDK, changing nothing but the
// server URL and the token, and receives the deliveries on a local server whose requests
// the SDK's own `Webhook` class must verify.
// Usage: HERALD_URL=... HERALD_TOKEN=... node smoke.mjs (Herald must be allowed to reach
// 127.0.0.1: HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";

import { ApiException, Svix, Webhook } from "svix";

const svix = new Svix(process.env.HERALD_TOKEN, { serverUrl: process.env.HERALD_URL });
const uid = `js-${randomUUID().slice(0, 12)}`;

// A receiver that keeps every request: headers and the exact body bytes.
const received = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    res.writeHead(204).end();
  });
});
await new Promise((ready) => receiver.listen(0, "127.0.0.1", ready));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

async function eventually(what, probe) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function refused(call, status) {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof ApiException, `${e}`);
    assert.equal(e.code, status, JSON.stringify(e.body));
    return e.body;
  }
  throw new Error(`expected HTTP ${status}`);
}

// Applications.
const app = await svix.application.create({ name: "JS customer", uid, metadata: { plan: "pro" } });
assert.match(app.id, /^app_/);
assert.equal((await svix.application.get(uid)).id, app.id);
assert.equal((await svix.application.patch(uid, { name: "Renamed" })).name, "Renamed");
assert.equal((await svix.application.getOrCreate({ name: "x", uid })).id, app.id);
assert.ok((await svix.application.list({ limit: 250 })).data.some((a) => a.id === app.id));

// Event types, with the fields the SDK sends.
const event = `js.event.${randomUUID().slice(0, 8)}`;
await svix.eventType.create({ name: event, description: "From JS", groupName: "js", featureFlags: ["beta"] });
const et = await svix.eventType.get(event);
assert.equal(et.groupName, "js");
assert.deepEqual(et.featureFlags, ["beta"]);
assert.equal((await svix.eventType.patch(event, { description: "Changed" })).description, "Changed");

// Endpoints, secret and headers.
const ep = await svix.endpoint.create(uid, { url: hookUrl, eventTypes: [event], uid: "main" });
assert.match(ep.id, /^ep_/);
assert.equal((await svix.endpoint.get(uid, "main")).url, hookUrl);
assert.equal((await svix.endpoint.patch(uid, ep.id, { description: "Primary" })).description, "Primary");
const { key } = await svix.endpoint.getSecret(uid, ep.id);
assert.match(key, /^whsec_/);
await svix.endpoint.patchHeaders(uid, ep.id, { headers: { "X-Customer": "js" } });
assert.equal((await svix.endpoint.getHeaders(uid, ep.id)).headers["X-Customer"], "js");

// A message: accepted, delivered, and its signature verifies with the SDK's own verifier.
const msg = await svix.message.create(uid, {
  eventType: event,
  payload: { hello: "world", n: 1 },
  eventId: "evt-1",
  tags: ["js-tag"],
});
assert.match(msg.id, /^msg_/);
assert.deepEqual(msg.tags, ["js-tag"]);
const delivery = await eventually("the delivery", () => received.find((r) => r.headers["webhook-id"] === msg.id));
assert.equal(delivery.headers["x-customer"], "js");
// Throws unless one signature matches the body's exact bytes and the timestamp is fresh.
new Webhook(key).verify(delivery.body, delivery.headers);
assert.throws(() => new Webhook(key).verify(`${delivery.body} `, delivery.headers));
assert.deepEqual(JSON.parse(delivery.body), { hello: "world", n: 1 });
await refused(() => svix.message.create(uid, { eventType: event, payload: {}, eventId: "evt-1" }), 409);
assert.deepEqual(
  (await svix.message.get(uid, msg.id, { withContent: true })).payload,
  { hello: "world", n: 1 },
);
assert.deepEqual(
  (await svix.message.list(uid, { tag: "js-tag" })).data.map((m) => m.id),
  [msg.id],
);
assert.equal((await svix.message.precheck(uid, { eventType: event })).active, true);

// The attempt log, by endpoint and by message.
const attempts = await eventually("the attempt", async () => {
  const page = await svix.messageAttempt.listByMsg(uid, msg.id);
  return page.data.length > 0 && page;
});
assert.equal(attempts.data[0].responseStatusCode, 204);
assert.equal((await svix.messageAttempt.listByEndpoint(uid, ep.id, { statusCodeClass: 200 })).data.length, 1);
assert.equal((await svix.messageAttempt.listByEndpoint(uid, ep.id, { statusCodeClass: 500 })).data.length, 0);
assert.deepEqual(
  (await svix.messageAttempt.listAttemptedDestinations(uid, msg.id)).data.map((d) => d.id),
  [ep.id],
);
assert.deepEqual(
  (await svix.messageAttempt.listAttemptedMessages(uid, ep.id)).data.map((m) => m.id),
  [msg.id],
);

// A resend is a second delivery of the same message, signed again.
await svix.messageAttempt.resend(uid, msg.id, ep.id);
await eventually("the resend", () => received.filter((r) => r.headers["webhook-id"] === msg.id).length >= 2);

// Expunging a payload: the message reads as Svix shows it, and cannot be resent.
await svix.message.expungeContent(uid, msg.id);
assert.deepEqual((await svix.message.get(uid, msg.id, { withContent: true })).payload, { expired: true });

// The example of an event type, sent to one endpoint.
await svix.endpoint.sendExample(uid, ep.id, { eventType: event });
await eventually("the example", () => received.some((r) => r.headers["webhook-id"] !== msg.id));

// Portal access and the environment's catalogue.
const portal = await svix.authentication.appPortalAccess(uid, {});
assert.ok(portal.url.length > 0 && portal.token.length > 0);
await svix.authentication.expireAll(uid, {});
const exported = await svix.environment.export();
assert.ok(exported.eventTypes.some((e) => e.name === event));

// What Herald does not serve answers 501 with the feature named, never 404.
// (The SDK hands 5xx bodies over as text, after retrying twice.)
const body = JSON.parse(await refused(() => svix.statistics.aggregateEventTypes(), 501));
assert.equal(body.code, "not_supported");
assert.match(body.detail, /\S/);

// Another application's uid is simply not there.
await refused(() => svix.endpoint.get("no-such-app", ep.id), 404);

await svix.endpoint.delete(uid, ep.id);
await svix.application.delete(uid);
receiver.close();
console.log("javascript svix SDK: applications, event types, endpoints, messages, deliveries verified by the SDK's Webhook, attempts, expunge, portal, environment OK");
