import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { REFRESH_KEY, Session, refreshDelayMs, type AuthApi, type Clock } from "./session";

/** A clock whose timers run only when the test moves time on. */
function fakeClock() {
  let now = 1_000_000;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      timers = timers.filter((t) => t.id !== id);
    },
  };
  return {
    clock,
    advance(ms: number) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
    pending: () => timers.map((t) => t.at - now),
  };
}

function fakeAuth() {
  let n = 0;
  const grant = () => {
    n += 1;
    return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresIn: 900 };
  };
  const auth = {
    login: vi.fn(async () => grant()),
    refresh: vi.fn(async (_: { refreshToken: string }) => grant()),
    logout: vi.fn(async () => ({})),
  } satisfies AuthApi;
  return auth;
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("Session", () => {
  it("keeps the refresh token in sessionStorage and the access token in memory only", async () => {
    const auth = fakeAuth();
    const session = new Session(auth, window.sessionStorage);
    await session.signIn("demo", "owner@demo.example", "pw");
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("rt-1");
    expect(window.localStorage.length).toBe(0);
    expect(JSON.stringify({ ...window.sessionStorage })).not.toContain("at-1");
    expect(await session.accessToken()).toBe("at-1");
  });

  it("rotates shortly before the access token expires", async () => {
    const auth = fakeAuth();
    const time = fakeClock();
    const session = new Session(auth, window.sessionStorage, time.clock);
    await session.signIn("demo", "e", "p");
    expect(time.pending()).toEqual([refreshDelayMs(900)]);
    expect(refreshDelayMs(900)).toBe(840_000);
    time.advance(839_999);
    expect(auth.refresh).not.toHaveBeenCalled();
    time.advance(1);
    await flush();
    expect(auth.refresh).toHaveBeenCalledWith({ refreshToken: "rt-1" });
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("rt-2");
    expect(await session.accessToken()).toBe("at-2");
  });

  it("refreshes before sending with a token about to expire", async () => {
    const auth = fakeAuth();
    const time = fakeClock();
    const session = new Session(auth, window.sessionStorage, time.clock);
    await session.signIn("demo", "e", "p");
    // The timer was throttled (a background tab): the token has 10 s left when a call is made.
    time.clock.clearTimeout(1);
    time.advance(890_000);
    expect(await session.accessToken()).toBe("at-2");
    expect(auth.refresh).toHaveBeenCalledTimes(1);
  });

  it("uses a short-lived token for most of its life instead of refreshing before every call", async () => {
    const auth = fakeAuth();
    auth.login.mockResolvedValueOnce({ accessToken: "short", refreshToken: "rt-s", expiresIn: 30 });
    const time = fakeClock();
    const session = new Session(auth, window.sessionStorage, time.clock);
    await session.signIn("demo", "e", "p");
    expect(await session.accessToken()).toBe("short");
    time.clock.clearTimeout(1);
    time.advance(22_000);
    expect(await session.accessToken()).toBe("short");
    expect(auth.refresh).not.toHaveBeenCalled();
    time.advance(1_000); // within the last quarter of its 30 s
    expect(await session.accessToken()).not.toBe("short");
    expect(auth.refresh).toHaveBeenCalledTimes(1);
  });

  it("sends one Refresh for concurrent callers: a refresh token is single-use", async () => {
    const auth = fakeAuth();
    const session = new Session(auth, window.sessionStorage);
    await session.signIn("demo", "e", "p");
    const tokens = await Promise.all([session.refresh("at-1"), session.refresh("at-1"), session.refresh()]);
    expect(auth.refresh).toHaveBeenCalledTimes(1);
    expect(tokens).toEqual(["at-2", "at-2", "at-2"]);
    // A call refused with the old token after the rotation does not rotate again.
    expect(await session.refresh("at-1")).toBe("at-2");
    expect(auth.refresh).toHaveBeenCalledTimes(1);
  });

  it("ends the session when the gateway refuses the refresh token (reused, revoked, expired)", async () => {
    const auth = fakeAuth();
    const session = new Session(auth, window.sessionStorage);
    await session.signIn("demo", "e", "p");
    auth.refresh.mockRejectedValueOnce(new ConnectError("invalid refresh token", Code.Unauthenticated));
    const states: string[] = [];
    session.subscribe((s) => states.push(s.status === "signed-out" ? `out:${s.reason}` : "in"));
    await expect(session.refresh()).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(states).toEqual(["out:expired"]);
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
    expect(await session.accessToken()).toBeUndefined();
  });

  it("keeps the refresh token through a network failure and tries again later", async () => {
    const auth = fakeAuth();
    const time = fakeClock();
    const session = new Session(auth, window.sessionStorage, time.clock);
    await session.signIn("demo", "e", "p");
    auth.refresh.mockRejectedValueOnce(new ConnectError("Failed to fetch", Code.Unavailable));
    await expect(session.refresh()).rejects.toMatchObject({ code: Code.Unavailable });
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("rt-1");
    expect(session.current().status).toBe("signed-in");
    expect(time.pending()).toEqual([10_000]);
    time.advance(10_000);
    await flush();
    expect(auth.refresh).toHaveBeenCalledTimes(2);
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("rt-2");
  });

  it("restores the session of this tab after a reload from the stored refresh token", async () => {
    window.sessionStorage.setItem(REFRESH_KEY, "rt-from-before");
    const auth = fakeAuth();
    const session = new Session(auth, window.sessionStorage);
    const [a, b] = await Promise.all([session.restore(), session.restore()]);
    expect([a, b]).toEqual([true, true]);
    expect(auth.refresh).toHaveBeenCalledTimes(1);
    expect(auth.refresh).toHaveBeenCalledWith({ refreshToken: "rt-from-before" });
    expect(session.current().status).toBe("signed-in");
  });

  it("restores nothing when the stored token is refused", async () => {
    window.sessionStorage.setItem(REFRESH_KEY, "rt-dead");
    const auth = fakeAuth();
    auth.refresh.mockRejectedValueOnce(new ConnectError("invalid refresh token", Code.Unauthenticated));
    const session = new Session(auth, window.sessionStorage);
    expect(await session.restore()).toBe(false);
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it("signs out at the gateway with the refresh token and forgets it", async () => {
    const auth = fakeAuth();
    const session = new Session(auth, window.sessionStorage);
    await session.signIn("demo", "e", "p");
    await session.signOut();
    expect(auth.logout).toHaveBeenCalledWith({ refreshToken: "rt-1" });
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
    expect(session.current()).toEqual({ status: "signed-out", reason: "signed-out" });
  });
});

describe("duplicated tabs", () => {
  it("a copy of a live tab's session drops it instead of spending the shared refresh token", async () => {
    // Two tabs of one browser: the copy starts with the original's sessionStorage.
    const channel = `test-${Math.random()}`;
    const { broadcastPeers } = await import("./tabs");
    const originalStorage = new Map<string, string>();
    const storageOf = (map: Map<string, string>) => ({
      getItem: (k: string) => map.get(k) ?? null,
      setItem: (k: string, v: string) => void map.set(k, v),
      removeItem: (k: string) => void map.delete(k),
    });
    const auth = fakeAuth();
    const original = new Session(auth, storageOf(originalStorage), undefined, broadcastPeers(channel));
    await original.signIn("demo", "e", "p");
    await original.refresh(); // rotations keep the lease

    const copyStorage = new Map(originalStorage);
    const copy = new Session(auth, storageOf(copyStorage), undefined, broadcastPeers(channel));
    expect(await copy.restore()).toBe(false);
    expect(copy.current()).toEqual({ status: "signed-out", reason: "copied-tab" });
    expect(auth.refresh).toHaveBeenCalledTimes(1); // only the original's own rotation
    expect(originalStorage.get(REFRESH_KEY)).toBe("rt-2");

    // A reload of the original (the old page is gone, nobody holds the lease) restores as usual.
    const reloadedStorage = new Map(originalStorage);
    const reloaded = new Session(auth, storageOf(reloadedStorage), undefined, broadcastPeers(`${channel}-other`));
    expect(await reloaded.restore()).toBe(true);
  });
});
