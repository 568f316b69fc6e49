// Helpers for the capacity, drain and HAProxy tests: an avatar client, a
// WebSocket upgrade that reports a refusal instead of throwing, the HAProxy
// agent's line, the /readyz document, and short speech fixtures.
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { until } from './server.mjs';

// The port `srv` (tests/lib/server.mjs) answers agent checks on, from its log.
export function agentPort(srv) {
  const m = /agent-check answers on (?:\[[^\]]+\]|[^:\s]+):(\d+)/.exec(srv.log);
  if (!m) throw new Error(`no agent port in the log:\n${srv.log}`);
  return Number(m[1]);
}

// What one agent-check connection gets: the whole stream until the agent
// closes it.
export function agentLine(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

export async function readyz(srv) {
  const res = await fetch(srv.http + '/readyz');
  return { status: res.status, doc: await res.json() };
}

// Opens a WebSocket; resolves with { ws } once it is open, or with
// { status, body } when the server refused the upgrade.
export function upgrade(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.on('error', reject);
  });
}

// An avatar client on /ws/{id} that records what it receives: texts, the
// number of frames and the last frame's id (a realtime session on a loaded
// machine may skip frames, never its last one).
export class AvatarClient {
  constructor(url) {
    this.texts = [];
    this.frames = 0;
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.opened = new Promise((res, rej) => { this.ws.on('open', res); this.ws.on('error', rej); });
    this.closed = new Promise((res) => this.ws.on('close', (code, reason) => {
      this.closeCode = code;
      res({ code, reason: reason.toString(), at: performance.now() });
    }));
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.frames++;
        this.lastId = data.readUInt32BE(0);
        return;
      }
      const msg = JSON.parse(data.toString());
      msg.at = performance.now();
      this.texts.push(msg);
    });
  }
  start(extra = {}) {
    this.ws.send(JSON.stringify({ type: 'start_streaming', audio_path: 'speech.wav', source_path: 'face.png',
                                  setup_kwargs: {}, binary: true, ...extra }));
  }
  text(type) { return this.texts.find((t) => t.type === type); }
  wait(type, timeoutMs = 20000) {
    return until(() => this.text(type), { timeoutMs, everyMs: 10, what: `a ${type} message` });
  }
  close() { this.ws.close(); return this.closed; }
}

// A copy of a 16-bit PCM WAV cut to its first `seconds`.
export function writeShortWav(src, dst, seconds) {
  const b = readFileSync(src);
  let off = 12, rate = 0, ch = 0, bits = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') { ch = b.readUInt16LE(off + 10); rate = b.readUInt32LE(off + 12); bits = b.readUInt16LE(off + 22); }
    if (id === 'data') {
      const keep = Math.min(size, Math.round(seconds * rate) * ch * (bits / 8));
      const out = Buffer.concat([b.subarray(0, off + 8), b.subarray(off + 8, off + 8 + keep)]);
      out.writeUInt32LE(out.length - 8, 4);
      out.writeUInt32LE(keep, off + 4);
      writeFileSync(dst, out);
      return keep / (rate * ch * (bits / 8));
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${src}: no data chunk`);
}
