// Latent decoder component (Streamlit Custom Components v2, explorer/ui/latent_decoder.py): the UI
// (sliders or a 2-D pad, an image canvas) around the browser model (decoder.js).
//
// Data from Python on every render (data.args; binary payloads as Arrow tables):
//   args      model_id, model (the browser model's export, explorer/logic/browser_model.py:
//             model.decoder is null for a decoder run on the server), z, z_token, mode, dims,
//             value_range, dim_names, points_token, start_label, image_px, server_notice
//   weights   the export's float32 weights, points (x, y float32 pairs), point_labels (int32):
//             each only when this session's browser lacks it; server_image (uint8, C*H*W) with
//             every render that decodes on the server
//   our value (state "value") {z, base: z_token it started from, seq, event, need: [ids]}
//             sent on release, on a button, and when a render lacks weights or points the
//             browser does not hold (its small cache dropped them): "need" makes Python send them.
"use strict";

const LD = window.LatentDecoder, SP = window.LatentCommon;
const MAX_CACHED_MODELS = 4, MAX_CACHED_POINTS = 4, KEEP_STATS = 4000;
const asBytes = SP.asBytes, remember = SP.remember;
// The browser's caches live as long as the page: Python sends each payload once per session.
const models = new Map();   // model_id -> {decoder}    (insertion order = LRU)
const pointSets = new Map(); // points_token -> {xy, labels}
const asker = SP.makeAsker();

function mount(host) {
  let api = null; // the latest render's {setStateValue}
  const S = {
    args: null, structure: "", mode: "sliders", D: 0, dims: [0, 1], range: 3,
    z: [], zToken: null, shape: [1, 1, 1], decoder: null, browser: true,
    points: null, dragging: false, hoverZ: null,
    seq: 0,
  };
  const stats = window.latentDecoderStats = {
    renders: 0, draws: 0, drawLatencyMs: [], frameLatencyMs: [], decodeMs: [],
    valuesSent: 0, lastValue: null, weightBytesReceived: 0, modelsLoaded: 0,
    serverImagesDrawn: 0, firstFrameAt: null, // ms since the epoch: the first decoded image
  };
  window.latentDecoderGetZ = function () { return S.z.slice(); };
  window.latentDecoderRoot = host; // tests read the canvas through it (a shadow root)
  const keep = function (arr, v) { arr.push(v); if (arr.length > KEEP_STATS) arr.shift(); };

  const $ = function (id) { return host.querySelector("#" + id); };
  const el = {
    root: $("root"), notice: $("notice"), image: $("image"), imageStatus: $("image-status"),
    sliders: $("sliders"), padBox: $("pad-box"), pad: $("pad"), readout: $("readout"),
    reset: $("btn-reset"), prior: $("btn-prior"), start: $("btn-start"),
  };
  const cssVar = function (name, fallback) { return SP.cssVar(el.root, name, fallback); };
  const imageCtx = el.image.getContext("2d");
  let imageData = null;

  function sendValue(event, need) {
    S.seq += 1;
    const value = { z: S.z.slice(), base: S.zToken, seq: S.seq, event: event, need: need || [] };
    stats.valuesSent += 1;
    stats.lastValue = value;
    if (api) api.setStateValue("value", value);
  }

  // ---- render from Python --------------------------------------------------------------
  function onRender(data) {
    const args = data.args;
    stats.renders += 1;
    S.args = args;
    SP.setPalette(args.model.palette);
    const need = []; // ids this render lacks

    S.shape = args.model.image_shape;
    S.browser = args.model.decoder != null;
    S.decoder = null;
    if (S.browser) {
      const id = args.model_id;
      if (models.has(id)) {
        const m = models.get(id);
        remember(models, id, m, MAX_CACHED_MODELS);
        S.decoder = m.decoder;
      } else if (asBytes(data.weights)) {
        const bytes = asBytes(data.weights);
        stats.weightBytesReceived += bytes.byteLength;
        try {
          const decoder = LD.readModel(args.model, bytes).decoder;
          remember(models, id, { decoder: decoder }, MAX_CACHED_MODELS);
          stats.modelsLoaded += 1;
          S.decoder = decoder;
        } catch (err) {
          showNotice("Could not read the decoder weights: " + err.message, true);
        }
      } else if (askFor(id)) {
        need.push(id);
      }
    }

    S.points = null;
    if (args.points_token) {
      const tok = args.points_token;
      if (pointSets.has(tok)) {
        S.points = pointSets.get(tok);
      } else if (asBytes(data.points)) {
        const xy = new Float32Array(asBytes(data.points).slice().buffer);
        const lb = asBytes(data.point_labels);
        const labels = lb ? new Int32Array(lb.slice().buffer) : null;
        S.points = { xy: xy, labels: labels };
        remember(pointSets, tok, S.points, MAX_CACHED_POINTS);
      } else if (askFor(tok)) {
        need.push(tok);
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
      drawServerImage(asBytes(data.server_image));
    }
    frames.request();
    if (need.length) sendValue("need", need);
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
  const frames = SP.perFrame(frame);
  function onInput() {
    updateReadout();
    frames.input();
  }

  function frame(since) {
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

  return { render: function (data, setStateValue) { api = { setStateValue: setStateValue }; onRender(data); } };
}

export default SP.component(mount);
