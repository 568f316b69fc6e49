// A real RTSP camera for node tests: tests/lib/rtsp_server.py (GStreamer's
// RTSP server) as a child process, with its session events.
//
//   const cam = await Camera.start(['--size', '320x240']);
//   ... cam.url, cam.port, cam.connected(), await cam.waitFor('closed', 1)
//   cam.signal('SIGSTOP'); cam.signal('SIGCONT');
//   await cam.stop();            // SIGTERM, SIGKILL after a grace period
//   await cam.stop('SIGKILL');   // a camera that dies
//
// It is ended by its PID only. `--port` of an earlier camera restarts one
// where its clients expect it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const SCRIPT = new URL('rtsp_server.py', import.meta.url).pathname;

export class Camera {
  constructor(child) {
    this.child = child;
    this.events = [];
    this.log = '';
    this.waiters = new Set();
    this.exited = once(child, 'exit');
    let partial = '';
    child.stdout.on('data', (chunk) => {
      partial += chunk.toString();
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        this.log += line + '\n';
        if (!line.startsWith('{')) continue;
        const msg = JSON.parse(line);
        if (msg.url) Object.assign(this, { url: msg.url, port: msg.port });
        else this.events.push(msg.event);
        for (const w of this.waiters) w();
      }
    });
    child.stderr.on('data', (chunk) => { this.log += chunk.toString(); });
    child.on('exit', () => { for (const w of this.waiters) w(); });
  }

  // Resolves once it listens (it prints its port and URL).
  static async start(args = [], { timeoutMs = 20000 } = {}) {
    const child = spawn('/usr/bin/python3', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const cam = new Camera(child);
    await cam.until(() => cam.url, { timeoutMs, what: 'the RTSP camera to listen' });
    return cam;
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  count(event) {
    return this.events.filter((e) => e === event).length;
  }

  // RTSP sessions opened so far, and open now.
  connected() {
    return this.count('connected');
  }

  open() {
    return this.count('connected') - this.count('closed');
  }

  // Resolves once fn() holds, re-checked on every line the camera prints.
  until(fn, { timeoutMs = 20000, what = 'a camera event' } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (fn()) {
          done();
          resolve();
        } else if (!this.running) {
          done();
          reject(new Error(`the RTSP camera exited while waiting for ${what}:\n${this.log}`));
        }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}:\n${this.log}`)); }, timeoutMs);
      const done = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  waitFor(event, n, opts = {}) {
    return this.until(() => this.count(event) >= n, { what: `${n} '${event}' events`, ...opts });
  }

  signal(sig) {
    if (this.running) process.kill(this.child.pid, sig);
  }

  async stop(sig = 'SIGTERM') {
    if (!this.running) return;
    process.kill(this.child.pid, sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
