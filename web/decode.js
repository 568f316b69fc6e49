// Turning frame payloads into pictures, for the viewer's tiles and the
// avatar demo. Two ways, by codec:
//
// - Still pictures (JPEG, WebP): createImageBitmap decodes each frame on its
//   own, off the main thread. One decode at a time; a frame that arrives
//   meanwhile waits in a single slot and a newer one replaces it (latest
//   wins), so a slow decoder skips frames instead of falling behind.
// - VP8 and H.264 (a camera's own access units, Annex B): WebCodecs'
//   VideoDecoder, fed every frame in order as an EncodedVideoChunk, key or
//   delta by the VP8 frame tag or the H.264 IDR NAL unit (docs/protocol.md).
//   Deltas depend on the frames before them, so none may be skipped: a
//   decoder that falls behind, or fails, is given up and reported, and the
//   caller reconnects (the server starts a new subscriber at a key frame).
//
// Both call onPicture(picture, timestampSeconds, frameId) with an
// ImageBitmap or a VideoFrame, which the callee draws and then closes, and
// onError(message).

import { isH264Key, isVp8Key } from './protocol.js';

// Frames a VideoDecoder may hold undecoded before the viewer gives up on
// it: about a second at 30 fps.
const MAX_DECODE_QUEUE = 30;

let vp8Supported = false;
// H.264 codec string ("avc1.42C01E") -> whether this browser decodes it.
const h264Supported = new Map();
// What a stream whose camera has not been opened yet is checked with:
// Constrained Baseline 3.1, what cameras send at the least.
const H264_DEFAULT = 'avc1.42E01F';

const h264String = (info) => info?.h264?.codec_string || H264_DEFAULT;

// Once per page, before any tile picks a codec: can this browser decode VP8
// with WebCodecs? (Needs a secure context: https, or http on loopback.)
export async function probeCodecs() {
  if (typeof VideoDecoder === 'undefined') return;
  try {
    const r = await VideoDecoder.isConfigSupported({ codec: 'vp8', codedWidth: 1280, codedHeight: 720 });
    vp8Supported = r.supported === true;
  } catch {
    vp8Supported = false;
  }
}

// For the H.264 streams of /api/streams (those whose `codecs` list h264):
// can this browser decode that stream's H.264 (its codec string)? Asked
// once per codec string.
export async function probeH264(list) {
  if (typeof VideoDecoder === 'undefined') return;
  for (const info of list) {
    if (!info.codecs?.includes('h264')) continue;
    const codec = h264String(info);
    if (h264Supported.has(codec)) continue;
    try {
      const r = await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true });
      h264Supported.set(codec, r.supported === true);
    } catch {
      h264Supported.set(codec, false);
    }
  }
}

// Whether the stream offers the camera's own H.264 and this browser decodes it.
export function canH264(info) {
  return info?.codecs?.includes('h264') === true && h264Supported.get(h264String(info)) === true;
}

// The codec to ask the server for: `auto` is the camera's own H.264 where
// the stream offers it and the browser decodes it, else VP8 where the
// browser decodes that, else JPEG.
export function resolveCodec(choice, info) {
  if (choice === 'auto') return canH264(info) ? 'h264' : vp8Supported ? 'vp8' : 'jpeg';
  return choice;
}

class StillDecoder {
  constructor(codec, onPicture, onError) {
    this.type = `image/${codec}`;
    this.onPicture = onPicture;
    this.onError = onError;
    this.busy = false;
    this.next = null;
    this.skipped = 0;
    this.closed = false;
  }

  push(f) {
    if (this.busy) {
      if (this.next) this.skipped++;
      this.next = f;
      return;
    }
    this.decode(f);
  }

  async decode(f) {
    this.busy = true;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(new Blob([f.payload], { type: this.type }));
    } catch (e) {
      if (!this.closed) this.onError(`frame ${f.id} did not decode: ${e.message}`);
    }
    if (this.closed) {
      bitmap?.close();
      return;
    }
    if (bitmap) this.onPicture(bitmap, f.ts, f.id);
    this.busy = false;
    const next = this.next;
    this.next = null;
    if (next) this.decode(next);
  }

  close() {
    this.closed = true;
    this.next = null;
  }
}

class VideoCodecDecoder {
  // `config`: the hello's codec, codec_string, coded_width and coded_height.
  // An H.264 hello may not know its codec string yet (the camera's first
  // IDR access unit says it): a format message before that unit does.
  constructor(config, onPicture, onError) {
    this.name = config.codec === 'h264' ? 'H.264' : 'VP8';
    this.isKey = config.codec === 'h264' ? isH264Key : isVp8Key;
    this.onError = onError;
    this.failed = false;
    this.waitingKey = true;
    this.skipped = 0; // deltas before the first key frame (the server sends none)
    // Frame ids in decode order, given to pictures as they come out (a
    // camera's B-frames would come out reordered; the ids are only shown).
    this.ids = [];
    this.decoder = new VideoDecoder({
      output: (frame) => {
        const id = this.ids.shift();
        if (this.failed) frame.close();
        else onPicture(frame, frame.timestamp / 1e6, id);
      },
      error: (e) => this.fail(`${this.name} decoder: ${e.message}`),
    });
    this.configured = null;
    this.reformat(config);
  }

  // A format message: a camera's new codec string or size takes effect at
  // the key frame that follows it.
  reformat(config) {
    const codec = config.codec_string || (config.codec === 'vp8' ? 'vp8' : null);
    if (!codec || this.failed) return;
    const next = { codec, codedWidth: config.coded_width || undefined, codedHeight: config.coded_height || undefined, optimizeForLatency: true };
    if (this.configured && this.configured.codec === next.codec && this.configured.codedWidth === next.codedWidth &&
        this.configured.codedHeight === next.codedHeight) return;
    this.decoder.configure(next);
    this.configured = next;
    this.waitingKey = true;
  }

  push(f) {
    if (this.failed) return;
    const key = this.isKey(f.payload);
    if (!this.configured || (this.waitingKey && !key)) {
      this.skipped++;
      return;
    }
    this.waitingKey = false;
    if (this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      this.fail(`${this.name} decoder fell ${this.decoder.decodeQueueSize} frames behind`);
      return;
    }
    // Capture times in microseconds stay exact in a double (< 2^53).
    this.ids.push(f.id);
    this.decoder.decode(new EncodedVideoChunk({
      type: key ? 'key' : 'delta', timestamp: Math.round(f.ts * 1e6), data: f.payload,
    }));
  }

  fail(message) {
    if (this.failed) return;
    this.failed = true;
    this.close();
    this.onError(message);
  }

  close() {
    if (this.decoder.state !== 'closed') this.decoder.close();
  }
}

export function makeDecoder(hello, onPicture, onError) {
  return hello.codec === 'vp8' || hello.codec === 'h264'
    ? new VideoCodecDecoder(hello, onPicture, onError)
    : new StillDecoder(hello.codec, onPicture, onError);
}
