// proto3d view: the page asks the server for frames and facts; it never renders anything itself.
"use strict";

const VIEWS = { front: [0, 0], right: [90, 0], back: [180, 0], left: [270, 0], top: [0, 90], bottom: [0, -90], iso: [45, 30] };
const $ = (id) => document.getElementById(id);
const image = $("image");
const client = Math.random().toString(36).slice(2);  // the server keeps one waiting frame per page
const cam = { az: 45, el: 30, zoom: 1 };
let state = null;      // the last /state
let selected = 0;      // source line whose drawing is highlighted (0: none)
let frames = 0;
let visible = {};      // visible pixels per part in the frame shown

// ---------------------------------------------------------------- frames: two in flight, the newest wins

// Two requests in flight, so the server draws the next frame while the page fetches and decodes
// this one; the server answers a page's requests in order and drops (204) a waiting one that a
// newer one replaces, so frames never queue up.
const MAX_IN_FLIGHT = 2;
let inFlight = 0, frameWanted = false, frameBusy = false;  // frameBusy: some request is in flight
let moving = false;  // mid-gesture frames may be JPEG; the one after it ends is exact
let newestShown = -1;  // request number of the frame on screen: an older answer is never shown after it
let requests = 0;

function requestFrame() {
  if (!state || !state.rendered) return;
  frameWanted = true;
  pumpFrames();
}

function pumpFrames() {
  while (frameWanted && inFlight < MAX_IN_FLIGHT) {
    frameWanted = false;
    inFlight += 1;
    frameBusy = true;
    fetchFrame(requests++).finally(() => {
      inFlight -= 1;
      frameBusy = inFlight > 0;
      pumpFrames();
    });
  }
}

async function fetchFrame(number) {
  const box = image.getBoundingClientRect();
  const query = new URLSearchParams({
    client, az: cam.az, el: cam.el, zoom: cam.zoom, w: Math.max(16, Math.round(box.width)),
    h: Math.max(16, Math.round(box.height)), mode: document.querySelector("input[name=mode]:checked").value,
    line: selected, problems: $("problems").checked ? 1 : 0, moving: moving ? 1 : 0,
  });
  try {
    const answer = await fetch("/frame?" + query);
    if (answer.status === 200) await showFrame(number, await answer.blob(), JSON.parse(answer.headers.get("X-Frame")));
    else if (answer.status !== 204) setStatus((await answer.json()).error, true);
  } catch (error) {
    setStatus("the server has stopped", true);
  }
}

async function showFrame(number, blob, facts) {
  const url = URL.createObjectURL(blob);
  const decoded = new Image();
  decoded.src = url;
  try {
    await decoded.decode();  // decoded off screen: two answers never race for the one <img>
  } catch (error) {
    URL.revokeObjectURL(url);
    return;
  }
  if (number < newestShown) {  // a newer frame is already on screen
    URL.revokeObjectURL(url);
    return;
  }
  newestShown = number;
  const old = image.src;
  image.src = url;  // already decoded: shown at the next paint, with no await another answer could race
  if (old) URL.revokeObjectURL(old);
  frames += 1;
  Object.assign(image.dataset, { frame: facts.id, version: facts.version, frames, shownAt: performance.timeOrigin + performance.now() });
  visible = facts.visible;
  for (const row of $("parts").tBodies[0].rows) row.cells[2].textContent = visible[row.dataset.label] ?? "";
}

// ---------------------------------------------------------------- what drew a pixel

let pickBusy = false, pickWanted = null;

function pickAt(event, select) {
  if (!image.dataset.frame) return;
  const x = Math.floor(event.offsetX * image.naturalWidth / image.clientWidth);
  const y = Math.floor(event.offsetY * image.naturalHeight / image.clientHeight);
  pickWanted = { frame: image.dataset.frame, x, y, select };
  if (!pickBusy) pumpPicks();
}

async function pumpPicks() {
  while (pickWanted) {
    const wanted = pickWanted;
    pickWanted = null;
    pickBusy = true;
    try {
      const info = await (await fetch("/pick?" + new URLSearchParams({ frame: wanted.frame, x: wanted.x, y: wanted.y }))).json();
      describe(info, wanted.select);
    } catch (error) { /* the server has stopped: the event stream says so */ }
    pickBusy = false;
  }
}

function describe(info, select) {
  markLines("hover", 0, 0);
  if (!info || info.background) {
    if (select) { $("info").textContent = "background"; choose(0); }
    return;
  }
  const text = `part ${info.part}, instance ${info.instance}, ${info.kind}, line ${info.line}` +
    (info.part_line !== info.line ? ` (part block at line ${info.part_line})` : "");
  $("info").textContent = text;
  markLines("hover", info.line, info.end_line);
  if (select) choose(info.line, info.end_line);
}

function choose(line, end = line) {
  selected = line;
  markLines("picked", line, end);
  if (line) $("source").children[line - 1]?.scrollIntoView({ block: "nearest" });
  requestFrame();
}

function markLines(cls, first, last) {
  for (const li of document.querySelectorAll(`#source li.${cls}`)) li.classList.remove(cls);
  const lines = $("source").children;
  for (let n = first; n && n <= last && n <= lines.length; n++) lines[n - 1].classList.add(cls);
}

// ---------------------------------------------------------------- the panes beside the image

async function refresh() {
  try {
    state = await (await fetch("/state")).json();
  } catch (error) {
    return setStatus("the server has stopped", true);
  }
  $("file").textContent = state.file;
  document.title = `${state.file.split("/").pop()} - proto3d view`;
  if (state.ok) setStatus(state.rendered ? "" : "nothing rendered yet");
  else setStatus(state.rendered ? "the file has errors: showing the last good render" : "the file has errors: nothing rendered yet", true);
  showSource(state.text);
  showDiagnostics(state.diagnostics);
  showParts(state.parts);
  showParams(state.params);
  if (!image.dataset.frame) requestFrame();  // later frames are asked for as soon as an event arrives
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

let shownText = null;

function showSource(text) {
  if (text === shownText) return;  // rebuilding would lose the pane's scroll position
  shownText = text;
  $("source").replaceChildren(...text.split("\n").map((line, i) => {
    const li = document.createElement("li");
    li.textContent = line;
    li.onclick = () => { $("info").textContent = `line ${i + 1}`; choose(i + 1); };
    return li;
  }));
  markLines("picked", selected, selected);
}

function showDiagnostics(list) {
  for (const li of document.querySelectorAll("#source li.problem")) li.classList.remove("problem");
  $("diagnostics").replaceChildren(...list.map((d) => {
    const li = document.createElement("li");
    li.className = d.severity;
    li.textContent = `${d.line ? `line ${d.line}:${d.column} ` : ""}${d.severity} ${d.code}: ${d.message}`;
    if (d.hint) li.append(Object.assign(document.createElement("span"), { className: "hint", textContent: "hint: " + d.hint }));
    if (d.line) {
      $("source").children[d.line - 1]?.classList.add("problem");
      li.onclick = () => { $("info").textContent = `line ${d.line}: ${d.message}`; choose(d.line); };
    }
    return li;
  }));
  if (!list.length) $("diagnostics").append(Object.assign(document.createElement("li"), { textContent: "none" }));
}

function showParts(parts) {
  $("parts").tBodies[0].replaceChildren(...parts.map((p) => {
    const row = document.createElement("tr");
    row.dataset.label = p.label;
    row.dataset.line = p.line;
    const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
    swatch.style.background = document.querySelector("input[name=mode]:checked").value === "part" ? p.color : p.own_color;
    const name = document.createElement("td");
    name.append(swatch, p.label);
    row.append(name, ...[p.instances, visible[p.label] ?? ""].map((n) => Object.assign(document.createElement("td"), { textContent: n })));
    row.onclick = () => { $("info").textContent = `part ${p.label} (line ${p.line})`; choose(p.line); };
    return row;
  }));
}

// ---------------------------------------------------------------- params: sliders re-render, the file stays

let paramBusy = false, paramWanted = null;

function showParams(params) {
  const box = $("params");
  const names = params.map((p) => p.name).join(",");
  if (box.dataset.names !== names) {
    box.dataset.names = names;
    box.replaceChildren(...params.map((p) => {
      const label = document.createElement("label");
      const input = Object.assign(document.createElement("input"), {
        type: "range", name: p.name, min: p.lo, max: p.hi, step: p.integer ? 1 : (p.hi - p.lo) / 100 || "any",
      });
      const output = document.createElement("output");
      input.oninput = () => { output.textContent = input.value; showValues(); sendParams(); };
      label.append(p.name, input, output);
      return label;
    }));
  }
  for (const p of params) {
    const input = box.querySelector(`input[name="${CSS.escape(p.name)}"]`);
    if (document.activeElement !== input) input.value = p.value;
    input.nextElementSibling.textContent = input.value;
  }
  $("param-actions").hidden = !params.length;
  if (!params.length) box.textContent = "none";
  showValues();
}

function sliderValues() {
  return Object.fromEntries([...document.querySelectorAll("#params input")].map((i) => [i.name, Number(i.value)]));
}

function showValues() {
  $("values").value = Object.entries(sliderValues()).map(([k, v]) => `--param ${k}=${v}`).join(" ");
}

function sendParams(values = null) {
  paramWanted = values ?? sliderValues();
  if (!paramBusy) pumpParams();
}

async function pumpParams() {
  while (paramWanted) {
    const body = JSON.stringify(paramWanted);
    paramWanted = null;
    paramBusy = true;
    try {
      await fetch("/params", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    } catch (error) { /* the event stream reports a stopped server */ }
    paramBusy = false;
  }
}

// ---------------------------------------------------------------- camera and controls

let drag = null;

image.addEventListener("pointerdown", (e) => {
  drag = { x: e.clientX, y: e.clientY, moved: false };
  image.setPointerCapture(e.pointerId);
});
image.addEventListener("pointermove", (e) => {
  if (!drag) return pickAt(e, false);
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
  drag = { x: e.clientX, y: e.clientY, moved: true };
  cam.az = (cam.az - dx * 0.4 + 360) % 360;
  cam.el = Math.min(89, Math.max(-89, cam.el + dy * 0.4));  // at the poles image-up would flip
  moving = true;
  requestFrame();
});
image.addEventListener("pointerup", (e) => {
  if (drag && !drag.moved) pickAt(e, true);
  drag = null;
  settle();
});
let wheelEnd = 0;
image.addEventListener("wheel", (e) => {
  e.preventDefault();
  cam.zoom = Math.min(5, Math.max(0.4, cam.zoom * Math.exp(e.deltaY * 0.001)));
  moving = true;
  requestFrame();
  clearTimeout(wheelEnd);
  wheelEnd = setTimeout(settle, 150);
}, { passive: false });

function settle() {
  if (!moving) return;
  moving = false;
  requestFrame();
}

$("views").replaceChildren(...Object.entries(VIEWS).map(([name, [az, el]]) => {
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: name });
  button.onclick = () => { Object.assign(cam, { az, el, zoom: 1 }); requestFrame(); };
  return button;
}));
for (const input of document.querySelectorAll("input[name=mode], #problems")) input.onchange = () => { if (state) showParts(state.parts); requestFrame(); };
$("copy").onclick = () => { $("values").select(); navigator.clipboard?.writeText($("values").value).catch(() => {}); };
$("reset").onclick = () => sendParams({});
new ResizeObserver(requestFrame).observe($("frame"));

const events = new EventSource("/events");
events.onmessage = () => { requestFrame(); refresh(); };  // the frame does not wait for the panes
events.onerror = () => { if (events.readyState === EventSource.CLOSED) setStatus("the server has stopped", true); };
