// Plays a Janus Streaming mountpoint (what `framecast serve --janus` makes
// per stream and per WebRTC avatar session) with fetch and RTCPeerConnection
// only: Janus's HTTP API is plain JSON, so no janus.js (docs/webrtc.md).
//
//   create a session ─► attach the Streaming plugin ─► "watch" id
//   ─► Janus's offer arrives on the session's long poll ─► answer (every
//   ICE candidate in it: no trickle) ─► "start" ─► media
//
// One long poll stays open per player: it is how Janus delivers events, and
// it keeps the session alive (Janus counts it as activity). close() destroys
// the session, which hangs up the PeerConnection in Janus at once.
//
// The page must come from a loopback origin when Janus is on loopback
// (Chromium's Local Network Access rule): framecast's own pages do.

const tx = () => Math.random().toString(36).slice(2, 12);

async function post(url, body, signal) {
  const res = await fetch(url, {
    method: 'POST', body: JSON.stringify({ ...body, transaction: tx() }), signal,
    headers: { 'content-type': 'application/json' },
  });
  if (!res.ok) throw new Error(`Janus: HTTP ${res.status}`);
  const msg = await res.json();
  if (msg.janus === 'error') throw new Error(`Janus: ${msg.error?.reason} (${msg.error?.code})`);
  return msg;
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
    this.pc = null;
    this.session = null;
    this.closed = false;
    this.abort = new AbortController();
    this.run().catch((e) => this.end(e.message));
  }

  end(why) {
    if (this.closed) return;
    this.close();
    this.onEnd?.(why);
  }

  async run() {
    this.server = await this.server;
    if (this.closed) return;
    const s = await post(this.server, { janus: 'create' }, this.abort.signal);
    this.session = `${this.server}/${s.data.id}`;
    const h = await post(this.session, { janus: 'attach', plugin: 'janus.plugin.streaming' }, this.abort.signal);
    this.handle = `${this.session}/${h.data.id}`;
    await post(this.handle, { janus: 'message', body: { request: 'watch', id: this.id } }, this.abort.signal);
    this.poll();
  }

  // The session's events, one long poll after another.
  async poll() {
    while (!this.closed) {
      let events;
      try {
        const res = await fetch(`${this.session}?maxev=5&rid=${Date.now()}`, { signal: this.abort.signal, cache: 'no-store' });
        if (!res.ok) throw new Error(`Janus: HTTP ${res.status} on the session's events`);
        events = await res.json();
      } catch (e) {
        this.end(e.message);
        return;
      }
      for (const ev of Array.isArray(events) ? events : [events]) await this.onEvent(ev);
    }
  }

  async onEvent(ev) {
    const data = ev.plugindata?.data;
    if (data?.error) {
      this.end(`watch ${this.id}: ${data.error}`);
    } else if (ev.jsep?.type === 'offer') {
      await this.answer(ev.jsep);
    } else if (ev.janus === 'hangup') {
      this.end(`Janus hung up: ${ev.reason || ''}`);
    } else if (data?.result?.status === 'stopped') {
      this.end('the mountpoint stopped');
    }
  }

  async answer(offer) {
    const pc = new RTCPeerConnection({ iceServers: [] }); // all local: no STUN
    this.pc = pc;
    pc.ontrack = (e) => this.onTrack?.(e.track);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') this.end('the PeerConnection failed');
    };
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    // No trickle: wait for every candidate (host ones only: quick).
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((resolve) => {
        pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
      });
    }
    const { type, sdp } = pc.localDescription;
    await post(this.handle, { janus: 'message', body: { request: 'start' }, jsep: { type, sdp } }, this.abort.signal);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.pc?.close();
    this.abort.abort();
    // Tell Janus at once (the page may be leaving: keepalive).
    if (this.session) {
      fetch(this.session, { method: 'POST', keepalive: true, body: JSON.stringify({ janus: 'destroy', transaction: tx() }) })
        .catch(() => {});
    }
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
