// Turning frame payloads into pictures, for the viewer's tiles and the
// avatar demo. Two ways, by codec:
//
// - Still pictures (JPEG, WebP): createImageBitmap decodes each frame on its
//   own, off the main thread. One decode at a time; a frame that arrives
//   meanwhile waits in a single slot and a newer one replaces it (latest
//   wins), so a slow decoder skips frames instead of falling behind.
// - VP8: WebCodecs' VideoDecoder, fed every frame in order as an
//   EncodedVideoChunk, key or delta by the VP8 frame tag (docs/protocol.md).
//   Deltas depend on the frames before them, so none may be skipped: a
//   decoder that falls behind, or fails, is given up and reported, and the
//   caller reconnects (the server starts a new subscriber at a key frame).
//
// Both call onPicture(picture, timestampSeconds, frameId) with an
// ImageBitmap or a VideoFrame, which the callee draws and then closes, and
// onError(message).

import { isVp8Key } from './protocol.js';

// Frames a VideoDecoder may hold undecoded before the viewer gives up on
// it: about a second at 30 fps.
const MAX_DECODE_QUEUE = 30;

let vp8Supported = false;

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

// The codec to ask the server for: `auto` is VP8 where the browser decodes
// it, else JPEG.
export function resolveCodec(choice) {
  if (choice === 'auto') return vp8Supported ? 'vp8' : 'jpeg';
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

class Vp8Decoder {
  // `config`: the hello's codec_string, coded_width and coded_height.
  constructor(config, onPicture, onError) {
    this.onError = onError;
    this.failed = false;
    this.waitingKey = true;
    this.skipped = 0; // deltas before the first key frame (the server sends none)
    this.ids = []; // frame ids in decode order: VP8 pictures come out in that order
    this.decoder = new VideoDecoder({
      output: (frame) => {
        const id = this.ids.shift();
        if (this.failed) frame.close();
        else onPicture(frame, frame.timestamp / 1e6, id);
      },
      error: (e) => this.fail(`VP8 decoder: ${e.message}`),
    });
    this.decoder.configure({
      codec: config.codec_string || 'vp8',
      codedWidth: config.coded_width,
      codedHeight: config.coded_height,
      optimizeForLatency: true,
    });
  }

  push(f) {
    if (this.failed) return;
    const key = isVp8Key(f.payload);
    if (this.waitingKey && !key) {
      this.skipped++;
      return;
    }
    this.waitingKey = false;
    if (this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      this.fail(`VP8 decoder fell ${this.decoder.decodeQueueSize} frames behind`);
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
  return hello.codec === 'vp8'
    ? new Vp8Decoder(hello, onPicture, onError)
    : new StillDecoder(hello.codec, onPicture, onError);
}
