// Plays a Janus Streaming mountpoint (what `framecast serve --janus` makes
// per stream and per WebRTC avatar session) through Debian's janus.js and
// webrtc-adapter, which framecast serves at /vendor/janus.js and
// /vendor/adapter.js (docs/webrtc.md). This file is the page-side glue: it
// loads them when a page first plays over WebRTC, keeps one Janus session per
// page, and gives the viewer and the demo a player with close().
//
//   session (shared) ─► attach the Streaming plugin ─► "watch" id
//   ─► Janus's offer ─► janus.js answers, receive only ─► "start" ─► media
//
// All players of a page share one session: over Janus's HTTP API a session
// holds a long poll open, and a browser allows 6 connections to one host,
// so one session per tile would starve the seventh tile. janus.js's own
// fetch-based dependencies (Janus.useDefaultDependencies): no jQuery.
//
// The page must come from a loopback origin when Janus is on loopback
// (Chromium's Local Network Access rule): framecast's own pages do.

// The two classic scripts, in order (janus.js reads the adapter's global),
// then Janus.init; once per page. A failure is forgotten so a later player
// tries again.
let vendor = null;
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`${src} did not load (is libjs-janus-gateway installed?)`));
    document.head.append(s);
  });
}
function janusLibrary() {
  vendor ??= loadScript('/vendor/adapter.js')
    .then(() => loadScript('/vendor/janus.js'))
    .then(() => new Promise((resolve) => {
      window.Janus.init({ debug: false, dependencies: window.Janus.useDefaultDependencies(), callback: resolve });
    }))
    .then(() => {
      if (!window.Janus.isWebrtcSupported()) throw new Error('this browser has no WebRTC');
      return window.Janus;
    })
    .catch((e) => {
      vendor = null;
      throw e;
    });
  return vendor;
}

// Janus URL -> { janus: Promise of a connected Janus, players: Set }. A
// session that fails (Janus went away) ends its players and is forgotten;
// the last player to close destroys it.
const sessions = new Map();

function session(server) {
  let s = sessions.get(server);
  if (s) return s;
  s = { players: new Set(), janus: null };
  const fail = (why) => {
    if (sessions.get(server) === s) sessions.delete(server);
    for (const p of [...s.players]) p.end(why);
  };
  s.janus = janusLibrary().then((Janus) => new Promise((resolve, reject) => {
    const janus = new Janus({
      server,
      iceServers: [], // everything is local: no STUN
      success: () => resolve(janus),
      // Before success: the session could not be made; after: it is lost.
      error: (e) => {
        reject(new Error(`Janus: ${e}`));
        fail(`Janus: ${e}`);
      },
      destroyed: () => fail('the Janus session ended'),
    });
  }));
  s.janus.catch(() => { if (sessions.get(server) === s) sessions.delete(server); });
  sessions.set(server, s);
  return s;
}

function leave(server, s, player) {
  s.players.delete(player);
  if (s.players.size || sessions.get(server) !== s) return;
  sessions.delete(server);
  s.janus.then((janus) => janus.destroy({ notifyDestroyed: false }), () => {});
}

export class JanusPlayer {
  // `server`: Janus's API URL (/api/server's webrtc.janus), or a promise of
  // it; `id`: the mountpoint. `onTrack(track)` for every remote track; `onEnd(why)` once,
  // when it stops for any reason but close().
  constructor(server, id, { onTrack, onEnd }) {
    this.server = server;
    this.id = id;
    this.onTrack = onTrack;
    this.onEnd = onEnd;
    this.session = null;
    this.handle = null;
    this.closed = false;
    this.run().catch((e) => this.end(e.message));
  }

  end(why) {
    if (this.closed) return;
    this.close();
    this.onEnd?.(why);
  }

  async run() {
    const server = await this.server;
    if (this.closed) return;
    if (!server) throw new Error('this server has no --janus');
    this.server = server;
    this.session = session(server);
    this.session.players.add(this);
    const janus = await this.session.janus;
    if (this.closed) return;
    janus.attach({
      plugin: 'janus.plugin.streaming',
      success: (h) => {
        if (this.closed) {
          h.detach();
          return;
        }
        this.handle = h;
        h.send({ message: { request: 'watch', id: this.id } });
      },
      error: (e) => this.end(`attach: ${e}`),
      onmessage: (msg, jsep) => this.onMessage(msg, jsep),
      onremotetrack: (track, mid, on) => { if (on) this.onTrack?.(track); },
      iceState: (state) => { if (state === 'failed') this.end('ICE failed'); },
      webrtcState: (up, why) => { if (!up) this.end(`Janus hung up${why ? `: ${why}` : ''}`); },
    });
  }

  onMessage(msg, jsep) {
    if (msg.error) {
      this.end(`watch ${this.id}: ${msg.error}`);
    } else if (msg.result?.status === 'stopped') {
      this.end('the mountpoint stopped');
    } else if (jsep?.type === 'offer') {
      this.handle.createAnswer({
        jsep,
        tracks: [{ type: 'data' }], // receive what is offered, send nothing
        success: (answer) => this.handle?.send({ message: { request: 'start' }, jsep: answer }),
        error: (e) => this.end(`answer: ${e?.message || e}`),
      });
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    // Detaching hangs up the PeerConnection in Janus at once.
    this.handle?.detach();
    this.handle = null;
    if (this.session) leave(this.server, this.session, this);
  }
}

// Janus's URL, for pages of this server: /api/server's webrtc.janus, or
// null when framecast has no --janus.
let janusUrl;
export async function janusServer() {
  if (janusUrl === undefined) {
    try {
      const res = await fetch('/api/server', { cache: 'no-store' });
      janusUrl = res.ok ? ((await res.json()).webrtc?.janus ?? null) : null;
    } catch {
      janusUrl = null;
    }
  }
  return janusUrl;
}
