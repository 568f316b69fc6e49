// Test viewer logic (webrtc.html): watch a Streaming mountpoint with janus.js,
// report the receiver's statistics, and read the frame number the test's
// fixture burns into the top of every picture.
'use strict';

window.fc = (() => {
  let handle = null;
  const log = [];
  const stamps = [];

  // Resolves once the video track plays; rejects with Janus's reason.
  function watch(server, id) {
    return new Promise((resolve, reject) => {
      Janus.init({
        debug: false,
        callback: () => {
          const janus = new Janus({
            server,
            iceServers: [], // everything is local: no STUN
            success: () => janus.attach({
              plugin: 'janus.plugin.streaming',
              success: (h) => {
                handle = h;
                h.send({ message: { request: 'watch', id } });
              },
              error: (e) => reject(new Error(`attach: ${e}`)),
              onmessage: (msg, jsep) => {
                log.push(JSON.stringify(msg));
                if (msg.error) reject(new Error(`watch ${id}: ${msg.error}`));
                if (jsep) {
                  handle.createAnswer({
                    jsep,
                    tracks: [{ type: 'data' }], // receive only
                    success: (answer) => handle.send({ message: { request: 'start' }, jsep: answer }),
                    error: (e) => reject(new Error(`answer: ${e}`)),
                  });
                }
              },
              onremotetrack: (track, mid, on) => {
                log.push(`track ${track.kind} ${mid} ${on}`);
                if (!on) return;
                const el = document.getElementById(track.kind === 'video' ? 'video' : 'audio');
                el.srcObject = new MediaStream([track]);
                if (track.kind === 'video') resolve();
              },
              iceState: (s) => log.push(`ice ${s}`),
              webrtcState: (up, why) => log.push(`webrtc ${up} ${why || ''}`),
            }),
            error: (e) => reject(new Error(`janus: ${e}`)),
          });
        },
      });
    });
  }

  async function stats() {
    const out = { video: null, audio: null };
    if (!handle || !handle.webrtcStuff.pc) return out;
    (await handle.webrtcStuff.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      out[s.kind] = {
        packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
        framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded,
        frameWidth: s.frameWidth, frameHeight: s.frameHeight, pliCount: s.pliCount,
        audioLevel: s.audioLevel, totalAudioEnergy: s.totalAudioEnergy,
      };
    });
    return out;
  }

  // The fixture's stamp: `bits` cells of `cell` pixels across the top 32 rows,
  // bright for a 1 bit (tests/lib/webrtc.mjs). For every frame the compositor
  // is handed, the frame number and when (Unix ms).
  function startStamps({ cell, bits }) {
    const video = document.getElementById('video');
    const canvas = document.getElementById('strip');
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
      stamps.push({ n, at: performance.timeOrigin + meta.presentationTime, rtp: meta.rtpTimestamp });
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  return { watch, stats, startStamps, stamps, log };
})();
