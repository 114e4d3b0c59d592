import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createApi } from "./api/clients";
import { createTransport } from "./api/transport";
import { App } from "./app/App";
import { AuthService } from "./gen/switchboard/auth/v1/auth_pb";
import { Session } from "./session/session";
import { broadcastPeers } from "./session/tabs";
import { registerServiceWorker } from "./sw/register";
import "./styles.css";

// The session signs in and rotates tokens over a transport of its own, without the interceptor that needs it.
const sessionTransport = createGrpcWebTransport({ baseUrl: window.location.origin, useBinaryFormat: true });
const session = new Session(
  createClient(AuthService, sessionTransport),
  window.sessionStorage,
  undefined,
  broadcastPeers(),
);
const api = createApi(createTransport(session));

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App services={{ api, session }} />
  </StrictMode>,
);

registerServiceWorker();
