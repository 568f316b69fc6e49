// What the page proves about itself to the server (docs/api.md): the API
// key, kept in this tab's sessionStorage once entered (manage.js), and a
// viewer token given in the page's own URL (`/?token=TOKEN`, a link shared
// with someone who may watch one stream).

const STORE = 'framecast.key';

export function storedKey() {
  try {
    return sessionStorage.getItem(STORE) || '';
  } catch {
    return ''; // storage disabled: nothing remembered
  }
}

export function rememberKey(key) {
  try {
    sessionStorage.setItem(STORE, key);
  } catch { /* storage disabled: the key lasts until the page reloads */ }
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(STORE);
  } catch { /* nothing was kept */ }
}

// The query options that let this page watch stream `id` when the server
// requires viewer tokens: the page's token if it is for that stream, else
// the key if one was entered. "" when there is neither.
export function viewerQuery(id) {
  const token = new URLSearchParams(location.search).get('token');
  if (token && token.split('~')[1] === id) return `&token=${encodeURIComponent(token)}`;
  const key = storedKey();
  return key ? `&key=${encodeURIComponent(key)}` : '';
}
