// The avatar demo: upload a face and a speech file (or the bundled samples),
// start a session with the audio sent back, draw each frame when the audio
// clock reaches its media time, stop. JPEG and WebP frames are decoded one by
// one; VP8 (15 fps) goes through WebCodecs, every frame in order
// (../decode.js). Transport WebRTC: the session's frames and its speech as
// Opus go to a Janus mountpoint that streaming_started names, and a video
// element plays both from there (../webrtc.js).
import { makeDecoder } from '../decode.js';
import { JanusPlayer, janusServer } from '../webrtc.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
const canvas = $('view');
const ctx2d = canvas.getContext('2d');

let ws = null, audioCtx = null, audioSrc = null;
let audioInfo = null, audioBuffer = null, clockStart = null;
let pending = [], frames = 0, expected = 0, format = 'jpeg', width = 512, height = 512;
// The session's decoder, made when its metadata names the format and size.
let decoder = null;
// Transport WebRTC: the player of the session's mountpoint.
let player = null;
const rtcVideo = $('rtc');

function stopPlayer() {
  player?.close();
  player = null;
  rtcVideo.srcObject = null;
}

// The mountpoint's video and audio in one element; frames counted as it
// presents them.
function play(mountpoint) {
  const stream = new MediaStream();
  rtcVideo.srcObject = stream;
  rtcVideo.hidden = false;
  canvas.hidden = true;
  const p = new JanusPlayer(janusServer(), mountpoint, {
    onTrack: (track) => {
      if (p !== player) return;
      stream.addTrack(track);
      rtcVideo.play().catch(() => {});
    },
    onEnd: (why) => { if (p === player && status.dataset.state === 'streaming') setState('error', `WebRTC: ${why}`); },
  });
  player = p;
  const onFrame = () => {
    if (p !== player) return;
    frames++;
    status.dataset.frames = frames;
    $('s-frames').textContent = frames;
    rtcVideo.requestVideoFrameCallback(onFrame);
  };
  rtcVideo.requestVideoFrameCallback(onFrame);
}

function setState(state, error = '') {
  status.dataset.state = state;
  $('s-state').textContent = state;
  $('s-error').textContent = error;
  $('start').disabled = state === 'starting' || state === 'streaming';
  $('stop').disabled = state !== 'streaming' && state !== 'starting';
}

async function inputBlob(input, sample) {
  if (input.files[0]) return input.files[0];
  const res = await fetch(sample);
  if (!res.ok) throw new Error(`${sample}: HTTP ${res.status}`);
  return res.blob();
}

async function uploadInputs() {
  const form = new FormData();
  form.append('source', await inputBlob($('source'), '/demo/samples/face.png'), 'source');
  form.append('audio', await inputBlob($('audio'), '/demo/samples/speech.wav'), 'audio');
  const res = await fetch('/upload', { method: 'POST', body: form });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `upload: HTTP ${res.status}`);
  return body;
}

// The audio block is 16-bit little-endian PCM, interleaved.
function toAudioBuffer(bytes, info) {
  const n = bytes.byteLength / 2 / info.channels;
  const buf = audioCtx.createBuffer(info.channels, n, info.sample_rate);
  const view = new DataView(bytes);
  for (let c = 0; c < info.channels; c++) {
    const out = buf.getChannelData(c);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * (i * info.channels + c), true) / 32768;
  }
  return buf;
}

// Media time now: the audio clock once playing, else the wall clock since
// the first frame.
function mediaTime() {
  if (clockStart === null) return null;
  return audioCtx && audioSrc ? audioCtx.currentTime - clockStart : (performance.now() / 1000) - clockStart;
}

function startClock() {
  if (audioBuffer) {
    audioSrc = audioCtx.createBufferSource();
    audioSrc.buffer = audioBuffer;
    audioSrc.connect(audioCtx.destination);
    clockStart = audioCtx.currentTime + 0.05;
    audioSrc.start(clockStart);
  } else {
    clockStart = performance.now() / 1000;
  }
}

function onFrame(data) {
  const view = new DataView(data);
  const id = view.getUint32(0), ts = view.getFloat64(4), len = view.getUint32(12);
  decoder?.push({ id, ts, payload: new Uint8Array(data, 16, len) });
}

function startDecoder(meta) {
  const d = makeDecoder({ codec: meta.format, coded_width: meta.width, coded_height: meta.height },
    (picture, ts, id) => {
      if (d !== decoder) { picture.close(); return; }
      if (clockStart === null) startClock();
      pending.push({ id, ts, bitmap: picture });
    },
    (why) => { if (d === decoder) setState('error', why); });
  decoder = d;
}

function stopDecoder() {
  decoder?.close();
  decoder = null;
}

function draw() {
  const now = mediaTime();
  let show = null;
  while (pending.length && now !== null && pending[0].ts <= now) {
    if (show) show.bitmap.close();
    show = pending.shift();
  }
  if (show) {
    // A VP8 low tier is half size: the canvas keeps the session's size.
    if (canvas.width !== width) { canvas.width = width; canvas.height = height; }
    ctx2d.drawImage(show.bitmap, 0, 0, canvas.width, canvas.height);
    show.bitmap.close();
    frames++;
    status.dataset.frames = frames;
    status.dataset.lastId = show.id;
    $('s-frames').textContent = frames;
    $('s-time').textContent = show.ts.toFixed(2);
  }
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);

function stopAudio() {
  if (audioSrc) { try { audioSrc.stop(); } catch { /* not started yet */ } }
  audioSrc = null;
}

async function start() {
  setState('starting');
  stopDecoder();
  frames = 0; pending = []; audioInfo = null; audioBuffer = null; clockStart = null;
  format = $('format').value;
  const webrtc = $('transport').value === 'webrtc';
  stopPlayer();
  rtcVideo.hidden = true;
  canvas.hidden = false;
  audioCtx = audioCtx || new AudioContext();
  await audioCtx.resume();
  let paths;
  try {
    paths = await uploadInputs();
  } catch (e) {
    setState('error', e.message);
    return;
  }
  const id = 'demo-' + Math.random().toString(36).slice(2, 10);
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/${id}`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => ws.send(JSON.stringify({
    type: 'start_streaming', audio_path: paths.audio_path, source_path: paths.source_path,
    setup_kwargs: {}, run_kwargs: webrtc ? { transport: 'webrtc' } : { audio: true, format }, binary: true,
  }));
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') {
      // The one binary message after {"type":"audio"} is the audio; the rest are frames.
      if (audioInfo && !audioBuffer) audioBuffer = toAudioBuffer(ev.data, audioInfo);
      else onFrame(ev.data);
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === 'streaming_started') {
      setState('streaming');
      if (msg.mountpoint) {
        status.dataset.mountpoint = msg.mountpoint;
        play(msg.mountpoint);
      }
    }
    else if (msg.type === 'metadata') {
      expected = msg.expected_frames;
      width = msg.width;
      height = msg.height;
      $('s-expected').textContent = expected;
      $('s-format').textContent = msg.format;
      $('s-fps').textContent = msg.fps;
      status.dataset.format = msg.format;
      status.dataset.fps = msg.fps;
      if (!webrtc) startDecoder(msg);
    }
    else if (msg.type === 'audio') audioInfo = msg;
    else if (msg.type === 'streaming_completed') {
      setState(msg.stopped ? 'stopped' : 'completed');
      stopPlayer();
      if (msg.stopped) { stopAudio(); pending.forEach((p) => p.bitmap.close()); pending = []; }
    } else if (msg.type === 'error') setState('error', msg.message);
  };
  ws.onclose = () => { if (status.dataset.state === 'streaming') setState('closed'); };
}

$('start').onclick = () => { if (ws) ws.close(); start(); };
$('stop').onclick = () => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'stop_streaming' })); };
