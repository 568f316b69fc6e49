// framecast's binary video message (docs/protocol.md): a 16-byte big-endian
// header — u32 frame_id, f64 capture timestamp in Unix seconds, u32 payload
// length — followed by the payload (JPEG).

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

export function streamUrl(loc, id, quality) {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ws/streams/${encodeURIComponent(id)}?quality=${encodeURIComponent(quality)}${viewerQuery(id)}`;
}
