// Streamlit's components-v1 iframe protocol, written by hand (no npm, no build step), shared by
// the latent_decoder and latent_canvas components (both load this file).
//
// The iframe posts "componentReady" once; Streamlit answers with a "render" message (args,
// theme) after every script run that draws the component. Binary args (bytes) arrive as
// Uint8Array views, often at odd offsets inside a larger protobuf buffer.
"use strict";

(function (root) {
  function post(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }

  function setComponentValue(value) {
    post("streamlit:setComponentValue", { value: value, dataType: "json" });
  }

  // Only post a height that changed: each post makes Streamlit re-layout the iframe.
  let lastHeight = -1;
  function setFrameHeight(h) {
    h = Math.ceil(h);
    if (h !== lastHeight) { lastHeight = h; post("streamlit:setFrameHeight", { height: h }); }
  }

  // Fit the iframe to the document once the layout is done (next animation frame).
  function fitHeight(fixed) {
    if (fixed) { setFrameHeight(fixed); return; }
    requestAnimationFrame(function () {
      setFrameHeight(document.documentElement.getBoundingClientRect().height + 4);
    });
  }

  // A bytes argument as a Uint8Array (or null when absent).
  function asBytes(v) {
    if (v == null) return null;
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return null;
  }

  // Streamlit's theme -> CSS variables the components' style sheets read.
  function applyTheme(theme) {
    if (!theme) return;
    const st = document.documentElement.style;
    if (theme.primaryColor) st.setProperty("--primary", theme.primaryColor);
    if (theme.backgroundColor) st.setProperty("--bg", theme.backgroundColor);
    if (theme.secondaryBackgroundColor) st.setProperty("--bg2", theme.secondaryBackgroundColor);
    if (theme.textColor) st.setProperty("--text", theme.textColor);
    if (theme.font) st.setProperty("--font", theme.font);
  }

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  // Keep an LRU map at most `max` entries long (insertion order = least recently used first).
  function remember(map, id, entry, max) {
    map.delete(id);
    map.set(id, entry);
    while (map.size > max) map.delete(map.keys().next().value);
  }

  // Ask Python for an id we lack; while one request is in flight (< 3 s) do not repeat it:
  // a render that arrives before Python answered must not trigger a second rerun. Returns
  // true to ask now, false to wait, or "gave up" after three tries.
  function makeAsker() {
    const asked = new Map();
    return function askFor(id) {
      const a = asked.get(id) || { n: 0, at: -1e9 };
      if (performance.now() - a.at < 3000) return false;
      if (a.n >= 3) return "gave up";
      asked.set(id, { n: a.n + 1, at: performance.now() });
      return true;
    };
  }

  // Start listening; onRender(args, theme) runs for every render message.
  function start(onRender) {
    window.addEventListener("message", function (ev) {
      const d = ev.data;
      if (d && d.type === "streamlit:render") onRender(d.args, d.theme);
    });
    post("streamlit:componentReady", { apiVersion: 1 });
  }

  // The app's colours arrive from Python in the "palette" argument (explorer/logic/palette.py, the one
  // definition the Plotly maps read too): {classes: [css colours], class_names, your_image: {fill, line}}.
  let palette = { classes: [], class_names: null, your_image: {} };
  function setPalette(p) { if (p && Array.isArray(p.classes) && p.classes.length) palette = p; }
  // Unlabelled points take the first class colour, as the Plotly maps draw them (figures.latent_map).
  function classColor(label) {
    const c = palette.classes;
    return c.length ? c[Math.max(0, label) % c.length] : "#888";
  }
  function getPalette() { return palette; }

  root.StreamlitProtocol = {
    setPalette: setPalette, classColor: classColor, palette: getPalette,
    post: post, setComponentValue: setComponentValue, setFrameHeight: setFrameHeight, fitHeight: fitHeight,
    asBytes: asBytes, applyTheme: applyTheme, cssVar: cssVar, remember: remember, makeAsker: makeAsker,
    start: start,
  };
})(window);
