// The console: restores or starts a session, asks who is signed in, then shows the screen the address names.

import { useEffect, useState } from "react";
import { describeError } from "../api/errors";
import { Role } from "../gen/switchboard/auth/v1/auth_pb";
import SignIn from "../screens/SignIn";
import type { SessionState } from "../session/session";
import { MeContext, ServicesContext, type Me, type Services } from "./context";
import { Layout } from "./Layout";

export function App({ services }: { services: Services }) {
  const { session, api } = services;
  const [state, setState] = useState<SessionState>(() => session.current());
  const [restoring, setRestoring] = useState(() => session.hasStoredSession());
  const [problem, setProblem] = useState<unknown>();
  const [me, setMe] = useState<Me>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => session.subscribe(setState), [session]);

  useEffect(() => {
    if (!session.hasStoredSession() || session.current().status === "signed-in") return;
    setRestoring(true);
    session.restore().then(
      () => setRestoring(false),
      (e: unknown) => {
        setProblem(e);
        setRestoring(false);
      },
    );
  }, [session, attempt]);

  // Who is signed in, asked again with every new access token (a changed role shows at the next rotation).
  const token = state.status === "signed-in" ? state.accessToken : undefined;
  useEffect(() => {
    if (!token) {
      setMe(undefined);
      return;
    }
    let live = true;
    api.auth.whoAmI({}).then(
      (whoami) => {
        if (!live) return;
        setProblem(undefined);
        setMe({ whoami, role: whoami.roles[0] ?? whoami.user?.role ?? Role.UNSPECIFIED, userId: whoami.user?.id ?? "" });
      },
      (e: unknown) => live && setProblem(e),
    );
    return () => {
      live = false;
    };
  }, [api, token, attempt]);

  const retry = () => {
    setProblem(undefined);
    setAttempt((a) => a + 1);
  };
  let content;
  if (restoring) {
    content = <Waiting text="Signing you back in…" />;
  } else if (state.status === "signed-out") {
    content = problem ? (
      <Trouble problem={problem} retry={retry} signOut={() => session.end("no-session")} />
    ) : (
      <SignIn reason={state.reason} />
    );
  } else if (!me) {
    content = problem ? (
      <Trouble problem={problem} retry={retry} signOut={() => void session.signOut()} />
    ) : (
      <Waiting text="Loading your workspace…" />
    );
  } else {
    content = (
      <MeContext.Provider value={me}>
        <Layout />
      </MeContext.Provider>
    );
  }
  return <ServicesContext.Provider value={services}>{content}</ServicesContext.Provider>;
}

function Waiting({ text }: { text: string }) {
  return (
    <main id="main" className="center">
      <p role="status">{text}</p>
    </main>
  );
}

function Trouble({ problem, retry, signOut }: { problem: unknown; retry: () => void; signOut: () => void }) {
  return (
    <main id="main" className="center">
      <h1>Cannot reach Switchboard</h1>
      <p role="alert">{describeError(problem)}</p>
      <p className="actions">
        <button type="button" className="primary" onClick={retry}>
          Try again
        </button>
        <button type="button" onClick={signOut}>
          Sign in again
        </button>
      </p>
    </main>
  );
}
