// The dashboard and the portal in a real browser, one journey a new user takes after the
// README's quick start: sign in, create an application, add an endpoint that points at a
// local receiver, send a test event and see its attempt, rotate the secret, open the
// customer portal and see only that application, sign out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  HERALD_URL, api, eventually, launch, screenshot, signIn, signedWith, startReceiver,
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

test("a new user runs Herald from the dashboard alone", async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  let appUrl, endpointUrl, appId, secret;

  await t.test("a wrong password is refused with a message", async () => {
    await signIn(page, undefined, "not-the-password");
    await page.getByText("Wrong email or password").waitFor();
    assert.match(page.url(), /\/ui\/login$/);
    await screenshot(page, "sign-in");
  });

  await t.test("the printed login signs in to the overview", async () => {
    await signIn(page);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await screenshot(page, "overview");
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await phone.context().addCookies(await context.cookies());
    await phone.goto(`${HERALD_URL}/ui`);
    await phone.getByRole("heading", { name: "Overview" }).waitFor();
    await screenshot(phone, "overview-phone");
    await phone.close();
  });

  await t.test("create an application", async () => {
    await page.getByRole("link", { name: "Applications" }).click();
    await page.getByRole("heading", { name: "Applications" }).waitFor();
    await page.getByLabel("Name").fill("Acme Corp");
    await page.getByRole("button", { name: "Create application" }).click();
    await page.getByRole("heading", { name: "Acme Corp" }).waitFor();
    appUrl = page.url();
    appId = appUrl.split("/").pop();
    await page.goto(`${HERALD_URL}/ui/apps`);
    await screenshot(page, "applications");
  });

  await t.test("add an endpoint pointing at the local receiver", async () => {
    await page.goto(appUrl);
    await page.getByLabel("URL").fill(receiver.url);
    await page.getByLabel("Description").fill("receiver of the browser test");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("heading", { name: receiver.url }).waitFor();
    endpointUrl = page.url();
  });

  await t.test("the signing secret stays hidden until revealed", async () => {
    assert.ok(!(await page.content()).includes("whsec_"));
    await page.getByRole("link", { name: "Reveal" }).click();
    secret = await page.getByLabel("Key (current)").inputValue();
    assert.match(secret, /^whsec_/);
    await screenshot(page, "endpoint");
  });

  await t.test("a test event arrives signed and its attempt shows", async () => {
    await page.goto(endpointUrl);
    await page.getByLabel("Event type", { exact: true }).first().selectOption("herald.test");
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByRole("heading", { name: /^Message msg_/ }).waitFor();
    const request = await eventually(() => receiver.requests[0]);
    assert.ok(signedWith(request, secret), "the signature verifies with the revealed secret");
    await eventually(async () => {
      await page.reload();
      return (await page.locator(".attempt .badge", { hasText: "Succeeded" }).count()) > 0;
    });
    assert.match(await page.locator("pre.payload").innerText(), /"type": "herald.test"/);
    await screenshot(page, "message");
  });

  await t.test("rotating the secret shows both keys during the grace period", async () => {
    await page.goto(endpointUrl);
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const current = await page.getByLabel("Key (current)").inputValue();
    assert.match(current, /^whsec_/);
    assert.notEqual(current, secret);
    assert.equal(await page.getByLabel(/^Key \(previous/).inputValue(), secret);
  });

  await t.test("payloads show as text, never as markup", async () => {
    const message = await api("POST", `/app/${appId}/msg`, {
      eventType: "x.y",
      payload: { text: "<script>window.__xss = 1</script>" },
    });
    await page.goto(`${appUrl}/messages/${message.id}`);
    assert.match(await page.locator("pre.payload").innerText(), /<script>window.__xss = 1<\/script>/);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
  });

  await t.test("the delivery log lists the attempts", async () => {
    await page.goto(`${appUrl}/log`);
    await page.getByRole("heading", { name: "Delivery log" }).waitFor();
    await page.locator("td .badge", { hasText: "Succeeded" }).first().waitFor();
    await screenshot(page, "delivery-log");
  });

  await t.test("the tenant pages render", async () => {
    for (const [link, heading, name] of [
      ["Event types", "Event types", "event-types"],
      ["API tokens", "API tokens", "tokens"],
      ["Team", "Team", "team"],
      ["Audit log", "Audit log", "audit"],
    ]) {
      await page.getByRole("link", { name: link, exact: true }).click();
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      await screenshot(page, name);
    }
    assert.ok(await page.getByText("endpoint.secret.rotate").count() > 0, "the rotation is audited");
  });

  await t.test("a portal link opens that application only", async () => {
    await api("POST", "/app", { name: "Other Co" });
    await page.goto(appUrl);
    await page.getByRole("button", { name: "Portal link" }).click();
    const link = await page.getByLabel("Portal link").inputValue();
    assert.match(link, /\/portal\?token=/);

    const customer = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const portal = await customer.newPage();
    await portal.goto(link);
    await portal.getByRole("heading", { name: "Acme Corp" }).waitFor();
    assert.ok(!portal.url().includes("token="), "the token leaves the address bar");
    const text = await portal.locator("main").innerText();
    assert.ok(text.includes(receiver.url), "its endpoint shows");
    assert.ok(!text.includes("Other Co"), "no other application shows");
    await portal.getByRole("link", { name: /^msg_/ }).first().click();
    await portal.getByRole("heading", { name: /^Message msg_/ }).waitFor();
    await portal.goto(`${HERALD_URL}/portal`);
    await screenshot(portal, "portal");
    await portal.goto(`${HERALD_URL}/ui`);
    await portal.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    await customer.close();
  });

  await t.test("sign out ends the session", async () => {
    await page.goto(`${HERALD_URL}/ui`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Herald" }).waitFor();
    await page.goto(`${HERALD_URL}/ui/apps`);
    assert.match(page.url(), /\/ui\/login$/);
  });

  await context.close();
});

test("the forms work with JavaScript turned off", async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.goto(`${HERALD_URL}/ui/apps`);
  await page.getByLabel("Name").fill("No Script Ltd");
  await page.getByRole("button", { name: "Create application" }).click();
  await page.getByRole("heading", { name: "No Script Ltd" }).waitFor();
  // Without a confirmation dialog the delete form still posts.
  await page.getByRole("button", { name: "Delete application" }).click();
  await page.getByRole("heading", { name: "Applications" }).waitFor();
  assert.ok(!(await page.locator("main").innerText()).includes("No Script Ltd"));
  await context.close();
});
