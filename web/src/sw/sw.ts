// The console's service worker: keeps the app shell (the build's hashed assets, icons, manifest and the offline
// page) in a cache named after the build, answers page loads from the network with the offline page as the
// fallback, and leaves every API request alone (policy.ts). Built to /sw.js by the `service-worker` plugin in
// vite.config.ts, which replaces `__SHELL__` with the build's file list.

/// <reference lib="webworker" />
import { handling, isCacheable } from "./policy";

declare const self: ServiceWorkerGlobalScope;
declare const __SHELL__: { version: string; files: string[] };

const SHELL = __SHELL__;
const CACHE = `switchboard-shell-${SHELL.version}`;
const OFFLINE = "/offline.html";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.files)));
});

self.addEventListener("activate", (event) => {
  // Older builds' shells go once this worker takes over (it waits until no page uses the old one, so a page that is
  // still open never loses the chunks it may load later).
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith("switchboard-shell-") && k !== CACHE).map((k) => caches.delete(k))),
      ),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  switch (handling(request, self.location.origin)) {
    case "network":
      return;
    case "navigation":
      event.respondWith(
        fetch(request).catch(async () => (await caches.match(OFFLINE)) ?? Response.error()),
      );
      return;
    case "shell":
      event.respondWith(
        caches.match(request).then(
          (hit) =>
            hit ??
            fetch(request).then(async (response) => {
              if (isCacheable(response)) await (await caches.open(CACHE)).put(request, response.clone());
              return response;
            }),
        ),
      );
      return;
  }
});
