// Latent decoder component: the Streamlit side of the wire (components v1 iframe protocol,
// written by hand: no npm, no build step) and the UI (sliders or a 2-D pad, an image canvas).
//
// Protocol (see explorer/ui/latent_decoder.py):
//   render args  model_id, model (the browser model's export, explorer/logic/browser_model.py:
//                model.decoder is null for a decoder run on the server), weights (bytes, only
//                until we report having them), z, z_token, mode, dims, value_range, dim_names,
//                points (bytes) + points_token, point_labels (bytes), server_image (bytes),
//                start_label, height
//   our value    {z, base: z_token it started from, have: [cached ids], seq, event}
//                sent on release, on a button, and once when new weights/points arrive
//                ("loaded") or are missing ("need"), so Python stops or starts sending them.
"use strict";

(function () {
  const LD = window.LatentDecoder;
  const MAX_CACHED_MODELS = 4, MAX_CACHED_POINTS = 4, KEEP_STATS = 4000;

  // ---- Streamlit component protocol (apiVersion 1): protocol.js, shared with latent_canvas
  const SP = window.StreamlitProtocol;
  const setComponentValue = SP.setComponentValue, asBytes = SP.asBytes, applyTheme = SP.applyTheme;
  const remember = SP.remember, cssVar = SP.cssVar;

  // ---- state ---------------------------------------------------------------------------
  const models = new Map();   // model_id -> {decoder, shape}    (insertion order = LRU)
  const pointSets = new Map(); // points_token -> {xy, labels}
  const asker = SP.makeAsker();
  const S = {
    args: null, structure: "", mode: "sliders", D: 0, dims: [0, 1], range: 3,
    z: [], zToken: null, shape: [1, 1, 1], decoder: null, browser: true,
    points: null, dragging: false, hoverZ: null, pendingSince: null, frameQueued: false,
    seq: 0,
  };
  const stats = window.latentDecoderStats = {
    renders: 0, draws: 0, drawLatencyMs: [], frameLatencyMs: [], decodeMs: [],
    valuesSent: 0, lastValue: null, weightBytesReceived: 0, modelsLoaded: 0,
    serverImagesDrawn: 0, firstFrameAt: null, // ms since the epoch: the first decoded image
  };
  window.latentDecoderGetZ = function () { return S.z.slice(); };
  const keep = function (arr, v) { arr.push(v); if (arr.length > KEEP_STATS) arr.shift(); };

  const el = {
    root: document.getElementById("root"),
    notice: document.getElementById("notice"),
    image: document.getElementById("image"),
    imageStatus: document.getElementById("image-status"),
    sliders: document.getElementById("sliders"),
    padBox: document.getElementById("pad-box"),
    pad: document.getElementById("pad"),
    readout: document.getElementById("readout"),
    reset: document.getElementById("btn-reset"),
    prior: document.getElementById("btn-prior"),
    start: document.getElementById("btn-start"),
  };
  const imageCtx = el.image.getContext("2d");
  let imageData = null;

  function haveList() { return Array.from(models.keys()).concat(Array.from(pointSets.keys())); }

  function sendValue(event) {
    S.seq += 1;
    const value = { z: S.z.slice(), base: S.zToken, have: haveList(), seq: S.seq, event: event };
    stats.valuesSent += 1;
    stats.lastValue = value;
    setComponentValue(value);
  }

  // ---- render from Python --------------------------------------------------------------
  function onRender(args, theme) {
    stats.renders += 1;
    S.args = args;
    applyTheme(theme);
    SP.setPalette(args.model.palette);
    let asked = null; // "loaded" or "need"

    S.shape = args.model.image_shape;
    S.browser = args.model.decoder != null;
    S.decoder = null;
    if (S.browser) {
      const id = args.model_id;
      if (models.has(id)) {
        const m = models.get(id);
        remember(models, id, m, MAX_CACHED_MODELS);
        S.decoder = m.decoder;
      } else if (asBytes(args.weights)) {
        const bytes = asBytes(args.weights);
        stats.weightBytesReceived += bytes.byteLength;
        try {
          const decoder = LD.readModel(args.model, bytes).decoder;
          remember(models, id, { decoder: decoder }, MAX_CACHED_MODELS);
          stats.modelsLoaded += 1;
          S.decoder = decoder;
          asked = "loaded";
        } catch (err) {
          showNotice("Could not read the decoder weights: " + err.message, true);
        }
      } else {
        asked = askFor(id) ? "need" : asked;
      }
    }

    S.points = null;
    if (args.points_token) {
      const tok = args.points_token;
      if (pointSets.has(tok)) {
        S.points = pointSets.get(tok);
      } else if (asBytes(args.points)) {
        const xy = new Float32Array(asBytes(args.points).slice().buffer);
        const lb = asBytes(args.point_labels);
        const labels = lb ? new Int32Array(lb.slice().buffer) : null;
        S.points = { xy: xy, labels: labels };
        remember(pointSets, tok, S.points, MAX_CACHED_POINTS);
        asked = asked || "loaded";
      } else if (askFor(tok)) {
        asked = "need";
      }
    }

    const structure = JSON.stringify([args.mode, args.z.length, args.dims, args.value_range,
                                      args.dim_names, args.model.image_shape, args.start_label,
                                      args.image_px, args.model.palette]);
    if (structure !== S.structure) { S.structure = structure; build(args); }
    if (args.z_token !== S.zToken) {
      S.zToken = args.z_token;
      S.z = args.z.slice();
      S.hoverZ = null;
      syncControls();
    }
    if (S.mode === "pad") {
      plane.configure([-S.range, S.range, -S.range, S.range], [dimName(S.dims[0]), dimName(S.dims[1])], S.points);
    }

    // Notices
    if (!S.browser) {
      showNotice(args.server_notice, false);
    } else if (!S.decoder) {
      showNotice("Loading the decoder's weights\u2026", false);
    } else {
      hideNotice();
    }
    if (S.browser) {
      el.imageStatus.textContent = "";
    } else {
      drawServerImage(asBytes(args.server_image));
    }
    requestFrame();
    if (asked) sendValue(asked);
    fitHeight();
  }

  // Ask Python for an id we lack (at most once per 3 s, three times: SP.makeAsker).
  function askFor(id) {
    const answer = asker(id);
    if (answer === "gave up") { showNotice("The server did not send the data for " + id + ".", true); return false; }
    return answer;
  }

  function showNotice(text, isError) {
    el.notice.textContent = text || "";
    el.notice.hidden = !text;
    el.notice.className = isError ? "notice error" : "notice";
  }
  function hideNotice() { el.notice.hidden = true; }

  // ---- building the controls -----------------------------------------------------------
  function build(args) {
    S.mode = args.mode;
    S.D = args.z.length;
    S.dims = args.dims;
    S.range = args.value_range;
    const C = args.model.image_shape[0], H = args.model.image_shape[1], W = args.model.image_shape[2];
    const scale = Math.max(1, Math.floor(args.image_px / Math.max(H, W)));
    el.image.width = W;
    el.image.height = H;
    el.image.style.width = W * scale + "px";
    el.image.style.height = H * scale + "px";
    imageData = imageCtx.createImageData(W, H);
    el.root.dataset.channels = String(C);
    el.start.textContent = args.start_label;

    el.sliders.textContent = "";
    el.sliders.hidden = S.mode !== "sliders";
    el.padBox.hidden = S.mode !== "pad";
    el.root.dataset.mode = S.mode;
    if (S.mode === "sliders") buildSliders(args);
    else buildPad(args);
  }

  function dimName(d) {
    const names = S.args.dim_names;
    return names && names[d] != null ? String(names[d]) : "z" + d;
  }

  function buildSliders(args) {
    const R = S.range;
    for (let d = 0; d < S.D; d++) {
      const row = document.createElement("label");
      row.className = "slider-row";
      const name = document.createElement("span");
      name.className = "dim-name";
      name.textContent = dimName(d);
      const input = document.createElement("input");
      input.type = "range";
      input.min = String(-R);
      input.max = String(R);
      input.step = String(R / 500);
      input.dataset.dim = String(d);
      const out = document.createElement("output");
      out.className = "dim-value";
      input.addEventListener("pointerdown", function () { S.dragging = true; });
      input.addEventListener("input", function () {
        S.z[d] = Number(input.value);
        out.textContent = fmt(S.z[d]);
        onInput();
      });
      // "change" fires once on release (and on keyboard steps): then Python hears about it.
      input.addEventListener("change", function () { S.dragging = false; release(); });
      row.appendChild(name);
      row.appendChild(input);
      row.appendChild(out);
      el.sliders.appendChild(row);
    }
  }

  function fmt(v) { return (v >= 0 ? "\u2007" : "") + v.toFixed(2); }
  function syncControls() {
    if (S.mode === "sliders") {
      const inputs = el.sliders.querySelectorAll("input");
      inputs.forEach(function (input) {
        const d = Number(input.dataset.dim);
        input.value = String(S.z[d]);
        input.nextSibling.textContent = fmt(S.z[d]);
      });
    }
    updateReadout();
  }

  function updateReadout() {
    if (S.mode !== "pad") { el.readout.textContent = ""; return; }
    const z = S.hoverZ || S.z;
    const a = S.dims[0], b = S.dims[1];
    let text = dimName(a) + " = " + z[a].toFixed(2) + ", " + dimName(b) + " = " + z[b].toFixed(2);
    if (S.D > 2) text += "  (other " + (S.D - 2) + " dims fixed)";
    if (S.hoverZ) text += "  \u2014 preview";
    el.readout.textContent = text;
  }

  // ---- the pad: a latent plane (plane.js, shared with latent_canvas's map) ---------------
  const plane = new window.LatentPlane.Plane(el.pad, {
    move: function (x, y) { S.dragging = true; S.hoverZ = null; S.z = onPlane(S.z, x, y); onInput(); },
    release: function (x, y) { S.z = onPlane(S.z, x, y); release(); },
    hover: function (x, y) { S.hoverZ = onPlane(S.z, x, y); onInput(); }, // previews without moving the marker
    leave: function () { if (S.hoverZ) { S.hoverZ = null; onInput(); } },
  });
  function onPlane(z, x, y) { const out = z.slice(); out[S.dims[0]] = x; out[S.dims[1]] = y; return out; }

  function buildPad(args) {
    plane.resize(args.image_px + 40);
  }

  function drawPad() {
    const a = S.dims[0], b = S.dims[1];
    plane.marker = [S.z[a], S.z[b]];
    plane.hover = S.hoverZ ? [S.hoverZ[a], S.hoverZ[b]] : null;
    plane.render(cssVar);
  }

  // ---- buttons -------------------------------------------------------------------------
  function randn() {
    let u = 0, v = 0;
    while (u === 0) u = Math.random();
    while (v === 0) v = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  function jumpTo(z) {
    S.z = z;
    S.hoverZ = null;
    syncControls();
    onInput();
    release("button");
  }
  el.reset.addEventListener("click", function () { jumpTo(S.z.map(function () { return 0; })); });
  el.prior.addEventListener("click", function () { jumpTo(S.z.map(randn)); });
  el.start.addEventListener("click", function () { if (S.args) jumpTo(S.args.z.slice()); });

  // ---- decode + draw, at most once per animation frame ---------------------------------
  function onInput() {
    if (S.pendingSince === null) S.pendingSince = performance.now();
    updateReadout();
    requestFrame();
  }

  function requestFrame() {
    if (S.frameQueued) return;
    S.frameQueued = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    S.frameQueued = false;
    const since = S.pendingSince;
    S.pendingSince = null;
    if (S.mode === "pad") drawPad();
    if (S.browser && S.decoder) {
      const t0 = performance.now();
      const flat = S.decoder.decode(S.hoverZ || S.z);
      LD.toRGBA(flat, S.shape, imageData.data);
      imageCtx.putImageData(imageData, 0, 0);
      const t1 = performance.now();
      stats.draws += 1;
      if (stats.firstFrameAt === null) stats.firstFrameAt = performance.timeOrigin + performance.now();
      keep(stats.decodeMs, t1 - t0);
      if (since !== null) {
        keep(stats.drawLatencyMs, t1 - since);
        // The next frame's callback runs once the frame holding this draw was produced.
        requestAnimationFrame(function () { keep(stats.frameLatencyMs, performance.now() - since); });
      }
      el.image.classList.remove("stale");
    } else if (!S.browser && since !== null) {
      el.image.classList.add("stale");
      el.imageStatus.textContent = "release to decode on the server";
    }
  }

  function release(event) {
    S.dragging = false;
    if (!S.browser) {
      el.image.classList.add("stale");
      el.imageStatus.textContent = "decoding on the server\u2026";
    }
    sendValue(event || "release");
  }

  function drawServerImage(bytes) {
    if (!bytes || !imageData) {
      el.imageStatus.textContent = bytes ? "" : "no image";
      return;
    }
    const C = S.shape[0], P = S.shape[1] * S.shape[2];
    const d = imageData.data;
    for (let p = 0; p < P; p++) {
      const r = bytes[p], g = C === 3 ? bytes[P + p] : r, b = C === 3 ? bytes[2 * P + p] : r;
      d[4 * p] = r; d[4 * p + 1] = g; d[4 * p + 2] = b; d[4 * p + 3] = 255;
    }
    imageCtx.putImageData(imageData, 0, 0);
    stats.serverImagesDrawn += 1;
    el.image.classList.remove("stale");
    el.imageStatus.textContent = "";
  }

  function fitHeight() { SP.fitHeight(S.args && S.args.height); }

  window.addEventListener("resize", function () { if (!(S.args && S.args.height)) fitHeight(); });
  SP.start(onRender);
})();
