// The inspector in a real browser, the first try a new user makes: sign in, create an
// application and an endpoint, send its test event "to a new inbox", watch the request
// arrive on the inbox's page (the page refreshes its list by itself), open it and read
// the verdict "Valid"; then paste a key that did not sign it and read why it is invalid.
// Also an inbox made with its own form, and the list of inboxes.
//
// Elements are found by label, role and visible name; each main page is saved to
// web/artifacts/inspector-NAME.png.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { journey, launch, openPage, screenshot, signIn, startReceiver } from "./helpers.mjs";

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

test("a new user sees a signed request arrive in an inbox", { timeout: 180_000 }, async (t) => {
  const { page } = await openPage(browser);
  const step = journey(t, browser);
  // Filled in by the steps, in order.
  let inboxUrl, requestUrl;

  await step("sign in and create an application with an endpoint", async () => {
    await signIn(page);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByRole("link", { name: "Applications", exact: true }).click();
    await page.getByLabel("Name").fill("Inspector Journey");
    await page.getByRole("button", { name: "Create application" }).click();
    await page.getByRole("heading", { name: "Inspector Journey" }).waitFor();
    await page.getByLabel("URL", { exact: true }).fill(receiver.url);
    await page.getByLabel("Description").fill("the real receiver");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("heading", { name: receiver.url }).waitFor();
  });

  await step("send the test event to a new inbox", async () => {
    await page.getByRole("combobox", { name: "Event type", exact: true }).selectOption("herald.test");
    await page.getByRole("button", { name: "Send to a new inbox" }).click();
    await page.getByRole("heading", { name: "Test of the real receiver" }).waitFor();
    await page.getByText(/now delivers to this inbox/).waitFor();
    inboxUrl = page.url();
    assert.match(inboxUrl, /\/ui\/inspector\/inbx_[^/?]+\?tried=ep_/);
    const url = await page.getByLabel(/^URL/).inputValue();
    assert.match(url, /\/in\/[0-9a-f]{40}$/);
    assert.equal(receiver.requests.length, 0, "the test event went to the inbox, not the endpoint");
  });

  await step("the request shows up without a reload", async () => {
    // The list refreshes itself every few seconds; no click, no reload.
    const row = page.getByRole("row").filter({ hasText: "POST" });
    await row.first().waitFor({ timeout: 30_000 });
    await page.getByRole("cell", { name: "application/json" }).first().waitFor();
    await screenshot(page, "inspector-inbox");
    await row.first().getByRole("link").click();
    await page.getByRole("heading", { name: "POST /" }).waitFor();
    requestUrl = page.url();
    assert.match(requestUrl, /\/request\/inrq_/);
  });

  await step("its verdict against the endpoint is valid", async () => {
    const verdict = page.getByText(/^Valid: signed msg_\S+ \d+ s before it arrived$/);
    await verdict.waitFor();
    await page.getByRole("cell", { name: "webhook-signature", exact: true }).waitFor();
    await page.getByText(/"test": true/).waitFor();
    await page.getByRole("link", { name: "Copy as file" }).waitFor();
    await screenshot(page, "inspector-request-valid");
  });

  await step("a key that did not sign it says invalid, and why", async () => {
    const wrong = `whsec_${randomBytes(24).toString("base64")}`;
    await page.getByLabel("Or a key").fill(wrong);
    await page.getByRole("button", { name: "Check with this key" }).click();
    await page.getByText(/^Invalid: no signature matches/).waitFor();
    await page.getByText("Checked with the pasted key", { exact: false }).waitFor();
    assert.equal(await page.getByText(/^Valid:/).count(), 0);
    await screenshot(page, "inspector-request-invalid");
  });

  await step("an inbox made with the form is listed with its URL", async () => {
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Inspector", exact: true }).click();
    await page.getByRole("heading", { name: "Inspector", exact: true }).waitFor();
    await page.getByLabel("Name").fill("made by hand");
    await page.getByLabel("Expires after").selectOption({ label: "1 day" });
    await page.getByLabel(/^Status/).fill("503");
    await page.getByRole("button", { name: "Create inbox" }).click();
    await page.getByRole("heading", { name: "made by hand" }).waitFor();
    assert.equal(await page.getByLabel(/^Status/).inputValue(), "503");
    await page.getByLabel(/^Script/).fill("500\n500\n200");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("0 of 3 steps answered", { exact: false }).waitFor();
    await nav.getByRole("link", { name: "Inspector", exact: true }).click();
    await page.getByRole("link", { name: "made by hand" }).waitFor();
    await page.getByRole("link", { name: "Test of the real receiver" }).waitFor();
    await screenshot(page, "inspector-list");
  });
});
