// Serves a fixed set of files over HTTP for a test page, nothing else:
//
//   node static-server.mjs HOST PORT /url=path [/url=path...]
//
// Prints "listening on http://HOST:PORT/" once it accepts connections. Used
// inside a test's network namespace, where the page must come from a real
// loopback origin: Chromium lets a page reach Janus's loopback API only from
// an origin in the same (local) address space.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

const [host, port, ...routes] = process.argv.slice(2);
const files = new Map(routes.map((r) => { const i = r.indexOf('='); return [r.slice(0, i), r.slice(i + 1)]; }));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8' };

const server = http.createServer(async (req, res) => {
  const path = files.get(new URL(req.url, 'http://x').pathname);
  if (!path || req.method !== 'GET') {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(path);
    res.writeHead(200, { 'content-type': TYPES[extname(path)] || 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
  } catch (e) {
    res.writeHead(500).end(String(e));
  }
});
server.listen(Number(port), host, () => console.log(`listening on http://${host}:${server.address().port}/`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
