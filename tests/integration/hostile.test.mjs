// Hostile input: each test is one defect a hostile client found, replayed on
// raw loopback sockets against a real server, which must answer it clearly
// and keep serving everyone else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { Server } from '../lib/server.mjs';

// Sends `request` on a fresh connection and resolves with everything the
// server wrote until it closed the connection or `ms` passed.
// `then`: a second request written on the same connection once what came
// back matches `then.after` (keep-alive, not pipelined).
function exchange(port, request, { host = '127.0.0.1', ms = 3000, then = null } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(got); }, ms);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (then && then.after.test(got)) {
        sock.write(then.request);
        then = null;
      }
    });
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
    sock.on('error', (e) => { clearTimeout(timer); e.code === 'ECONNRESET' ? resolve(got) : reject(e); });
  });
}

const badUpgrade = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
  'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n';

test('a WebSocket upgrade without Sec-WebSocket-Key gets 400 and the server lives on', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240']).start();
  try {
    for (const path of ['/', '/ws/streams/cam0', '/ws/some-client', '/healthz']) {
      const got = await exchange(srv.port, badUpgrade(path));
      assert.match(got, /^HTTP\/1\.[01] 400 /, `${path}: ${got}`);
      assert.match(got, /Sec-WebSocket-Key/, path);
    }
    // The same after a keep-alive request on one connection (a static file:
    // framecast's own answers close theirs, conn.c).
    const got = await exchange(srv.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n',
      { then: { after: /<\/html>\s*$/, request: badUpgrade('/') } });
    assert.match(got, /^HTTP\/1\.1 200 [\s\S]*<\/html>\s*HTTP\/1\.[01] 400 /, got);
    const wrongVersion = 'GET /ws/streams/cam0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n';
    assert.match(await exchange(srv.port, wrongVersion), /^HTTP\/1\.[01] 400 [\s\S]*Version: 13/);
    assert.equal(srv.proc.exitCode, null, `server died:\n${srv.log}`);
    assert.equal((await srv.text('/healthz')).body, 'ok\n');
  } finally {
    await srv.stop();
  }
});

// The listening sockets of `port` as `ss` sees them, e.g. ['127.0.0.1:8080'].
function listeningOn(port) {
  const r = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[3]).sort();
}

test('--host binds exactly that address, and the log and /api/server say so', async () => {
  for (const [host, want] of [['127.0.0.1', ['127.0.0.1']], ['::1', ['[::1]']], ['[::1]', ['[::1]']]]) {
    const srv = await new Server(['--synthetic', '1', '--size', '320x240'], { host }).start();
    try {
      const addrs = want.map((a) => `${a}:${srv.port}`);
      assert.deepEqual(listeningOn(srv.port), addrs, host);
      assert.deepEqual((await srv.json('/api/server')).listen, addrs, host);
      assert.match(srv.log, new RegExp(`listening on http://${addrs[0].replace(/[[\]]/g, '\\$&')}/`));
    } finally {
      await srv.stop();
    }
  }
  // A name is bound on every address it resolves to, and on nothing else.
  const srv = await new Server(['--synthetic', '1', '--size', '320x240'], { host: 'localhost' }).start();
  try {
    const bound = listeningOn(srv.port);
    assert.ok(bound.length >= 1);
    for (const a of bound) assert.match(a, /^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/, a);
    assert.deepEqual((await srv.json('/api/server')).listen.sort(), bound);
  } finally {
    await srv.stop();
  }
});

test('an address that is not this machine\'s is a clear start-up error', () => {
  const r = spawnSync(process.env.FRAMECAST_BIN || 'build/framecast',
    ['serve', '--host', '192.0.2.1', '--port', '0', '--synthetic', '1'],
    // With a key, so the address is judged by binding it (without one, a
    // non-loopback address is refused before that: tests/integration/access).
    { encoding: 'utf8', timeout: 10000, env: { ...process.env, FRAMECAST_API_KEY: 'k'.repeat(32), FRAMECAST_DB: ':memory:' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:0: .*not an address of this machine/);
});
