// Hostile framing, on raw loopback sockets against a real server: pipelined
// and half-closed requests, Content-Length / Transfer-Encoding games, HEAD,
// h2c, long paths and queries, bytes that are not UTF-8, and a text message
// whose tail would parse on its own. Each is a defect a hostile client found
// (issue 11, items 8, 9, 10, 12).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Server, until } from '../lib/server.mjs';

let srv;

before(async () => {
  srv = await new Server(['--synthetic', '1', '--size', '320x240']).start();
});

after(async () => {
  assert.equal(srv.proc.exitCode, null, `server died:\n${srv.log}`);
  await srv.stop();
});

// Writes `request` on a fresh connection (then half-closes it when `half`)
// and resolves with everything read until the server closed, or `ms` passed
// (`closed` says which).
function exchange(request, { half = false, ms = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port: srv.port, allowHalfOpen: true });
    const chunks = [];
    const done = (closed) => { clearTimeout(timer); sock.destroy(); resolve({ data: Buffer.concat(chunks), closed }); };
    const timer = setTimeout(() => done(false), ms);
    sock.on('connect', () => { sock.write(request); if (half) sock.end(); });
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => done(true));
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? done(true) : reject(e)));
  });
}

// The HTTP/1.1 responses in `data`, framed by their Content-Length; what is
// left over (a response cut short, stray bytes) is `rest`.
function responses(data) {
  const out = [];
  let off = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = data.subarray(off, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(head[0])?.[1]);
    const headers = Object.fromEntries(head.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    }));
    const len = Number(headers['content-length'] ?? 0);
    if (end + 4 + len > data.length) break;
    out.push({ status, headers, body: data.subarray(end + 4, end + 4 + len).toString('utf8') });
    off = end + 4 + len;
  }
  return { list: out, rest: data.subarray(off).toString('latin1') };
}

const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

test('pipelined requests: the first is answered whole, then the connection closes cleanly', async () => {
  const { data, closed } = await exchange(get('/nonexistent') + get('/healthz') + get('/api/server'));
  const { list, rest } = responses(data);
  assert.deepEqual(list.map((r) => r.status), [404], data.toString());
  assert.equal(list[0].body, 'not found: /nonexistent\n');
  assert.equal(list[0].headers.connection, 'close');
  assert.equal(rest, '');
  assert.ok(closed, 'the connection closes after the answer: nothing pipelined behind it is read');
  // Each on a connection of its own, all answered.
  for (const [path, status] of [['/healthz', 200], ['/api/server', 200], ['/nonexistent', 404]]) {
    const r = responses((await exchange(get(path))).data).list;
    assert.deepEqual(r.map((x) => x.status), [status], path);
  }
});

// Inputs the multipart fuzzer found after which libwebsockets 4.1 spins
// forever in its rx-flow service, keep-alive being on: one connection's bytes,
// then nobody is served. With an answer per connection they are harmless.
test('the fuzzer\'s loop-hanging inputs leave the server serving', async () => {
  const dir = new URL('../fuzz/known-hangs/', import.meta.url);
  const names = readdirSync(dir);
  assert.ok(names.length >= 11, names.join(' '));
  for (const name of names) {
    await exchange(readFileSync(new URL(name, dir)), { half: true, ms: 1000 });
    const r = responses((await exchange(get('/healthz'))).data).list;
    assert.deepEqual(r.map((x) => x.status), [200], `after ${name}`);
  }
});

test('a client that half-closes after its request gets the whole answer', async () => {
  for (const path of ['/healthz', '/api/streams', '/nonexistent']) {
    const { data, closed } = await exchange(get(path), { half: true });
    const { list, rest } = responses(data);
    assert.equal(list.length, 1, `${path}: ${data}`);
    assert.ok(list[0].body.length > 0, path);
    assert.equal(rest, '', path);
    assert.ok(closed, path);
  }
});

test('Content-Length and Transfer-Encoding games are refused with 400/411 and the connection closed', async () => {
  const hidden = get('/metrics');
  const cases = [
    [`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
      400, /Content-Length and Transfer-Encoding together/],
    [`GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${hidden}`,
      400, /Content-Length and Transfer-Encoding together/],
    [`POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
      411, /Transfer-Encoding on a request is not accepted/],
    ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello' + hidden,
      400, /more than one Content-Length/],
    [`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello${hidden}`, 400, /not a number of bytes/],
    [`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello${hidden}`, 400, /not a number of bytes/],
    [`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n${hidden}`, 400, /not a number/],
    [`POST /upload HTTP/1.1\r\nHost: x\r\n\r\n${hidden}`, 411, /POST without Content-Length/],
  ];
  const before = await srv.metric('fc_http_refused_total', { reason: 'framing' });
  for (const [request, status, why] of cases) {
    const { data, closed } = await exchange(request);
    const { list, rest } = responses(data);
    assert.equal(list.length, 1, `one answer, nothing smuggled: ${data}`);
    assert.equal(list[0].status, status, request);
    assert.match(list[0].body, why);
    assert.equal(list[0].headers.connection, 'close');
    assert.equal(rest, '');
    assert.ok(closed, `closed after: ${request}`);
  }
  assert.equal(await srv.metric('fc_http_refused_total', { reason: 'framing' }), before + cases.length);
});

test('a body the answer does not need is never parsed as a request', async () => {
  const hidden = get('/metrics');
  const { data, closed } = await exchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ${hidden.length}\r\n\r\n` +
    hidden + get('/api/server'));
  const { list, rest } = responses(data);
  assert.deepEqual(list.map((r) => r.status), [200], data.toString());
  assert.equal(list[0].body, 'ok\n');
  assert.equal(rest, '');
  assert.ok(closed);
});

test('HEAD is GET without the body', async () => {
  const { data, closed } = await exchange('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const text = data.toString('latin1');
  // The HEAD answer announces the body's length and sends none.
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)*content-length: 3\r\n(?:[^\r]+\r\n)*\r\n$/);
  assert.ok(closed);
  const api = await exchange('HEAD /api/server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(api.data.toString(), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n$/);
});

test('h2c is refused with 400 and the connection closed: nothing behind it is read', async () => {
  const { data, closed } = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
    `Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: ${get('/metrics').length}\r\n\r\n${get('/metrics')}`);
  const { list, rest } = responses(data);
  assert.equal(list.length, 1, data.toString());
  assert.equal(list[0].status, 400);
  assert.match(list[0].body, /only Upgrade: websocket is served \(h2c is not/);
  assert.equal(rest, '');
  assert.ok(closed);
  // The same for a WebSocket handshake lws would get wrong.
  const ws = await exchange(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n${get('/metrics')}`);
  assert.equal(responses(ws.data).list.length, 1);
  assert.ok(ws.closed);
});

// A WebSocket's close code and reason, and the texts before it, as the
// `ws` client sees them: it fails the connection (code 1006 and an error)
// when a close reason is not valid UTF-8, as browsers do.
function refusal(path) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${srv.ws}${path}`, { perMessageDeflate: false });
    const texts = [];
    let error = null;
    ws.on('message', (d, bin) => { if (!bin) texts.push(JSON.parse(d.toString())); });
    ws.on('error', (e) => { error = e.message; });
    ws.on('unexpected-response', (req, res) => resolve({ status: res.statusCode, texts }));
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), texts, error }));
  });
}

test('long paths and queries get their own errors; a trailing ? is no option', async () => {
  let r = await exchange(get(`/api/streams/${'a'.repeat(300)}`, 'Connection: close\r\n'));
  assert.equal(responses(r.data).list[0].status, 404);
  assert.match(responses(r.data).list[0].body, /^\{"error":"no stream 'a{60,}'"\}/);
  r = await exchange(get(`/${'b'.repeat(600)}`, 'Connection: close\r\n'));
  assert.equal(responses(r.data).list[0].body, `not found: /${'b'.repeat(600)}\n`);
  r = await exchange(get(`/${'c'.repeat(1100)}`, 'Connection: close\r\n'));
  assert.equal(responses(r.data).list[0].status, 414);
  const upgrade = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  r = await exchange(upgrade(`/ws/streams/${'d'.repeat(1100)}`));
  assert.equal(responses(r.data).list[0].status, 414);
  assert.ok(r.closed);

  let w = await refusal(`/ws/streams/${'e'.repeat(300)}`);
  assert.equal(w.code, 4404);
  assert.match(w.texts[0].message, /^unknown stream 'e{200,}/);
  w = await refusal(`/ws/streams/cam0?queue=5&x=${'f'.repeat(600)}&quality=bogus`);
  assert.equal(w.code, 4400);
  assert.match(w.reason, /an option longer than \d+ bytes/);
  w = await refusal(`/ws/streams/cam0?quality=high&x=${'g'.repeat(2100)}`);
  assert.equal(w.code, 4400);
  assert.match(w.reason, /query longer than 2048 bytes/);
  const hello = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.ws}/ws/streams/cam0?`, { perMessageDeflate: false });
    ws.on('message', (d, bin) => { if (!bin) { ws.close(); resolve(JSON.parse(d.toString())); } });
    ws.on('error', reject);
  });
  assert.equal(hello.type, 'hello', JSON.stringify(hello));
});

test('close reasons and JSON errors are valid UTF-8, cut between characters', async () => {
  let w = await refusal('/ws/streams/%FF%FE');
  assert.equal(w.error, null);
  assert.equal(w.code, 4404);
  assert.equal(w.reason, "unknown stream '\\xFF\\xFE'");
  assert.equal(w.texts[0].message, "unknown stream '\\xFF\\xFE'");
  w = await refusal('/ws/%FF');
  assert.equal(w.code, 4404);
  assert.match(w.reason, /^no WebSocket endpoint at '\/ws\/\\xFF'/);
  w = await refusal('/ws/streams/cam0?quality=%FF');
  assert.equal(w.code, 4400);
  assert.equal(w.texts[0].message, "bad quality '\\xFF': use auto, high, medium or low");
  // Two-byte characters after an odd-length prefix: the longest reason that
  // fits ends on a whole one.
  w = await refusal(`/ws/streams/x${'%C3%A9'.repeat(100)}`);
  assert.equal(w.error, null);
  assert.equal(w.code, 4404);
  assert.ok(Buffer.byteLength(w.reason) <= 123);
  assert.match(w.reason, /^unknown stream 'xé+$/);
  assert.match(w.texts[0].message, /^unknown stream 'xé+'$/);
  const r = await exchange(get('/api/streams/%FF', 'Connection: close\r\n'));
  const { list } = responses(r.data);
  assert.equal(list[0].status, 404);
  assert.deepEqual(JSON.parse(list[0].body), { error: "no stream '\\xFF'" });
});

test('a text message over 4096 bytes is dropped whole, its tail too', async () => {
  for (const path of ['/ws/streams/cam0', '/ws/a-client']) {
    const ws = new WebSocket(`${srv.ws}${path}`, { perMessageDeflate: false });
    const texts = [];
    ws.on('message', (d, bin) => { if (!bin) texts.push(JSON.parse(d.toString())); });
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    // Three fragments of one message; the last alone is a valid command.
    ws.send(' '.repeat(4000), { fin: false });
    ws.send(' '.repeat(4000), { fin: false });
    ws.send('{"type":"ping"}', { fin: true });
    await until(() => texts.some((t) => t.type === 'error'), { what: `${path}: the error` });
    ws.send('{"type":"ping"}');
    await until(() => texts.some((t) => t.type === 'pong'), { what: `${path}: a pong to the next ping` });
    const kinds = texts.filter((t) => t.type !== 'hello' && t.type !== 'tier').map((t) => t.type);
    assert.deepEqual(kinds, ['error', 'pong'], JSON.stringify(texts));
    assert.equal(texts.find((t) => t.type === 'error').message, 'control message larger than 4096 bytes: dropped');
    ws.close();
  }
  assert.equal(await srv.metric('fc_websocket_messages_dropped_total'), 2);
});
