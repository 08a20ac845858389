// Small raw-HTTP helpers for black-box assertions (no MCP SDK in between).
import net from 'node:net';

export const PROTOCOL_VERSION = '2025-11-25';

export function initializeBody(id = 1, protocolVersion = PROTOCOL_VERSION) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'e2e-raw', version: '0' } },
  };
}

export function toolCallBody(id, name, args = {}) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/**
 * POST one JSON-RPC message (or batch) to the MCP endpoint.
 * Returns status, headers, raw text, parsed `json` (plain JSON body) and
 * `messages` (JSON-RPC messages from an SSE or JSON body).
 */
export async function postMcp(url, body, { token, headers = {}, protocolVersion = PROTOCOL_VERSION } = {}) {
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(protocolVersion ? { 'mcp-protocol-version': protocolVersion } : {}),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...headers,
  };
  const res = await fetch(url, {
    method: 'POST',
    headers: h,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return readResponse(res);
}

export async function readResponse(res) {
  const text = await res.text();
  const ct = res.headers.get('content-type') || '';
  let json;
  let messages = [];
  if (ct.includes('text/event-stream')) {
    messages = parseSse(text);
  } else {
    try {
      json = JSON.parse(text);
      messages = Array.isArray(json) ? json : [json];
    } catch { /* not JSON */ }
  }
  return { status: res.status, headers: res.headers, text, json, messages };
}

/** data: payloads of an SSE body, JSON-parsed where possible. */
export function parseSse(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    try { out.push(JSON.parse(data)); } catch { out.push(data); }
  }
  return out;
}

/**
 * Parses one `WWW-Authenticate` challenge: `Bearer a="b", c="d"`.
 * Returns { scheme, params, count } where count[name] = occurrences.
 */
export function parseChallenge(header) {
  if (!header) return null;
  const m = header.match(/^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*(.*)$/s);
  if (!m) return null;
  const params = {};
  const count = {};
  const re = /([A-Za-z0-9_!#$%&'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?\s*/gy;
  let rest = m[2];
  re.lastIndex = 0;
  let p;
  while ((p = re.exec(rest)) !== null) {
    const name = p[1].toLowerCase();
    params[name] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    count[name] = (count[name] || 0) + 1;
    if (re.lastIndex >= rest.length) break;
  }
  return { scheme: m[1], params, count, raw: header };
}

/**
 * A raw HTTP/1.1 request over a socket, for things fetch() cannot express
 * (two Authorization headers). Returns { status, headers: [[k,v]...], body }.
 */
export function rawRequest(port, lines, body = '') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw request timed out')); }, 10_000);
    sock.on('data', (d) => { buf += d; });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const idx = buf.indexOf('\r\n\r\n');
      const head = idx >= 0 ? buf.slice(0, idx) : buf;
      const [statusLine, ...hl] = head.split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const headers = hl.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()]; });
      resolve({ status, headers, body: idx >= 0 ? buf.slice(idx + 4) : '' });
    });
    const all = [...lines, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', ''].join('\r\n') + body;
    sock.write(all);
  });
}

/** Decodes a JWT's header and payload without verifying (test introspection only). */
export function decodeJwt(token) {
  const [h, p] = token.split('.');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(h), payload: dec(p) };
}
