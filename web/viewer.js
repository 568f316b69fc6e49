// The viewer page: one tile per stream listed by /api/streams.
//
// `?codec=vp8` (or h264, jpeg, webp, webrtc, auto: the default) in the page's URL is every
// tile's first codec choice; each tile's selector changes its own.
//
// The list is fetched once, and again only to find the server after a
// connection was lost: that fetch, retried with exponential backoff, is the
// reconnect. Nothing else polls; fps and latency come from the frames, and a
// 1 Hz tick turns them into overlay numbers and chart samples.

import { probeCodecs, probeH264 } from './decode.js';
import { Tile } from './tile.js';

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 8000;

const grid = document.getElementById('grid');
const statusEl = document.getElementById('status');
const emptyEl = document.getElementById('empty');
const template = document.getElementById('tile-template');

const CODECS = ['auto', 'h264', 'vp8', 'jpeg', 'webp', 'webrtc'];
const pageCodec = new URLSearchParams(location.search).get('codec');
const firstCodec = CODECS.includes(pageCodec) ? pageCodec : 'auto';

const tiles = new Map(); // stream id -> Tile, in the server's order
let retryAttempt = 0;
let retryTimer = null;
let loading = false;

// Only real changes touch the live region, so screen readers are not told
// the same summary every second.
function setStatus(state, text) {
  statusEl.dataset.state = state;
  if (statusEl.textContent !== text) statusEl.textContent = text;
}

async function loadStreams() {
  if (loading) return;
  loading = true;
  let list;
  try {
    const res = await fetch('/api/streams', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    list = await res.json();
  } catch (e) {
    loading = false;
    scheduleRetry(`server unreachable (${e.message})`);
    return;
  }
  await probeH264(list); // before tiles choose their codec
  loading = false;
  reconcile(list);
  document.dispatchEvent(new CustomEvent('framecast:streams', { detail: list })); // manage.js
  for (const t of tiles.values()) t.open();
  if (tiles.size === 0) setStatus('live', 'No streams');
  else if (retryAttempt === 0) setStatus('connecting', `${tiles.size} streams, connecting…`);
}

// Keeps tiles of streams that still exist (and their charts), adds new ones,
// drops the ones the server no longer has.
function reconcile(list) {
  const seen = new Set();
  for (const info of list) {
    seen.add(info.id);
    let t = tiles.get(info.id);
    if (t) {
      t.update(info);
    } else {
      t = new Tile(info, template, { onHello, onLost }, firstCodec);
      t.setHidden(document.hidden);
      t.el.querySelector('.frame').addEventListener('click', () => toggleEnlarged(t));
      t.enlargeButton.addEventListener('click', () => toggleEnlarged(t));
      tiles.set(info.id, t);
    }
    grid.append(t.el); // server order
  }
  for (const [id, t] of tiles) {
    if (!seen.has(id)) {
      t.remove();
      tiles.delete(id);
    }
  }
  emptyEl.hidden = tiles.size !== 0;
}

function scheduleRetry(why) {
  if (retryTimer || document.hidden) return;
  const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** retryAttempt);
  const delay = Math.round(base * (0.8 + 0.4 * Math.random())); // spread many viewers out
  retryAttempt++;
  setStatus('reconnecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${retryAttempt})`);
  retryTimer = setTimeout(() => {
    retryTimer = null;
    loadStreams();
  }, delay);
}

function onHello() {
  retryAttempt = 0;
  if (!retryTimer) showSummary();
}

function showSummary() {
  const all = [...tiles.values()];
  const live = all.filter((t) => t.state === 'live').length;
  const paused = all.filter((t) => t.state === 'paused').length;
  setStatus(live ? 'live' : 'idle', `${live} of ${all.length} streams live` + (paused ? `, ${paused} paused` : ''));
}

function onLost(tile, code) {
  scheduleRetry(code === 4404 || code === 4410 ? `stream ${tile.id} is gone` : `connection to ${tile.id} lost (code ${code})`);
}

// A stream was added, changed or removed on this page (manage.js).
document.addEventListener('framecast:streams-changed', () => loadStreams());

function toggleEnlarged(tile) {
  const on = !tile.el.classList.contains('enlarged');
  for (const t of tiles.values()) t.setEnlarged(t === tile && on);
  if (on) tile.el.scrollIntoView({ block: 'nearest' });
}

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape') for (const t of tiles.values()) t.setEnlarged(false);
});

// A hidden tab watches nothing: its subscriptions close, so the server stops
// sending (and, if nobody else watches, producing) those streams.
document.addEventListener('visibilitychange', () => {
  if (document.hidden && retryTimer) {
    clearTimeout(retryTimer);
    retryTimer = null;
  }
  for (const t of tiles.values()) t.setHidden(document.hidden);
});

let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  const seconds = (now - lastTick) / 1000;
  lastTick = now;
  if (document.hidden) return;
  for (const t of tiles.values()) t.tick(seconds);
  if (!retryTimer && !loading && tiles.size) showSummary();
}, 1000);

// Tiles pick their codec from what the browser can decode, so ask first.
probeCodecs().then(loadStreams);
