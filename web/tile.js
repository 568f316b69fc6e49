// One stream on the page: its WebSocket, the decode of its frames onto a
// canvas, the numbers in its overlay and its one-minute chart.
//
// Decoding (decode.js): JPEG and WebP with createImageBitmap, latest wins;
// VP8 and a camera's own H.264 with WebCodecs, every frame in order. The
// codec is the tile's choice: `auto` asks for the camera's H.264 where the
// stream offers it and the browser decodes it, else VP8 where the browser
// decodes that, else JPEG. A video decoder
// that fails or falls behind is given up and the tile reconnects, which
// starts it again at a key frame.
//
// `webrtc` plays the stream's Janus mountpoint instead (webrtc.js; offered
// when /api/streams says the stream has one): its video element is drawn
// onto the same canvas at every frame it presents.

import { Chart } from './chart.js';
import { canH264, makeDecoder, resolveCodec } from './decode.js';
import { parseFrame, streamUrl } from './protocol.js';
import { JanusPlayer, janusServer } from './webrtc.js';

const STATE_TEXT = {
  connecting: 'connecting…',
  live: 'live',
  paused: 'paused',
  hidden: 'paused while tab hidden',
  reconnecting: 'reconnecting…',
  gone: 'stream gone',
  error: 'error',
};

export class Tile {
  // `events`: { onHello(tile), onLost(tile, closeCode) } from the page;
  // `codec`: the codec choice it starts with (auto, h264, vp8, jpeg, webp).
  constructor(info, template, events, codec = 'auto') {
    this.id = info.id;
    this.events = events;
    this.el = template.content.firstElementChild.cloneNode(true);
    this.el.dataset.stream = this.id;
    const q = (sel) => this.el.querySelector(sel);
    this.canvas = q('.frame');
    this.ctx = this.canvas.getContext('2d', { alpha: false });
    this.chart = new Chart(q('.chart'));
    this.out = {
      id: q('.o-id'), state: q('.o-state'), size: q('.v-size'), fps: q('.v-fps'),
      latency: q('.v-latency'), dropped: q('.v-dropped'), tier: q('.v-tier'), frames: q('.v-frames'),
      faces: q('.v-faces'), facesStat: q('.faces-stat'), codec: q('.v-codec'), kbps: q('.v-kbps'),
    };
    this.pauseButton = q('.b-pause');
    this.enlargeButton = q('.b-enlarge');
    this.qualitySelect = q('.s-quality');
    this.codecSelect = q('.s-codec');
    this.out.id.textContent = this.id;
    this.canvas.setAttribute('aria-label', `live video of stream ${this.id}`);
    q('.chart').setAttribute('aria-label', `fps and latency of stream ${this.id} over the last minute`);

    this.ws = null; // the connection: a WebSocket, or a JanusPlayer (same close())
    this.userPaused = false;
    this.hidden = false;
    this.quality = 'auto';
    this.codecChoice = codec;
    this.codecSelect.value = codec;
    this.codec = null; // what the current connection asked for
    this.decoder = null;
    this.decodeErrors = 0; // decoders given up, all connections
    this.hello = null;
    this.currentTier = null;
    this.resetCounters();
    this.update(info);
    this.setState('connecting');

    this.pauseButton.addEventListener('click', () => this.setUserPaused(!this.userPaused));
    this.qualitySelect.addEventListener('change', () => this.setQuality(this.qualitySelect.value));
    this.codecSelect.addEventListener('change', () => this.setCodec(this.codecSelect.value));
  }

  // Facts from /api/streams: the nominal size until the first hello says more.
  update(info) {
    this.info = info;
    const rtc = this.codecSelect.querySelector('option[value="webrtc"]');
    rtc.disabled = !info.webrtc?.available;
    rtc.title = info.webrtc?.available ? `Janus mountpoint ${info.webrtc.mountpoint} (VP8, ${info.webrtc.tier} tier)`
      : `WebRTC unavailable: ${info.webrtc?.why || 'no mountpoint'}`;
    // h264 is offered where the stream is a camera's H.264 and this browser
    // decodes it (decode.js asked VideoDecoder.isConfigSupported).
    const h264 = this.codecSelect.querySelector('option[value="h264"]');
    h264.disabled = !canH264(info);
    h264.title = info.codecs?.includes('h264')
      ? (h264.disabled ? `this browser does not decode ${info.h264?.codec_string || 'H.264'} with WebCodecs` : 'the camera\'s own H.264, not decoded or encoded by the server')
      : 'not an H.264 camera';
    if (this.state === 'gone') this.setState('reconnecting'); // listed again
    if (!this.hello) this.setCanvasSize(info.width, info.height);
  }

  resetCounters() {
    this.faces = []; // latest detections: [{id, box: [x, y, w, h], score, keypoints}]
    this.frames = 0; // received on this connection
    this.painted = 0;
    this.dropped = 0; // gaps in frame ids on this connection
    this.lastId = null;
    this.tickFrames = 0;
    this.tickBytes = 0;
    this.tickLatency = [];
    this.fps = null;
    this.kbps = null;
    this.latencyMs = null;
    this.pictureW = 0;
    this.pictureH = 0;
  }

  wantsOpen() {
    return !this.userPaused && !this.hidden && this.state !== 'gone';
  }

  open() {
    if (this.ws || !this.wantsOpen()) return;
    this.resetCounters();
    this.hello = null;
    this.currentTier = null;
    if (this.codecChoice === 'webrtc') {
      this.openWebrtc();
      return;
    }
    this.codec = resolveCodec(this.codecChoice, this.info);
    this.el.dataset.codec = this.codec;
    this.setState(this.state === 'reconnecting' ? 'reconnecting' : 'connecting');
    const ws = new WebSocket(streamUrl(location, this.id, this.quality, this.codec));
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onClose(ws, ev.code);
    this.ws = ws;
  }

  // The stream's mountpoint through Janus; the canvas shows what the video
  // element presents, frame by frame.
  openWebrtc() {
    this.codec = 'webrtc';
    this.el.dataset.codec = 'webrtc';
    const w = this.info.webrtc;
    this.setState(this.state === 'reconnecting' ? 'reconnecting' : 'connecting');
    const video = document.createElement('video');
    video.muted = video.autoplay = video.playsInline = true;
    const server = janusServer().then((url) => {
      if (!w?.available || !url) throw new Error(`unavailable: ${w?.why || 'this server has no --janus'}`);
      return url;
    });
    const player = new JanusPlayer(server, w?.mountpoint, {
      onTrack: (track) => {
        if (track.kind !== 'video' || player !== this.ws) return;
        video.srcObject = new MediaStream([track]);
        video.play().catch(() => {});
        const onFrame = () => {
          if (player !== this.ws) return;
          this.paintVideo(video);
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      },
      onEnd: (why) => {
        if (player !== this.ws) return;
        this.ws = null;
        this.errorMessage = `WebRTC: ${why}`;
        this.setState('error');
        this.events.onLost(this, 0);
      },
    });
    this.ws = player;
  }

  paintVideo(video) {
    if (!this.hello) {
      this.hello = { codec: 'webrtc', quality: this.info.webrtc.tier, detection: false };
      this.currentTier = this.info.webrtc.tier;
      this.setState('live');
      this.events.onHello(this);
    }
    this.pictureW = video.videoWidth;
    this.pictureH = video.videoHeight;
    this.ctx.drawImage(video, 0, 0, this.canvas.width, this.canvas.height);
    this.frames++;
    this.tickFrames++;
    this.painted++;
  }

  // Pictures and errors of an older connection's decoder are not this one's.
  stopDecoder() {
    this.decoder?.close();
    this.decoder = null;
  }

  // A close we asked for: the server removes the subscriber and stops
  // encoding for it if nobody else needs that tier.
  close(nextState) {
    const ws = this.ws;
    this.ws = null;
    this.stopDecoder();
    if (ws) ws.close(1000);
    this.setState(nextState);
  }

  onClose(ws, code) {
    if (ws !== this.ws) return; // closed on purpose already
    this.ws = null;
    this.stopDecoder();
    if (code === 4404 || code === 4410) {
      this.setState('gone');
    } else if (code === 4401 || code === 4429) {
      // Needs a viewer token or the key (docs/api.md): trying again as is
      // would only count more failures against this address.
      this.errorMessage = code === 4401 ? 'needs a viewer token or the key' : 'too many failed attempts';
      this.setState('error');
      return;
    } else if (this.state !== 'error') {
      this.setState('reconnecting');
    }
    this.events.onLost(this, code);
  }

  onMessage(data) {
    if (typeof data === 'string') {
      this.onText(data);
      return;
    }
    let f;
    try {
      f = parseFrame(data);
    } catch (e) {
      console.warn(`${this.id}: ${e.message}`);
      return;
    }
    if (this.lastId !== null && f.id > this.lastId + 1) this.dropped += f.id - this.lastId - 1;
    this.lastId = f.id;
    this.frames++;
    this.tickFrames++;
    this.tickBytes += data.byteLength;
    this.decoder?.push(f);
  }

  onText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === 'hello') {
      this.hello = msg;
      this.setCanvasSize(msg.width, msg.height);
      const decoder = makeDecoder(msg, (picture, ts) => this.paint(decoder, picture, ts),
        (why) => this.decodeFailed(decoder, why));
      this.decoder = decoder;
      this.setState('live');
      this.events.onHello(this);
      this.render();
    } else if (msg.type === 'format' && this.hello) {
      // The source changed size from the next frame on (docs/protocol.md);
      // detection boxes come in the new size's pixels. A VP8 decoder takes
      // the new size from the key frame that follows.
      this.hello = { ...this.hello, ...msg, type: 'hello' };
      this.setCanvasSize(msg.width, msg.height);
      // An H.264 camera's new codec string or size configures the decoder
      // for the IDR access unit that follows.
      this.decoder?.reformat?.(msg);
    } else if (msg.type === 'tier' && typeof msg.tier === 'string') {
      // The tier the following frames are in (docs/protocol.md).
      this.currentTier = msg.tier;
      this.render();
    } else if (msg.type === 'detections' && Array.isArray(msg.faces)) {
      // Sent when the tracked faces change; boxes are in full-frame pixels,
      // which is the canvas's own coordinate space for the full view.
      this.faces = msg.faces;
      this.el.dataset.faces = JSON.stringify(msg.faces.map((f) => ({ id: f.id, box: f.box })));
      this.render();
    } else if (msg.type === 'error') {
      this.errorMessage = msg.message;
      this.setState('error');
    }
  }

  // A decoded picture, drawn over the whole canvas: the canvas keeps the
  // stream's size (detection boxes are in its pixels) while a VP8 low tier
  // is half that size.
  paint(decoder, picture, ts) {
    if (decoder !== this.decoder) {
      picture.close();
      return;
    }
    this.pictureW = picture.displayWidth ?? picture.width;
    this.pictureH = picture.displayHeight ?? picture.height;
    if (!this.hello.codec_string) this.setCanvasSize(this.pictureW, this.pictureH);
    this.ctx.drawImage(picture, 0, 0, this.canvas.width, this.canvas.height);
    picture.close();
    this.drawFaces();
    // Same-host assumption: the browser's clock and the server's capture
    // clock are the same clock (or NTP-close); see docs/viewer.md.
    this.tickLatency.push(Date.now() - ts * 1000);
    this.painted++;
  }

  // A picture that did not decode is skipped; a video decoder that failed
  // is given up, and a new connection starts again at a key frame.
  decodeFailed(decoder, why) {
    if (decoder !== this.decoder) return;
    console.warn(`${this.id}: ${why}`);
    if (!decoder.failed) return;
    this.decodeErrors++;
    this.el.dataset.decodeErrors = String(this.decodeErrors);
    this.close('reconnecting');
    this.open();
  }

  // Boxes and track ids over the picture, redrawn on every painted frame.
  drawFaces() {
    const ctx = this.ctx;
    const line = Math.max(2, Math.round(this.canvas.width / 240));
    ctx.lineWidth = line;
    ctx.font = `${6 * line}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    for (const f of this.faces) {
      const [x, y, w, h] = f.box;
      ctx.strokeStyle = '#39ff14';
      ctx.strokeRect(x, y, w, h);
      ctx.fillStyle = '#39ff14';
      ctx.fillText(`#${f.id}`, x, Math.max(y - line, 6 * line));
    }
  }

  setCanvasSize(w, h) {
    if (!w || !h || (this.canvas.width === w && this.canvas.height === h)) return;
    this.canvas.width = w;
    this.canvas.height = h;
    this.el.style.setProperty('--ar', String(w / h));
  }

  setUserPaused(paused) {
    this.userPaused = paused;
    this.pauseButton.setAttribute('aria-pressed', String(paused));
    this.pauseButton.textContent = paused ? 'Resume' : 'Pause';
    if (paused) this.close('paused');
    else this.open();
  }

  setHidden(hidden) {
    this.hidden = hidden;
    if (hidden && this.ws) this.close('hidden');
    else if (!hidden && !this.ws && this.wantsOpen()) this.open();
  }

  setQuality(quality) {
    this.quality = quality;
    if (this.ws) {
      this.close('connecting');
      this.open();
    }
  }

  setCodec(choice) {
    this.codecChoice = choice;
    this.errorMessage = null;
    if (this.ws) this.close('connecting');
    this.open();
  }

  setEnlarged(on) {
    this.el.classList.toggle('enlarged', on);
    this.enlargeButton.setAttribute('aria-expanded', String(on));
    this.enlargeButton.textContent = on ? 'Shrink' : 'Enlarge';
  }

  setState(state) {
    this.state = state;
    this.el.dataset.state = state;
    this.out.state.textContent = state === 'error' && this.errorMessage ? `error: ${this.errorMessage}` : STATE_TEXT[state];
  }

  // Once a second: the last second's fps and mean latency become the overlay
  // numbers and the chart's next sample.
  tick(seconds) {
    const live = this.state === 'live';
    this.fps = live ? this.tickFrames / seconds : null;
    this.latencyMs = live && this.tickLatency.length
      ? this.tickLatency.reduce((a, b) => a + b, 0) / this.tickLatency.length
      : null;
    this.kbps = live ? (this.tickBytes * 8) / 1000 / seconds : null;
    this.tickFrames = 0;
    this.tickBytes = 0;
    this.tickLatency = [];
    this.chart.push({ fps: this.fps, latencyMs: this.latencyMs });
    this.chart.draw();
    this.render();
  }

  render() {
    const o = this.out;
    o.size.textContent = this.pictureW
      ? `${this.pictureW}×${this.pictureH}`
      : `${this.canvas.width}×${this.canvas.height}`;
    o.codec.textContent = this.hello ? this.hello.codec : (this.codec || '–');
    o.kbps.textContent = this.kbps == null ? '–' : String(Math.round(this.kbps));
    o.fps.textContent = this.fps == null ? '–' : this.fps.toFixed(1);
    o.latency.textContent = this.latencyMs == null ? '–' : `${Math.round(this.latencyMs)} ms`;
    o.dropped.textContent = String(this.dropped);
    const asked = this.hello ? this.hello.quality : this.quality;
    o.tier.textContent = this.currentTier && this.currentTier !== asked ? `${asked}→${this.currentTier}` : asked;
    o.frames.textContent = String(this.frames);
    o.frames.title = this.hello?.codec_string
      ? `${this.painted} painted, ${this.decodeErrors} decoder restarts`
      : `${this.painted} painted, ${this.decoder?.skipped ?? 0} skipped while a decode was busy`;
    o.facesStat.hidden = !(this.hello && this.hello.detection);
    o.faces.textContent = this.faces.length
      ? `${this.faces.length} (${this.faces.map((f) => `#${f.id}`).join(' ')})`
      : '0';
  }

  remove() {
    this.close('gone');
    this.el.remove();
  }
}
