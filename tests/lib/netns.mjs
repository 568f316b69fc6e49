// A network namespace of a test's own, for WebRTC on one machine.
//
// libnice (Janus's ICE) gathers no candidates on the loopback interface, and
// Chromium offers none there either, so two peers on one host cannot meet on
// `lo`. Inside a namespace of our own we give a veth interface a loopback-range
// address (127.0.1.1/32): both sides gather it, nothing leaves the machine,
// and nothing in the namespace can collide with other tests' ports.
//
//   const ns = await Netns.create();
//   const janus = ns.spawn('scripts/run-janus', ['run', ...]);
//   await janus.waitFor((line) => line.includes('HTTP webserver started'));
//   const browser = await ns.chromium();
//   ...
//   await ns.close();   // browser, processes (by PID), the namespace
//
// Every process started here is tracked and ended by its PID (SIGTERM, then
// SIGKILL after a grace period); anything else left inside the namespace is
// ended by PID too (`ip netns pids`), then the namespace is deleted. close()
// runs from the test's `finally`, and on process exit or SIGINT/SIGTERM as a
// last resort; a namespace left by a run that was SIGKILLed (its name carries
// the PID) is removed by the next run. Needs root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN), as `make test` runs here.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const PREFIX = 'fc-webrtc-';
const CHROMIUM_WRAPPER = fileURLToPath(new URL('netns-chromium', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Headless, autoplaying, and talking to nothing but the page's servers.
export const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--no-first-run',
  '--autoplay-policy=no-user-gesture-required', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-gpu'];

const napping = new Int32Array(new SharedArrayBuffer(4));
const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function pidsIn(name) {
  try {
    return ip('netns', 'pids', name).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// Ends every process in the namespace by PID and deletes it. Synchronous, so
// it also works from an exit handler.
function destroy(name) {
  for (const sig of ['SIGTERM', 'SIGKILL']) {
    const pids = pidsIn(name);
    if (!pids.length) break;
    for (const pid of pids) {
      try { process.kill(pid, sig); } catch { /* gone already */ }
    }
    // Wait (bounded) for them to go before the next signal; synchronously,
    // as exit handlers must.
    const deadline = Date.now() + 2000;
    while (pidsIn(name).length && Date.now() < deadline) Atomics.wait(napping, 0, 0, 50);
  }
  try { ip('netns', 'delete', name); } catch { /* already gone */ }
}

// Namespaces of earlier runs whose process is gone.
function removeStale() {
  let list = '';
  try { list = ip('netns', 'list'); } catch { return; }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const m = name && name.startsWith(PREFIX) && /^fc-webrtc-(\d+)-/.exec(name);
    if (m && !alive(Number(m[1]))) destroy(name);
  }
}

const open = new Set();
function lastResort() {
  for (const ns of open) destroy(ns.name);
  open.clear();
}
process.on('exit', lastResort);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    lastResort();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

// A process inside the namespace: its output as lines, waits on them, and a
// bounded stop by PID.
export class Proc {
  constructor(child, label) {
    this.child = child;
    this.label = label;
    this.pid = child.pid;
    this.lines = [];
    this.exited = once(child, 'exit');
    this.waiters = new Set();
    let partial = '';
    const onData = (chunk) => {
      partial += chunk.toString();
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        this.lines.push(line);
        for (const w of this.waiters) w.check(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, sig) => {
      for (const w of this.waiters) w.fail(new Error(`${label} exited (${code ?? sig}) while waiting for ${w.what}:\n${this.tail()}`));
    });
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(n = 40) {
    return this.lines.slice(-n).join('\n');
  }

  // A position in the output, for waitFor's `since`.
  mark() {
    return this.lines.length;
  }

  // Resolves with the first line for which match(line) is truthy: among the
  // lines from index `since` on (a mark()), or from now on without it.
  waitFor(match, { timeoutMs = 10000, what = 'a line', since } = {}) {
    if (since !== undefined) {
      const hit = this.lines.slice(since).find((l) => match(l));
      if (hit !== undefined) return Promise.resolve(hit);
    }
    if (!this.running) return Promise.reject(new Error(`${this.label} is not running (waiting for ${what}):\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const w = {
        what,
        check: (line) => { if (match(line)) { done(); resolve(line); } },
        fail: (e) => { done(); reject(e); },
      };
      const timer = setTimeout(() => w.fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.label}:\n${this.tail()}`)), timeoutMs);
      const done = () => { clearTimeout(timer); this.waiters.delete(w); };
      this.waiters.add(w);
    });
  }

  // JSON lines (the test sender's events).
  events(type) {
    return this.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => !type || e.event === type);
  }

  waitForEvent(type, pred = () => true, opts = {}) {
    return this.waitFor((l) => {
      if (!l.startsWith('{')) return false;
      const e = JSON.parse(l);
      return e.event === type && pred(e);
    }, { what: `event ${type}`, ...opts }).then((l) => JSON.parse(l));
  }

  signal(sig) {
    if (this.running) process.kill(this.pid, sig);
  }

  // SIGTERM (or `sig`), SIGKILL after graceMs; resolves with the exit code or signal.
  async stop({ sig = 'SIGTERM', graceMs = 5000 } = {}) {
    if (this.running) {
      process.kill(this.pid, sig);
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.child.exitCode ?? this.child.signalCode;
  }
}

export class Netns {
  constructor(name, iface, address) {
    this.name = name;
    this.iface = iface;
    this.address = address;
    this.procs = new Set();
    this.browsers = new Set();
  }

  // A fresh namespace with `lo` up and a veth pair, `iface` carrying `address`.
  static async create({ iface = 'fcv0', address = '127.0.1.1/32' } = {}) {
    removeStale();
    const name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
    try {
      ip('netns', 'add', name);
    } catch (e) {
      throw new Error(`cannot create network namespace ${name} (the WebRTC tests need root): ${e.stderr || e.message}`);
    }
    const ns = new Netns(name, iface, address);
    open.add(ns);
    try {
      ns.exec('ip', ['link', 'set', 'lo', 'up']);
      ns.exec('ip', ['link', 'add', iface, 'type', 'veth', 'peer', 'name', `${iface}p`]);
      ns.exec('ip', ['addr', 'add', address, 'dev', iface]);
      ns.exec('ip', ['link', 'set', iface, 'up']);
      ns.exec('ip', ['link', 'set', `${iface}p`, 'up']);
    } catch (e) {
      await ns.close();
      throw new Error(`cannot set up network namespace ${name}: ${e.stderr || e.message}`);
    }
    return ns;
  }

  exec(cmd, args) {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  // Starts `cmd` inside the namespace. `ip netns exec` execs it, so the PID
  // we get is the command's own.
  spawn(cmd, args = [], { label = cmd, env = process.env, cwd } = {}) {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
    const p = new Proc(child, label);
    this.procs.add(p);
    return p;
  }

  // Debian's Chromium, headless, inside the namespace (through a wrapper
  // playwright starts as its executable; it execs Chromium, keeping the PID).
  async chromium({ args = [] } = {}) {
    const browser = await chromium.launch({
      executablePath: CHROMIUM_WRAPPER,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      env: { ...process.env, FC_NETNS: this.name, CHROMIUM },
      timeout: 30000,
    });
    this.browsers.add(browser);
    return browser;
  }

  async close() {
    for (const b of this.browsers) {
      const timer = setTimeout(() => { const pid = b.process()?.pid; if (pid && alive(pid)) process.kill(pid, 'SIGKILL'); }, 5000);
      await b.close().catch(() => {});
      clearTimeout(timer);
    }
    this.browsers.clear();
    await Promise.all([...this.procs].map((p) => p.stop({ graceMs: 3000 })));
    this.procs.clear();
    destroy(this.name);
    open.delete(this);
  }
}
