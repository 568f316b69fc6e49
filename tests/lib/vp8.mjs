// VP8 frames as a client receives them, checked by an independent decoder:
// Debian's `ffmpeg` (libavcodec's own VP8 decoder) on an IVF file written
// from the payloads.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// RFC 6386, 9.1: bit 0 of the frame tag is 0 for a key frame.
export const isKey = (payload) => (payload[0] & 1) === 0;

// An IVF file (the container libvpx's tools write): a 32-byte header, then
// per frame a 12-byte header (size, 64-bit pts) and the frame.
export function ivf(payloads, width, height) {
  const head = Buffer.alloc(32);
  head.write('DKIF', 0, 'ascii');
  head.writeUInt16LE(0, 4);
  head.writeUInt16LE(32, 6);
  head.write('VP80', 8, 'ascii');
  head.writeUInt16LE(width, 12);
  head.writeUInt16LE(height, 14);
  head.writeUInt32LE(30, 16); // time base 1/30: pts are frame numbers
  head.writeUInt32LE(1, 20);
  head.writeUInt32LE(payloads.length, 24);
  const parts = [head];
  payloads.forEach((p, i) => {
    const fh = Buffer.alloc(12);
    fh.writeUInt32LE(p.length, 0);
    fh.writeBigUInt64LE(BigInt(i), 4);
    parts.push(fh, Buffer.from(p));
  });
  return Buffer.concat(parts);
}

// Decodes the payloads with ffmpeg, stopping at the first error (-xerror).
// Resolves { code, stderr, md5s }: one MD5 per decoded picture, in order.
export async function decodeVp8(payloads, width, height) {
  const dir = mkdtempSync(join(tmpdir(), 'fc-vp8-'));
  const file = join(dir, 'frames.ivf');
  writeFileSync(file, ivf(payloads, width, height));
  try {
    const proc = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-xerror', '-i', file, '-f', 'framemd5', '-'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => proc.on('close', resolve));
    const md5s = out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').at(-1).trim());
    return { code, stderr: err, md5s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
