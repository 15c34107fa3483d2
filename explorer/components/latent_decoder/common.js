// What both components (latent_decoder, latent_canvas) share on top of Streamlit's Custom
// Components v2 (st.components.v2.component: the component lives in the page, in a shadow root;
// Python's data arrive on every render, the value goes back with setStateValue): binary data
// (Arrow tables of one column) as bytes, the theme's colours, the app's palette, a small LRU
// cache, and the limiter for asking Python again for data the browser lacks.
"use strict";

(function (root) {
  // A binary payload as a Uint8Array (or null when absent): an Arrow table of one column (how
  // Python sends float32 / int32 arrays), or bytes.
  function asBytes(v) {
    if (v == null) return null;
    if (typeof v.getChildAt === "function") {
      const column = v.getChildAt(0);
      if (!column) return null;
      const a = column.toArray();
      return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    }
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return null;
  }

  // A CSS variable as the element sees it: the style sheets map Streamlit's theme (--st-*) onto
  // the components' own names (--primary, --bg2, --text, --font).
  function cssVar(element, name, fallback) {
    const v = getComputedStyle(element).getPropertyValue(name).trim();
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

  // Work done at most once per animation frame however many inputs arrive. input() notes when
  // the first input not yet drawn came (the benches time a frame from it) and asks for a frame;
  // request() only asks; draw(since) gets that time, or null for a frame asked without an input.
  function perFrame(draw) {
    let queued = false, since = null;
    function request() {
      if (queued) return;
      queued = true;
      requestAnimationFrame(function () { queued = false; const s = since; since = null; draw(s); });
    }
    return { request: request, input: function () { if (since === null) since = performance.now(); request(); } };
  }

  // The app's colours arrive in the browser model's export (explorer/logic/palette.py, the one
  // definition the Plotly maps read too): {classes: [css colours], class_names, your_image: {fill, line}}.
  let palette = { classes: [], class_names: null, your_image: {} };
  function setPalette(p) { if (p && Array.isArray(p.classes) && p.classes.length) palette = p; }
  // Unlabelled points take the first class colour, as the Plotly maps draw them (figures.latent_map).
  function classColor(label) {
    const c = palette.classes;
    return c.length ? c[Math.max(0, label) % c.length] : "#888";
  }
  function getPalette() { return palette; }

  // The component's default export: mount(host) builds the UI once per element (the host is the
  // component's shadow root, kept across reruns) and returns {render(data, setStateValue)}.
  function component(mount) {
    const instances = new WeakMap();
    return function (args) {
      let ui = instances.get(args.parentElement);
      if (!ui) { ui = mount(args.parentElement); instances.set(args.parentElement, ui); }
      ui.render(args.data, args.setStateValue);
    };
  }

  root.LatentCommon = {
    component: component, setPalette: setPalette, classColor: classColor, palette: getPalette,
    asBytes: asBytes, cssVar: cssVar, remember: remember, makeAsker: makeAsker, perFrame: perFrame,
  };
})(window);
