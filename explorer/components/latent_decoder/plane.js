// A latent plane drawn in a component's own 2-D canvas, for both components (latent_canvas's map,
// latent_decoder's pad): the encoded test points, a marker you drag, a dashed ring where the
// pointer hovers (a preview), and a drawing's encoded point with its +-1 and 2 sigma ellipse.
//
// Why a canvas of our own and not Plotly: a drag must redraw at the pointer's rate. The points
// are painted once into an offscreen canvas; a frame is one drawImage plus a few shapes, so
// it costs the same with 2,000 points as with 20.
"use strict";

(function (root) {
  const SP = window.LatentCommon; // common.js: the app's colours, as Python sent them

  function niceStep(span) {
    const raw = span / 6, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }

  function Plane(canvas, handlers) {
    this.canvas = canvas;
    this.handlers = handlers; // {move(x, y), release(x, y)}; optional hover(x, y), leave()
    this.size = 0;
    this.extent = [-3, 3, -3, 3];
    this.points = null;
    this.names = ["z0", "z1"];
    this.marker = [0, 0];
    this.drawn = null; // {x, y, sx, sy} (sx, sy: sigma along the axes, or 0 for a deterministic model)
    this.hover = null; // [x, y] previewed under the pointer, or null
    this.background = null;
    this.dragging = false;
    this._listen();
  }

  Plane.prototype.configure = function (extent, names, points) {
    this.extent = extent;
    this.names = names;
    this.points = points;
    this.background = null;
  };

  Plane.prototype.resize = function (cssSize) {
    const dpr = window.devicePixelRatio || 1;
    this.size = cssSize;
    this.canvas.style.width = this.canvas.style.height = cssSize + "px";
    this.canvas.width = this.canvas.height = Math.round(cssSize * dpr);
    this.background = null;
  };

  Plane.prototype.toPx = function (x, y) {
    const e = this.extent, s = this.size;
    return [(x - e[0]) / (e[1] - e[0]) * s, s - (y - e[2]) / (e[3] - e[2]) * s];
  };

  Plane.prototype.fromPx = function (px, py) {
    const e = this.extent, s = this.size;
    px = Math.min(Math.max(px, 0), s);
    py = Math.min(Math.max(py, 0), s);
    return [e[0] + px / s * (e[1] - e[0]), e[2] + (s - py) / s * (e[3] - e[2])];
  };

  Plane.prototype._eventXY = function (ev) {
    const rect = this.canvas.getBoundingClientRect();
    return this.fromPx((ev.clientX - rect.left) * this.size / rect.width, (ev.clientY - rect.top) * this.size / rect.height);
  };

  Plane.prototype._listen = function () {
    const self = this, c = this.canvas;
    // Press anywhere: the marker jumps under the pointer and follows it until release.
    c.addEventListener("pointerdown", function (ev) {
      if (ev.pointerType === "mouse" && ev.button !== 0) return;
      c.setPointerCapture(ev.pointerId);
      self.dragging = true;
      const xy = self._eventXY(ev);
      self.handlers.move(xy[0], xy[1]);
      ev.preventDefault();
    });
    c.addEventListener("pointermove", function (ev) {
      const xy = self._eventXY(ev);
      if (self.dragging) self.handlers.move(xy[0], xy[1]);
      else if (self.handlers.hover) self.handlers.hover(xy[0], xy[1]);
    });
    c.addEventListener("pointerleave", function () {
      if (!self.dragging && self.handlers.leave) self.handlers.leave();
    });
    function end(ev) {
      if (!self.dragging) return;
      self.dragging = false;
      const xy = self._eventXY(ev);
      self.handlers.release(xy[0], xy[1]);
    }
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
  };

  Plane.prototype._paintBackground = function (css) {
    const c = document.createElement("canvas");
    c.width = this.canvas.width;
    c.height = this.canvas.height;
    const ctx = c.getContext("2d"), s = this.size, e = this.extent;
    ctx.scale(c.width / s, c.height / s);
    ctx.fillStyle = css("--bg2", "#f0f2f6");
    ctx.fillRect(0, 0, s, s);
    ctx.strokeStyle = "rgba(128,128,128,0.5)";
    ctx.lineWidth = 1;
    const step = niceStep(e[1] - e[0]);
    ctx.fillStyle = css("--text", "#31333f");
    ctx.font = "10px " + css("--font", "sans-serif");
    for (let t = Math.ceil(e[0] / step) * step; t <= e[1]; t += step) {
      const p = Math.round(this.toPx(t, 0)[0]) + 0.5;
      ctx.globalAlpha = Math.abs(t) < step / 2 ? 0.9 : 0.3;
      ctx.beginPath(); ctx.moveTo(p, 0); ctx.lineTo(p, s); ctx.stroke();
      ctx.globalAlpha = 0.7; ctx.fillText(+t.toFixed(6) + "", p + 2, s - 3);
    }
    for (let t = Math.ceil(e[2] / step) * step; t <= e[3]; t += step) {
      const p = Math.round(this.toPx(0, t)[1]) + 0.5;
      ctx.globalAlpha = Math.abs(t) < step / 2 ? 0.9 : 0.3;
      ctx.beginPath(); ctx.moveTo(0, p); ctx.lineTo(s, p); ctx.stroke();
      ctx.globalAlpha = 0.7; ctx.fillText(+t.toFixed(6) + "", 2, p - 2);
    }
    ctx.globalAlpha = 1;
    if (this.points) {
      const xy = this.points.xy, labels = this.points.labels, n = xy.length >> 1;
      ctx.globalAlpha = 0.6;
      for (let i = 0; i < n; i++) {
        const lab = labels ? labels[i] : -1;
        ctx.fillStyle = SP.classColor(lab);
        const p = this.toPx(xy[2 * i], xy[2 * i + 1]);
        ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
      }
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = css("--text", "#31333f");
    ctx.font = "bold 12px " + css("--font", "sans-serif");
    ctx.fillText(this.names[0] + " \u2192", s - 44, s - 16);
    ctx.save();
    ctx.translate(14, 50); ctx.rotate(-Math.PI / 2);
    ctx.fillText(this.names[1] + " \u2192", 0, 0);
    ctx.restore();
    return c;
  };

  // One frame: the cached points, then the drawing's point and ellipses, then the marker.
  Plane.prototype.render = function (css) {
    if (!this.size) return;
    if (!this.background) this.background = this._paintBackground(css);
    const ctx = this.canvas.getContext("2d"), s = this.size;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.background, 0, 0);
    ctx.scale(this.canvas.width / s, this.canvas.height / s);
    const d = this.drawn;
    if (d) {
      const p = this.toPx(d.x, d.y);
      const kx = s / (this.extent[1] - this.extent[0]), ky = s / (this.extent[3] - this.extent[2]);
      if (d.sx > 0 && d.sy > 0) {
        ctx.strokeStyle = SP.palette().your_image.line;
        ctx.fillStyle = SP.palette().your_image.fill;
        ctx.globalAlpha = 1;
        for (const k of [2, 1]) {
          ctx.setLineDash(k === 2 ? [4, 3] : []);
          ctx.lineWidth = k === 1 ? 2 : 1.25;
          ctx.beginPath();
          ctx.ellipse(p[0], p[1], Math.max(1, k * d.sx * kx), Math.max(1, k * d.sy * ky), 0, 0, 2 * Math.PI);
          if (k === 1) { ctx.globalAlpha = 0.25; ctx.fill(); ctx.globalAlpha = 1; }
          ctx.stroke();
        }
        ctx.setLineDash([]);
      }
    }
    if (this.hover) {
      const h = this.toPx(this.hover[0], this.hover[1]);
      ctx.strokeStyle = css("--primary", "#ff4b4b");
      ctx.globalAlpha = 0.6;
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.arc(h[0], h[1], 6, 0, 2 * Math.PI); ctx.stroke();
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
    }
    const m = this.toPx(this.marker[0], this.marker[1]);
    ctx.fillStyle = css("--primary", "#ff4b4b");
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(m[0], m[1], 7, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    // The star goes on top: right after a stroke the marker sits on it and would hide it.
    const mine = SP.palette().your_image;
    if (d) { const p = this.toPx(d.x, d.y); star(ctx, p[0], p[1], 9, mine.fill, mine.line); }
  };

  function star(ctx, x, y, r, fill, line) {
    ctx.beginPath();
    for (let i = 0; i < 10; i++) {
      const a = -Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? r * 0.45 : r;
      ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath();
    ctx.fillStyle = fill; ctx.strokeStyle = line; ctx.lineWidth = 1.25;
    ctx.fill(); ctx.stroke();
  }

  root.LatentPlane = { Plane: Plane, niceStep: niceStep };
})(window);
