// The browser model: readModel() reads the one export Python makes (explorer/logic/browser_model.py)
// for both components: the decoder (latent code z -> flat image in [0, 1]), the encoder (flat
// image -> mean, logvar) for latent_canvas, the image shape, how a drawing is fitted and the
// app's colours. One dense forward pass serves the decoder and the encoder.
//
// Pure functions, no DOM: the components draw what they return, and the tests load this file
// alone in headless Chromium to compare decode() with torch's model.decode() / encode().
//
// Weights: one little-endian float32 buffer holding, layer after layer, W (out x in,
// row-major, as torch's nn.Linear.weight) then b (out), the encoder's layers first, described
// by meta.encoder / meta.decoder = [{in, out, activation}, ...].
"use strict";

(function (root) {
  // The activations of core/dense.py's ACTIVATIONS ("linear" ends an encoder: a mean and a
  // log-variance); a name missing here is refused when the model is read.
  const ACTIVATE = {
    relu: function (s) { return s > 0 ? s : 0; },
    sigmoid: function (s) { return 1 / (1 + Math.exp(-s)); },
    clamp01: function (s) { return s < 0 ? 0 : (s > 1 ? 1 : s); },
    linear: function (s) { return s; },
  };

  // Uint8Array (any byteOffset) or ArrayBuffer + meta -> [{W, b, nIn, nOut, activation}].
  function unpackLayers(meta, bytes) {
    // Copy into a fresh, 4-byte aligned buffer: protobuf hands out views at odd offsets.
    const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
    const buffer = u8.slice().buffer;
    const floats = new Float32Array(buffer, 0, buffer.byteLength >> 2);
    const layers = [];
    let at = 0;
    for (let k = 0; k < meta.length; k++) {
      const nIn = meta[k].in, nOut = meta[k].out, activation = meta[k].activation;
      if (!Object.prototype.hasOwnProperty.call(ACTIVATE, activation)) {
        throw new Error("layer " + k + ": unknown activation " + JSON.stringify(activation));
      }
      if (k > 0 && nIn !== meta[k - 1].out) {
        throw new Error("layer " + k + " reads " + nIn + " values but layer " + (k - 1) + " gives " + meta[k - 1].out);
      }
      const W = floats.subarray(at, at + nOut * nIn); at += nOut * nIn;
      const b = floats.subarray(at, at + nOut); at += nOut;
      layers.push({ W: W, b: b, nIn: nIn, nOut: nOut, activation: activation, act: ACTIVATE[activation] });
    }
    if (at !== floats.length) {
      throw new Error("weights hold " + floats.length + " floats, the layers describe " + at);
    }
    return layers;
  }

  // One network with its scratch buffers, so a drag allocates nothing per frame. (The sparse
  // skip below pays off most for an encoder reading a drawing: most pixels are 0.)
  // inputName / netName only word the size error ("z" / "decoder", or "the image" / "encoder").
  function makeDecoder(layers, inputName, netName) {
    inputName = inputName || "z";
    netName = netName || "decoder";
    const scratch = layers.map(function (l) { return new Float32Array(l.nOut); });
    const nIn = layers[0].nIn;
    const z32 = new Float32Array(nIn);
    const idx = new Int32Array(Math.max.apply(null, layers.map(function (l) { return l.nIn; })));
    // Returns the output Float32Array (reused: copy it to keep it across calls).
    function decode(z) {
      if (z.length !== nIn) throw new Error(inputName + " has " + z.length + " values, the " + netName + " reads " + nIn);
      for (let i = 0; i < nIn; i++) z32[i] = z[i]; // round to float32 as torch does
      let x = z32;
      for (let k = 0; k < layers.length; k++) {
        const l = layers[k], W = l.W, b = l.b, y = scratch[k], n = l.nIn, m = l.nOut;
        // Skip inputs that ReLU zeroed: the sum is the same, fewer multiplications.
        let nz = 0;
        for (let i = 0; i < n; i++) if (x[i] !== 0) idx[nz++] = i;
        for (let o = 0; o < m; o++) {
          let s = 0;
          const row = o * n;
          if (nz === n) {
            for (let i = 0; i < n; i++) s += W[row + i] * x[i];
          } else {
            for (let j = 0; j < nz; j++) { const i = idx[j]; s += W[row + i] * x[i]; }
          }
          y[o] = l.act(s + b[o]);
        }
        x = y;
      }
      return x;
    }
    return { decode: decode, nIn: nIn, nOut: layers[layers.length - 1].nOut };
  }

  // The export (meta: JSON, bytes: the encoder's then the decoder's weights) ->
  // {decoder, encoder (or null), shape [C, H, W], latentDim, variational, fit, palette};
  // decoder is null for a model decoded on the server (meta.decoder null).
  function floatsOf(layersMeta) {
    return (layersMeta || []).reduce(function (n, l) { return n + l.out * (l.in + 1); }, 0);
  }
  function readModel(meta, bytes) {
    const u8 = bytes == null ? new Uint8Array(0) : (bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
    const encBytes = u8.subarray(0, 4 * floatsOf(meta.encoder)), decBytes = u8.subarray(4 * floatsOf(meta.encoder));
    return {
      decoder: meta.decoder ? makeDecoder(unpackLayers(meta.decoder, decBytes)) : null,
      encoder: meta.encoder ? makeDecoder(unpackLayers(meta.encoder, encBytes), "the image", "encoder") : null,
      shape: meta.image_shape, latentDim: meta.latent_dim, variational: !!meta.variational,
      fit: meta.fit, palette: meta.palette,
    };
  }

  // Convenience for tests: decode many codes, returning plain arrays.
  function decodeBatch(meta, bytes, zs) {
    const dec = makeDecoder(unpackLayers(meta, bytes));
    return zs.map(function (z) { return Array.from(dec.decode(z)); });
  }

  // Flat channel-major image (C*H*W in [0, 1]) -> RGBA bytes for an ImageData (H x W).
  function toRGBA(flat, shape, out) {
    const C = shape[0], H = shape[1], W = shape[2], P = H * W;
    const rgba = out || new Uint8ClampedArray(P * 4);
    for (let p = 0; p < P; p++) {
      const r = flat[p];
      const g = C === 3 ? flat[P + p] : r;
      const bl = C === 3 ? flat[2 * P + p] : r;
      rgba[4 * p] = r * 255 + 0.5;
      rgba[4 * p + 1] = g * 255 + 0.5;
      rgba[4 * p + 2] = bl * 255 + 0.5;
      rgba[4 * p + 3] = 255;
    }
    return rgba;
  }

  // Base64 -> Uint8Array (tests hand weights over as base64 text).
  function fromBase64(text) {
    const bin = atob(text);
    const u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return u8;
  }

  root.LatentDecoder = {
    ACTIVATIONS: Object.keys(ACTIVATE),
    readModel: readModel,
    unpackLayers: unpackLayers,
    makeDecoder: makeDecoder,
    decodeBatch: decodeBatch,
    toRGBA: toRGBA,
    fromBase64: fromBase64,
  };
})(typeof window !== "undefined" ? window : globalThis);
