// painterly studio: the page. It uses only the JSON API described in docs/web.md.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TERMINAL = new Set(["done", "failed", "cancelled"]);
  const LOSS_ORDER = ["total", "content", "style", "tv"];
  // The same colours as the curves 'painterly --plot' draws (curves.py) and the legend (CSS).
  const CURVE_COLOURS = { total: "#1f2328", content: "#2f6fbf", style: "#c8553d", tv: "#3b8f6b" };

  // A token (needed when the server listens beyond loopback) comes in the address once;
  // it is kept for the tab so that reloads work, and sent with every API request.
  const token = (() => {
    const given = new URLSearchParams(location.search).get("token");
    if (given) sessionStorage.setItem("painterly-token", given);
    return given || sessionStorage.getItem("painterly-token") || "";
  })();

  const state = {
    schema: null,
    info: null, // GET /api/info: versions and limits (clips: state.info.clips)
    content: null,
    clip: null,
    styles: [],
    current: null, // id of the job shown
    source: null, // its EventSource
    shownPreview: null,
    charted: null, // the job whose curves are drawn
  };

  function withToken(url) {
    if (!token) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (token) headers["X-Painterly-Token"] = token;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
      throw new Error(typeof message === "string" ? message : JSON.stringify(message));
    }
    return body;
  }

  // --- the settings form, built from the server's schema of the Settings dataclass ---

  const ACRONYMS = { tv: "TV", lr: "LR", ema: "EMA" };

  function label(name) {
    const text = name.split("_").map((w) => ACRONYMS[w] || w).join(" ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function makeInput(name, prop) {
    let input;
    if (prop.enum) {
      input = document.createElement("select");
      for (const choice of prop.enum) {
        const option = document.createElement("option");
        option.value = option.textContent = choice;
        input.appendChild(option);
      }
    } else {
      input = document.createElement("input");
      if (prop.type === "integer" || prop.type === "number") {
        input.type = "number";
        input.step = prop.type === "integer" ? "1" : "any";
        input.inputMode = prop.type === "integer" ? "numeric" : "decimal";
        // Bounds come from the Settings field's metadata; the server checks them again.
        if (prop.minimum !== undefined) input.min = String(prop.minimum);
        if (prop.maximum !== undefined) input.max = String(prop.maximum);
      } else {
        input.type = "text";
      }
      if (prop.nullable) input.placeholder = "auto";
    }
    input.id = "setting-" + name;
    input.name = name;
    return input;
  }

  function setDefault(input, prop) {
    const value = prop.default;
    input.value = value === null || value === undefined ? "" : Array.isArray(value) ? value.join(",") : String(value);
  }

  function buildForm(schema) {
    const main = new Set(schema["x-main"]);
    for (const name of schema["x-order"]) {
      const prop = schema.properties[name];
      const field = document.createElement("div");
      field.className = "field" + (prop.type === "array" ? " wide" : "");
      const input = makeInput(name, prop);
      setDefault(input, prop);
      const title = document.createElement("label");
      title.htmlFor = input.id;
      title.textContent = label(name);
      const help = document.createElement("span");
      help.className = "help";
      help.textContent = prop.description;
      field.append(title, input, help);
      $(main.has(name) ? "main-fields" : "more-fields").appendChild(field);
    }
  }

  function resetForm() {
    for (const [name, prop] of Object.entries(state.schema.properties)) {
      setDefault($("setting-" + name), prop);
    }
  }

  function parseValue(text, prop, name) {
    const one = (raw, type) => {
      if (type === "integer" || type === "number") {
        const n = Number(raw);
        if (raw === "" || !Number.isFinite(n)) throw new Error(`${label(name)}: "${raw}" is not a number`);
        return n;
      }
      return raw;
    };
    if (prop.type === "array") {
      return text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => one(s, prop.items.type));
    }
    return one(text, prop.type);
  }

  // Only the values that differ from the defaults are sent: the server's Settings fills in
  // the rest, so the request says exactly what the user chose.
  function collectSettings() {
    const out = {};
    for (const [name, prop] of Object.entries(state.schema.properties)) {
      const text = $("setting-" + name).value.trim();
      if (text === "") {
        if (prop.nullable && prop.default !== null) out[name] = null;
        if (prop.nullable || prop.default === null) continue;
        throw new Error(`${label(name)} needs a value`);
      }
      const value = parseValue(text, prop, name);
      if (JSON.stringify(value) !== JSON.stringify(prop.default)) out[name] = value;
    }
    return out;
  }

  // --- choosing images ---

  function thumb(file, onRemove) {
    const box = document.createElement("div");
    box.className = "thumb";
    const video = isVideo(file);
    const img = document.createElement(video ? "video" : "img");
    img.src = URL.createObjectURL(file);
    if (video) { img.muted = true; img.preload = "metadata"; } else img.alt = file.name;
    const name = document.createElement("span");
    name.textContent = file.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.title = "Remove";
    remove.textContent = "×";
    remove.addEventListener("click", (event) => {
      event.preventDefault();
      event.stopPropagation();
      URL.revokeObjectURL(img.src);
      onRemove();
    });
    box.append(img, name, remove);
    return box;
  }

  function renderChosen() {
    const content = $("content-thumbs");
    content.replaceChildren();
    if (state.content) content.appendChild(thumb(state.content, () => { state.content = null; renderChosen(); }));
    $("content-drop").classList.toggle("filled", !!state.content);
    const styles = $("style-thumbs");
    styles.replaceChildren(...state.styles.map((file, i) => thumb(file, () => { state.styles.splice(i, 1); renderChosen(); })));
    $("style-drop").classList.toggle("filled", state.styles.length > 0);
    const clip = $("clip-thumbs");
    clip.replaceChildren();
    if (state.clip) clip.appendChild(thumb(state.clip, () => { state.clip = null; renderChosen(); }));
    $("clip-drop").classList.toggle("filled", !!state.clip);
  }

  function images(fileList) {
    return Array.from(fileList).filter((f) => f.type === "" || f.type.startsWith("image/"));
  }

  function isVideo(file) {
    return file.type.startsWith("video/") || /\.(mp4|mov|mkv|webm)$/i.test(file.name);
  }

  function videos(fileList) {
    return Array.from(fileList).filter((f) => f.type === "" || isVideo(f));
  }

  function wireDrop(zone, input, take, accept = images) {
    input.addEventListener("change", () => { take(accept(input.files)); input.value = ""; });
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      take(accept(event.dataTransfer.files));
    });
  }

  // The clip limits the server states, in one line under the drop zone.
  function clipLimits(limits) {
    const mb = limits.max_bytes / 2 ** 20;
    return `MP4, MOV, MKV or WebM, up to ${limits.max_seconds} s, ${limits.max_frames} frames and ` +
      `${mb >= 1 ? Math.round(mb) + " MB" : Math.round(limits.max_bytes / 1024) + " kB"}; ` +
      `painted at up to ${limits.max_side} px with the sound kept.`;
  }

  // --- the loss curves: every step's losses (the job's history), log y, one band per scale ---

  // Ticks for the step axis: 1, 2 or 5 times a power of ten, at most about six of them.
  function stepTicks(first, last) {
    const span = Math.max(1, last - first);
    let unit = Math.pow(10, Math.floor(Math.log10(span)));
    for (const k of [1, 2, 5, 10]) if (span / (k * unit) <= 6) { unit *= k; break; }
    const ticks = [];
    for (let t = Math.ceil(first / unit) * unit; t <= last; t += unit) ticks.push(t);
    return ticks;
  }

  function power(exponent) {
    return exponent >= -2 && exponent <= 3 ? String(Math.pow(10, exponent)) : `1e${exponent}`;
  }

  // The y range in log10: up to the highest value, down to each term's typical level (a
  // brief dip, e.g. the content loss at the first step, is left below the axis).
  function logRange(losses) {
    let high = -Infinity;
    const lows = [];
    for (const values of Object.values(losses)) {
      const shown = values.filter((v) => v > 0 && Number.isFinite(v)).sort((a, b) => a - b);
      if (!shown.length) continue;
      high = Math.max(high, shown[shown.length - 1]);
      lows.push(Math.max(shown[0], shown[Math.floor(shown.length / 2)] / 30));
    }
    if (!lows.length) return null;
    let low = Math.log10(Math.min(...lows) / 1.5);
    let top = Math.log10(high * 1.4);
    if (top - low < 1) { const mid = (top + low) / 2; low = mid - 0.5; top = mid + 0.5; }
    return [low, top];
  }

  function drawChart(job) {
    state.charted = job;
    const canvas = $("chart");
    const history = job && job.history;
    const n = history && history.steps ? history.steps.length : 0;
    canvas.dataset.points = String(n);
    $("chart-empty").hidden = n > 0;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const range = n ? logRange(history.losses) : null;
    if (!range || width < 80 || height < 80) return;

    const box = { left: 44, right: width - 6, top: 18, bottom: height - 20 };
    const steps = history.steps;
    const first = steps[0];
    const last = Math.max(job.total || 0, steps[n - 1]); // the axis runs to the last step
    const x = (step) => box.left + ((step - first + 0.5) / (last - first + 1)) * (box.right - box.left);
    const y = (v) => box.bottom - ((Math.log10(v) - range[0]) / (range[1] - range[0])) * (box.bottom - box.top);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    // Scales: alternate bands, a dashed line where each begins, its size on top.
    const scales = history.scales || [];
    scales.forEach((scale, i) => {
      const from = x(scale.step - 0.5);
      const to = i + 1 < scales.length ? x(scales[i + 1].step - 0.5) : x(steps[n - 1] + 0.5);
      if (i % 2) { ctx.fillStyle = "rgba(0, 0, 0, 0.05)"; ctx.fillRect(from, box.top, to - from, box.bottom - box.top); }
      if (i) {
        ctx.strokeStyle = "#9a9890";
        ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(from + 0.5, box.top); ctx.lineTo(from + 0.5, box.bottom); ctx.stroke();
        ctx.setLineDash([]);
      }
      const text = `${scale.size[1]}×${scale.size[0]}`;
      if (ctx.measureText(text).width < to - from - 2) {
        ctx.fillStyle = "#6b6f76";
        ctx.textAlign = "center";
        ctx.fillText(text, (from + to) / 2, box.top - 9);
      }
    });

    // Axes: powers of ten on y, round steps on x.
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#e3e1dc";
    ctx.fillStyle = "#6b6f76";
    ctx.textAlign = "right";
    for (let e = Math.ceil(range[0]); e <= Math.floor(range[1]); e++) {
      const at = Math.round(y(Math.pow(10, e))) + 0.5;
      ctx.beginPath(); ctx.moveTo(box.left, at); ctx.lineTo(box.right, at); ctx.stroke();
      ctx.fillText(power(e), box.left - 5, at);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of stepTicks(first, last)) ctx.fillText(String(t), x(t), box.bottom + 5);
    ctx.strokeStyle = "#c9c6bf";
    ctx.beginPath(); ctx.moveTo(box.left, box.bottom + 0.5); ctx.lineTo(box.right, box.bottom + 0.5); ctx.stroke();

    // The curves, total last (on top); a zero or missing value is a gap.
    ctx.save();
    ctx.beginPath(); ctx.rect(box.left, box.top, box.right - box.left, box.bottom - box.top); ctx.clip();
    const terms = Object.keys(history.losses).filter((t) => t !== "total");
    if ("total" in history.losses) terms.push("total");
    for (const term of terms) {
      ctx.strokeStyle = CURVE_COLOURS[term] || "#9a9890";
      ctx.lineWidth = term === "total" ? 2.2 : 1.5;
      ctx.lineJoin = "round";
      ctx.beginPath();
      let drawing = false;
      history.losses[term].forEach((v, i) => {
        if (!(v > 0 && Number.isFinite(v))) { drawing = false; return; }
        if (drawing) ctx.lineTo(x(steps[i]), y(v)); else ctx.moveTo(x(steps[i]), y(v));
        drawing = true;
      });
      ctx.stroke();
    }
    ctx.restore();
  }

  // --- a job: start, follow, show ---

  function showError(id, message) {
    const el = $(id);
    el.textContent = message || "";
    el.hidden = !message;
  }

  function mode() {
    const chosen = document.querySelector("input[name=mode]:checked");
    return chosen ? chosen.value : "paint";
  }

  const HINTS = {
    paint: "Choose a photo and a painting, then press Paint. The image is shown as it is painted.",
    instant: "Choose a photo and a style, then press Stylise.",
    clip: "Choose a clip and a style, then press Stylise clip. Its latest frame is shown as it goes.",
  };

  function showMode() {
    const chosen = mode();
    const shown = { "paint-only": chosen === "paint", "photo-only": chosen !== "clip", "clip-only": chosen === "clip" };
    for (const [name, on] of Object.entries(shown)) {
      for (const el of document.querySelectorAll("." + name)) el.hidden = !on;
    }
    $("instant-fields").hidden = chosen === "paint";
    const size = $("instant-size");
    size.max = String(chosen === "clip" && state.info ? state.info.clips.max_side : 1024);
    $("start").textContent = { paint: "Paint", instant: "Stylise", clip: "Stylise clip" }[chosen];
    const [title, help] = $("placeholder").querySelectorAll("p");
    title.firstElementChild.textContent = chosen === "clip" ? "Your clip appears here" : "Your picture appears here";
    help.textContent = HINTS[chosen];
  }

  // Instant mode: one request, answered with the PNG; no job, no queue.
  async function instant() {
    if (!state.content) throw new Error("Choose a photo first.");
    const form = new FormData();
    form.append("content", state.content, state.content.name);
    form.append("model", $("instant-model").value);
    form.append("size", $("instant-size").value || "512");
    form.append("preserve_color", $("instant-colour").value);
    const headers = token ? { "X-Painterly-Token": token } : {};
    const began = performance.now();
    const badge = $("state");
    badge.textContent = badge.dataset.state = "running";
    const response = await fetch("/api/instant", { method: "POST", body: form, headers });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      badge.textContent = badge.dataset.state = "failed";
      throw new Error(message);
    }
    const url = URL.createObjectURL(await response.blob());
    if (state.source) state.source.close();
    state.current = null;
    const img = $("preview");
    img.src = url;
    img.hidden = false;
    $("placeholder").hidden = true;
    badge.textContent = badge.dataset.state = "done";
    $("step-text").textContent = `Instant: ${$("instant-model").value}`;
    $("eta").textContent = `· ${((performance.now() - began) / 1000).toFixed(1)} s`;
    $("bar").style.width = "100%";
    $("losses").replaceChildren();
    drawChart(null);
    $("cancel").hidden = true;
    const download = $("download");
    download.href = url;
    download.download = "painterly-instant.png";
    download.textContent = "Download PNG";
    download.hidden = false;
  }

  // Clip mode: the clip goes to the server as a job, followed like a painting.
  function clipForm() {
    if (!state.clip) throw new Error("Choose a clip first.");
    const limits = state.info.clips;
    if (state.clip.size > limits.max_bytes) {
      throw new Error(`${state.clip.name} is ${(state.clip.size / 2 ** 20).toFixed(1)} MB: ${clipLimits(limits)}`);
    }
    const form = new FormData();
    form.append("clip", state.clip, state.clip.name);
    form.append("model", $("instant-model").value);
    form.append("size", $("instant-size").value || String(limits.default_side));
    form.append("temporal", $("clip-temporal").value || String(limits.default_temporal));
    form.append("preserve_color", $("instant-colour").value);
    return form;
  }

  function paintForm() {
    if (!state.content) throw new Error("Choose a photo first.");
    if (!state.styles.length) throw new Error("Choose at least one painting.");
    const form = new FormData();
    form.append("content", state.content, state.content.name);
    for (const file of state.styles) form.append("style", file, file.name);
    form.append("settings", JSON.stringify(collectSettings()));
    return form;
  }

  async function loadModels() {
    try {
      const { models } = await api("/api/models");
      if (!models.length) return;
      $("instant-model").replaceChildren(...models.map((m) => {
        const option = document.createElement("option");
        option.value = m.name;
        option.textContent = m.name.replace(/_/g, " ");
        return option;
      }));
      $("mode-section").hidden = false;
    } catch (_) { /* no instant mode on this server */ }
  }

  function offerClips(info) {
    const clips = info.clips;
    if (!clips || !clips.available) return;
    $("clip-mode").hidden = false;
    $("clip-limits").textContent = clipLimits(clips);
  }

  async function start(event) {
    event.preventDefault();
    showError("form-error", "");
    if (mode() === "instant") {
      $("start").disabled = true;
      try { await instant(); } catch (err) { showError("form-error", err.message); }
      finally { $("start").disabled = false; }
      return;
    }
    try {
      const clip = mode() === "clip";
      const form = clip ? clipForm() : paintForm();
      $("start").disabled = true;
      const job = await api(clip ? "/api/clips" : "/api/jobs", { method: "POST", body: form });
      state.shownPreview = null;
      show(job);
      follow(job.id);
      refreshJobs();
    } catch (err) {
      showError("form-error", err.message);
    } finally {
      $("start").disabled = false;
    }
  }

  function follow(id) {
    if (state.source) state.source.close();
    const source = new EventSource(withToken(`/api/jobs/${id}/events`));
    state.source = source;
    source.addEventListener("job", (event) => {
      const job = JSON.parse(event.data);
      if (job.id === state.current) show(job);
      if (TERMINAL.has(job.state)) refreshJobs();
    });
    source.addEventListener("end", () => { source.close(); refreshJobs(); });
  }

  function seconds(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return `${Math.max(1, Math.round(s))} s`;
    const m = Math.floor(s / 60);
    return `${m} min ${Math.round(s - 60 * m)} s`;
  }

  function number(x) {
    return Math.abs(x) >= 1000 || (Math.abs(x) < 0.001 && x !== 0) ? x.toExponential(2) : x.toPrecision(3);
  }

  function showPreview(url) {
    if (!url || url === state.shownPreview) return;
    state.shownPreview = url;
    const next = new Image();
    next.onload = () => {
      const img = $("preview");
      img.src = next.src;
      img.hidden = false;
      $("placeholder").hidden = true;
    };
    next.src = withToken(url);
  }

  function show(job) {
    state.current = job.id;
    const badge = $("state");
    badge.textContent = job.state;
    badge.dataset.state = job.state;
    badge.dataset.job = job.id;
    const clip = job.kind === "clip";
    $("step-text").textContent = job.total ? `${clip ? "Frame" : "Step"} ${job.step} of ${job.total}` : "";
    $("eta").textContent = job.state === "running" && job.eta !== null ? `· ${seconds(job.eta)} left`
      : TERMINAL.has(job.state) && job.elapsed ? `· ${seconds(job.elapsed)}` : "";
    $("bar").style.width = job.total ? `${(100 * job.step) / job.total}%` : "0";
    const losses = $("losses");
    losses.replaceChildren(...LOSS_ORDER.filter((k) => k in job.losses).map((k) => {
      const row = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = number(job.losses[k]);
      row.append(dt, dd);
      return row;
    }));
    $("chart-box").hidden = clip; // a clip has no losses: the frame gets the room
    $("canvas").parentElement.classList.toggle("single", clip);
    if (!clip) drawChart(job);
    showError("job-error", job.state === "failed" ? job.error : "");
    $("cancel").hidden = TERMINAL.has(job.state);
    const download = $("download");
    download.hidden = !job.urls.result;
    if (job.urls.result) {
      const format = job.format || "png";
      download.href = withToken(job.urls.result);
      download.download = `painterly-${job.id.slice(0, 8)}.${format}`;
      download.textContent = `Download ${format.toUpperCase()}`;
    }
    if (job.urls.preview) showPreview(job.urls.preview);
    for (const card of document.querySelectorAll(".job")) card.classList.toggle("selected", card.dataset.id === job.id);
  }

  function clearStage() {
    $("preview").hidden = true;
    $("placeholder").hidden = false;
    state.shownPreview = null;
  }

  async function select(job) {
    clearStage();
    show(job);
    if (!TERMINAL.has(job.state)) follow(job.id);
    else {
      try {
        const full = await api(job.urls.self); // with its history, for the curves
        if (state.current === job.id) show(full);
      } catch (_) { /* gone meanwhile: the card shows what it can */ }
    }
  }

  async function cancel() {
    if (!state.current) return;
    try {
      show(await api(`/api/jobs/${state.current}`, { method: "DELETE" }));
    } catch (err) {
      showError("job-error", err.message);
    }
  }

  // --- recent jobs ---

  function jobCard(job) {
    const card = document.createElement("li");
    card.className = "job" + (job.id === state.current ? " selected" : "");
    card.dataset.id = job.id;
    card.title = job.inputs.map((i) => i.name).join(" × ");
    const pic = document.createElement("div");
    pic.className = "pic";
    if (job.urls.preview) {
      const img = document.createElement("img");
      img.loading = "lazy";
      img.alt = "";
      img.src = withToken(job.urls.preview);
      pic.appendChild(img);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = job.inputs.length ? job.inputs[0].name : job.id.slice(0, 8);
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.state = job.state;
    badge.textContent = job.state;
    meta.append(name, badge);
    card.append(pic, meta);
    card.addEventListener("click", () => select(job));
    return card;
  }

  async function refreshJobs() {
    try {
      const { jobs } = await api("/api/jobs");
      $("jobs").replaceChildren(...jobs.map(jobCard));
      $("no-jobs").hidden = jobs.length > 0;
    } catch (err) {
      showError("job-error", err.message);
    }
  }

  async function init() {
    wireDrop($("content-drop"), $("content-input"), (files) => { if (files.length) state.content = files[0]; renderChosen(); });
    wireDrop($("style-drop"), $("style-input"), (files) => { state.styles.push(...files); renderChosen(); });
    wireDrop($("clip-drop"), $("clip-input"), (files) => { if (files.length) state.clip = files[0]; renderChosen(); }, videos);
    $("job-form").addEventListener("submit", start);
    $("reset").addEventListener("click", () => resetForm());
    $("cancel").addEventListener("click", cancel);
    for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", showMode);
    window.addEventListener("resize", () => drawChart(state.charted));
    loadModels();
    try {
      const [info, schema] = await Promise.all([api("/api/info"), api("/api/settings")]);
      $("version").textContent = "v" + info.version;
      state.info = info;
      offerClips(info);
      state.schema = schema;
      buildForm(schema);
      document.body.dataset.ready = "1";
    } catch (err) {
      showError("form-error", "Cannot reach the studio: " + err.message);
    }
    refreshJobs();
  }

  init();
})();
