// The drawing pad: strokes (pen / eraser) with undo and clear, rasterised into a fixed-size ink
// grid, and fitLikeMnist(), which turns the ink into the image a digit model reads.
//
// fitLikeMnist runs the steps of explorer/logic/drawing.py:fit_like_mnist (which fits uploads
// too) with its settings, drawing.FIT, as they arrive in the browser model's export. It is pure
// (no DOM): the tests load this file alone in Chromium and compare the two.
"use strict";

(function (root) {
  // The ink grid is 280 x 280 whatever the screen's devicePixelRatio: the model image is made
  // from it, so a drawing encodes the same on a phone and on a desktop.
  const INK_SIZE = 280;
  const PEN_WIDTH = 0.08;    // fraction of the pad: about MNIST's stroke once fitted in 20 px
  const ERASER_WIDTH = 0.16;

  // MNIST: size-normalise to fit a box x box square (20 of 28) keeping the aspect ratio,
  // anti-aliased, then place by the centre of mass at the centre of the frame.
  // fit: {ink_threshold, box_fraction, full_frame_below} (drawing.FIT).
  function boxFor(outH, outW, fit) {
    const m = Math.min(outH, outW);
    return m >= fit.full_frame_below ? Math.round(fit.box_fraction * m) : m; // small frames: the whole frame
  }

  function roundHalfUp(x) { return Math.floor(x + 0.5); } // numpy's round is half-to-even: avoid both

  // Area-average resampling weights along one axis: n source cells onto m target cells.
  // Target j covers [j n/m, (j+1) n/m); source k contributes its overlap, normalised.
  function areaWeights(n, m) {
    const rows = [];
    const step = n / m;
    for (let j = 0; j < m; j++) {
      const a = j * step, b = (j + 1) * step;
      const k0 = Math.floor(a), k1 = Math.min(n - 1, Math.ceil(b) - 1);
      const idx = [], w = [];
      for (let k = k0; k <= k1; k++) {
        const overlap = Math.min(b, k + 1) - Math.max(a, k);
        if (overlap > 0) { idx.push(k); w.push(overlap / step); }
      }
      rows.push({ idx: idx, w: w });
    }
    return rows;
  }

  // ink: inkH*inkW values in [0, 1] (row-major). Returns Float32Array(outH*outW), all 0 when
  // nothing is drawn, and (for the tests) where the strokes went: {image, box, offset, com}.
  function fitLikeMnist(ink, inkH, inkW, outH, outW, fit) {
    const image = new Float32Array(outH * outW);
    let brightest = 0;
    for (let p = 0; p < inkH * inkW; p++) if (ink[p] > brightest) brightest = ink[p];
    if (!(brightest > 0)) return { image: image, empty: true };
    const threshold = fit.ink_threshold * brightest; // fainter pixels do not count for the box
    let r0 = inkH, r1 = -1, c0 = inkW, c1 = -1;
    for (let r = 0; r < inkH; r++) {
      for (let c = 0; c < inkW; c++) {
        if (ink[r * inkW + c] > threshold) {
          if (r < r0) r0 = r; if (r > r1) r1 = r;
          if (c < c0) c0 = c; if (c > c1) c1 = c;
        }
      }
    }
    if (r1 < 0) return { image: image, empty: true };
    const h = r1 - r0 + 1, w = c1 - c0 + 1;
    const scale = boxFor(outH, outW, fit) / Math.max(h, w);
    const nh = Math.max(1, Math.min(outH, roundHalfUp(h * scale)));
    const nw = Math.max(1, Math.min(outW, roundHalfUp(w * scale)));
    const wy = areaWeights(h, nh), wx = areaWeights(w, nw);
    // Separable: rows first (h x w -> nh x w), then columns (-> nh x nw), in float64.
    const tmp = new Float64Array(nh * w);
    for (let i = 0; i < nh; i++) {
      const ry = wy[i];
      for (let t = 0; t < ry.idx.length; t++) {
        const src = (r0 + ry.idx[t]) * inkW + c0, wt = ry.w[t];
        for (let c = 0; c < w; c++) tmp[i * w + c] += wt * ink[src + c];
      }
    }
    const small = new Float64Array(nh * nw);
    let total = 0, sy = 0, sx = 0;
    for (let i = 0; i < nh; i++) {
      for (let j = 0; j < nw; j++) {
        const cx = wx[j];
        let s = 0;
        for (let t = 0; t < cx.idx.length; t++) s += cx.w[t] * tmp[i * w + cx.idx[t]];
        small[i * nw + j] = s;
        total += s; sy += i * s; sx += j * s;
      }
    }
    const cy = total > 0 ? sy / total : (nh - 1) / 2;
    const cx = total > 0 ? sx / total : (nw - 1) / 2;
    const y0 = Math.min(Math.max(roundHalfUp((outH - 1) / 2 - cy), 0), outH - nh);
    const x0 = Math.min(Math.max(roundHalfUp((outW - 1) / 2 - cx), 0), outW - nw);
    for (let i = 0; i < nh; i++) {
      for (let j = 0; j < nw; j++) {
        const v = small[i * nw + j];
        image[(y0 + i) * outW + x0 + j] = v < 0 ? 0 : (v > 1 ? 1 : v);
      }
    }
    return { image: image, empty: false, size: [nh, nw], offset: [y0, x0], com: [cy, cx] };
  }

  // ---- the pad (DOM) -------------------------------------------------------------------
  // Strokes are kept as vectors in pad units [0, 1]: the visible canvas is redrawn sharp at
  // any devicePixelRatio, the ink grid at its fixed size, and undo just replays the list.
  function Pad(canvas, onChange) {
    this.canvas = canvas;
    this.onChange = onChange;
    this.strokes = [];
    this.current = null;
    this.tool = "pen";
    this.enabled = true;
    this.ink = document.createElement("canvas");
    this.ink.width = this.ink.height = INK_SIZE;
    this.inkCtx = this.ink.getContext("2d", { willReadFrequently: true });
    this.inkValues = new Float32Array(INK_SIZE * INK_SIZE);
    this.cssSize = 0;
    this._listen();
  }

  Pad.prototype.resize = function (cssSize) {
    const dpr = window.devicePixelRatio || 1;
    this.cssSize = cssSize;
    this.canvas.style.width = this.canvas.style.height = cssSize + "px";
    this.canvas.width = this.canvas.height = Math.round(cssSize * dpr);
    this.redraw();
  };

  Pad.prototype._point = function (ev) {
    const rect = this.canvas.getBoundingClientRect();
    return [(ev.clientX - rect.left) / rect.width, (ev.clientY - rect.top) / rect.height];
  };

  Pad.prototype._listen = function () {
    const self = this, c = this.canvas;
    c.addEventListener("pointerdown", function (ev) {
      if (!self.enabled || (ev.pointerType === "mouse" && ev.button !== 0)) return;
      c.setPointerCapture(ev.pointerId);
      self.current = { tool: self.tool, points: [self._point(ev)] };
      self.strokes.push(self.current);
      self._paintSegment(self.current, 0);
      self.onChange("stroke");
      ev.preventDefault();
    });
    c.addEventListener("pointermove", function (ev) {
      if (!self.current) return;
      // Coalesced events: every sample the pointer gave since the last frame, so fast
      // strokes stay smooth curves instead of straight chords.
      const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
      for (const e of (events.length ? events : [ev])) {
        self.current.points.push(self._point(e));
        self._paintSegment(self.current, self.current.points.length - 2);
      }
      self.onChange("stroke");
    });
    function end() { if (self.current) { self.current = null; self.onChange("end"); } }
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
  };

  function strokeStyle(ctx, stroke, size) {
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = (stroke.tool === "eraser" ? ERASER_WIDTH : PEN_WIDTH) * size;
    // The eraser removes ink (alpha) instead of painting black over it.
    ctx.globalCompositeOperation = stroke.tool === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = "#fff";
  }

  function paint(ctx, stroke, from, size, to) {
    const p = stroke.points, end = to || p.length;
    strokeStyle(ctx, stroke, size);
    if (p.length === 1 || from < 0) {
      ctx.beginPath();
      ctx.arc(p[0][0] * size, p[0][1] * size, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      if (p.length === 1) return;
      from = 0;
    }
    ctx.beginPath();
    ctx.moveTo(p[from][0] * size, p[from][1] * size);
    for (let i = from + 1; i < end; i++) ctx.lineTo(p[i][0] * size, p[i][1] * size);
    ctx.stroke();
  }

  // Replay a stroke exactly as it was painted live (a dot, then one segment at a time: the
  // anti-aliased overlaps differ from one long path), so undo restores the very same ink.
  function replay(ctx, stroke, size) {
    const one = { tool: stroke.tool, points: stroke.points.slice(0, 1) };
    paint(ctx, one, -1, size);
    for (let i = 1; i < stroke.points.length; i++) paint(ctx, stroke, i - 1, size, i + 1);
  }

  // Paint only the newest segment on both canvases: a frame costs O(1), not O(strokes).
  Pad.prototype._paintSegment = function (stroke, from) {
    paint(this._visibleCtx(), stroke, from === 0 && stroke.points.length === 1 ? -1 : from, this.canvas.width);
    paint(this.inkCtx, stroke, from === 0 && stroke.points.length === 1 ? -1 : from, INK_SIZE);
  };

  Pad.prototype._visibleCtx = function () {
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    return ctx;
  };

  Pad.prototype.redraw = function () {
    const v = this._visibleCtx();
    v.globalCompositeOperation = "source-over";
    v.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.inkCtx.globalCompositeOperation = "source-over";
    this.inkCtx.clearRect(0, 0, INK_SIZE, INK_SIZE);
    for (const s of this.strokes) {
      replay(v, s, this.canvas.width);
      replay(this.inkCtx, s, INK_SIZE);
    }
  };

  Pad.prototype.undo = function () {
    if (!this.strokes.length) return false;
    this.strokes.pop();
    this.current = null;
    this.redraw();
    return true;
  };

  Pad.prototype.clear = function () {
    this.strokes = [];
    this.current = null;
    this.redraw();
  };

  Pad.prototype.isEmpty = function () {
    return !this.strokes.some(function (s) { return s.tool === "pen"; });
  };

  // The ink as values in [0, 1] (alpha: white strokes on a transparent grid).
  Pad.prototype.readInk = function () {
    const d = this.inkCtx.getImageData(0, 0, INK_SIZE, INK_SIZE).data;
    const out = this.inkValues;
    for (let p = 0; p < out.length; p++) out[p] = d[4 * p + 3] / 255;
    return out;
  };

  root.LatentDraw = {
    INK_SIZE: INK_SIZE, boxFor: boxFor, areaWeights: areaWeights,
    fitLikeMnist: fitLikeMnist, Pad: Pad,
  };
})(typeof window !== "undefined" ? window : globalThis);
