// framecast's binary video message (docs/protocol.md): a 16-byte big-endian
// header — u32 frame_id, f64 capture timestamp in Unix seconds, u32 payload
// length — followed by the payload (one JPEG, WebP or VP8 frame).

import { viewerQuery } from './credentials.js';

export const HEADER_BYTES = 16;

// Returns { id, ts, payload } with payload a view into `buf` (no copy), or
// throws when the message is shorter than its header says.
export function parseFrame(buf) {
  if (buf.byteLength < HEADER_BYTES) throw new Error(`frame message of ${buf.byteLength} bytes has no header`);
  const v = new DataView(buf);
  const id = v.getUint32(0);
  const ts = v.getFloat64(4);
  const len = v.getUint32(12);
  if (len !== buf.byteLength - HEADER_BYTES) {
    throw new Error(`frame ${id}: header says ${len} payload bytes, message has ${buf.byteLength - HEADER_BYTES}`);
  }
  return { id, ts, payload: new Uint8Array(buf, HEADER_BYTES, len) };
}

// A VP8 frame is a key frame when bit 0 of its first byte (the frame tag's
// frame-type bit, RFC 6386 9.1) is 0.
export function isVp8Key(payload) {
  return payload.length > 0 && (payload[0] & 1) === 0;
}

// An H.264 access unit (Annex B) is a key frame when its picture is an IDR
// picture: the NAL unit type (low 5 bits of the byte after a 00 00 01 start
// code) of its first slice is 5. Parameter sets, SEI and delimiters come
// before the slices; the first slice (type 1 or 5) tells (docs/protocol.md).
export function isH264Key(payload) {
  for (let i = 0; i + 3 < payload.length; i++) {
    if (payload[i] !== 0 || payload[i + 1] !== 0 || payload[i + 2] !== 1) continue;
    const type = payload[i + 3] & 0x1f;
    if (type === 5) return true;
    if (type >= 1 && type <= 4) return false;
    i += 3;
  }
  return false;
}

export function streamUrl(loc, id, quality, codec) {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ws/streams/${encodeURIComponent(id)}` +
    `?quality=${encodeURIComponent(quality)}&codec=${encodeURIComponent(codec)}${viewerQuery(id)}`;
}
