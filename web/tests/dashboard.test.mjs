// The dashboard and the portal in a real browser, one journey a new user takes after the
// README's quick start: sign in, create an application, add an endpoint that points at a
// local receiver, send a test event and see its attempt, rotate the secret, open the
// customer portal and see only that application, sign out.
//
// Elements are found the way a person (or a screen reader) finds them: by label, role
// and visible name. Each main page is saved to web/artifacts/NAME.png.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  HERALD_URL, PHONE, api, eventually, journey, launch, openPage, screenshot, signIn,
  signedWith, startReceiver,
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

/** The sign-in page's heading: where a signed-out visitor is sent. */
const SIGN_IN = { name: "Sign in to Herald" };

test("a new user runs Herald from the dashboard alone", { timeout: 180_000 }, async (t) => {
  const { context, page } = await openPage(browser);
  const step = journey(t, browser);
  // Filled in by the steps, in order.
  let appUrl, appId, endpointUrl, secret;

  await step("a wrong password is refused with a message", async () => {
    await signIn(page, undefined, "not-the-password");
    await page.getByText("Wrong email or password").waitFor();
    assert.match(page.url(), /\/ui\/login$/);
    await page.getByRole("heading", SIGN_IN).waitFor();
    await screenshot(page, "sign-in");
  });

  await step("the printed login signs in to the overview", async () => {
    await signIn(page);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    assert.match(page.url(), /\/ui$/);
    await screenshot(page, "overview");
    // The same page on a phone, signed in with the same session cookie.
    const phone = await openPage(browser, { viewport: PHONE });
    await phone.context.addCookies(await context.cookies());
    await phone.page.goto(`${HERALD_URL}/ui`);
    await phone.page.getByRole("heading", { name: "Overview" }).waitFor();
    await screenshot(phone.page, "overview-phone");
    await phone.context.close();
  });

  await step("create an application", async () => {
    await page.getByRole("link", { name: "Applications", exact: true }).click();
    await page.getByRole("heading", { name: "Applications" }).waitFor();
    await screenshot(page, "applications");
    await page.getByLabel("Name").fill("Acme Corp");
    await page.getByRole("button", { name: "Create application" }).click();
    await page.getByRole("heading", { name: "Acme Corp" }).waitFor();
    appUrl = page.url();
    assert.match(appUrl, /\/ui\/apps\/[^/]+$/);
    appId = appUrl.split("/").pop();
  });

  await step("add an endpoint pointing at the local receiver", async () => {
    await page.getByLabel("URL", { exact: true }).fill(receiver.url);
    await page.getByLabel("Description").fill("receiver of the browser test");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByRole("heading", { name: receiver.url }).waitFor();
    endpointUrl = page.url();
    assert.match(endpointUrl, new RegExp(`/ui/apps/${appId}/endpoints/[^/]+$`));
  });

  await step("the signing secret stays hidden until revealed", async () => {
    assert.ok(!(await page.content()).includes("whsec_"), "no secret in the page before Reveal");
    // Reveal is a link styled as a button (it loads the page again with the secret).
    await page.getByRole("link", { name: "Reveal" }).click();
    secret = await page.getByLabel("Key (current)").inputValue();
    assert.match(secret, /^whsec_/);
    await page.getByRole("button", { name: "Copy" }).first().waitFor();
    await screenshot(page, "endpoint");
  });

  await step("a test event arrives signed and its attempt shows", async () => {
    await page.goto(endpointUrl);
    // The endpoint page also has an "Event type" text filter; the test form's is a select.
    await page.getByRole("combobox", { name: "Event type", exact: true }).selectOption("herald.test");
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByRole("heading", { name: /^Message msg_/ }).waitFor();
    assert.match(page.url(), new RegExp(`/ui/apps/${appId}/messages/msg_[^/]+$`));

    const request = await eventually("the test event at the receiver", () => receiver.requests[0]);
    assert.ok(request.headers["webhook-signature"], "the request carries webhook-signature");
    assert.ok(signedWith(request, secret), "the signature verifies with the revealed secret");

    // Delivery is asynchronous: reload until the attempt is listed as succeeded.
    await eventually("a succeeded attempt on the message page", async () => {
      await page.reload();
      return (await page.getByRole("article").filter({ hasText: "Succeeded" }).count()) > 0;
    }, 20_000);
    assert.match(await page.locator("pre.payload").innerText(), /"type": "herald.test"/);
    await screenshot(page, "message");
  });

  await step("the application page lists the endpoint and the message", async () => {
    await page.goto(appUrl);
    await page.getByRole("link", { name: receiver.url }).waitFor();
    await page.getByRole("link", { name: /^msg_/ }).first().waitFor();
    await screenshot(page, "application");
  });

  await step("rotating the secret shows both keys during the grace period", async () => {
    await page.goto(endpointUrl);
    // The form asks for confirmation first; a person would press OK.
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const current = await page.getByLabel("Key (current)").inputValue();
    assert.match(current, /^whsec_/);
    assert.notEqual(current, secret, "rotation makes a new key");
    assert.equal(await page.getByLabel(/^Key \(previous/).inputValue(), secret, "the old key stays for now");
  });

  await step("payloads show as text, never as markup", async () => {
    const markup = "<script>window.__xss = 1</script>";
    const message = await api("POST", `/app/${appId}/msg`, {
      eventType: "x.y",
      payload: { text: markup },
    });
    await page.goto(`${appUrl}/messages/${message.id}`);
    assert.ok(await page.getByText(markup).isVisible(), "the script tag is shown as text");
    assert.equal(await page.evaluate(() => window.__xss), undefined, "the script did not run");
  });

  await step("the delivery log lists the attempts", async () => {
    await page.goto(`${appUrl}/log`);
    await page.getByRole("heading", { name: "Delivery log" }).waitFor();
    await page.getByRole("cell", { name: "Succeeded" }).first().waitFor();
    await screenshot(page, "delivery-log");
  });

  await step("the tenant pages render", async () => {
    for (const [link, name] of [
      ["Event types", "event-types"],
      ["API tokens", "tokens"],
      ["Team", "team"],
      ["Audit log", "audit"],
    ]) {
      await page.getByRole("link", { name: link, exact: true }).click();
      await page.getByRole("heading", { name: link, exact: true }).waitFor();
      await screenshot(page, name);
    }
    assert.ok((await page.getByText("endpoint.secret.rotate").count()) > 0, "the rotation is audited");
  });

  await step("a portal link opens that application only", async () => {
    await api("POST", "/app", { name: "Other Co" });
    await page.goto(appUrl);
    await page.getByRole("button", { name: "Portal link" }).click();
    const link = await page.getByLabel("Portal link").inputValue();
    assert.match(link, /\/portal\?token=/);

    // The customer's browser: a new context, so no dashboard cookie.
    const customer = await openPage(browser);
    const portal = customer.page;
    await portal.goto(link);
    await portal.getByRole("heading", { name: "Acme Corp" }).waitFor();
    assert.match(portal.url(), /\/portal$/);
    assert.ok(!portal.url().includes("token="), "the token leaves the address bar");
    const text = await portal.getByRole("main").innerText();
    assert.ok(text.includes(receiver.url), "its endpoint shows");
    assert.ok(!text.includes("Other Co"), "no other application shows");
    await screenshot(portal, "portal");

    // Its messages open in the portal too.
    await portal.getByRole("link", { name: /^msg_/ }).first().click();
    await portal.getByRole("heading", { name: /^Message msg_/ }).waitFor();

    // A portal session is no dashboard session.
    await portal.goto(`${HERALD_URL}/ui`);
    await portal.getByRole("heading", SIGN_IN).waitFor();
    assert.match(portal.url(), /\/ui\/login$/);
    await customer.context.close();
  });

  await step("sign out ends the session", async () => {
    await page.goto(`${HERALD_URL}/ui`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", SIGN_IN).waitFor();
    for (const path of ["/ui", "/ui/apps"]) {
      await page.goto(`${HERALD_URL}${path}`);
      assert.match(page.url(), /\/ui\/login$/, `${path} sends a signed-out visitor to sign in`);
    }
  });

  await context.close();
});

test("the forms work with JavaScript turned off", { timeout: 60_000 }, async () => {
  const { context, page } = await openPage(browser, { javaScriptEnabled: false });
  await signIn(page);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.goto(`${HERALD_URL}/ui/apps`);
  await page.getByLabel("Name").fill("No Script Ltd");
  await page.getByRole("button", { name: "Create application" }).click();
  await page.getByRole("heading", { name: "No Script Ltd" }).waitFor();
  // Without a confirmation dialog the delete form still posts.
  await page.getByRole("button", { name: "Delete application" }).click();
  await page.getByRole("heading", { name: "Applications" }).waitFor();
  assert.ok(!(await page.getByRole("main").innerText()).includes("No Script Ltd"));
  await context.close();
});
