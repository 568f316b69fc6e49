// The pieces of a WebRTC test inside a network namespace (netns.mjs): a VP8
// fixture with the frame number burned in, Janus started by scripts/run-janus,
// the test sender (tests/webrtc/webrtc_send.c), the test viewer page and its
// statistics.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SENDER = process.env.WEBRTC_SEND || join(ROOT, 'build/tests/webrtc/webrtc_send');
export const FIXTURES = join(ROOT, 'tests/fixtures');
// Inside the namespace every port is free; these are from framecast's
// WebRTC range anyway (19600-19699).
export const JANUS_PORT = 19600;
const PAGE_PORT = 19601;
const RTP_PORTS = '19610-19649';
const MEDIA_PORTS = '19650-19699';

// Encodes a test pattern to VP8 in IVF with Debian's ffmpeg, the frame number
// burned into the top 32 rows as `bits` cells of `cell` pixels (bright = 1,
// bit 0 on the left), luma only, so the viewer can read which frame it shows.
// `reuse`: keep a file already at `path` (made with the same options).
// `noise`: temporal noise of that strength under the stamp, which keeps a
// small picture at a high bitrate (bench/webrtc-janus's 50 viewers).
export async function makeStampedIvf(path, { width = 640, height = 360, fps = 30, seconds = 4, kbps = 1000, gop = 30, noise = 0, reuse = false } = {}) {
  const bits = Math.max(1, Math.ceil(Math.log2(fps * seconds)));
  const cell = Math.floor(width / bits);
  const layout = { path, width, height, fps, frames: fps * seconds, cell, bits };
  if (reuse && existsSync(path)) return layout;
  const strip = `${noise ? `noise=alls=${noise}:allf=t,` : ''}format=yuv420p,geq=lum='if(lt(Y,32),if(bitand(N,pow(2,floor(X/${cell}))),235,16),lum(X,Y))'`
    + ":cb='if(lt(Y,16),128,cb(X,Y))':cr='if(lt(Y,16),128,cr(X,Y))'";
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    '-t', String(seconds), '-vf', strip, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8',
    '-b:v', `${kbps}k`, '-g', String(gop), '-keyint_min', String(gop), path]);
  return layout;
}

// H.264 constrained baseline (what every WebRTC browser decodes), as an
// Annex-B file of access units with SPS and PPS before every IDR, so a viewer
// joining at any key frame can decode.
export async function makeH264(path, { width = 640, height = 360, fps = 30, seconds = 4, gop = 30 } = {}) {
  await run('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    '-t', String(seconds), '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-g', String(gop), '-x264-params', 'repeat-headers=1', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', path]);
  return { path, width, height, fps, frames: fps * seconds };
}

// Janus in the foreground (run-janus execs it: the PID is Janus's), ready once
// its HTTP API listens.
export async function startJanus(ns, { dir, adminKey }) {
  const janus = ns.spawn(join(ROOT, 'scripts/run-janus'), ['run', '--dir', dir, '--admin-key', adminKey,
    '--port', String(JANUS_PORT), '--rtp-ports', RTP_PORTS, '--media-ports', MEDIA_PORTS,
    '--ice-interface', ns.iface], { label: 'janus' });
  await janus.waitFor((l) => l.includes('HTTP webserver started'), { timeoutMs: 15000, what: 'Janus\'s HTTP API' });
  return janus;
}

export const janusUrl = () => `http://127.0.0.1:${JANUS_PORT}/janus`;

export function startSender(ns, args) {
  return ns.spawn(SENDER, args, { label: 'webrtc_send' });
}

// The viewer page, janus.js and the adapter (Debian's), from a loopback origin.
export async function startPages(ns) {
  const files = {
    '/': join(ROOT, 'tests/browser/webrtc.html'),
    '/webrtc-viewer.js': join(ROOT, 'tests/browser/webrtc-viewer.js'),
    '/janus.js': '/usr/share/javascript/janus-gateway/janus.js',
    '/adapter.js': '/usr/share/javascript/webrtc-adapter/adapter.js',
  };
  const pages = ns.spawn(process.execPath, [join(ROOT, 'tests/lib/static-server.mjs'), '127.0.0.1', String(PAGE_PORT),
    ...Object.entries(files).map(([url, path]) => `${url}=${path}`)], { label: 'pages' });
  const line = await pages.waitFor((l) => l.startsWith('listening on '), { what: 'the page server' });
  return { pages, origin: line.slice('listening on '.length).replace(/\/$/, '') };
}

// A new tab watching mountpoint `id`; resolves once its video track plays.
export async function openViewer(browser, origin, id, { problems = [] } = {}) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${origin}/`);
  await watch(page, id);
  return page;
}

// One more viewer (PeerConnection) of `id` in an open page; its index.
// opts.play = false: receive without playing (see webrtc-viewer.js).
export const watch = (page, id, opts = {}) => page.evaluate(([url, mp, o]) => window.fc.watch(url, mp, o), [janusUrl(), id, opts]);

export const stats = (page, index = 0) => page.evaluate((i) => window.fc.stats(i), index);
