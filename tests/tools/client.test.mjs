// `framecast client` against a real server, and against a broken server that
// breaks the wire protocol on purpose: every malformed message must be
// reported by name and make the client exit non-zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { BIN, Server } from '../lib/server.mjs';

// Runs the client to completion; resolves with its exit code and output.
async function client(args) {
  const proc = spawn(BIN, ['client', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const [code] = await once(proc, 'exit');
  return { code, stdout, stderr };
}

let server;
before(async () => {
  server = await new Server(['--synthetic', '1', '--size', '320x240', '--fps', '30']).start();
});
after(async () => { await server.stop(); });

test('clients against a real server validate and measure every frame', async () => {
  const r = await client(['--url', `${server.ws}/ws/streams/cam0`, '--clients', '4', '--stall', '1',
    '--seconds', '1.5', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.aggregate.clients, 4);
  assert.equal(rep.aggregate.connected, 4);
  assert.equal(rep.aggregate.failed, 0);
  assert.equal(rep.aggregate.stalled, 1);
  assert.ok(rep.aggregate.frames > 0);
  assert.ok(rep.aggregate.fps_min > 0, 'every reader received frames');
  assert.ok(rep.aggregate.latency_ms.p50 > 0);
  assert.ok(rep.aggregate.latency_ms.p99 >= rep.aggregate.latency_ms.p50);
  assert.ok(rep.aggregate.bytes_per_second > 0);
  // Frames arrive in a tier the server names; nothing backs up for the readers.
  assert.match(rep.aggregate.tiers, /high/);
  assert.equal(rep.clients.length, 4);
  for (const c of rep.clients) {
    assert.equal(c.error, null);
    assert.ok(c.connect_ms >= 0);
    if (c.stalled) continue;
    assert.ok(c.frames > 0 && c.first_frame_ms > 0, JSON.stringify(c));
  }
});

test('the text report has a row per client and an aggregate', async () => {
  const r = await client(['--url', `${server.ws}/ws/streams/cam0`, '--clients', '2', '--seconds', '0.5',
    '--quality', 'low']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\s+0 reader/m);
  assert.match(r.stdout, /^\s+1 reader/m);
  assert.match(r.stdout, /aggregate: 2 connected, 0 failed/);
  assert.match(r.stdout, /tiers low/);
});

test('an unknown stream is a failure with the server\'s reason', async () => {
  const r = await client(['--url', `${server.ws}/ws/streams/nope`, '--seconds', '5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /client 0: server error: unknown stream 'nope'/);
});

test('a port nobody listens on is a failure naming the URL', async () => {
  // Take a free port, then close it again so nothing listens there.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const port = wss.address().port;
  wss.close();
  const r = await client(['--url', `ws://127.0.0.1:${port}/ws/streams/cam0`, '--clients', '2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`client 0: cannot connect to ws://127.0.0.1:${port}/ws/streams/cam0`));
  assert.match(r.stderr, /2 of 2 client\(s\) failed/);
});

test('bad options are usage errors', async () => {
  assert.equal((await client([])).code, 2);
  assert.equal((await client(['--url', 'http://x/'])).code, 2);
  assert.equal((await client(['--url', 'ws://127.0.0.1:1/x', '--clients', '2', '--stall', '3'])).code, 2);
  const help = await client(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--stall K/);
});

// A server that speaks the handshake and hello correctly, then breaks the
// frame protocol in the way its path names.
function frame(id, payload, { claim } = {}) {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32BE(id, 0);
  b.writeDoubleBE(Date.now() / 1000, 4);
  b.writeUInt32BE(claim ?? payload.length, 12);
  payload.copy(b, 16);
  return b;
}
const JPEG = Buffer.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
const BROKEN = {
  truncated: (ws) => { ws.send(frame(1, JPEG)); ws.send(Buffer.alloc(10)); },
  length: (ws) => { ws.send(frame(1, JPEG)); ws.send(frame(2, JPEG, { claim: 100 })); },
  ids: (ws) => { ws.send(frame(5, JPEG)); ws.send(frame(6, JPEG)); ws.send(frame(6, JPEG)); },
  notjpeg: (ws) => { ws.send(frame(1, Buffer.from('hello world'))); },
  nohello: null,
};

test('a broken server: each malformed message is reported and fails the run', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  wss.on('connection', (ws, req) => {
    const mode = req.url.split('/').pop();
    if (mode === 'nohello') { ws.send(frame(1, JPEG)); return; }
    ws.send(JSON.stringify({ type: 'hello', stream: mode, codec: 'jpeg', width: 2, height: 2, fps: 30, quality: 'auto', queue: 50 }));
    BROKEN[mode](ws);
  });
  const url = (mode) => `ws://127.0.0.1:${wss.address().port}/ws/streams/${mode}`;
  const expect = {
    truncated: /truncated header: a 10-byte message after frame 1/,
    length: /length mismatch: frame 2 header says 100 payload bytes, message carries 7/,
    ids: /frame ids not increasing: frame 6 after frame 6/,
    notjpeg: /frame 1: payload of 11 bytes is not a JPEG/,
    nohello: /binary message before the hello/,
  };
  try {
    for (const [mode, re] of Object.entries(expect)) {
      await t.test(mode, async () => {
        const r = await client(['--url', url(mode), '--clients', '2', '--seconds', '10', '--json']);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`client 0: ${re.source}`));
        assert.match(r.stderr, new RegExp(`client 1: ${re.source}`));
        const rep = JSON.parse(r.stdout);
        assert.equal(rep.aggregate.failed, 2);
        assert.match(rep.clients[0].error, re);
      });
    }
  } finally {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  }
});
