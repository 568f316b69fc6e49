// Calls of the HTTP API for tests: one request on a connection of its own,
// its status, headers and JSON body. `key` goes in Authorization: Bearer;
// `auth` replaces the whole header (to send a malformed one); `raw` is a
// body sent as it is; `from` is the loopback address to send from (the
// server counts failed credentials per peer address).
import http from 'node:http';

export function call(srv, method, path, { body, key, auth, raw, from, headers: extra = {}, type } = {}) {
  const headers = { ...extra };
  if (key) headers.authorization = `Bearer ${key}`;
  if (auth !== undefined) headers.authorization = auth;
  let data = raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : undefined;
  if (data !== undefined) {
    data = Buffer.isBuffer(data) ? data : Buffer.from(data);
    headers['content-type'] = type || 'application/json';
    headers['content-length'] = String(data.length);
  }
  const url = new URL(srv.http + path);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers,
      localAddress: from, agent: false,
    }, (res) => {
      const chunks = [];
      // A response cut off before its end must fail the call, not leave it
      // pending forever.
      res.on('aborted', () => reject(new Error(`${method} ${path}: the response was cut off after ${Buffer.concat(chunks).length} body bytes (status ${res.statusCode})`)));
      res.on('error', reject);
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try {
          json = JSON.parse(text);
        } catch { /* not JSON: `text` says what it is */ }
        resolve({ status: res.statusCode, headers: new Headers(res.headers), json, text });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

// A multipart body as a browser's FormData makes it: { data, type }.
export async function multipart(fields) {
  const form = new FormData();
  for (const [name, [bytes, filename]] of Object.entries(fields)) form.append(name, new Blob([bytes]), filename);
  const res = new Response(form);
  return { data: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

// A key of the right form, different per name.
export const keyFor = (name) => `${name}-0123456789abcdef0123456789`.slice(0, 32).padEnd(32, 'x');
