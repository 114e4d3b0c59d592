// Initializes one MCP session with the server at the URL given (through auth-proxy.mjs, which adds the token) and
// prints what scripts/mcp-conformance.sh needs to decide which capability-bound scenarios apply, as one JSON line:
// {"protocolVersion": ..., "serverInfo": {...}, "capabilities": {...}}. Exits non-zero when the handshake fails.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const client = new Client({ name: 'switchboard-mcp-conformance-probe', version: '0.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(process.argv[2]));
try {
  await client.connect(transport);
  console.log(JSON.stringify({
    protocolVersion: transport.protocolVersion,
    serverInfo: client.getServerVersion(),
    capabilities: client.getServerCapabilities() ?? {},
  }));
  await transport.terminateSession().catch(() => {});
  await client.close();
} catch (err) {
  console.error(`probe: the initialize handshake failed: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
