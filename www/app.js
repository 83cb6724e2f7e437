// The page: wires the Rust app logic (pkg/cimle_web.js, built from web/) to the DOM.
// Everything that decides something (the model, layouts, styles, links, uploads, animations)
// is in Rust; this file handles events, canvases and the order of things. The model lives in a
// Web Worker (worker.js), which renders off the main thread; the page sends it styles as text.
import init, { Editor, Style, Link, importLayout, encodeApng, version } from './pkg/cimle_web.js';

const EDIT_H = 256;
const EDIT_W = 512;
const FRAMES = 16;
const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  modelEntry: null,
  model: null, // what the worker says about its model: { backend, height, width, numClasses, ... }
  palette: new Uint8Array(0),
  names: [],
  voidClass: 0,
  editor: null,
  tool: 'brush',
  cls: -1,
  mask: null, // an Editor of 0/1 ids: the area marked with the Region tool
  samples: [], // { style, el }
  current: null, // Style
  interpA: null,
  interpB: null,
  generation: 0,
  busy: 0,
  keyframes: [],
  animation: null, // { frames: [ImageData], timer, h, w }
  pendingLive: false,
  liveRunning: false,
};

// ---------- status, notices, busy flag (tests read body[data-state]) ----------
function status(text) { $('status').textContent = text; }
// One message at a time: an information (#notice, announced politely) or an error (#alert,
// announced at once). Both elements stay in the page, empty when there is nothing to say.
const PICK_TWO = 'Pick two samples with their A and B buttons first.';
function notice(text, kind = 'info') {
  $('notice').textContent = kind === 'error' ? '' : text;
  $('alert').textContent = kind === 'error' ? text : '';
}
function clearNotice(text) {
  if ($('notice').textContent === text) notice('');
}
const errorText = (e) => String(e?.message ?? e);
// Runs one user action; its failure is shown as an error and the page goes on working.
async function busy(work, what = 'That') {
  state.busy += 1;
  document.body.dataset.state = 'busy';
  $('alert').textContent = '';
  try { return await work(); }
  catch (e) { notice(errorText(e), 'error'); status(`${what} did not work (see the message above). Ready.`); }
  finally {
    state.busy -= 1;
    if (state.busy === 0) document.body.dataset.state = 'idle';
  }
}
const yieldToPage = () => new Promise((r) => setTimeout(r, 0));
const mb = (n) => (n / 1048576).toFixed(1);
const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0];

async function fetchWithProgress(url, label) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (is the site built? see the README)`);
  const total = Number(res.headers.get('Content-Length')) || 0;
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    status(total ? `${label}: ${mb(loaded)} of ${mb(total)} MB (${Math.round(100 * loaded / total)}%)`
                 : `${label}: ${mb(loaded)} MB`);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

// ---------- the render worker ----------
const worker = {
  w: null,
  next: 1,
  pending: new Map(),
  // Starts the worker on the page's compiled wasm module.
  async start(module) {
    this.w = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
    this.w.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.error !== undefined) p?.reject(new Error(data.error)); else p?.resolve(data.result);
    };
    this.w.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`The render worker stopped (${e.message || 'it could not be loaded'}). Reload the page.`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    await this.ask({ op: 'init', module });
  },
  ask(message, transfer = []) {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      this.w.postMessage({ ...message, id }, transfer);
    });
  },
};

// The worker moved to the CPU: a plain sentence on the page, the reason in the console.
function fellBack(fallback) {
  if (!fallback) return;
  console.warn(`cimle: running on the CPU. WebGPU said: ${fallback.detail}`);
  notice(fallback.note);
}
function showBackend() { $('backend').textContent = `Running on ${state.model.backend}`; }

// ---------- the model ----------
async function loadModel(entry) {
  const bytes = await fetchWithProgress(`models/${entry.file}`, `Loading model “${entry.name}”`);
  const size = bytes.length;
  const want = new URLSearchParams(location.search).get('backend') === 'cpu' ? 'cpu' : 'auto';
  status(want === 'cpu' ? 'Starting the model on the CPU…' : 'Starting the model (WebGPU if this browser has it)…');
  notice('');
  const { info, fallback } = await worker.ask({ op: 'load', bytes, want }, [bytes.buffer]);
  state.model = info;
  state.modelEntry = entry;
  state.palette = info.palette;
  state.names = info.classNames;
  state.voidClass = Math.max(0, state.names.indexOf('void'));
  showBackend();
  fellBack(fallback);
  $('model-info').textContent = `Model “${entry.name}”: ${info.height}x${info.width} pixels (height x width), `
    + `${(info.numParams / 1e6).toFixed(2)}M parameters, ${mb(size)} MB. ${entry.about ?? ''}`;
  if (info.isRegression) {
    notice(`${$('notice').textContent} This model is the CRN regression baseline: it ignores styles, so every sample is the same image.`.trim());
  }
  buildPalette();
  buildRegionSources();
}

// Renders a style on a layout in the worker: RGBA bytes at the model's size. The line beside
// the status counts the seconds meanwhile, which also shows that the page is not frozen.
async function render(style, ids = state.editor.ids()) {
  const started = performance.now();
  const tick = () => { $('elapsed').textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 100);
  try {
    // The ids are copied, not transferred: a grid or an animation renders one layout many times.
    const result = await worker.ask({ op: 'render', ids, height: EDIT_H, width: EDIT_W, style: style.encode() });
    if (result.fallback) {
      state.model.backend = result.backend;
      showBackend();
      fellBack(result.fallback);
    }
    return result.rgba;
  } finally {
    clearInterval(timer);
    $('elapsed').textContent = '';
  }
}

function toImageData(rgba) {
  return new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length),
    state.model.width, state.model.height);
}
function paint(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
}

// ---------- layout editor ----------
function drawLayout() {
  const rgba = state.editor.rgba(state.palette);
  $('layout').getContext('2d').putImageData(
    new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), EDIT_W, EDIT_H), 0, 0);
  $('undo').disabled = !state.editor.canUndo();
  $('redo').disabled = !state.editor.canRedo();
}
function drawOverlay(rect) {
  const ctx = $('overlay').getContext('2d');
  const img = ctx.createImageData(EDIT_W, EDIT_H);
  const mask = state.mask.ids();
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) { img.data[4 * i] = 255; img.data[4 * i + 1] = 40; img.data[4 * i + 2] = 40; img.data[4 * i + 3] = 110; }
  }
  ctx.putImageData(img, 0, 0);
  if (rect) {
    ctx.strokeStyle = '#fff';
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(Math.min(rect[0], rect[2]) + 0.5, Math.min(rect[1], rect[3]) + 0.5,
      Math.abs(rect[2] - rect[0]), Math.abs(rect[3] - rect[1]));
  }
}

function setupDrawing() {
  const canvas = $('layout');
  let last = null;
  let start = null;
  const pos = (e) => {
    const box = canvas.getBoundingClientRect();
    return [(e.clientX - box.left) * EDIT_W / box.width, (e.clientY - box.top) * EDIT_H / box.height];
  };
  const radius = () => Number($('size').value) / 2;
  canvas.addEventListener('pointerdown', (e) => {
    if (!state.editor) return;
    canvas.setPointerCapture(e.pointerId);
    const [x, y] = pos(e);
    const tool = state.tool;
    if (tool === 'region') { state.mask.brush(x, y, x, y, radius(), 1); drawOverlay(); last = [x, y]; return; }
    state.editor.checkpoint();
    if (tool === 'fill') {
      state.editor.fill(Math.floor(x), Math.floor(y), state.cls);
      drawLayout();
      layoutChanged(true);
      return;
    }
    if (tool === 'rect') { start = [x, y]; return; }
    const cls = tool === 'eraser' ? state.voidClass : state.cls;
    state.editor.brush(x, y, x, y, radius(), cls);
    drawLayout();
    last = [x, y];
  });
  canvas.addEventListener('pointermove', (e) => {
    const [x, y] = pos(e);
    if (start) { drawOverlay([start[0], start[1], x, y]); return; }
    if (!last) return;
    if (state.tool === 'region') { state.mask.brush(last[0], last[1], x, y, radius(), 1); drawOverlay(); last = [x, y]; return; }
    const cls = state.tool === 'eraser' ? state.voidClass : state.cls;
    state.editor.brush(last[0], last[1], x, y, radius(), cls);
    drawLayout();
    last = [x, y];
    layoutChanged(false);
  });
  const end = (e) => {
    if (start) {
      const [x, y] = pos(e);
      state.editor.rect(Math.floor(start[0]), Math.floor(start[1]), Math.floor(x), Math.floor(y), state.cls);
      start = null;
      drawOverlay();
      drawLayout();
      layoutChanged(true);
      return;
    }
    if (last && state.tool !== 'region') layoutChanged(true);
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', () => { last = null; start = null; drawOverlay(); });
}

// "Keep style": re-render the current style whenever the layout changes, the latest edit
// winning (a render in progress finishes first; edits made meanwhile are rendered next).
function layoutChanged(final) {
  forgetLink();
  if (!$('keep').checked || !state.current) return;
  if (!final && state.liveRunning) { state.pendingLive = true; return; }
  state.pendingLive = true;
  if (!state.liveRunning) liveRender();
}
async function liveRender() {
  state.liveRunning = true;
  await busy(async () => {
    while (state.pendingLive) {
      state.pendingLive = false;
      status('Re-rendering the current style on the edited layout…');
      paint($('current'), toImageData(await render(state.current)));
      await yieldToPage();
    }
    status('Ready.');
  }, 'Re-rendering');
  state.liveRunning = false;
}

// ---------- palette, tools, region sources ----------
// The classes are one radio group with one tab stop (the checked class); the arrow keys, Home
// and End move the choice, as in any radio group.
function buildPalette() {
  const box = $('palette');
  box.replaceChildren();
  state.names.forEach((name, id) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'radio');
    b.tabIndex = -1;
    b.dataset.cls = id;
    const sw = document.createElement('span');
    sw.className = 'swatch';
    const [r, g, bl] = state.palette.slice(3 * id, 3 * id + 3);
    sw.style.background = `rgb(${r},${g},${bl})`;
    b.append(sw, document.createTextNode(name));
    b.title = `${name}: rgb(${r}, ${g}, ${bl})`;
    b.addEventListener('click', () => selectClass(id));
    box.append(b);
  });
  box.onkeydown = (e) => {
    const n = state.names.length;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    let to = null;
    if (step) to = (state.cls + step + n) % n;
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = n - 1;
    if (to === null) return;
    e.preventDefault();
    selectClass(to);
    box.children[to].focus();
  };
  const car = state.names.indexOf('car');
  selectClass(state.cls >= 0 && state.cls < state.names.length ? state.cls : Math.max(0, car));
}
function selectClass(id) {
  state.cls = id;
  const box = $('palette');
  for (const b of box.children) {
    const on = Number(b.dataset.cls) === id;
    b.classList.toggle('active', on);
    b.setAttribute('aria-checked', String(on));
    b.tabIndex = on ? 0 : -1;
  }
  // Where the classes scroll sideways (phones), bring the chosen one into the row's view,
  // without scrolling the page.
  const chosen = box.children[id];
  if (chosen && box.scrollWidth > box.clientWidth) {
    const left = chosen.offsetLeft - box.offsetLeft;
    if (left < box.scrollLeft || left + chosen.offsetWidth > box.scrollLeft + box.clientWidth) {
      box.scrollLeft = left - (box.clientWidth - chosen.offsetWidth) / 2;
    }
  }
}
function selectTool(tool) {
  state.tool = tool;
  for (const b of document.querySelectorAll('.tool')) {
    const on = b.dataset.tool === tool;
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', String(on));
  }
}
function buildRegionSources() {
  const sel = $('region-source');
  const keep = sel.value;
  sel.replaceChildren(new Option('marked area (Region tool)', 'mask'));
  state.names.forEach((name, id) => sel.append(new Option(`class: ${name}`, String(id))));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

// ---------- samples ----------
function setCurrent(style, image, { fromLink = false } = {}) {
  state.current = style;
  $('style-label').textContent = `Style: ${style.label()}`;
  if (image) paint($('current'), image);
  for (const s of state.samples) {
    const on = s.style === style;
    s.el.classList.toggle('current', on);
    s.canvas.setAttribute('aria-pressed', String(on));
  }
  $('link-text').value = '';
  if (!fromLink) forgetLink();
}
function clearSamples() {
  state.generation += 1;
  state.samples = [];
  state.interpA = null;
  state.interpB = null;
  $('interp-a').textContent = 'A: –';
  $('interp-b').textContent = 'B: –';
  $('interp').value = 0;
  $('grid').replaceChildren();
  document.body.dataset.samples = '0';
}

async function generate() {
  const gen = ++state.generation;
  const n = Number($('count').value);
  const grid = $('grid');
  grid.replaceChildren();
  state.samples = [];
  state.interpA = null;
  state.interpB = null;
  $('interp-a').textContent = 'A: –';
  $('interp-b').textContent = 'B: –';
  const ids = state.editor.ids();
  await busy(async () => {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      if (gen !== state.generation) return;
      status(`Rendering sample ${i + 1} of ${n}…`);
      const style = Style.fromSeed(randomSeed());
      const image = toImageData(await render(style, ids));
      if (gen !== state.generation) return;
      addSample(style, image, i);
      if (i === 0) setCurrent(style, image);
      await yieldToPage();
    }
    const ms = (performance.now() - started) / n;
    status(`${n} samples in ${((performance.now() - started) / 1000).toFixed(1)} s (${ms.toFixed(0)} ms each on ${state.model.backend}).`);
  }, 'Generating');
  document.body.dataset.samples = String(state.samples.length);
}

// A sample: its image (a button: click, or Enter or Space when focused, makes it current),
// its A and B buttons and a caption.
function addSample(style, image, index) {
  const el = document.createElement('div');
  el.className = 'sample';
  const canvas = document.createElement('canvas');
  paint(canvas, image);
  canvas.tabIndex = 0;
  canvas.setAttribute('role', 'button');
  canvas.setAttribute('aria-pressed', 'false');
  canvas.setAttribute('aria-label', `Sample ${index + 1} (${style.label()}): make its style current`);
  canvas.title = 'Make this style current (Enter)';
  const pick = () => { setCurrent(style, image); status(`Sample ${index + 1} is the current style.`); };
  canvas.addEventListener('click', pick);
  canvas.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); }
  });
  const picks = document.createElement('div');
  picks.className = 'picks';
  for (const end of ['A', 'B']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = end;
    b.dataset.end = end;
    b.setAttribute('aria-label', `Use sample ${index + 1} as ${end}`);
    b.setAttribute('aria-pressed', 'false');
    b.title = `Use sample ${index + 1} as interpolation end ${end}`;
    b.addEventListener('click', () => pickEnd(end, style, index));
    picks.append(b);
  }
  const cap = document.createElement('div');
  cap.className = 'caption';
  cap.textContent = `#${index + 1} · ${style.label()}`;
  el.append(canvas, picks, cap);
  $('grid').append(el);
  state.samples.push({ style, el, canvas, picks });
}

function pickEnd(end, style, index) {
  if (end === 'A') state.interpA = style; else state.interpB = style;
  $(end === 'A' ? 'interp-a' : 'interp-b').textContent = `${end}: #${index + 1}`;
  for (const s of state.samples) {
    const b = s.picks.querySelector(`[data-end="${end}"]`);
    b.setAttribute('aria-pressed', String(s.style === style));
  }
  $('interp').value = end === 'A' ? 0 : 100;
  if (state.interpA && state.interpB) {
    clearNotice(PICK_TWO);
    interpolate();
  } else {
    status(`${end} is sample ${index + 1}: now pick ${end === 'A' ? 'B' : 'A'}.`);
  }
}

let interpPending = false;
let interpRunning = false;
async function interpolate() {
  if (!state.interpA || !state.interpB) {
    notice(PICK_TWO);
    return;
  }
  interpPending = true;
  if (interpRunning) return;
  interpRunning = true;
  await busy(async () => {
    while (interpPending) {
      interpPending = false;
      const t = Number($('interp').value) / 100;
      const style = Style.interpolate(state.interpA, state.interpB, t);
      status(`Interpolating: ${Math.round(t * 100)}%`);
      setCurrent(style, toImageData(await render(style)));
      await yieldToPage();
    }
    status('Ready.');
  }, 'Interpolating');
  interpRunning = false;
}

async function resampleRegion() {
  if (!state.current) { notice('Generate samples first.'); return; }
  const source = $('region-source').value;
  const mask = source === 'mask' ? state.mask.ids() : state.editor.classMask(Number(source));
  if (!mask.some((v) => v)) {
    notice(source === 'mask' ? 'Mark a region with the Region tool first.'
      : `The layout has no pixels of class “${state.names[Number(source)]}”.`);
    return;
  }
  notice('');
  await busy(async () => {
    status('Resampling the region…');
    const style = state.current.withRegion(mask, EDIT_H, EDIT_W, randomSeed());
    setCurrent(style, toImageData(await render(style)));
    status('Region resampled: only its pixels changed.');
  }, 'Resampling the region');
}

// ---------- animation ----------
function stopAnimation() {
  if (state.animation?.timer) clearInterval(state.animation.timer);
  if (state.animation) state.animation.timer = null;
  $('stop-animation').disabled = true;
}
async function animate(makeFrames) {
  stopAnimation();
  const frames = [];
  await busy(async () => {
    const jobs = makeFrames();
    for (let i = 0; i < jobs.length; i++) {
      status(`Rendering frame ${i + 1} of ${jobs.length}…`);
      frames.push(toImageData(await render(jobs[i].style, jobs[i].ids)));
      paint($('current'), frames[frames.length - 1]);
      await yieldToPage();
    }
  }, 'Animating');
  if (frames.length < 2) return;
  let k = 0;
  state.animation = {
    frames,
    timer: setInterval(() => { paint($('current'), frames[k]); k = (k + 1) % frames.length; }, 120),
  };
  $('stop-animation').disabled = false;
  $('download-animation').disabled = false;
  status(`Playing ${frames.length} frames.`);
}
function animatePath() {
  if (!state.interpA || !state.interpB) { notice(PICK_TWO); return; }
  const ids = state.editor.ids();
  return animate(() => Array.from({ length: FRAMES }, (_, i) => ({
    style: Style.interpolate(state.interpA, state.interpB, i / (FRAMES - 1)), ids,
  })));
}
function animateKeyframes() {
  if (!state.current) { notice('Generate samples first.'); return; }
  if (state.keyframes.length < 2) { notice('Add at least two keyframes (edit the layout between them).'); return; }
  return animate(() => state.keyframes.map((ids) => ({ style: state.current, ids })));
}
function downloadAnimation() {
  const a = state.animation;
  if (!a) return;
  const { width, height } = a.frames[0];
  const all = new Uint8Array(a.frames.length * width * height * 4);
  a.frames.forEach((f, i) => all.set(f.data, i * width * height * 4));
  const png = encodeApng(all, a.frames.length, height, width, 120);
  save(new Blob([png], { type: 'image/png' }), 'cimle-animation.png');
}

// ---------- files, links ----------
function save(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
function linkFragment() {
  return Link.encode(state.modelEntry.id, state.editor.ids(), EDIT_H, EDIT_W, state.current);
}
async function copyLink() {
  if (!state.current) { notice('Generate samples first.'); return; }
  const url = `${location.href.split('#')[0]}#${linkFragment()}`;
  // The address bar shows the link too, until the layout or the style changes.
  history.replaceState(null, '', url);
  $('link-text').value = url;
  try { await navigator.clipboard.writeText(url); status('Link copied: it restores this layout and style.'); }
  catch { status('Link is in the box beside the button (the clipboard was not available).'); }
}
// The address bar no longer matches what the page shows: drop its link, so that pasting the
// same link again is a change the page hears (hashchange).
function forgetLink() {
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

// Opens the link in the address bar (at start, or pasted into this tab later): its model when
// the site has it, its layout (undoable) and its style. False, with an error shown, when the
// link cannot be read.
async function openLink() {
  const wanted = new URLSearchParams(location.hash.slice(1)).get('m');
  const entry = state.models.find((m) => m.id === wanted);
  if (entry && entry !== state.modelEntry) {
    $('model').value = entry.id;
    await loadModel(entry);
  }
  let link;
  try {
    link = Link.decode(location.hash, state.model.numClasses);
    if (link.height !== EDIT_H || link.width !== EDIT_W) {
      throw new Error(`its layout is ${link.height}x${link.width}, this page edits ${EDIT_H}x${EDIT_W} (height x width)`);
    }
  } catch (e) {
    notice(`The link could not be opened: ${errorText(e)}`, 'error');
    return false;
  }
  clearSamples();
  state.editor.setIds(link.ids);
  drawLayout();
  status('Rendering the linked style…');
  const style = link.style;
  setCurrent(style, toImageData(await render(style)), { fromLink: true });
  const unknown = entry ? '' : ` The link names a model this site does not have (“${wanted}”), so it is shown with “${state.modelEntry.name}”.`;
  status(`Restored from the link. Generate makes new samples on this layout.${unknown}`);
  return true;
}

async function loadExample(file) {
  const bytes = await fetchWithProgress(`examples/${file}`, 'Loading example');
  const imported = importLayout(file, bytes, EDIT_H, EDIT_W);
  state.editor.setIds(imported.ids);
  drawLayout();
}

async function upload(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const imported = importLayout(file.name, bytes, EDIT_H, EDIT_W);
  state.editor.setIds(imported.ids);
  drawLayout();
  notice(imported.notice);
  layoutChanged(true);
}

// ---------- start ----------
function wire() {
  for (const b of document.querySelectorAll('.tool')) b.addEventListener('click', () => selectTool(b.dataset.tool));
  $('undo').addEventListener('click', () => { state.editor.undo(); drawLayout(); layoutChanged(true); });
  $('redo').addEventListener('click', () => { state.editor.redo(); drawLayout(); layoutChanged(true); });
  $('clear').addEventListener('click', () => { state.editor.clear(state.cls); drawLayout(); layoutChanged(true); });
  $('generate').addEventListener('click', () => generate());
  $('interp').addEventListener('input', () => interpolate());
  $('resample-region').addEventListener('click', () => resampleRegion());
  $('clear-region').addEventListener('click', () => { state.mask.clear(0); drawOverlay(); });
  $('download').addEventListener('click', () => $('current').toBlob((b) => save(b, 'cimle-sample.png')));
  $('link').addEventListener('click', () => copyLink());
  $('animate-path').addEventListener('click', () => animatePath());
  $('animate-keyframes').addEventListener('click', () => animateKeyframes());
  $('stop-animation').addEventListener('click', () => stopAnimation());
  $('download-animation').addEventListener('click', () => downloadAnimation());
  $('add-keyframe').addEventListener('click', () => {
    state.keyframes.push(state.editor.ids());
    $('keyframes').textContent = `${state.keyframes.length} keyframe${state.keyframes.length === 1 ? '' : 's'}`;
  });
  $('upload').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) busy(() => upload(file), 'The upload');
    e.target.value = '';
  });
  $('example').addEventListener('change', (e) => busy(async () => { await loadExample(e.target.value); layoutChanged(true); }, 'Loading the example'));
  $('model').addEventListener('change', (e) => busy(async () => {
    const entry = state.models.find((m) => m.id === e.target.value);
    await loadModel(entry);
    drawLayout();
    await generate();
  }, 'Switching the model'));
  // A link pasted into this tab while it shows the page changes only the fragment.
  window.addEventListener('hashchange', () => {
    if (location.hash.includes('l=')) busy(openLink, 'Opening the link');
  });
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === 'z') { e.preventDefault(); $(e.shiftKey ? 'redo' : 'undo').click(); return; }
    if ((e.ctrlKey || e.metaKey) && key === 'y') { e.preventDefault(); $('redo').click(); return; }
    const tools = { b: 'brush', r: 'rect', f: 'fill', e: 'eraser', m: 'region' };
    if (!e.ctrlKey && !e.metaKey && tools[key]) selectTool(tools[key]);
  });
  setupDrawing();
}

async function main() {
  document.body.dataset.state = 'busy';
  const bytes = await fetchWithProgress('pkg/cimle_web_bg.wasm', 'Loading app code');
  status('Compiling the app code…');
  // Compiled once: the page and the render worker each instantiate this module.
  const module = await WebAssembly.compile(bytes);
  await init({ module_or_path: module });
  await worker.start(module);
  $('version').textContent = version();
  const res = await fetch('models/models.json');
  if (!res.ok) throw new Error(`models/models.json: HTTP ${res.status}`);
  const manifest = await res.json();
  state.models = manifest.models;
  for (const m of state.models) $('model').append(new Option(m.name, m.id));
  for (const ex of manifest.examples) $('example').append(new Option(ex.name, ex.file));
  const linked = new URLSearchParams(location.hash.slice(1)).get('m');
  const entry = state.models.find((m) => m.id === linked) ?? state.models[0];
  $('model').value = entry.id;
  await loadModel(entry);
  state.editor = new Editor(EDIT_H, EDIT_W, 0);
  state.mask = new Editor(EDIT_H, EDIT_W, 0);
  wire();
  if (!(location.hash.includes('l=') && await openLink())) {
    await loadExample(manifest.examples[0].file);
    await generate();
  }
}

main()
  .catch((e) => {
    notice(`The app could not start: ${errorText(e)}`, 'error');
    status('Stopped: the app could not start (see the message above).');
  })
  .finally(() => {
    if (state.busy === 0) document.body.dataset.state = 'idle';
  });
