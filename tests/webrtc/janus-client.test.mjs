// fc_janus and fc_rtp_out against a scripted Janus: the turns a real Janus
// takes only by accident or after seconds (a session lost while all is well,
// answers that are not Janus's, no answer at all), played on demand. The
// scripted server speaks Janus's HTTP API as Janus 1.1.2 does (the answers
// are those in tests/unit/test_janus_api.c), on an ephemeral loopback port,
// and binds real UDP sockets for the mountpoint it "creates", so the RTP,
// the sender reports and a PLI travel for real. The test sender is
// tests/webrtc/webrtc_send.c; tests/webrtc/webrtc.test.mjs has the real Janus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc } from '../lib/netns.mjs';
import { makeStampedIvf, SENDER } from '../lib/webrtc.mjs';

class ScriptedJanus {
  constructor() {
    this.requests = []; // {method, path, body}
    this.sessions = new Set();
    this.nextId = 1000;
    this.polls = []; // pending long polls: res
    this.mode = 'janus'; // 'janus' | 'garbage' | 'silent'
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start() {
    this.video = dgram.createSocket('udp4');
    this.rtcp = dgram.createSocket('udp4');
    this.rtp = [];
    this.rtcpIn = [];
    this.video.on('message', (m) => this.rtp.push(m));
    this.rtcp.on('message', (m, from) => { this.rtcpIn.push(m); this.rtcpFrom = from; });
    await Promise.all([new Promise((r) => this.video.bind(0, '127.0.0.1', r)), new Promise((r) => this.rtcp.bind(0, '127.0.0.1', r))]);
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${this.server.address().port}/janus`;
    return this;
  }

  creates(id) {
    return this.requests.filter((r) => r.body?.body?.request === 'create' && r.body.body.id === id);
  }

  destroys(id) {
    return this.requests.filter((r) => r.body?.body?.request === 'destroy' && r.body.body.id === id);
  }

  // Janus restarted: every session is unknown, pending long polls get the
  // 404 Janus gives a poll on an unknown session.
  loseSessions() {
    this.sessions.clear();
    for (const res of this.polls.splice(0)) res.writeHead(404, { 'content-length': 0 }).end();
  }

  reply(res, obj) {
    const body = JSON.stringify(obj);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  }

  handle(req, res) {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const body = data ? JSON.parse(data) : null;
      this.requests.push({ method: req.method, path: req.url, body });
      if (this.mode === 'silent') return; // never answers
      if (this.mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not Janus</html>');
        return;
      }
      const [, root, sid, hid] = new URL(req.url, 'http://x').pathname.split('/');
      assert.equal(root, 'janus');
      const txn = body?.transaction;
      if (req.method === 'GET') {
        if (!this.sessions.has(sid)) res.writeHead(404, { 'content-length': 0 }).end();
        else this.polls.push(res); // held: a long poll
        return;
      }
      if (!sid) {
        const id = this.nextId++;
        this.sessions.add(String(id));
        return this.reply(res, { janus: 'success', transaction: txn, data: { id } });
      }
      if (!this.sessions.has(sid)) {
        return this.reply(res, { janus: 'error', session_id: Number(sid), transaction: txn, error: { code: 458, reason: `No such session ${sid}` } });
      }
      if (body.janus === 'keepalive') return this.reply(res, { janus: 'ack', session_id: Number(sid), transaction: txn });
      if (body.janus === 'attach') return this.reply(res, { janus: 'success', session_id: Number(sid), transaction: txn, data: { id: this.nextId++ } });
      if (body.janus === 'destroy') { this.sessions.delete(sid); return this.reply(res, { janus: 'success', session_id: Number(sid), transaction: txn }); }
      const m = body.body;
      const plugin = (data) => this.reply(res, { janus: 'success', session_id: Number(sid), transaction: txn, sender: Number(hid), plugindata: { plugin: 'janus.plugin.streaming', data } });
      if (m.request === 'create') {
        return plugin({ streaming: 'created', created: `mp-${m.id}`, permanent: false, stream: { id: m.id, type: 'live', description: `mp-${m.id}`, is_private: true, host: '127.0.0.1',
          ports: [{ type: 'video', mid: 'v', port: this.video.address().port, rtcp_port: this.rtcp.address().port }] } });
      }
      if (m.request === 'destroy') return plugin({ streaming: 'event', error_code: 455, error: `No such mountpoint/stream ${m.id}` });
      return plugin({ streaming: 'event', error_code: 452, error: 'Unknown request' });
    });
  }

  async close() {
    for (const res of this.polls.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    this.video.close();
    this.rtcp.close();
  }
}

// Resolves once pred() holds (checked every 20 ms); rejects after timeoutMs.
async function until(pred, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const run = (args) => new Proc(spawn(SENDER, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'webrtc_send');

test('fc_janus and fc_rtp_out against a scripted Janus', { timeout: 60000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'framecast-janus-client-'));
  const janus = await new ScriptedJanus().start();
  const procs = [];
  const sender = (args) => { const p = run(['--janus', janus.url, '--admin-key', 'k', '--ivf', fixture.path, ...args]); procs.push(p); return p; };
  let fixture;
  try {
    fixture = await makeStampedIvf(join(dir, 'small.ivf'), { width: 160, height: 96, fps: 15, seconds: 1, kbps: 200, gop: 15 });

    await t.test('RTP and sender reports reach the ports Janus named; its PLI comes back as a key-frame request', async () => {
      const s = sender(['--id', '70', '--fps', '15']);
      await s.waitForEvent('ready', () => true, { since: 0 });
      await until(() => janus.rtp.length >= 15 && janus.rtcpFrom, '15 RTP packets and a sender report');
      const first = janus.rtp[0];
      assert.equal(first[0], 0x80);
      assert.equal(first[1] & 0x7f, 96);
      assert.equal(janus.rtcpIn[0][1], 200, 'a sender report first');
      // The PLI Janus sends: sender SSRC 1, media SSRC the one it saw.
      const pli = Buffer.from([0x81, 0xce, 0x00, 0x02, 0, 0, 0, 1, ...first.subarray(8, 12)]);
      janus.rtcp.send(pli, janus.rtcpFrom.port, janus.rtcpFrom.address);
      const kf = await s.waitForEvent('keyframe', () => true, { since: 0 });
      assert.equal(kf.pli, 1);
      // Bytes from anywhere else are not Janus's and are dropped.
      const stranger = dgram.createSocket('udp4');
      await new Promise((r) => stranger.bind(0, '127.0.0.1', r));
      stranger.send(pli, janus.rtcpFrom.port, janus.rtcpFrom.address);
      await s.waitFor((l) => l.includes('not from Janus'), { since: 0, what: 'the warning about a stranger' });
      stranger.close();
      assert.equal(await s.stop(), 0);
      assert.equal(s.events('stats').at(-1).pli, 1);
      assert.equal(s.events('stats').at(-1).rtcp_bad, 1);
    });

    await t.test('a session lost while all is well: the mountpoint is created again with its id', async () => {
      const s = sender(['--id', '77']);
      await s.waitForEvent('ready', () => true, { since: 0 });
      await until(() => janus.polls.length > 0, 'the long poll');
      const mark = s.mark();
      janus.loseSessions();
      const lost = await s.waitForEvent('lost', () => true, { since: mark });
      assert.match(lost.why, /Janus lost our session \(restarted\?\): the long poll found no such session \(HTTP 404\)/);
      const again = await s.waitForEvent('ready', () => true, { since: mark });
      assert.equal(again.id, 77);
      assert.equal(janus.creates(77).length, 2);
      assert.equal(await s.stop(), 0);
    });

    await t.test('a mountpoint freed from its lost callback is destroyed, never created again', async () => {
      const s = sender(['--id', '78', '--free-on-lost']);
      await s.waitForEvent('ready', () => true, { since: 0 });
      await until(() => janus.polls.length > 0, 'the long poll');
      janus.loseSessions();
      await s.waitForEvent('freed', () => true, { since: 0 });
      // On the new session the client destroys it (it may have survived a
      // session that merely expired) instead of creating it again.
      await until(() => janus.destroys(78).length > 0 || janus.creates(78).length > 1, 'a destroy or a second create');
      assert.equal(janus.creates(78).length, 1);
      assert.equal(janus.destroys(78).length, 1);
      assert.equal(await s.stop(), 0);
      assert.equal(janus.creates(78).length, 1);
    });

    await t.test('answers that are not Janus\'s are a state with the reason', async () => {
      janus.mode = 'garbage';
      const s = sender(['--id', '79']);
      const down = await s.waitForEvent('janus', (e) => e.state === 'unreachable', { since: 0 });
      assert.match(down.why, /^Janus at http:\/\/127\.0\.0\.1:\d+\/janus: janus: the answer is not JSON/);
      assert.equal(await s.stop(), 0);
    });

    await t.test('a Janus that does not answer is unreachable after the request deadline', async () => {
      janus.mode = 'silent';
      const s = sender(['--id', '80', '--timeout', '300']);
      const down = await s.waitForEvent('janus', (e) => e.state === 'unreachable', { since: 0 });
      assert.match(down.why, /no answer within 300 ms/);
      assert.equal(await s.stop(), 0);
    });
  } finally {
    await Promise.all(procs.map((p) => p.stop({ graceMs: 3000 })));
    await janus.close();
    await rm(dir, { recursive: true, force: true });
  }
});
