// H.264 access units as a client receives them (Annex B), checked by an
// independent decoder: Debian's `ffmpeg` (libavcodec's H.264 decoder) on an
// Annex-B file written from the payloads; and the fixture's own access units
// for comparison, extracted without re-encoding (-c copy, h264_mp4toannexb).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The NAL unit types of an Annex-B buffer, up to and including its first
// slice (types 1-5): what a client reads to tell an IDR access unit.
export function nalTypes(buf) {
  const types = [];
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      const t = buf[i + 3] & 0x1f;
      types.push(t);
      if (t >= 1 && t <= 5) break;
      i += 3;
    }
  }
  return types;
}

export const isIdr = (buf) => nalTypes(buf).at(-1) === 5;

function run(cmd, args, input) {
  return new Promise((resolve) => {
    const proc = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    proc.stdout.on('data', (d) => out.push(d));
    proc.stderr.on('data', (d) => { err += d; });
    if (input) proc.stdin.end(input);
    proc.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

// Decodes the access units with ffmpeg, stopping at the first error
// (-xerror). Resolves { code, stderr, md5s }: one MD5 per decoded picture.
export async function decodeH264(payloads) {
  const dir = mkdtempSync(join(tmpdir(), 'fc-h264-'));
  const file = join(dir, 'frames.h264');
  writeFileSync(file, Buffer.concat(payloads));
  try {
    const r = await run('ffmpeg', ['-nostdin', '-v', 'error', '-xerror', '-f', 'h264', '-i', file, '-f', 'framemd5', '-']);
    const md5s = r.stdout.toString().split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').at(-1).trim());
    return { code: r.code, stderr: r.stderr, md5s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The file's video as an Annex-B byte stream, as it is stored (no re-encode).
export async function annexbOf(file) {
  const r = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-map', '0:v:0', '-c', 'copy',
    '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', '-']);
  if (r.code !== 0) throw new Error(`ffmpeg on ${file}: ${r.stderr}`);
  return r.stdout;
}

// ffprobe's profile and level of the file's video, and the codec string's
// PP and LL they stand for.
export async function probeH264(file) {
  const r = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=profile,level,width,height', '-of', 'json', file]);
  const st = JSON.parse(r.stdout.toString()).streams[0];
  const pp = { Baseline: 0x42, 'Constrained Baseline': 0x42, Main: 0x4d, High: 0x64 }[st.profile];
  return { ...st, pp, ll: st.level };
}
