// Starts a real framecast server on an ephemeral loopback port for a test and
// stops it again. The binary comes from FRAMECAST_BIN (set by meson).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';

export const BIN = process.env.FRAMECAST_BIN || 'build/framecast';
export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

// "listening on http://127.0.0.1:8080/" or "http://[::1]:8080/": host, port.
const LISTENING = /listening on http:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\//;

export class Server {
  // `port`: listen on this port instead of an ephemeral one, e.g. to restart
  // a server where its clients expect it. `bin`: another framecast build
  // (benchmarks compare two). `env`: variables added to ours.
  constructor(args, { port = 0, host = '127.0.0.1', bin = BIN, env = {} } = {}) {
    this.args = args;
    this.bin = bin;
    this.wantPort = port;
    this.host = host;
    this.env = env;
    this.log = '';
  }

  // Resolves once the server logged the port it listens on. A server given
  // no --db (nor FRAMECAST_DB) keeps its API streams in memory, so tests
  // neither share a database file nor leave one behind.
  async start({ timeoutMs = 10000 } = {}) {
    const db = this.args.includes('--db') || 'FRAMECAST_DB' in this.env ? {} : { FRAMECAST_DB: ':memory:' };
    // Admission by the measured load is for tests of it (capacity, HAProxy):
    // elsewhere a machine busy with other tests would refuse their sessions.
    const load = this.args.includes('--load-admission') ? [] : ['--load-admission', 'off'];
    // One loop unless a test asks for more: the suite checks one loop's
    // behaviour; tests/integration/loops.test.mjs checks several.
    // FC_TEST_LOOPS=2 runs any test file on two loops instead.
    if (!this.args.includes('--loops')) load.push('--loops', process.env.FC_TEST_LOOPS || '1');
    this.proc = spawn(this.bin, ['serve', '--host', this.host, '--port', String(this.wantPort), ...load, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...db, ...this.env },
    });
    this.exited = once(this.proc, 'exit');
    const collect = (chunk) => { this.log += chunk.toString(); };
    this.proc.stdout.on('data', collect);
    this.proc.stderr.on('data', collect);
    const deadline = Date.now() + timeoutMs;
    while (!LISTENING.test(this.log)) {
      if (this.proc.exitCode !== null) throw new Error(`server exited early:\n${this.log}`);
      if (Date.now() >= deadline) {
        this.proc.kill('SIGKILL'); // a failed start leaves nothing running
        throw new Error(`server did not start:\n${this.log}`);
      }
      // Wake at the deadline too: a server that logs nothing (e.g. with
      // --log-level warn) must fail the test, not hang it.
      let timer;
      const timeout = new Promise((r) => { timer = setTimeout(r, deadline - Date.now()); });
      await Promise.race([once(this.proc.stderr, 'data'), this.exited, timeout]);
      clearTimeout(timer);
    }
    const m = LISTENING.exec(this.log);
    this.port = Number(m[2]);
    this.http = `http://${m[1]}:${this.port}`;
    this.ws = `ws://${m[1]}:${this.port}`;
    return this;
  }

  async json(path) {
    const res = await fetch(this.http + path);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  async text(path) {
    const res = await fetch(this.http + path);
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
  }

  // Value of a Prometheus sample, e.g. metric('fc_stream_frames_encoded_total',
  // {stream: 'cam0', tier: 'high'}); sums over samples that match the labels.
  async metric(name, labels = {}) {
    const { body } = await this.text('/metrics');
    return metricIn(body, name, labels);
  }

  // Sends `signal` and resolves with the exit code (or signal name).
  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const [code, sig] = await this.exited;
    clearTimeout(timer);
    return code ?? sig;
  }
}

// A subscriber that records what it receives. Parses the 16-byte header
// (u32 frame_id, f64 timestamp, u32 length, big-endian) of every binary message.
export class Subscriber {
  constructor(url, { read = true } = {}) {
    this.url = url;
    this.texts = [];
    this.frames = [];
    this.errors = [];
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
    });
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.texts.push(JSON.parse(data.toString()));
        return;
      }
      const id = data.readUInt32BE(0), ts = data.readDoubleBE(4), len = data.readUInt32BE(12);
      if (len !== data.length - 16) this.errors.push(`frame ${id}: header says ${len} bytes, got ${data.length - 16}`);
      const prev = this.frames.at(-1);
      if (prev && id <= prev.id) this.errors.push(`frame id ${id} after ${prev.id}`);
      this.frames.push({ id, ts, len, at: Date.now() / 1000, payload: this.keepPayload ? data.subarray(16) : null });
    });
    if (!read) this.opened.then(() => this.ws._socket.pause());
  }

  hello() {
    return this.texts.find((t) => t.type === 'hello');
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

// The same from a /metrics text already fetched: several values read from
// one scrape are of the same instant.
export function metricIn(body, name, labels = {}) {
  let sum = 0, found = false;
  for (const line of body.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === String(v))) {
      sum += Number(m[3]);
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not in /metrics`);
  return sum;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until fn() returns truthy, checking at `everyMs`; throws after timeoutMs.
// A wait that used most of its time passed on a slower machine's luck: it
// says so on stderr (the test's log), so a near miss is seen before it fails.
const NEAR_MISS = 0.6;

export async function until(fn, { timeoutMs = 5000, everyMs = 50, what = 'condition' } = {}) {
  const start = Date.now(), deadline = start + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) {
      const took = Date.now() - start;
      if (took > NEAR_MISS * timeoutMs && took > 1000)
        process.stderr.write(`near miss: ${what} took ${took} ms of ${timeoutMs}\n`);
      return v;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
