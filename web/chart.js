// A minute of per-second samples (fps and latency) drawn as two lines on a
// small canvas. Each line has its own scale; the current maximum of each is
// written next to it, so the chart needs no axes.

export const CHART_SECONDS = 60;

export class Chart {
  constructor(canvas) {
    this.canvas = canvas;
    this.samples = []; // { fps, latencyMs } once a second; null values are gaps
    // Redraw at the new size right away when a tile is enlarged or the window
    // changes, rather than showing a stretched chart until the next sample.
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  push(sample) {
    this.samples.push(sample);
    if (this.samples.length > CHART_SECONDS) this.samples.shift();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    const fpsMax = niceMax(this.samples.map((s) => s.fps));
    const latMax = niceMax(this.samples.map((s) => s.latencyMs));
    const pad = 2 * dpr;
    this.line(ctx, 'fps', fpsMax, styleVar('--fps'), w, h, pad);
    this.line(ctx, 'latencyMs', latMax, styleVar('--lat'), w, h, pad);
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillStyle = styleVar('--fps');
    ctx.fillText(`${fpsMax} fps`, pad, pad);
    ctx.fillStyle = styleVar('--lat');
    const label = `${latMax} ms`;
    ctx.fillText(label, w - pad - ctx.measureText(label).width, pad);
    c.setAttribute('aria-label', this.describe());
  }

  line(ctx, key, max, color, w, h, pad) {
    const step = (w - 2 * pad) / (CHART_SECONDS - 1);
    const x0 = w - pad - (this.samples.length - 1) * step;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
    ctx.beginPath();
    let pen = false;
    this.samples.forEach((s, i) => {
      const v = s[key];
      if (v == null) {
        pen = false;
        return;
      }
      const x = x0 + i * step;
      const y = h - pad - (Math.min(v, max) / max) * (h - 2 * pad);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
  }

  // The same facts as text, for screen readers.
  describe() {
    const last = this.samples.at(-1);
    if (!last || last.fps == null) return 'fps and latency over the last minute: no data';
    const lat = last.latencyMs == null ? 'no latency' : `${Math.round(last.latencyMs)} ms latency`;
    return `fps and latency over the last minute; now ${last.fps.toFixed(1)} fps, ${lat}`;
  }
}

// A round upper bound for the scale, so the labels stay readable.
function niceMax(values) {
  const m = Math.max(0, ...values.filter((v) => v != null));
  if (m <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(m));
  for (const f of [1, 2, 5, 10]) if (m <= f * p) return f * p;
  return 10 * p;
}

function styleVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#ccc';
}
