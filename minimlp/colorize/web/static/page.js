// The colorizer page: photos dropped or picked are sent one request each (two at a time) to /api/colorize, whose
// answer is lines of JSON as the work goes; each photo's card shows the progress, then the gray input, the result
// and (colour photos) the original, with a before/after slider, or the one-line reason it was not colorized.
"use strict";

const PARALLEL = 2;   // uploads in flight at once (the server colorizes one photo at a time)
// where the progress bar stands as each stage begins (uploading fills the bar up to the first of these)
const STAGE_PROGRESS = { waiting: 0.3, reading: 0.4, colorizing: 0.55, encoding: 0.8 };
const STAGE_TEXT = { waiting: "waiting for the photo before it", reading: "reading", colorizing: "colorizing",
                     encoding: "writing the PNGs" };
const $ = (selector, root = document) => root.querySelector(selector);
const cards = [];
const waiting = [];
let inFlight = 0;
let limits = {};
let models = [];

function mib(bytes) {
  return (bytes / 2 ** 20).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

// the server's own refusal of an upload past its byte limit (upload.too_large), said before sending it
function tooLarge(name, size) {
  return `cannot read image ${name}: ${mib(size)} MiB, more than the ${limits.max_upload_bytes / 2 ** 20} MiB ` +
         "an upload may have";
}

function chosenModel() {
  return models.find(m => m.id === $("#model").value);
}

function showTemperature() {
  const model = chosenModel();
  $("#temperature-field").hidden = !model.vivid;
  if (model.vivid) {
    $("#temperature").value = model.temperature;
    $("#temperature-value").textContent = Number(model.temperature).toFixed(2);
  }
}

function makeCard(file) {
  const el = $("#card").content.firstElementChild.cloneNode(true);
  const card = { file, el, id: null, stage: null, startedAt: 0, timer: null };
  $(".name", el).textContent = file.name;
  const slider = $(".slider", el);
  slider.addEventListener("input", () => {
    $(".over", el).style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`;
    $(".line", el).style.left = `${slider.value}%`;
  });
  $(".before", el).addEventListener("change", event => {
    $(".over img", el).src = `/api/results/${card.id}/${event.target.value}.png`;
  });
  $("#photos").append(el);
  return card;
}

function setProgress(card, value, text) {
  $(".status", card.el).hidden = false;
  $("progress", card.el).value = value;
  $(".stage", card.el).textContent = text;
}

function setStage(card, stage) {
  card.stage = stage;
  setProgress(card, STAGE_PROGRESS[stage], STAGE_TEXT[stage]);
}

function stopTimer(card) {
  clearInterval(card.timer);
  $(".status", card.el).hidden = true;
}

function showError(card, message) {
  stopTimer(card);
  card.el.dataset.state = "error";
  $(".error", card.el).textContent = message;
  $(".error", card.el).hidden = false;
}

function showResult(card, done) {
  stopTimer(card);
  card.id = done.id;
  card.el.dataset.state = "done";
  const base = `/api/results/${done.id}/`;
  $(".size", card.el).textContent = `${done.width} × ${done.height} px, ${done.seconds.toFixed(1)} s`;
  $(".under", card.el).src = base + "result.png";
  $(".over img", card.el).src = base + "gray.png";
  $(".gray img", card.el).src = base + "gray.png";
  $(".result img", card.el).src = base + "result.png";
  const before = $(".before", card.el);
  before.value = "gray";
  before.querySelector("option[value=original]")?.remove();
  $(".original", card.el).hidden = !done.colour;
  if (done.colour) {
    $(".original img", card.el).src = base + "original.png";
    before.append(new Option("original", "original"));
  }
  const download = $(".download", card.el);
  download.href = base + "result.png";
  download.download = done.download;
  download.hidden = false;
  $(".views", card.el).hidden = false;
  updateZip();
}

function updateZip() {
  const ids = cards.filter(c => c.el.dataset.state === "done").map(c => c.id);
  const zip = $("#zip");
  zip.classList.toggle("disabled", ids.length === 0);
  zip.setAttribute("aria-disabled", String(ids.length === 0));
  zip.href = ids.length ? `/api/zip?ids=${ids.join(",")}` : "#";
  $("#again").disabled = cards.length === 0;
}

function handleLine(card, line) {
  const message = JSON.parse(line);
  if (message.stage) setStage(card, message.stage);
  else if (message.done) showResult(card, message.done);
  else if (message.error) showError(card, message.error);
}

// send one photo; resolves when its answer has ended, however it ended
function upload(card) {
  const model = chosenModel();
  const query = new URLSearchParams({ name: card.file.name, model: model.id });
  if (model.vivid) query.set("temperature", $("#temperature").value);
  card.el.dataset.state = "working";
  card.startedAt = performance.now();
  card.timer = setInterval(() => {
    if (!card.stage || card.stage === "uploading") return;
    const seconds = Math.round((performance.now() - card.startedAt) / 1000);
    $(".stage", card.el).textContent = `${STAGE_TEXT[card.stage]}… ${seconds} s`;
  }, 500);
  return new Promise(resolve => {
    const request = new XMLHttpRequest();
    let read = 0;
    const readLines = final => {
      const text = request.responseText;
      const end = final ? text.length : text.lastIndexOf("\n") + 1;
      for (const line of text.slice(read, end).split("\n")) if (line.trim()) handleLine(card, line);
      read = Math.max(read, end);
    };
    request.open("POST", `/api/colorize?${query}`);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    card.stage = "uploading";
    request.upload.onprogress = event => {
      if (event.lengthComputable) {
        const part = event.loaded / event.total;
        setProgress(card, STAGE_PROGRESS.waiting * part, `uploading ${Math.round(100 * part)}%`);
      }
    };
    request.onprogress = () => { if (request.status === 200) readLines(false); };
    request.onload = () => {
      if (request.status === 200) readLines(true);
      else showError(card, JSON.parse(request.responseText).error);
      if (card.el.dataset.state === "working") showError(card, `${card.file.name}: the answer ended early`);
      resolve();
    };
    request.onerror = () => { showError(card, "the server did not answer: is minimlp-colorize serve running?"); resolve(); };
    request.send(card.file);
  });
}

function pump() {
  while (inFlight < PARALLEL && waiting.length) {
    inFlight += 1;
    upload(waiting.shift()).then(() => { inFlight -= 1; pump(); });
  }
}

function enqueue(card) {
  card.el.dataset.state = "queued";
  card.stage = null;
  $(".error", card.el).hidden = true;
  $(".views", card.el).hidden = true;
  $(".download", card.el).hidden = true;
  if (card.file.size > limits.max_upload_bytes) {
    showError(card, tooLarge(card.file.name, card.file.size));
    return;
  }
  setProgress(card, 0, "waiting to upload");
  waiting.push(card);
  pump();
}

function addFiles(files) {
  for (const file of files) {
    const card = makeCard(file);
    cards.push(card);
    enqueue(card);
  }
  updateZip();
}

async function start() {
  const info = await (await fetch("/api/models")).json();
  models = info.models;
  limits = info;
  for (const model of models) $("#model").append(new Option(model.label, model.id));
  $("#model").addEventListener("change", showTemperature);
  showTemperature();
  $("#temperature").addEventListener("input", e => {
    $("#temperature-value").textContent = Number(e.target.value).toFixed(2);
  });
  $("#limits").textContent = `any size up to ${(info.max_pixels / 1e6).toLocaleString("en-US")} million pixels ` +
    `and ${info.max_upload_bytes / 2 ** 20} MiB; JPEG, PNG, TIFF, WebP, BMP, GIF and every other format Pillow reads`;
  $("#files").addEventListener("change", e => { addFiles(e.target.files); e.target.value = ""; });
  const drop = $("#drop");
  window.addEventListener("dragover", e => e.preventDefault());
  window.addEventListener("drop", e => e.preventDefault());
  drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", e => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  $("#again").addEventListener("click", () => {
    cards.filter(c => ["done", "error"].includes(c.el.dataset.state)).forEach(enqueue);
  });
  document.body.dataset.ready = "true";
}

start();
