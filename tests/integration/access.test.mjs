// Who may change the server and who may watch (docs/api.md#who-may-do-what):
// every state-changing endpoint refuses a missing or wrong key with 401 and
// changes nothing; failures are counted and limited per peer; viewer
// tokens that are expired, foreign or forged are refused; a server others
// could reach does not start without a key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { BIN, FIXTURES, Server, Subscriber, until } from '../lib/server.mjs';
import { Netns } from '../lib/netns.mjs';
import { call, keyFor, multipart } from '../lib/api.mjs';

const KEY = keyFor('access');
const OTHER = keyFor('intruder');

// A viewer token as docs/api.md specifies it, made here with node's HMAC.
function token(key, stream, expires) {
  const secret = createHmac('sha256', key).update('framecast viewer tokens v1').digest();
  const body = `v1~${stream}~${expires}`;
  return `${body}~${createHmac('sha256', secret).update(body).digest('hex').toUpperCase()}`;
}

// A WebSocket that records texts and its close; `from` is its source
// address (failures count per peer).
function socket(url, from) {
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: from });
  const s = { ws, texts: [], frames: 0 };
  s.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  s.opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.on('message', (data, binary) => (binary ? s.frames++ : s.texts.push(JSON.parse(data.toString()))));
  s.send = (obj) => ws.send(JSON.stringify(obj));
  s.text = (type) => until(() => s.texts.find((t) => t.type === type), { timeoutMs: 15000, what: `a ${type} message` });
  return s;
}

async function upload(srv, key, from) {
  const { data, type } = await multipart({
    source: [readFileSync(`${FIXTURES}face-astronaut.png`), 'face.png'],
    audio: [readFileSync(`${FIXTURES}speech-16k.wav`), 'speech.wav'],
  });
  return call(srv, 'POST', '/upload', { raw: data, type, key, from });
}

test('every change needs the key: missing or wrong is 401, and nothing changes', async () => {
  const media = mkdtempSync(join(tmpdir(), 'fc-access-'));
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--media-dir', media],
    { env: { FRAMECAST_API_KEY: KEY } }).start();
  try {
    assert.match(srv.log, /access: changes need the API key \(from FRAMECAST_API_KEY\); viewer tokens off/);
    let r = await call(srv, 'POST', '/api/streams', { key: KEY, body: { id: 'mine', spec: 'synthetic:procedural' } });
    assert.equal(r.status, 201, r.text);
    const before = JSON.stringify((await srv.json('/api/streams')).map(({ id, settings, encode_fps }) => ({ id, settings, encode_fps })));

    const wrongs = [{}, { key: OTHER }, { auth: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` },
      { auth: 'Bearer' }, { auth: `Bearer ${KEY} extra` }, { auth: `Bearer ${KEY.slice(0, -1)}` }];
    for (const [i, wrong] of wrongs.entries()) {
      // Each from an address of its own, so no peer reaches the failure limit.
      const cred = { ...wrong, from: `127.0.0.${20 + i}` };
      const what = JSON.stringify(wrong);
      const refused = [
        await call(srv, 'POST', '/api/streams', { ...cred, body: { id: 'theirs', spec: 'synthetic:procedural' } }),
        await call(srv, 'PATCH', '/api/streams/mine', { ...cred, body: { encode_fps: 1 } }),
        await call(srv, 'DELETE', '/api/streams/mine', cred),
        // Even for a stream that does not exist, or a body that is wrong:
        // nothing is said before the key is right.
        await call(srv, 'DELETE', '/api/streams/nope', cred),
        await call(srv, 'POST', '/api/streams', { ...cred, raw: '{not json' }),
      ];
      for (const x of refused) {
        assert.equal(x.status, 401, `${what}: ${x.text}`);
        assert.deepEqual(x.json, { error: 'unauthorized' });
        assert.equal(x.headers.get('www-authenticate'), 'Bearer realm="framecast"');
      }
      if (cred.auth) continue; // uploads: once without and once with a wrong key is enough
      const up = await upload(srv, cred.key, cred.from);
      assert.equal(up.status, 401, what);
      assert.deepEqual(up.json, { error: 'unauthorized' });
    }
    assert.equal(JSON.stringify((await srv.json('/api/streams')).map(({ id, settings, encode_fps }) => ({ id, settings, encode_fps }))), before);
    assert.deepEqual(readdirSync(media), [], 'a refused upload wrote a file');

    // Avatar sessions: start_streaming without the key closes with 4401 and
    // starts nothing; a wrong ?key= is refused at once.
    const up = await upload(srv, KEY);
    assert.equal(up.status, 200);
    const start = { type: 'start_streaming', audio_path: up.json.audio_path, source_path: up.json.source_path, binary: true };
    const from = '127.0.0.40';
    let a = socket(`${srv.ws}/ws/nokey`, from);
    await a.opened;
    a.send({ type: 'ping' });
    await a.text('pong'); // the connection itself is open to anyone
    a.send(start);
    let closed = await a.closed;
    assert.deepEqual(closed, { code: 4401, reason: 'unauthorized' });
    assert.equal(a.texts.some((t) => t.type === 'streaming_started'), false);
    a = socket(`${srv.ws}/ws/badkey?key=${OTHER}`, from);
    assert.equal((await a.closed).code, 4401);
    a = socket(`${srv.ws}/ws/badauth`, from);
    await a.opened;
    a.send({ type: 'auth', key: OTHER });
    assert.equal((await a.closed).code, 4401);
    // With the key in the URL, or in a first auth message, it starts.
    for (const [url, first] of [[`${srv.ws}/ws/urlkey?key=${KEY}`, null], [`${srv.ws}/ws/msgkey`, { type: 'auth', key: KEY }]]) {
      a = socket(url);
      await a.opened;
      if (first) {
        a.send(first);
        await a.text('authenticated');
      }
      a.send(start);
      await a.text('streaming_started');
      await until(() => a.frames > 0, { timeoutMs: 15000, what: 'avatar frames' });
      a.ws.close();
      await a.closed;
    }

    // And with the key every stream change goes through.
    r = await call(srv, 'PATCH', '/api/streams/mine', { key: KEY, body: { encode_fps: 5 } });
    assert.equal(r.status, 200, r.text);
    r = await call(srv, 'DELETE', '/api/streams/mine', { key: KEY });
    assert.equal(r.status, 200, r.text);
    // Reading needs nothing.
    assert.equal((await call(srv, 'GET', '/api/streams/cam0')).status, 200);
    assert.deepEqual((await call(srv, 'GET', '/api/auth')).json,
      { key_required: true, authorized: false, viewer_tokens: 'off', changes: true });
    assert.equal((await call(srv, 'GET', '/api/auth', { key: KEY })).json.authorized, true);
    assert.equal((await call(srv, 'GET', '/api/auth', { key: OTHER })).status, 401);

    assert.ok(await srv.metric('fc_auth_refused_total', { reason: 'key_missing' }) >= 7);
    assert.ok(await srv.metric('fc_auth_refused_total', { reason: 'key_wrong' }) >= 20);
    assert.ok(await srv.metric('fc_auth_accepted_total', { credential: 'api_key' }) >= 6);
  } finally {
    assert.equal(await srv.stop(), 0);
    rmSync(media, { recursive: true, force: true });
  }
});

test('a peer that keeps failing is refused with 429 before its key is looked at', async () => {
  const srv = await new Server(['--synthetic', '0'], { env: { FRAMECAST_API_KEY: KEY } }).start();
  try {
    // Ten failures in quick succession fill the bucket.
    for (let i = 0; i < 10; i++)
      assert.equal((await call(srv, 'DELETE', '/api/streams/x', { key: OTHER })).status, 401);
    // Even the right key now: the peer has to drain first.
    const r = await call(srv, 'POST', '/api/streams', { key: KEY, body: { id: 'late', spec: 'synthetic:procedural' } });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '5');
    const v = socket(`${srv.ws}/ws/someone?key=${KEY}`);
    assert.deepEqual(await v.closed, { code: 4429, reason: 'too many failed attempts' });
    assert.deepEqual(await srv.json('/api/streams'), []);
    // Another peer is not punished for it.
    const other = await call(srv, 'POST', '/api/streams', { key: KEY, from: '127.0.0.9', body: { id: 'ok', spec: 'synthetic:procedural' } });
    assert.equal(other.status, 201, other.text);
    assert.equal(await srv.metric('fc_auth_refused_total', { reason: 'rate_limited' }), 2);
    assert.equal(await srv.metric('fc_auth_failing_peers'), 1);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('viewer tokens: required means a token for that stream, unexpired and ours (or the key)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-tokens-'));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, `${KEY}\n`);
  const srv = await new Server(['--synthetic', '2', '--size', '320x240', '--api-key-file', keyFile,
    '--viewer-tokens', 'required']).start();
  try {
    const now = Math.floor(Date.now() / 1000);
    // The command line's token and node's agree; both let their holder watch.
    const made = spawnSync(BIN, ['token', '--stream', 'cam0', '--ttl', '600', '--api-key-file', keyFile], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const cli = made.stdout.trim();
    for (const t of [cli, token(KEY, 'cam0', now + 600)]) {
      const s = new Subscriber(`${srv.ws}/ws/streams/cam0?token=${t}`);
      await until(() => s.frames.length >= 1, { what: 'frames with a good token' });
      await s.close();
    }
    const key = new Subscriber(`${srv.ws}/ws/streams/cam1?key=${KEY}`);
    await until(() => key.frames.length >= 1, { what: 'frames with the key' });
    await key.close();

    const refused = {
      none: `${srv.ws}/ws/streams/cam0`,
      expired: `${srv.ws}/ws/streams/cam0?token=${token(KEY, 'cam0', now - 5)}`,
      foreign: `${srv.ws}/ws/streams/cam0?token=${token(KEY, 'cam1', now + 600)}`,
      forged: `${srv.ws}/ws/streams/cam0?token=${token(OTHER, 'cam0', now + 600)}`,
      garbage: `${srv.ws}/ws/streams/cam0?token=v1~cam0~9~nothex`,
      wrongkey: `${srv.ws}/ws/streams/cam0?key=${OTHER}`,
    };
    for (const [what, url] of Object.entries(refused)) {
      const s = new Subscriber(url);
      const c = await s.closed;
      assert.deepEqual(c, { code: 4401, reason: 'unauthorized' }, what);
      assert.equal(s.frames.length, 0, what);
      assert.equal(s.hello(), undefined, what);
    }
    const checked = (result) => srv.metric('fc_viewer_tokens_checked_total', { result });
    assert.equal(await checked('accepted'), 2);
    assert.equal(await checked('expired'), 1);
    assert.equal(await checked('foreign_stream'), 1);
    assert.equal(await checked('bad_signature'), 1);
    assert.equal(await checked('malformed'), 1);
    assert.equal(await srv.metric('fc_auth_refused_total', { reason: 'token_missing' }), 1);
    assert.equal((await call(srv, 'GET', '/api/auth')).json.viewer_tokens, 'required');
  } finally {
    assert.equal(await srv.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without viewer tokens anyone may watch; required tokens need a key', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240'], { env: { FRAMECAST_API_KEY: KEY } }).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0?token=whatever`);
    await until(() => s.frames.length >= 1, { what: 'frames without a token' });
    await s.close();
  } finally {
    await srv.stop();
  }
  const r = spawnSync(BIN, ['serve', '--port', '0', '--viewer-tokens', 'required'],
    { encoding: 'utf8', timeout: 10000, env: { ...process.env, FRAMECAST_API_KEY: '', FRAMECAST_DB: ':memory:' } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--viewer-tokens required: viewer tokens are signed with the API key; give --api-key-file PATH or set FRAMECAST_API_KEY/);
});

test('a host others can reach needs a key: refused at start without one', async () => {
  const noKey = { ...process.env, FRAMECAST_API_KEY: '', FRAMECAST_DB: ':memory:' };
  for (const host of ['0.0.0.0', '::', '[::]']) {
    const r = spawnSync(BIN, ['serve', '--host', host, '--port', '0', '--synthetic', '1'], { encoding: 'utf8', timeout: 10000, env: noKey });
    assert.equal(r.status, 2, `${host}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`--host ${host.replace(/[[\]]/g, '\\$&')} is not a loopback address, and there is no API key`));
    assert.match(r.stderr, /Give --api-key-file PATH or set FRAMECAST_API_KEY \(make a key with: openssl rand -hex 32\), or listen on 127\.0\.0\.1/);
    assert.doesNotMatch(r.stderr, /listening on/);
  }
  // 127.0.0.2 is loopback: it starts without a key.
  const lo = await new Server(['--synthetic', '0'], { host: '127.0.0.2', env: { FRAMECAST_API_KEY: '' } }).start();
  await lo.stop();

  // A real address that is not loopback, inside a network namespace of
  // this test's own: refused without a key; with one it listens there, and
  // only there, and answers.
  const ns = await Netns.create({ iface: 'fcacc0', address: '10.77.0.1/24' });
  try {
    const refused = ns.spawn(BIN, ['serve', '--host', '10.77.0.1', '--port', '0', '--synthetic', '1'], { env: noKey });
    const [code] = await refused.exited;
    assert.equal(code, 2, refused.tail());
    assert.match(refused.tail(), /--host 10\.77\.0\.1 is not a loopback address, and there is no API key/);

    const served = ns.spawn(BIN, ['serve', '--host', '10.77.0.1', '--port', '0', '--synthetic', '1'],
      { env: { ...noKey, FRAMECAST_API_KEY: KEY } });
    const line = await served.waitFor((l) => /listening on http:\/\/10\.77\.0\.1:\d+\/ with/.test(l), { what: 'the server to listen' });
    const at = /http:\/\/(10\.77\.0\.1:\d+)\//.exec(line)[1];
    const got = JSON.parse(ns.exec('node', ['-e',
      `fetch("http://${at}/api/auth").then((r) => r.text()).then((t) => process.stdout.write(t))`]));
    assert.deepEqual(got, { key_required: true, authorized: false, viewer_tokens: 'off', changes: true });
    assert.equal(await served.stop(), 0);
  } finally {
    await ns.close();
  }
});
