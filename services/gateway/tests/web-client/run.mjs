// Calls the gateway the way a browser app would: connect-web's gRPC-Web transport, over the HTTP/1.1 fetch of
// Node. (connect-web's non-binary mode is gRPC-Web+JSON, which the gateway answers with 415; grpc-web-text is
// tested with raw frames in the Rust suite.) Usage: node run.mjs <gateway host:port> <access token>. Exits non-zero on any failure.
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/switchboard/auth/v1/auth_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "./gen/grpc/health/v1/health_pb.js";

const [addr, token] = process.argv.slice(2);
if (!addr || !token) {
  console.error("usage: node run.mjs <host:port> <access token>");
  process.exit(2);
}
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
};

{
  const useBinaryFormat = true;
  const mode = "grpc-web+proto";
  const transport = createGrpcWebTransport({ baseUrl: `http://${addr}`, useBinaryFormat, httpVersion: "1.1" });
  const auth = createClient(AuthService, transport);

  // Unary with a token.
  const me = await auth.whoAmI({}, { headers: { authorization: `Bearer ${token}` } });
  check(me.user?.email === "owner@acme.example", `${mode}: unary WhoAmI returns the caller`);

  // Unary refused: the status must arrive as UNAUTHENTICATED, not UNKNOWN (trailers-only framing).
  try {
    await auth.whoAmI({}, { headers: { authorization: "Bearer not-a-token" } });
    check(false, `${mode}: a bad token is refused`);
  } catch (e) {
    const err = ConnectError.from(e);
    check(err.code === Code.Unauthenticated, `${mode}: a bad token gives UNAUTHENTICATED (got ${Code[err.code]})`);
  }

  // Server streaming: the health Watch stream sends the current status first.
  const health = createClient(Health, transport);
  const controller = new AbortController();
  let first;
  try {
    for await (const update of health.watch({ service: "" }, { signal: controller.signal })) {
      first = update;
      controller.abort();
      break;
    }
  } catch (e) {
    if (ConnectError.from(e).code !== Code.Canceled) throw e;
  }
  check(first?.status === HealthCheckResponse_ServingStatus.SERVING, `${mode}: server streaming Watch yields SERVING`);
}
// JSON gRPC-Web is refused clearly.
try {
  const json = createGrpcWebTransport({ baseUrl: `http://${addr}`, useBinaryFormat: false, httpVersion: "1.1" });
  await createClient(AuthService, json).whoAmI({}, { headers: { authorization: `Bearer ${token}` } });
  check(false, "grpc-web+json is refused");
} catch (e) {
  const err = ConnectError.from(e);
  check(err.rawMessage.includes("grpc-web+json is not supported"), `grpc-web+json is refused with a clear message (${err.rawMessage})`);
}
console.log("web client: all checks passed");
