// The one gRPC-Web transport of the console, and the interceptor that puts the access token on every call.
//
// Same origin: the gateway serves the console and speaks gRPC-Web on the same port, so the base URL is the page's
// own origin (and the Content-Security-Policy's `connect-src 'self'` holds). Binary framing
// (`application/grpc-web+proto`): the gateway refuses gRPC-Web+JSON, and fetch streams binary responses as they
// arrive.

import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { Session } from "../session/session";

/** Methods that carry a password or a refresh token instead of an access token. */
const ANONYMOUS = new Set(["Login", "Refresh", "Logout"]);

/**
 * Sends the session's access token (rotated first when about to expire) and, when a call is refused with
 * UNAUTHENTICATED, rotates the tokens once and sends the call again. If the rotation is refused the session ends and
 * the caller gets UNAUTHENTICATED.
 */
export function authInterceptor(session: Session): Interceptor {
  return (next) => async (req) => {
    if (ANONYMOUS.has(req.method.name)) return next(req);
    const refused = (error: unknown, token: string | undefined) =>
      token !== undefined && ConnectError.from(error).code === Code.Unauthenticated;

    if (!req.stream) {
      const token = await session.accessToken();
      if (token) req.header.set("authorization", `Bearer ${token}`);
      try {
        return await next(req);
      } catch (error) {
        if (!refused(error, token)) throw error;
      }
      req.header.set("authorization", `Bearer ${await session.refresh(token)}`);
      return next(req);
    }

    // A streaming request's messages can be read only once: keep them, to send them again. The refusal may come
    // before the response (gRPC-Web trailers-only) or as the stream's first item; either way, before any message.
    const messages: (typeof req.message extends AsyncIterable<infer M> ? M : never)[] = [];
    for await (const message of req.message) messages.push(message);
    const send = (token: string | undefined) => {
      const request = { ...req, message: createAsyncIterable(messages) };
      if (token) request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    };
    const token = await session.accessToken();
    let response;
    try {
      response = await send(token);
    } catch (error) {
      if (!refused(error, token)) throw error;
      return send(await session.refresh(token));
    }
    if (!response.stream) return response;
    const first = response.message;
    async function* retried() {
      const iterator = first[Symbol.asyncIterator]();
      let head;
      try {
        head = await iterator.next();
      } catch (error) {
        if (!refused(error, token)) throw error;
        const again = await send(await session.refresh(token));
        if (again.stream) yield* again.message;
        return;
      }
      if (head.done) return;
      yield head.value;
      yield* { [Symbol.asyncIterator]: () => iterator };
    }
    return { ...response, message: retried() };
  };
}

/** The transport every client of the console uses. */
export function createTransport(session: Session, baseUrl = window.location.origin): Transport {
  return createGrpcWebTransport({
    baseUrl,
    useBinaryFormat: true,
    interceptors: [authInterceptor(session)],
  });
}
