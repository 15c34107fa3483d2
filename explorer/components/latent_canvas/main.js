// latent_canvas component (Streamlit Custom Components v2, explorer/ui/latent_canvas.py): draw a
// digit (encoded in the browser), see its point and ellipse on the latent map, drag the marker on
// the map, and watch decode(z) follow, all without a server round trip. Python hears back on a
// map release and when "Use my drawing" is pressed.
//
// Data from Python on every render (data.args; binary payloads as Arrow tables):
//   args      model_id, model (the browser model's export: explorer/logic/browser_model.py, read
//             by decoder.js), z, z_token, dims, extent, dim_names, points_token, draw_note (why
//             drawing is off, or null), map_px, show_drawing
//   weights   the export's weights (encoder then decoder), points (x, y float32 pairs),
//             point_labels (int32): each only when this session's browser lacks it
//   our value (state "value") {z, base, seq, event, need: [ids], drawing (flat image last
//             sent, or null), drawing_seq, drawing_mean, drawing_logvar}
"use strict";

const SP = window.LatentCommon, LD = window.LatentDecoder, DR = window.LatentDraw;
const MAX_CACHED = 4, KEEP_STATS = 4000;
// The browser's caches live as long as the page: Python sends each payload once per session.
const models = new Map(), pointSets = new Map(), askFor = SP.makeAsker();

function mount(host) {
  let api = null; // the latest render's {setStateValue}
  const S = {
    args: null, structure: "", D: 0, dims: [0, 1], z: [], zToken: null, shape: [1, 28, 28],
    net: null, drawOn: false, inkDirty: false, mean: null, logvar: null, modelImage: null,
    empty: true, seq: 0, sent: null, sentSeq: 0,
  };
  const stats = window.latentCanvasStats = {
    renders: 0, frames: 0, encodes: 0, decodes: 0, strokeEvents: 0, mapMoves: 0,
    encodeMs: [], decodeMs: [], frameLatencyMs: [], valuesSent: 0, lastValue: null,
    weightBytesReceived: 0, modelsLoaded: 0, firstFrameAt: null, // ms since the epoch: the first decoded image
  };
  const $ = function (id) { return host.querySelector("#" + id); };
  const el = {
    notice: $("notice"), drawPanel: $("draw-panel"), drawOff: $("draw-off"), tools: $("draw-tools"),
    send: $("btn-send"), undo: $("btn-undo"), clear: $("btn-clear"), pen: $("tool-pen"), eraser: $("tool-eraser"),
    modelInput: $("model-input"), decoded: $("decoded"), readout: $("readout"), legend: $("legend"),
    sendStatus: $("send-status"),
  };
  function keep(arr, v) { arr.push(v); if (arr.length > KEEP_STATS) arr.shift(); }
  const css = function (name, fallback) { return SP.cssVar($("root"), name, fallback); };

  const pad = new DR.Pad($("draw"), function (what) {
    if (what === "stroke") { stats.strokeEvents += 1; S.inkDirty = true; onInput(); }
    updateButtons();
  });
  const plane = new window.LatentPlane.Plane($("map"), {
    move: function (x, y) { stats.mapMoves += 1; setDims(x, y); onInput(); },
    release: function (x, y) { setDims(x, y); onInput(); sendValue("release"); },
  });
  function setDims(x, y) { S.z[S.dims[0]] = x; S.z[S.dims[1]] = y; }

  // Test and benchmark hooks: the state on screen, and the ink grid the model image came from.
  window.latentCanvasState = function () {
    return { z: S.z.slice(), mean: S.mean && Array.from(S.mean), logvar: S.logvar && Array.from(S.logvar),
             modelImage: S.modelImage && Array.from(S.modelImage), empty: S.empty, strokes: pad.strokes.length,
             drawOn: S.drawOn, loaded: !!S.net };
  };
  window.latentCanvasInk = function () { return Array.from(pad.readInk()); };
  window.latentCanvasRoot = host; // tests reach the canvases through it (a shadow root)

  function sendValue(event, need) {
    S.seq += 1;
    const value = { z: S.z.slice(), base: S.zToken, seq: S.seq, event: event, need: need || [],
                    drawing: S.sent ? S.sent.image : null, drawing_seq: S.sentSeq,
                    drawing_mean: S.sent ? S.sent.mean : null, drawing_logvar: S.sent ? S.sent.logvar : null };
    stats.valuesSent += 1;
    stats.lastValue = value;
    if (api) api.setStateValue("value", value);
  }

  // ---- render from Python --------------------------------------------------------------
  // [what is cached (or null), the id to ask Python for (or null)]
  function loadModel(data) {
    const id = data.args.model_id;
    if (models.has(id)) { const m = models.get(id); SP.remember(models, id, m, MAX_CACHED); return [m, null]; }
    const bytes = SP.asBytes(data.weights);
    if (!bytes) return [null, askFor(id) === true ? id : null];
    stats.weightBytesReceived += bytes.byteLength;
    const m = LD.readModel(data.args.model, bytes);
    SP.remember(models, id, m, MAX_CACHED);
    stats.modelsLoaded += 1;
    return [m, null];
  }

  function loadPoints(data) {
    const tok = data.args.points_token;
    if (!tok) return [null, null];
    if (pointSets.has(tok)) return [pointSets.get(tok), null];
    const xyBytes = SP.asBytes(data.points);
    if (!xyBytes) return [null, askFor(tok) === true ? tok : null];
    const lb = SP.asBytes(data.point_labels);
    const set = { xy: new Float32Array(xyBytes.slice().buffer), labels: lb ? new Int32Array(lb.slice().buffer) : null };
    SP.remember(pointSets, tok, set, MAX_CACHED);
    return [set, null];
  }

  function onRender(data) {
    const args = data.args;
    stats.renders += 1;
    S.args = args;
    SP.setPalette(args.model.palette);
    const need = [];
    let pts = null;
    try {
      const r = loadModel(data);
      S.net = r[0]; if (r[1]) need.push(r[1]);
      const p = loadPoints(data);
      pts = p[0]; if (p[1]) need.push(p[1]);
    } catch (err) {
      showNotice("Could not read the model's weights: " + err.message, true);
    }
    const structure = JSON.stringify([args.model_id, args.z.length, args.dims, args.extent, args.dim_names,
                                      args.model, args.points_token, args.map_px, args.draw_note,
                                      args.show_drawing]);
    if (structure !== S.structure) { S.structure = structure; build(args, pts); }
    if (args.z_token !== S.zToken) { S.zToken = args.z_token; S.z = args.z.slice(); }
    if (S.net) hideNotice(); else if (!el.notice.classList.contains("error")) showNotice("Loading the model\u2026", false);
    // A new model re-encodes the drawing (another render, e.g. after a release, must not: the
    // marker would jump back from where the user left it to the drawing's code).
    if (S.net && S.net !== S.encodedWith && S.drawOn && !pad.isEmpty()) S.inkDirty = true;
    frames.request();
    if (need.length) sendValue("need", need);
  }

  function showNotice(text, isError) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
    el.notice.className = isError ? "notice error" : "notice";
  }
  function hideNotice() { el.notice.hidden = true; el.notice.className = "notice"; }

  function build(args, pts) {
    S.D = args.z.length;
    S.dims = args.dims;
    S.shape = args.model.image_shape;
    S.fit = args.model.fit;
    const H = S.shape[1], W = S.shape[2];
    const names = args.dim_names || args.z.map(function (_, d) { return "z" + d; });
    plane.configure(args.extent, [names[S.dims[0]], names[S.dims[1]]], pts);
    plane.resize(args.map_px);
    sizeImage(el.decoded, W, H, 168);
    sizeImage(el.modelInput, W, H, 84);
    pad.resize(240);
    const drawingShown = args.show_drawing !== false;
    el.drawPanel.hidden = !drawingShown;
    $("map-title").textContent = (drawingShown ? "2 \u00b7 " : "") + "Drag on the map";
    $("image-title").textContent = (drawingShown ? "3 \u00b7 " : "") + "Decoded";
    S.drawOn = drawingShown && !args.draw_note && !!args.model.encoder;
    pad.enabled = S.drawOn;
    el.drawPanel.classList.toggle("off", !S.drawOn);
    el.drawOff.hidden = S.drawOn;
    el.drawOff.textContent = args.draw_note || "";
    S.inkDirty = S.drawOn && !pad.isEmpty() && S.net !== S.encodedWith;
    if (!S.drawOn) { S.mean = S.logvar = null; plane.drawn = null; }
    el.legend.innerHTML = "";
    // One swatch per class that has points on the map, in the colours of the page's Plotly maps.
    const classNames = SP.palette().class_names, present = new Set(pts && pts.labels ? pts.labels : []);
    if (classNames) classNames.forEach(function (name, k) { if (present.has(k)) legendItem("class", name, SP.classColor(k)); });
    legendItem("marker", "decoded point (drag it)");
    if (S.drawOn) legendItem("star", args.model.variational ? "your drawing, \u00b11\u03c3 and 2\u03c3 of q(z|x)" : "your drawing",
                             SP.palette().your_image.fill);
    if (S.D > 2) legendItem("", "other " + (S.D - 2) + " dims keep their values");
    updateButtons();
  }

  function legendItem(kind, text, color) {
    const item = document.createElement("span");
    item.className = "legend-item" + (kind ? " legend-" + kind : "");
    if (kind) {
      const sw = document.createElement("i");
      sw.className = "swatch " + kind;
      if (color) sw.style.background = color;
      item.appendChild(sw);
    }
    item.appendChild(document.createTextNode(text));
    el.legend.appendChild(item);
  }

  function sizeImage(canvas, W, H, px) {
    const scale = Math.max(1, Math.floor(px / Math.max(H, W)));
    canvas.width = W; canvas.height = H;
    canvas.style.width = W * scale + "px";
    canvas.style.height = H * scale + "px";
    canvas._data = canvas.getContext("2d").createImageData(W, H);
  }

  function updateButtons() {
    el.undo.disabled = !S.drawOn || pad.strokes.length === 0;
    el.clear.disabled = !S.drawOn || pad.strokes.length === 0;
    el.send.disabled = !S.drawOn || pad.isEmpty() || !S.net;
    el.pen.setAttribute("aria-pressed", String(pad.tool === "pen"));
    el.eraser.setAttribute("aria-pressed", String(pad.tool === "eraser"));
  }

  // ---- toolbar -------------------------------------------------------------------------
  el.pen.addEventListener("click", function () { pad.tool = "pen"; updateButtons(); });
  el.eraser.addEventListener("click", function () { pad.tool = "eraser"; updateButtons(); });
  el.undo.addEventListener("click", function () { if (pad.undo()) { S.inkDirty = true; onInput(); } updateButtons(); });
  el.clear.addEventListener("click", function () { pad.clear(); S.inkDirty = true; onInput(); updateButtons(); });
  el.send.addEventListener("click", function () {
    if (!S.modelImage || S.empty) return;
    const r4 = function (v) { return Math.round(v * 1e4) / 1e4; };
    S.sentSeq += 1;
    S.sent = { image: Array.from(S.modelImage, r4), mean: S.mean && Array.from(S.mean),
               logvar: S.logvar && Array.from(S.logvar) };
    el.sendStatus.textContent = "Sent: see \u201cYour own image\u201d below.";
    sendValue("send");
  });
  host.addEventListener("keydown", function (ev) { // inside the component only: the page keeps its own Ctrl+Z
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "z") { el.undo.click(); ev.preventDefault(); }
  });

  // ---- encode / decode / draw, at most once per animation frame ------------------------
  const frames = SP.perFrame(frame);
  function onInput() { frames.input(); }

  function encodeDrawing() {
    S.inkDirty = false;
    S.encodedWith = S.net;
    const t0 = performance.now();
    const fit = DR.fitLikeMnist(pad.readInk(), DR.INK_SIZE, DR.INK_SIZE, S.shape[1], S.shape[2], S.fit);
    S.modelImage = fit.image;
    S.empty = fit.empty;
    drawImage(el.modelInput, fit.image);
    el.sendStatus.textContent = "";
    if (fit.empty) { S.mean = S.logvar = null; plane.drawn = null; updateButtons(); return; }
    const out = S.net.encoder.decode(fit.image); // the shared dense forward pass
    const D = S.D;
    S.mean = out.slice(0, D);
    S.logvar = out.length >= 2 * D ? out.slice(D, 2 * D) : null;
    S.z = Array.from(S.mean); // the marker jumps to the drawing: decode(z) is its reconstruction
    const a = S.dims[0], b = S.dims[1];
    plane.drawn = { x: S.mean[a], y: S.mean[b],
                    sx: S.logvar ? Math.exp(0.5 * S.logvar[a]) : 0, sy: S.logvar ? Math.exp(0.5 * S.logvar[b]) : 0 };
    stats.encodes += 1;
    keep(stats.encodeMs, performance.now() - t0);
    updateButtons();
  }

  function drawImage(canvas, flat) {
    const data = canvas._data;
    if (!data) return;
    LD.toRGBA(flat, S.shape, data.data);
    canvas.getContext("2d").putImageData(data, 0, 0);
  }

  function frame(since) {
    if (!S.net) return;
    if (S.inkDirty && S.drawOn) encodeDrawing();
    const t0 = performance.now();
    drawImage(el.decoded, S.net.decoder.decode(S.z));
    stats.decodes += 1;
    keep(stats.decodeMs, performance.now() - t0);
    plane.marker = [S.z[S.dims[0]], S.z[S.dims[1]]];
    plane.render(css);
    updateReadout();
    stats.frames += 1;
    if (stats.firstFrameAt === null) stats.firstFrameAt = performance.timeOrigin + performance.now();
    if (since !== null) keep(stats.frameLatencyMs, performance.now() - since);
  }

  function updateReadout() {
    const names = (S.args && S.args.dim_names) || [];
    const nm = function (d) { return names[d] || "z" + d; };
    const a = S.dims[0], b = S.dims[1];
    let text = "marker: " + nm(a) + " = " + S.z[a].toFixed(2) + ", " + nm(b) + " = " + S.z[b].toFixed(2);
    if (S.mean) text += "   \u2022   drawing: (" + S.mean[a].toFixed(2) + ", " + S.mean[b].toFixed(2) + ")";
    el.readout.textContent = text;
  }

  return { render: function (data, setStateValue) { api = { setStateValue: setStateValue }; onRender(data); } };
}

export default SP.component(mount);
