// Installable, and offline-safe: the manifest and its icons, a service worker that caches the shell and never an
// API answer, and the offline page when the network is gone.

import { expect, test } from "@playwright/test";
import { DEMO, shot, signIn } from "./support";

test("the console is installable and its service worker caches the shell only", async ({ browser, request }) => {
  const manifest = await (await request.get("/manifest.webmanifest")).json();
  expect(manifest.display).toBe("standalone");
  const sizes = manifest.icons.map((i: { sizes: string }) => i.sizes);
  expect(sizes).toEqual(expect.arrayContaining(["192x192", "512x512"]));
  for (const icon of manifest.icons) expect((await request.get(icon.src)).status()).toBe(200);

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/");
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  // The worker controls pages loaded after it activated.
  await page.reload();
  await expect.poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
  await signIn(page, DEMO);
  await page.goto("/records?kind=charge");
  await expect(page.locator(".records li").first()).toBeVisible();

  const cached = await page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
    }
    return urls;
  });
  expect(cached).toContain("/offline.html");
  expect(cached.some((u) => u.startsWith("/assets/"))).toBe(true);
  expect(cached.filter((u) => u.startsWith("/v1") || u.startsWith("/switchboard.") || u.startsWith("/grpc."))).toEqual([]);
  expect(cached).not.toContain("/");
  expect(cached).not.toContain("/index.html");

  await context.setOffline(true);
  await page.goto("/connections").catch(() => undefined);
  await expect(page.getByRole("heading", { name: "You are offline", exact: true })).toBeVisible();
  await shot(page, "40-offline");
  await context.setOffline(false);
  await context.close();
});
