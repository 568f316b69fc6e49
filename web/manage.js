// The viewer's edit mode: with the API key entered (or on a server that has
// none), add streams, change their settings and remove them through
// /api/streams (docs/api.md); without it the page stays read-only.
//
// It keeps to itself: the header gets its controls, the tiles of streams the
// API added get Edit and Remove, and after a change it asks the viewer to
// reload the list (a "framecast:streams-changed" event); the viewer tells it
// the list with a "framecast:streams" event. The key lives in this tab's
// sessionStorage only (credentials.js), never in a URL the page shows.

import { forgetKey, rememberKey, storedKey } from './credentials.js';

const bar = document.querySelector('header.bar');
const panel = document.createElement('div');
panel.className = 'manage';
panel.innerHTML = `
  <span class="m-mode" role="status" aria-live="polite"></span>
  <form class="m-unlock" hidden>
    <label>API key <input type="password" name="key" autocomplete="off" required minlength="16" maxlength="256"></label>
    <button type="submit">Unlock</button>
  </form>
  <button type="button" class="m-add" hidden>Add stream</button>
  <button type="button" class="m-lock" hidden>Lock</button>`;
bar.append(panel);

const dialog = document.createElement('dialog');
dialog.className = 'm-dialog';
dialog.innerHTML = `
  <form method="dialog" class="m-form">
    <h2 class="m-title"></h2>
    <label>Id <input name="id" required pattern="[A-Za-z0-9._\\-]{1,63}" autocomplete="off"></label>
    <label>Source <input name="spec" required placeholder="synthetic:procedural,size=640x360" autocomplete="off"></label>
    <label>Encode fps <input name="encode_fps" type="number" min="0.1" max="240" step="any" placeholder="default"></label>
    <label class="m-check"><input name="detect" type="checkbox"> Face detection</label>
    <label>Detect fps <input name="detect_fps" type="number" min="0.1" max="240" step="any" placeholder="default"></label>
    <fieldset><legend>JPEG quality</legend>
      <label>high <input name="q_high" type="number" min="1" max="100" placeholder="default"></label>
      <label>medium <input name="q_medium" type="number" min="1" max="100" placeholder="default"></label>
      <label>low <input name="q_low" type="number" min="1" max="100" placeholder="default"></label>
    </fieldset>
    <p class="m-error" role="alert"></p>
    <div class="m-buttons">
      <button type="submit" value="save" class="m-save">Save</button>
      <button type="button" class="m-cancel">Cancel</button>
    </div>
  </form>`;
document.body.append(dialog);

const mode = panel.querySelector('.m-mode');
const unlock = panel.querySelector('.m-unlock');
const addButton = panel.querySelector('.m-add');
const lockButton = panel.querySelector('.m-lock');
const form = dialog.querySelector('.m-form');
const formError = dialog.querySelector('.m-error');
const TIERS = ['high', 'medium', 'low'];

let server = null; // GET /api/auth: { key_required, authorized, viewer_tokens, changes }
let editing = false;
let streams = []; // the viewer's latest list
let editingId = null; // the stream the dialog changes; null: a new one

function headers(extra = {}) {
  const key = storedKey();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

// One API call; resolves with { ok, status, json }.
async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(body ? { 'content-type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  let json = null;
  try {
    json = await res.json();
  } catch { /* no JSON body */ }
  return { ok: res.ok, status: res.status, json };
}

function why(r) {
  if (r.status === 401) return 'the key was refused';
  if (r.status === 429) return 'too many failed attempts; wait a few seconds';
  return r.json?.error || `HTTP ${r.status}`;
}

function setMode(on, text) {
  editing = on;
  document.body.classList.toggle('editing', on);
  mode.textContent = text;
  unlock.hidden = on || !server?.key_required || !server?.changes;
  addButton.hidden = !on;
  lockButton.hidden = !on || !server?.key_required;
  decorate();
}

async function check() {
  const r = await api('GET', '/api/auth');
  if (r.status === 401 || r.status === 429) {
    forgetKey();
    server = server || { key_required: true, changes: true };
    setMode(false, `Read-only: ${why(r)}`);
    return;
  }
  server = r.json;
  if (!server || !server.changes) return setMode(false, '');
  if (!server.key_required) return setMode(true, 'Editing (this server needs no key)');
  if (server.authorized) return setMode(true, 'Editing');
  setMode(false, 'Read-only');
}

unlock.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  rememberKey(unlock.elements.key.value.trim());
  unlock.elements.key.value = '';
  await check();
  // Streams that need credentials to be watched can be opened now.
  if (editing) document.dispatchEvent(new CustomEvent('framecast:streams-changed'));
});

lockButton.addEventListener('click', () => {
  forgetKey();
  setMode(false, 'Read-only');
});

// ---- the stream dialog ----

function field(name) {
  return form.elements[name];
}

function openDialog(info) {
  editingId = info ? info.id : null;
  dialog.querySelector('.m-title').textContent = info ? `Edit ${info.id}` : 'Add a stream';
  form.reset();
  formError.textContent = '';
  field('id').readOnly = field('spec').readOnly = Boolean(info);
  if (info) {
    const s = info.settings || {};
    field('id').value = info.id;
    field('spec').value = info.spec || info.source;
    field('encode_fps').value = s.encode_fps ?? '';
    field('detect').checked = s.detect ?? Boolean(info.detection);
    field('detect_fps').value = s.detect_fps ?? '';
    for (const t of TIERS) field(`q_${t}`).value = s.quality?.[t] ?? '';
  }
  dialog.showModal();
}

const numberOrNull = (v) => (v === '' ? null : Number(v));

// The settings as the form has them: an empty field is null (the default).
function settings() {
  const quality = {};
  for (const t of TIERS) quality[t] = numberOrNull(field(`q_${t}`).value);
  return {
    encode_fps: numberOrNull(field('encode_fps').value),
    detect: field('detect').checked,
    detect_fps: numberOrNull(field('detect_fps').value),
    quality,
  };
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = settings();
  let r;
  if (editingId) {
    r = await api('PATCH', `/api/streams/${encodeURIComponent(editingId)}`, body);
  } else {
    // Unset settings are left out: the spec or the server's flags decide.
    for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    for (const t of TIERS) if (body.quality[t] === null) delete body.quality[t];
    if (!body.detect) delete body.detect;
    r = await api('POST', '/api/streams', { id: field('id').value.trim(), spec: field('spec').value.trim(), ...body });
  }
  if (!r.ok) {
    formError.textContent = why(r);
    if (r.status === 401) check();
    return;
  }
  dialog.close();
  document.dispatchEvent(new CustomEvent('framecast:streams-changed'));
});

dialog.querySelector('.m-cancel').addEventListener('click', () => dialog.close());
addButton.addEventListener('click', () => openDialog(null));

async function remove(id, button) {
  if (!confirm(`Remove stream ${id}? Its viewers are disconnected and it is deleted from the server.`)) return;
  button.disabled = true;
  const r = await api('DELETE', `/api/streams/${encodeURIComponent(id)}`);
  button.disabled = false;
  if (!r.ok) {
    alert(`Stream ${id} was not removed: ${why(r)}`);
    if (r.status === 401) check();
    return;
  }
  document.dispatchEvent(new CustomEvent('framecast:streams-changed'));
}

// ---- the tiles ----

// Edit and Remove on every tile of a stream the API added, while editing.
function decorate() {
  for (const tile of document.querySelectorAll('.tile[data-stream]')) {
    const info = streams.find((s) => s.id === tile.dataset.stream);
    let box = tile.querySelector('.m-tile');
    const wanted = editing && info?.origin === 'api';
    if (!wanted) {
      box?.remove();
      continue;
    }
    if (!box) {
      box = document.createElement('span');
      box.className = 'm-tile';
      box.innerHTML = '<button type="button" class="m-edit">Edit</button> <button type="button" class="m-remove">Remove</button>';
      box.querySelector('.m-edit').addEventListener('click', () => openDialog(streams.find((s) => s.id === tile.dataset.stream)));
      const rm = box.querySelector('.m-remove');
      rm.addEventListener('click', () => remove(tile.dataset.stream, rm));
      tile.querySelector('.controls').append(box);
    }
  }
}

document.addEventListener('framecast:streams', (ev) => {
  streams = ev.detail;
  decorate();
});

check();
