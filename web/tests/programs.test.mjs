// An endpoint's jq programs in a real browser (JavaScript off: the "try it" panel runs on
// the server): type a filter and a Slack-style transformation, try them on a recent
// message and on an event type's example, see matched / not matched and the request,
// then save and see a delivery shaped by the transformation.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  HERALD_URL, api, eventually, journey, launch, openPage, screenshot, signIn, startReceiver,
} from "./helpers.mjs";

let browser;
let receiver;

before(async () => {
  browser = await launch();
  receiver = await startReceiver();
});

after(async () => {
  await browser?.close();
  await receiver?.close();
});

const FILTER = '.payload.plan == "pro"';
const TRANSFORMATION = '{body: {text: "Welcome \\(.payload.name) (\\(.eventType))"}, url: "/slack?team=growth"}';

test("an endpoint's filter and transformation are tried and saved from its page", { timeout: 120_000 }, async (t) => {
  const { context, page } = await openPage(browser, { javaScriptEnabled: false });
  const step = journey(t, browser);
  const app = await api("POST", "/app", { name: "Programs Co", uid: "programs-co" });
  await api("POST", "/event-type", {
    name: "signup.done",
    description: "a customer signed up",
    schemas: { 1: { type: "object", examples: [{ name: "Example Person", plan: "free" }] } },
  }).catch(() => {});
  const ep = await api("POST", "/app/programs-co/endpoint", { url: receiver.url, uid: "slack" });
  const msg = await api("POST", "/app/programs-co/msg", { eventType: "signup.done", payload: { name: "Ada", plan: "pro" } });
  await eventually("the first delivery", () => receiver.requests.length >= 1);
  const programsUrl = `${HERALD_URL}/ui/apps/${app.id}/endpoints/${ep.id}/programs`;

  await step("the endpoint page links to its programs", async () => {
    await signIn(page);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.goto(`${HERALD_URL}/ui/apps/${app.id}/endpoints/${ep.id}`);
    await page.getByRole("heading", { name: "Filter and transformation" }).waitFor();
    await page.getByRole("link", { name: "Edit and try" }).click();
    await page.getByRole("heading", { name: "Filter and transformation", level: 1 }).waitFor();
    assert.equal(page.url(), programsUrl);
  });

  await step("try both on a recent message: matched, and the shaped request", async () => {
    await page.getByLabel(/^Filter/).fill(FILTER);
    await page.getByLabel(/^Transformation/).fill(TRANSFORMATION);
    await page.getByLabel("Sample message").selectOption(`msg:${msg.id}`);
    await page.getByRole("button", { name: "Try" }).click();
    await page.getByRole("heading", { name: /^Result on signup\.done/ }).waitFor();
    assert.equal((await page.locator("#trial-verdict").innerText()).trim(), "Matched");
    assert.equal(
      (await page.locator("#trial-request").innerText()).trim(),
      `POST ${receiver.url.replace(/\/hook$/, "")}/slack?team=growth`,
    );
    assert.match(await page.locator("#trial-body").innerText(), /Welcome Ada \(signup\.done\)/);
    // What was typed stays in the form.
    assert.equal(await page.getByLabel(/^Filter/).inputValue(), FILTER);
    await screenshot(page, "endpoint-programs-try");
  });

  await step("try them on the event type's example: not matched, and why", async () => {
    await page.getByLabel("Sample message").selectOption("example:signup.done");
    await page.getByRole("button", { name: "Try" }).click();
    await page.getByRole("heading", { name: /^Result on signup\.done/ }).waitFor();
    assert.equal((await page.locator("#trial-verdict").innerText()).trim(), "Not matched");
    assert.match(await page.locator("#trial-reason").innerText(), /gave false/);
    assert.match(await page.locator("#trial-body").innerText(), /Welcome Example Person/);
  });

  await step("a program that does not compile is shown beside its field", async () => {
    await page.getByLabel(/^Filter/).fill(".payload |\n  nope");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText(/Filter: line 2, column 3/).waitFor();
    const saved = await api("GET", "/app/programs-co/endpoint/slack");
    assert.equal(saved.filter, undefined, "nothing was saved");
  });

  await step("save, and the next delivery is shaped", async () => {
    await page.getByLabel(/^Filter/).fill(FILTER);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    const saved = await api("GET", "/app/programs-co/endpoint/slack");
    assert.equal(saved.filter, FILTER);
    assert.equal(saved.transformation, TRANSFORMATION);
    const before = receiver.requests.length;
    await api("POST", "/app/programs-co/msg", { eventType: "signup.done", payload: { name: "Grace", plan: "pro" } });
    const skipped = await api("POST", "/app/programs-co/msg", { eventType: "signup.done", payload: { name: "Bob", plan: "free" } });
    const shaped = await eventually("the shaped delivery", () => receiver.requests.slice(before).find((r) => r.body.includes("Grace")));
    assert.deepEqual(JSON.parse(shaped.body), { text: "Welcome Grace (signup.done)" });
    await page.goto(`${HERALD_URL}/ui/apps/${app.id}/messages/${skipped.id}`);
    await page.getByRole("heading", { name: "Filtered out" }).waitFor();
    assert.match(await page.locator("#filtered-out").innerText(), /the filter gave false/);
    await screenshot(page, "message-filtered-out");
  });

  await context.close();
});
