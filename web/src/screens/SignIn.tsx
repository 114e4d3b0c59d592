// Sign in with a tenant's slug, an email and a password. The screen is shown in place of whatever address was
// opened, so after signing in the console carries on there (an OAuth callback included).

import { useState, type FormEvent } from "react";
import { describeError } from "../api/errors";
import { useServices } from "../app/context";
import type { EndReason } from "../session/session";

const REASONS: Record<EndReason, string | undefined> = {
  "signed-out": "You have signed out.",
  expired: "Your session has ended. Sign in again to carry on.",
  "no-session": undefined,
  "copied-tab": "This tab is a copy of another Switchboard tab. Sign in here to use it on its own.",
};

export default function SignIn({ reason }: { reason: EndReason }) {
  const { session } = useServices();
  const [tenant, setTenant] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.signIn(tenant.trim(), email.trim(), password);
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  };

  const notice = REASONS[reason];
  return (
    <main id="main" className="signin">
      <div className="signin-card">
        <p className="brand" aria-hidden="true">
          <img src="/icons/icon.svg" alt="" width="32" height="32" /> Switchboard
        </p>
        <h1>Sign in</h1>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <form onSubmit={submit} aria-describedby={error ? "signin-error" : undefined}>
          <label htmlFor="tenant">Workspace</label>
          <input
            id="tenant"
            name="tenant"
            autoComplete="organization"
            autoCapitalize="none"
            spellCheck={false}
            required
            value={tenant}
            onChange={(e) => setTenant(e.target.value)}
            aria-describedby="tenant-hint"
          />
          <p id="tenant-hint" className="hint">
            Your workspace's short name, such as <code>demo</code>.
          </p>
          <label htmlFor="email">Email</label>
          <input
            id="email"
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <label htmlFor="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          {error && (
            <p id="signin-error" className="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </div>
    </main>
  );
}
