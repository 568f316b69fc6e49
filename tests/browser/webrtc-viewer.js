// Test viewer logic (webrtc.html): watch a Streaming mountpoint with janus.js
// (as many times as asked: each watch is a viewer of its own, a Streaming
// handle with its own PeerConnection), report the receivers' statistics, and
// read the frame number the test's fixture burns into the top of every
// picture.
//
// All viewers of a page share one Janus session: over Janus's HTTP API each
// session holds a long poll open, and a browser allows 6 connections to one
// host, so a seventh session's requests would wait up to 30 s behind the
// others' long polls (and its DTLS would time out).
'use strict';

window.fc = (() => {
  const viewers = [];
  const log = [];
  const stamps = [];
  const sessions = new Map(); // server URL -> Promise of a connected Janus

  function session(server) {
    if (!sessions.has(server)) {
      sessions.set(server, new Promise((resolve, reject) => {
        Janus.init({
          debug: false,
          callback: () => {
            const janus = new Janus({
              server,
              iceServers: [], // everything is local: no STUN
              success: () => resolve(janus),
              error: (e) => reject(new Error(`janus: ${e}`)),
            });
          },
        });
      }));
    }
    return sessions.get(server);
  }

  // Resolves with the viewer's index once its PeerConnection is up and its
  // video track arrived; rejects with the reason (Janus's, or the
  // PeerConnection's). `play: false` leaves the tracks unattached: a viewer
  // that costs Janus what any does, and the browser its decoding (Chromium
  // decodes every stream it receives) but no drawing (for the bench).
  function watch(server, id, { play = true } = {}) {
    return new Promise((resolve, reject) => {
      const index = viewers.length;
      const v = { handle: null, video: document.createElement('video'), audio: document.createElement('audio') };
      v.video.autoplay = v.video.muted = v.video.playsInline = true;
      v.audio.autoplay = true;
      document.body.append(v.video, v.audio);
      viewers.push(v);
      let track = false, up = false;
      const settle = () => { if (track && up) resolve(index); };
      session(server).then((janus) => janus.attach({
        plugin: 'janus.plugin.streaming',
        success: (h) => {
          v.handle = h;
          h.send({ message: { request: 'watch', id } });
        },
        error: (e) => reject(new Error(`attach: ${e}`)),
        onmessage: (msg, jsep) => {
          log.push(`${index}: ${JSON.stringify(msg)}`);
          if (msg.error) reject(new Error(`watch ${id}: ${msg.error}`));
          if (jsep) {
            v.handle.createAnswer({
              jsep,
              tracks: [{ type: 'data' }], // receive only
              success: (answer) => v.handle.send({ message: { request: 'start' }, jsep: answer }),
              error: (e) => reject(new Error(`answer: ${e}`)),
            });
          }
        },
        onremotetrack: (t, mid, on) => {
          log.push(`${index}: track ${t.kind} ${mid} ${on}`);
          if (!on) return;
          if (play) (t.kind === 'video' ? v.video : v.audio).srcObject = new MediaStream([t]);
          if (t.kind === 'video') { track = true; settle(); }
        },
        iceState: (st) => log.push(`${index}: ice ${st}`),
        webrtcState: (on, why) => {
          log.push(`${index}: webrtc ${on} ${why || ''}`);
          if (on) { up = true; settle(); } else reject(new Error(`PeerConnection ${index} down: ${why || ''}`));
        },
      }), reject);
    });
  }

  async function stats(index = 0) {
    const out = { video: null, audio: null };
    const pc = viewers[index] && viewers[index].handle && viewers[index].handle.webrtcStuff.pc;
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      out[s.kind] = {
        packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, bytesReceived: s.bytesReceived,
        framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded,
        frameWidth: s.frameWidth, frameHeight: s.frameHeight, pliCount: s.pliCount,
        audioLevel: s.audioLevel, totalAudioEnergy: s.totalAudioEnergy,
      };
    });
    return out;
  }

  // The fixture's stamp: `bits` cells of `cell` pixels across the top 32 rows,
  // bright for a 1 bit (tests/lib/webrtc.mjs). For every frame viewer `index`
  // hands the compositor: the frame number and when (Unix ms).
  function startStamps({ cell, bits, index = 0 }) {
    const video = viewers[index].video;
    const canvas = document.createElement('canvas');
    canvas.width = cell * bits;
    canvas.height = 1;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const onFrame = (now, meta) => {
      ctx.drawImage(video, 0, 16, canvas.width, 1, 0, 0, canvas.width, 1);
      const px = ctx.getImageData(0, 0, canvas.width, 1).data;
      let n = 0;
      for (let b = 0; b < bits; b++) {
        const i = (b * cell + Math.floor(cell / 2)) * 4;
        if (0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2] > 128) n |= 1 << b;
      }
      stamps.push({ n, at: performance.timeOrigin + meta.presentationTime });
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  // Destroys the page's Janus sessions, which hangs up every viewer's
  // PeerConnection in Janus at once (closing the page alone leaves Janus
  // sending until ICE notices, tens of seconds later).
  async function leaveAll() {
    await Promise.all([...sessions.values()].map((p) => p.then((janus) => new Promise((resolve) => {
      janus.destroy({ success: resolve, error: resolve });
    }))));
    sessions.clear();
  }

  // A WebSocket viewer of a framecast stream beside the WebRTC ones (the
  // test's check that both paths share one encode): counts the frames.
  const sockets = [];
  function wsOpen(url) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const w = { frames: 0, closed: null };
    ws.onmessage = (m) => { if (typeof m.data !== 'string') w.frames++; };
    ws.onclose = (e) => { w.closed = e.code; };
    sockets.push(w);
    return sockets.length - 1;
  }
  const wsStats = (i) => ({ ...sockets[i] });

  // An avatar session on framecast's /ws/{client_id}: sends `start`, keeps
  // every text message, resolves with streaming_started (or rejects with
  // the error message).
  const avatar = { ws: null, messages: [] };
  function avatarStart(url, start) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      avatar.ws = ws;
      avatar.messages = [];
      ws.onopen = () => ws.send(JSON.stringify(start));
      ws.onmessage = (m) => {
        if (typeof m.data !== 'string') return;
        const msg = JSON.parse(m.data);
        avatar.messages.push(msg);
        if (msg.type === 'streaming_started') resolve(msg);
        if (msg.type === 'error') reject(new Error(msg.message || JSON.stringify(msg)));
      };
      ws.onclose = (e) => reject(new Error(`avatar WebSocket closed (${e.code})`));
    });
  }
  const avatarSend = (msg) => avatar.ws.send(JSON.stringify(msg));
  const avatarMessages = () => avatar.messages;

  return { watch, stats, startStamps, stamps, leaveAll, log, wsOpen, wsStats, avatarStart, avatarSend, avatarMessages };
})();
