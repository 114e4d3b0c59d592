// Duplicated tabs. A browser copies a tab's sessionStorage when the tab is duplicated (or opened from it with
// window.open), so the copy starts with the same single-use refresh token as the original. Whichever of the two
// refreshed second would present a spent token, and the gateway would revoke the session in both. So each tab
// keeps, beside its refresh token, a lease id of its own; on start a tab asks the live tabs of the console, over a
// BroadcastChannel, whether one of them holds the lease it found in storage. If one answers, the tab is a copy: it
// drops the token and signs in on its own. A reload of the same tab finds nobody holding the lease and carries on.

/** How long a starting tab waits for another tab to claim its lease. */
const WAIT_MS = 150;

export interface TabPeers {
  /** Answer other tabs' questions about `lease` from now on (this tab holds it). */
  hold(lease: string): void;
  /** Whether another live tab holds `lease`. */
  heldElsewhere(lease: string): Promise<boolean>;
}

type Message = { type: "who-holds"; lease: string; ask: string } | { type: "held"; ask: string };

export function broadcastPeers(name = "switchboard-session"): TabPeers | undefined {
  if (typeof BroadcastChannel === "undefined") return undefined;
  const channel = new BroadcastChannel(name);
  let held: string | undefined;
  const waiting = new Map<string, () => void>();
  channel.onmessage = (event: MessageEvent<Message>) => {
    const message = event.data;
    if (message.type === "who-holds" && held !== undefined && message.lease === held) {
      channel.postMessage({ type: "held", ask: message.ask } satisfies Message);
    } else if (message.type === "held") {
      waiting.get(message.ask)?.();
    }
  };
  return {
    hold(lease) {
      held = lease;
    },
    heldElsewhere(lease) {
      const ask = newLease();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(ask);
          resolve(false);
        }, WAIT_MS);
        waiting.set(ask, () => {
          clearTimeout(timer);
          waiting.delete(ask);
          resolve(true);
        });
        channel.postMessage({ type: "who-holds", lease, ask } satisfies Message);
      });
    },
  };
}

export function newLease(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
