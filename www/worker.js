// The render worker: holds the model and renders styles off the page's main thread, so the page
// keeps answering (a progress line, the editor, scrolling) while a sample renders. It runs the
// same wasm module as the page (compiled once there and posted here) on WebGPU where this
// worker is offered `navigator.gpu`, else on the CPU.
//
// Messages in: { id, op: 'init' | 'load' | 'render', ...arguments }; out: { id, result } or
// { id, error }. A result may carry `fallback: { note, detail }` when the model moved to the
// CPU: `note` is a plain sentence for the page, `detail` the technical reason for the console.
import init, { Model, Style } from './pkg/cimle_web.js';

let model = null;
let weights = null;
// Why WebGPU failed, once it has: the worker then stays on the CPU for every later model.
let webgpuFailed = null;

const NOTES = {
  missing: 'This browser does not offer WebGPU to the page, so it runs on the CPU, which is '
    + 'slower. For WebGPU, use a recent Chrome or Edge (or turn WebGPU on in your browser\'s '
    + 'settings).',
  failed: 'WebGPU could not start on this device, so the page runs on the CPU, which is slower. '
    + 'For WebGPU, use a recent Chrome or Edge with hardware acceleration turned on, on a '
    + 'device with a supported graphics card.',
  lost: 'WebGPU stopped working while rendering, so the page switched to the CPU (slower) and '
    + 'rendered the image again there.',
};

const text = (e) => String(e?.message ?? e);

// The one WebGPU-to-CPU rule, for a failure at start and during a render alike: free the
// WebGPU model, load the weights on the CPU, remember why, and say so once in plain words.
function useCpu(kind, detail) {
  webgpuFailed = detail;
  if (model) model.free();
  model = new Model(weights);
  return { note: NOTES[kind], detail };
}

async function load({ bytes, want }) {
  if (model) model.free();
  model = null;
  weights = bytes;
  let fallback = null;
  if (want === 'cpu') {
    model = new Model(weights);
  } else if (webgpuFailed) {
    fallback = useCpu('failed', webgpuFailed);
  } else if (typeof Model.loadWebGpu !== 'function' || !('gpu' in navigator)) {
    fallback = useCpu('missing', 'navigator.gpu is not available in this worker');
  } else {
    try {
      model = await Model.loadWebGpu(weights);
    } catch (e) {
      fallback = useCpu('failed', text(e));
    }
  }
  return {
    info: {
      backend: model.backend(),
      height: model.height(),
      width: model.width(),
      numClasses: model.numClasses(),
      classNames: model.classNames(),
      palette: model.palette(),
      numParams: model.numParams(),
      isRegression: model.isRegression(),
    },
    fallback,
  };
}

async function render({ ids, height, width, style }) {
  if (!model) throw new Error('no model is loaded');
  const s = Style.decode(style);
  try {
    try {
      return { rgba: await model.render(ids, height, width, s) };
    } catch (e) {
      if (model.backend() === 'CPU') throw e;
      const fallback = useCpu('lost', text(e));
      return { rgba: await model.render(ids, height, width, s), fallback, backend: model.backend() };
    }
  } finally {
    s.free();
  }
}

const OPS = {
  init: ({ module }) => init({ module_or_path: module }).then(() => ({})),
  load,
  render,
};

// One request at a time, in order: a model switch waits for the render before it.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      const result = await OPS[data.op](data);
      self.postMessage({ id: data.id, result }, result.rgba ? [result.rgba.buffer] : []);
    } catch (e) {
      self.postMessage({ id: data.id, error: text(e) });
    }
  });
};
