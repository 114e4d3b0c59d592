// A loopback reverse proxy that adds `Authorization: Bearer $MCP_CONFORMANCE_TOKEN` to every request it forwards to
// the MCP server at the URL given as its one argument, because the conformance suite's server mode takes only a URL
// (no header option) and Switchboard's MCP endpoint requires a bearer token. Plain Node, no dependencies.
//
//   MCP_CONFORMANCE_TOKEN=... node auth-proxy.mjs http://127.0.0.1:8080/mcp
//
// It listens on a free port of 127.0.0.1 and prints `http://127.0.0.1:<port><path of the target>` on its first
// line of stdout once it accepts connections; one line per request on stderr. Bodies are streamed both ways
// unbuffered (SSE). The Host and Origin headers that name the proxy itself are rewritten to the target's, so the
// server sees what a client talking to it directly would send; any other Host or Origin (the suite's DNS-rebinding
// scenario sends evil.example.com) reaches the server unchanged, for it to refuse.
import http from 'node:http';

const target = new URL(process.argv[2] ?? '');
const token = process.env.MCP_CONFORMANCE_TOKEN;
if (target.protocol !== 'http:' || !token) {
  console.error('usage: MCP_CONFORMANCE_TOKEN=<token> node auth-proxy.mjs http://<host:port>/<path>');
  process.exit(2);
}

// Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's: Node sets its own.
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);
const forwardable = (headers) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name.toLowerCase())));

const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const self = `127.0.0.1:${server.address().port}`;
  const headers = forwardable(req.headers);
  if (!headers.host || headers.host === self) headers.host = target.host;
  if (headers.origin === `http://${self}`) headers.origin = target.origin;
  headers.authorization = `Bearer ${token}`;

  const upstream = http.request(
    { host: target.hostname, port: target.port || 80, method: req.method, path: req.url, headers, agent },
    (up) => {
      console.error(`${req.method} ${req.url} host=${headers.host} -> ${up.statusCode} ${up.headers['content-type'] ?? ''}`);
      res.writeHead(up.statusCode, up.statusMessage, forwardable(up.headers));
      res.flushHeaders();
      up.pipe(res);
      up.on('error', () => res.destroy());
    },
  );
  upstream.on('error', (err) => {
    console.error(`${req.method} ${req.url} -> ${err.message}`);
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`auth-proxy: ${err.message}\n`);
    else res.destroy();
  });
  // The client going away (the suite cancels SSE readers) ends the upstream request too.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  req.pipe(upstream);
});

server.listen(0, '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}${target.pathname}${target.search}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
