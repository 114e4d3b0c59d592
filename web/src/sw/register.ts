// Registers the service worker in production builds, after the page has loaded (so installing the shell cache
// never competes with the first load).

export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return;
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch((error: unknown) => {
      console.warn("Switchboard: the service worker did not register", error);
    });
  });
}
