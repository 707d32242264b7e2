// The Cloudstate developer console: one page, plain JavaScript, no dependencies. Everything it
// shows comes from the proxy's admin API (/v1/...) on the port that serves this file; with
// --jwt-key every call carries the token typed above (kept in sessionStorage for this tab).
"use strict";

const TOKEN_KEY = "cloudstate.console.token";
const POLL_MS = 1000;
const HISTORY_MS = 5 * 60 * 1000; // charts cover the last five minutes
const PAGE_SIZE = 20; // entity ids a page

// -- the admin API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // HTTP status
    this.code = code; // gRPC status name, e.g. NOT_FOUND
  }
  get unavailableHere() {
    // The operation is not on this proxy (no route) or declared but not implemented.
    return this.status === 404 && /no route/.test(this.message) || this.status === 501;
  }
  describe() {
    return `${this.status} ${this.code}: ${this.message}`;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra) {
  const all = Object.assign({ accept: "application/json" }, extra || {});
  if (token()) all.authorization = `Bearer ${token()}`;
  return all;
}

// gRPC status codes by number (the admin API's error bodies carry the number).
const CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

function codeName(code) {
  return typeof code === "number" ? CODES[code] || String(code) : String(code || "UNKNOWN");
}

async function errorOf(response) {
  let code = "UNKNOWN";
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    const error = body.error || body;
    code = error.status || error.code || code;
    message = error.message || message;
  } catch (ignored) {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, codeName(code), message);
}

async function api(path, options) {
  const init = Object.assign({}, options || {});
  init.headers = headers(init.body ? { "content-type": "application/json" } : {});
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "UNAVAILABLE", `the proxy does not answer (${error.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    noteAuth(error);
    throw error;
  }
  noteAuth(null);
  return response.json();
}

function noteAuth(error) {
  const banner = document.getElementById("banner");
  if (error && error.status === 403 && error.message.includes("--admin-jwt-claim")) {
    banner.textContent = `The admin API refused the token (403 ${error.code}): ${error.message}`;
    banner.hidden = false;
  } else if (error && error.status === 401) {
    banner.textContent = token()
      ? `The admin API refused the token (401 ${error.code}): ${error.message}`
      : "The admin API needs a token (401): this proxy runs with --jwt-key. " +
        "Enter a valid JWT in “Admin token” above.";
    banner.hidden = false;
  } else if (!error) {
    banner.hidden = true; // a call went through: the token (or none) is accepted
  }
}

// -- small DOM helpers --------------------------------------------------------------------

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let fieldCount = 0;
function field(labelText, input, hint) {
  const id = input.id || `field-${++fieldCount}`;
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id }, labelText), input,
    hint ? el("small", {}, hint) : null);
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function when(timestamp) {
  if (!timestamp) return "";
  const date = new Date(timestamp);
  return isNaN(date) ? String(timestamp) : date.toISOString().replace("T", " ").replace("Z", " UTC");
}

function table(caption, columns, rows, className) {
  const head = el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c))));
  // data-label: the column's name, shown before each cell when a narrow screen stacks the rows.
  const body = el("tbody", {}, rows.map((cells) =>
    el("tr", {}, cells.map((cell, index) => el("td", { "data-label": columns[index] }, cell)))));
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, "none")));
  }
  // A scrollable region on narrow screens, reachable with the keyboard.
  return el("div", { class: "scroll", role: "region", "aria-label": caption, tabindex: 0 },
    el("table", { class: className || "" }, el("caption", {}, caption), head, body));
}

function notice(error, what) {
  if (error instanceof ApiError && error.unavailableHere) {
    return el("p", { class: "unavailable" }, `${what}: not available on this proxy.`);
  }
  const text = error instanceof ApiError ? error.describe() : String(error);
  return el("p", { class: "error" }, `${what}: ${text}`);
}

function setBusy(node, busy) {
  node.setAttribute("aria-busy", busy ? "true" : "false");
}

// -- charts (inline SVG) ------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function formatNumber(value, unit) {
  if (value === null || value === undefined || isNaN(Number(value))) return "–";
  value = Number(value);
  if (unit === "ms") return `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;
  if (unit === "%") return `${value.toFixed(1)} %`;
  if (unit === "/s") return `${value < 10 ? value.toFixed(2) : value.toFixed(0)}/s`;
  if (unit === "s") return `${value.toFixed(1)} s`;
  return value < 10 && !Number.isInteger(value) ? value.toFixed(2) : String(Math.round(value));
}

// A small line chart of [{t, v}] (several series: {name: points}) over the last HISTORY_MS.
function chart(title, series, unit) {
  const width = 320;
  const height = 90;
  const pad = 4;
  const now = Date.now();
  const names = Object.keys(series);
  let top = 0;
  let seen = false;
  for (const name of names) {
    for (const point of series[name]) {
      if (point.v === null || isNaN(point.v)) continue;
      seen = true;
      if (point.v > top) top = point.v;
    }
  }
  const scale = top || 1;
  // The window: the history there is (at least a minute, at most HISTORY_MS), so that a page
  // opened a moment ago shows its few readings across the chart, not squeezed at its edge.
  let earliest = now;
  for (const name of names) if (series[name].length) earliest = Math.min(earliest, series[name][0].t);
  const span = Math.min(HISTORY_MS, Math.max(60 * 1000, now - earliest));
  const x = (t) => pad + (width - 2 * pad) * (1 - (now - t) / span);
  const y = (v) => height - pad - (height - 2 * pad) * (v / scale);
  const lastOf = (name) => {
    const points = series[name];
    return points.length ? points[points.length - 1].v : null;
  };
  const latest = names.map((name) => `${name} ${formatNumber(lastOf(name), unit)}`).join(", ");
  const peak = seen ? `peak ${formatNumber(top, unit)}` : "no data yet";
  const label = `${title}: ${latest || "no series"} (${peak})`;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label,
  });
  root.append(svg("title", {}, label));
  root.append(svg("rect", { x: 0, y: 0, width, height, class: "chart-bg" }));
  names.forEach((name, index) => {
    const points = series[name].filter((p) => p.v !== null && !isNaN(p.v) && now - p.t <= span);
    if (!points.length) return;
    const path = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points: path, class: `line line-${index % 4}` }));
  });
  const keys = names.map((name, index) => el("span", { class: `key key-${index % 4}` },
    `${name} ${formatNumber(lastOf(name), unit)}`));
  return el("figure", { class: "chart-box" }, root,
    el("figcaption", {}, el("strong", {}, title), " ", el("span", { class: "peak" }, `(${peak})`),
      el("span", { class: "keys" }, keys)));
}

// -- sampling (charts need history, kept while the console is open) ------------------------

// Readings of the last HISTORY_MS, and the error of the last reading that failed (null: none).
const history = { consumers: [], metrics: [], consumersError: null, metricsError: null };
let sampling = null;

async function sample() {
  const now = Date.now();
  const keep = (list) => {
    while (list.length && now - list[0].t > HISTORY_MS) list.shift();
  };
  const results = await Promise.allSettled([api("/v1/consumers"), api("/v1/metrics")]);
  history.consumersError = results[0].status === "rejected" ? results[0].reason : null;
  if (!history.consumersError) {
    history.consumers.push({ t: now, consumers: results[0].value.consumers });
    keep(history.consumers);
  }
  history.metricsError = results[1].status === "rejected" ? results[1].reason : null;
  if (!history.metricsError) {
    history.metrics.push({ t: now, metrics: results[1].value });
    keep(history.metrics);
  }
  if (current && current.onSample) current.onSample();
}

function startSampling() {
  if (sampling) return;
  const tick = async () => {
    try {
      await sample();
    } finally {
      sampling = setTimeout(tick, POLL_MS);
    }
  };
  sampling = setTimeout(tick, 0);
}

// -- pages ----------------------------------------------------------------------------------

// The page shown: {name, timers, onSample}. A page still loading when another is chosen is
// stale: what it shows or starts after that is dropped (see show and every).
let current = null;

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [name, ...rest] = hash.split("/");
  return { name: name || "services", rest };
}

function show(page, ...content) {
  if (page !== current) return;
  const main = document.getElementById("main");
  main.replaceChildren(...content);
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === page.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// Run fn every ms while the page is shown.
function every(page, fn, ms) {
  if (page !== current) return;
  page.timers.push(setInterval(fn, ms));
}

async function render() {
  if (current) current.timers.forEach(clearInterval);
  const { name, rest } = route();
  const pages = { services, entities, eventing, durable, workflows, health };
  const view = pages[name] || services;
  document.title = `${view.title} · Cloudstate console`;
  const page = current = { name: pages[name] ? name : "services", timers: [], onSample: null };
  try {
    await view(rest, page);
  } catch (error) {
    show(page, el("h2", {}, view.title), notice(error, view.title));
  }
}

// Services: schemas, routes, and a form calling a method through the proxy's transcoding.

let described = null;

async function describe() {
  // Read again at every visit: `cloudstate run --reload` may have changed the services.
  described = await api("/v1/describe");
  return described;
}

// The JSON forms of the well-known types (proto3 JSON mapping), for the form's skeletons.
const WELL_KNOWN = {
  "google.protobuf.Timestamp": "1970-01-01T00:00:00Z",
  "google.protobuf.Duration": "0s",
  "google.protobuf.FieldMask": "",
  "google.protobuf.Struct": {},
  "google.protobuf.Value": null,
  "google.protobuf.ListValue": [],
  "google.protobuf.Empty": {},
  "google.protobuf.Any": { "@type": "" },
  "google.protobuf.StringValue": "",
  "google.protobuf.BytesValue": "",
  "google.protobuf.BoolValue": false,
  "google.protobuf.Int32Value": 0,
  "google.protobuf.UInt32Value": 0,
  "google.protobuf.FloatValue": 0,
  "google.protobuf.DoubleValue": 0,
  "google.protobuf.Int64Value": "0",
  "google.protobuf.UInt64Value": "0",
};

function schemaOf(name) {
  return (described.messages || []).find((m) => m.name === name);
}

function skeleton(typeName, depth) {
  if (typeName in WELL_KNOWN) return WELL_KNOWN[typeName];
  const schema = schemaOf(typeName);
  if (!schema || depth > 3) return {};
  const value = {};
  for (const f of schema.fields) {
    let v;
    if (f.map) v = {};
    else if (f.type === "message") v = skeleton(f.typeName, depth + 1);
    else if (f.type === "string" || f.type === "bytes") v = "";
    else if (f.type === "bool") v = false;
    else if (f.type === "enum") v = (f.enumValues || [""])[0];
    else if (/64/.test(f.type)) v = "0";
    else v = 0;
    value[f.jsonName] = f.repeated && !f.map ? [] : v;
  }
  return value;
}

function schemaTable(title, typeName) {
  const schema = schemaOf(typeName);
  const rows = (schema ? schema.fields : []).map((f) => [
    el("code", {}, f.jsonName),
    f.name,
    f.typeName ? `${f.type} ${f.typeName}` : f.type,
    f.map ? "map" : f.repeated ? "repeated" : "",
  ]);
  return table(`${title}: ${typeName}`, ["JSON name", "Proto name", "Type", "Label"], rows, "schema");
}

async function services(rest, page) {
  const data = await describe();
  const [serviceName, methodName] = rest;
  const list = el("ul", { class: "methods" }, data.services.map((s) => el("li", {},
    el("span", { class: "service-name" }, s.name), " ",
    el("span", { class: "badge" }, s.kind),
    el("ul", {}, s.methods.map((m) => el("li", {}, el("a", {
      href: `#/services/${encodeURIComponent(s.name)}/${encodeURIComponent(m.name)}`,
      "aria-current": s.name === serviceName && m.name === methodName ? "true" : null,
    }, m.name)))))));
  const side = el("section", { class: "side", "aria-labelledby": "services-heading" },
    el("h2", { id: "services-heading" }, "Services"), list);
  const service = data.services.find((s) => s.name === serviceName);
  const method = service && service.methods.find((m) => m.name === methodName);
  const detail = method ? methodDetail(service, method)
    : el("section", { class: "detail" }, el("p", {}, "Choose a method to see its schema and call it."));
  show(page, el("div", { class: "split" }, side, detail));
}
services.title = "Services";

function methodDetail(service, method) {
  const streaming = [method.clientStreaming && "client-streaming",
    method.serverStreaming && "server-streaming"].filter(Boolean).join(", ");
  const request = el("textarea", { id: "call-request", rows: 8, spellcheck: "false" });
  request.value = json(method.clientStreaming ? [skeleton(method.inputType, 0)]
    : skeleton(method.inputType, 0));
  const result = el("div", { id: "call-result", class: "result", "aria-live": "polite" });
  const status = el("p", { id: "call-status", role: "status" });
  const callButton = el("button", { type: "button", id: "call-button" }, "Call");
  const stopButton = el("button", { type: "button", id: "call-stop", disabled: true }, "Stop");
  let controller = null;
  callButton.addEventListener("click", async () => {
    let body;
    try {
      body = JSON.parse(request.value || "{}");
    } catch (error) {
      status.textContent = `The request is not valid JSON: ${error.message}`;
      status.className = "error";
      return;
    }
    controller = new AbortController();
    callButton.disabled = true;
    stopButton.disabled = !method.serverStreaming;
    result.replaceChildren();
    status.className = "";
    status.textContent = "Calling…";
    setBusy(result, true);
    try {
      let received = 0;
      const count = await callMethod(service.name, method.name, body, controller.signal, (reply) => {
        result.append(el("pre", { class: "reply" }, json(reply)));
        received += 1;
        if (method.serverStreaming) {
          status.textContent = `Streaming: ${received} ${received === 1 ? "message" : "messages"} so far…`;
        }
      });
      status.textContent = `OK: ${count} ${count === 1 ? "reply" : "replies"}`;
      status.className = "ok";
    } catch (error) {
      if (error.name === "AbortError") {
        status.textContent = "Stopped.";
        status.className = "";
      } else {
        status.textContent = error instanceof ApiError ? `Error ${error.describe()}` : String(error);
        status.className = "error";
      }
    } finally {
      setBusy(result, false);
      callButton.disabled = false;
      stopButton.disabled = true;
    }
  });
  stopButton.addEventListener("click", () => controller && controller.abort());
  return el("section", { class: "detail", "aria-labelledby": "method-heading" },
    el("h2", { id: "method-heading" }, `${service.name.split(".").pop()}.${method.name}`),
    el("p", {}, el("code", {}, `${service.name}.${method.name}`),
      streaming ? el("span", { class: "badge" }, streaming) : null),
    el("h3", {}, "HTTP routes"),
    method.httpRoutes.length
      ? el("ul", { class: "routes" }, method.httpRoutes.map((r) => el("li", {}, el("code", {}, r))))
      : el("p", {}, "none (gRPC only)"),
    el("h3", {}, "Messages"),
    schemaTable("Request", method.inputType),
    schemaTable("Reply", method.outputType),
    el("h3", {}, "Call it"),
    el("p", { class: "hint" }, "The JSON goes through the proxy's transcoding, as a client's ",
      "request to POST /", `${service.name}/${method.name}`, " would; replies appear as they arrive."),
    el("form", { class: "call", onsubmit: (e) => { e.preventDefault(); callButton.click(); } },
      field(method.clientStreaming ? "Request messages (JSON array)" : "Request (JSON)", request),
      el("div", { class: "buttons" }, callButton, stopButton)),
    status, result);
}

async function callMethod(service, method, request, signal, onReply) {
  let response;
  try {
    response = await fetch("/v1/call", {
      method: "POST",
      headers: headers({ "content-type": "application/json", accept: "application/x-ndjson" }),
      body: JSON.stringify({ service, method, request }),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "UNAVAILABLE", `the proxy does not answer (${error.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    noteAuth(error);
    throw error;
  }
  // NDJSON: one reply per line, shown as each arrives.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let count = 0;
  const line = (text) => {
    if (!text.trim()) return;
    const item = JSON.parse(text);
    if (item.error) {
      throw new ApiError(200, codeName(item.error.code), item.error.message);
    }
    count += 1;
    onReply(item.reply === undefined ? item : item.reply);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop();
    lines.forEach(line);
  }
  line(buffered);
  return count;
}

// Entities: ids by prefix, paged; one entity's journal, snapshot, value or CRDT state, live.

let lastPrefix = "";

async function entities(rest, page) {
  const [serviceName, ...idParts] = rest;
  const entityId = idParts.join("/");
  const listed = await api("/v1/services");
  const stateful = listed.services.filter((s) => ["event-sourced", "value", "crdt"].includes(s.kind));
  const select = el("select", { id: "entity-service" }, stateful.map((s) => el("option", {
    value: s.name, selected: s.name === serviceName,
  }, `${s.name} (${s.kind})`)));
  const prefix = el("input", { id: "entity-prefix", type: "search", autocomplete: "off" });
  prefix.value = lastPrefix; // kept while moving between entities
  const ids = el("div", { id: "entity-ids", "aria-live": "polite" });
  const more = el("button", { type: "button", id: "entity-more", hidden: true }, "Next page");
  let nextToken = "";
  const load = async (append) => {
    lastPrefix = prefix.value;
    const query = new URLSearchParams({ prefix: prefix.value, page_size: String(PAGE_SIZE) });
    if (append && nextToken) query.set("page_token", nextToken);
    setBusy(ids, true);
    try {
      const data = await api(`/v1/services/${encodeURIComponent(select.value)}/entities?${query}`);
      const items = data.entityIds.map((id) => el("li", {}, el("a", {
        href: `#/entities/${encodeURIComponent(select.value)}/${encodeURIComponent(id)}`,
      }, id)));
      let list = ids.querySelector("ul");
      if (!append || !list) {
        list = el("ul", { class: "ids" });
        ids.replaceChildren(el("p", {}, `Entity ids of ${select.value}`), list);
      }
      list.append(...items);
      if (!list.children.length) ids.replaceChildren(el("p", {}, "No entities stored yet."));
      nextToken = data.nextPageToken;
      more.hidden = !nextToken;
    } catch (error) {
      ids.replaceChildren(notice(error, "Entity ids"));
    } finally {
      setBusy(ids, false);
    }
  };
  const search = el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); load(false); } },
    field("Service", select), field("Id prefix", prefix),
    el("div", { class: "buttons" }, el("button", { type: "submit", id: "entity-search" }, "Search")));
  more.addEventListener("click", () => load(true));
  const detail = el("section", { id: "entity", class: "detail", "aria-live": "polite" });
  show(page, el("h2", {}, "Entities"),
    stateful.length ? search : el("p", {}, "This user function has no entity services."),
    el("div", { class: "split" }, el("section", { class: "side" }, ids, more), detail));
  if (!stateful.length) return;
  await load(false);
  if (!entityId) {
    detail.append(el("p", {}, "Choose an entity to see its state."));
    return;
  }
  const live = el("input", { id: "entity-live", type: "checkbox", checked: true });
  let last = "";
  const body = el("div", {});
  detail.append(el("h3", { id: "entity-heading" }, `${entityId}`),
    el("div", { class: "check" }, live, el("label", { for: "entity-live" }, "Live updates (every second)")),
    body);
  const refresh = async () => {
    const query = new URLSearchParams({ service: select.value, entity_id: entityId, limit: "100" });
    try {
      const entity = await api(`/v1/entity?${query}`);
      const text = JSON.stringify(entity);
      if (text !== last) {
        last = text;
        body.replaceChildren(...entityView(entity));
      }
    } catch (error) {
      last = "";
      body.replaceChildren(notice(error, "Entity"));
    }
  };
  await refresh();
  every(page, () => { if (live.checked) refresh(); }, POLL_MS);
}
entities.title = "Entities";

function entityView(entity) {
  const parts = [el("p", { id: "entity-summary" }, `${entity.kind} entity of ${entity.service}: `,
    entity.found ? (entity.kind === "event-sourced"
      ? `${entity.eventsTotal} events in its journal` : "stored") : "nothing stored for this id",
    "; ", el("span", { id: "entity-activity" }, entity.active ? "active" : "passivated"))];
  if (entity.kind === "event-sourced") {
    const shown = entity.events.length;
    parts.push(table(`Journal (last ${shown} of ${entity.eventsTotal} events)`,
      ["Sequence", "Type", "Time", "Data"],
      entity.events.map((e) => [String(e.sequence), e.type, when(e.time), el("pre", {}, json(e.data))]),
      "journal"));
    if (entity.snapshot && entity.snapshot.type) {
      parts.push(el("h4", {}, `Snapshot at sequence ${entity.snapshot.sequence}: ${entity.snapshot.type}`),
        el("pre", { id: "entity-snapshot" }, json(entity.snapshot.data)));
    } else {
      parts.push(el("p", {}, "No snapshot."));
    }
  }
  if (entity.value && entity.value.type) {
    let data = entity.value.data;
    let what = `Value (version ${entity.value.version}): ${entity.value.type}`;
    if (entity.kind === "crdt") {
      // Stored as {"state": {"type": "gcounter", ...}, "v": 1}: show the state and its type.
      const inner = data && typeof data === "object" && data.state;
      const type = inner && inner.type ? inner.type : entity.value.type;
      if (inner) data = inner;
      what = `CRDT state (${type})`;
    }
    parts.push(el("h4", {}, what), el("pre", { id: "entity-value" }, json(data)));
  }
  return parts;
}

// Eventing and views: eventing.js.

// Durable calls: pending timers and effects, dead letters with redrive / drop.

async function durable(rest, page) {
  const timers = el("div", { id: "timers" });
  const letters = el("div", { id: "dead-letters" });
  const status = el("p", { id: "durable-status", role: "status" });
  const redriveAll = el("button", { type: "button", id: "redrive-all" }, "Redrive all");
  show(page, el("h2", {}, "Durable calls"), status,
    el("h3", {}, "Pending timers, durable effects and schedule ticks"), timers,
    el("h3", {}, "Dead letters"), el("div", { class: "buttons" }, redriveAll), letters);
  const act = async (what, path, body) => {
    try {
      const reply = await api(path, { method: "POST", body: JSON.stringify(body) });
      status.textContent = `${what}: ${JSON.stringify(reply)}`;
      status.className = "ok";
    } catch (error) {
      status.textContent = `${what}: ${error instanceof ApiError ? error.describe() : error}`;
      status.className = "error";
    }
    await Promise.all([refresh(), refreshLetters()]);
  };
  redriveAll.addEventListener("click", () => act("Redrive all", "/v1/dead-letters:redrive", { all: true }));
  let shownTimers = "";
  let shownLetters = "";
  const refresh = async () => {
    try {
      const data = await api("/v1/timers?limit=200");
      const text = JSON.stringify(data);
      if (text === shownTimers) return; // unchanged: keep the page (and the focus) as it is
      shownTimers = text;
      timers.replaceChildren(table("Pending", ["Name", "Key", "Target", "Due", "Attempts", "Last error"],
        data.timers.map((t) => [t.name, t.key, t.target, when(t.due), String(t.attempts), t.lastError])));
    } catch (error) {
      shownTimers = "";
      timers.replaceChildren(notice(error, "Pending timers"));
    }
  };
  const refreshLetters = async () => {
    try {
      const data = await api("/v1/dead-letters?limit=200");
      const text = JSON.stringify(data);
      if (text === shownLetters) return;
      shownLetters = text;
      redriveAll.disabled = !data.deadLetters.length;
      letters.replaceChildren(table("Dead letters", ["Name", "Target", "Attempts", "Failed at",
        "Last error", "Actions"], data.deadLetters.map((t) => {
        const drop = el("button", { type: "button", class: "danger", "aria-label": `Drop ${t.name}` },
          "Drop");
        drop.addEventListener("click", () => {
          if (drop.dataset.armed) return act(`Drop ${t.name}`, "/v1/dead-letters:drop", { name: t.name });
          drop.dataset.armed = "1";
          drop.textContent = "Really drop?";
          drop.setAttribute("aria-label", `Really drop ${t.name}? It is deleted for good`);
        });
        return [t.name, t.target, String(t.attempts), when(t.failedAt), t.lastError,
          el("span", { class: "buttons" },
            el("button", { type: "button", "aria-label": `Redrive ${t.name}`, onclick: () =>
              act(`Redrive ${t.name}`, "/v1/dead-letters:redrive", { name: t.name }) }, "Redrive"),
            drop)];
      })));
    } catch (error) {
      shownLetters = "";
      letters.replaceChildren(notice(error, "Dead letters"));
    }
  };
  const refreshBoth = () => Promise.all([refresh(), refreshLetters()]);
  await refreshBoth();
  every(page, refreshBoth, 2 * POLL_MS);
}
durable.title = "Durable calls";

// Workflows: workflows.js.

// Health: requests/s, error rate and latency percentiles per method, active entities, commits.

function percentile(buckets, total, q) {
  // buckets: [{le, count}] cumulative counts of an interval; linear within a bucket.
  if (!total) return null;
  const rank = q * total;
  let below = 0;
  let lower = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      const inBucket = b.count - below;
      const share = inBucket ? (rank - below) / inBucket : 1;
      return (lower + (b.le - lower) * share) * 1000;
    }
    below = b.count;
    lower = b.le;
  }
  return lower * 1000; // beyond the last bound
}

function delta(newer, older) {
  // Bucket counts of the interval between two readings.
  const before = new Map((older || []).map((b) => [b.le, Number(b.count)]));
  return (newer || []).map((b) => ({ le: b.le, count: Number(b.count) - (before.get(b.le) || 0) }));
}

function healthSeries() {
  const perMethod = {};
  const commit = { commits: [], p50: [], p99: [] };
  const samples = history.metrics;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const seconds = (b.t - a.t) / 1000;
    const before = new Map((a.metrics.methods || []).map((m) => [`${m.service}.${m.method}`, m]));
    for (const m of b.metrics.methods || []) {
      const key = `${m.service}.${m.method}`;
      const o = before.get(key) || { requests: 0, errors: 0, observed: 0, latency: [] };
      const requests = Number(m.requests) - Number(o.requests);
      const errors = Number(m.errors) - Number(o.errors);
      const observed = Number(m.observed) - Number(o.observed);
      const buckets = delta(m.latency, o.latency);
      const s = perMethod[key] = perMethod[key] || { rate: [], errors: [], p50: [], p99: [] };
      s.rate.push({ t: b.t, v: requests / seconds });
      s.errors.push({ t: b.t, v: requests ? 100 * errors / requests : 0 });
      s.p50.push({ t: b.t, v: percentile(buckets, observed, 0.5) });
      s.p99.push({ t: b.t, v: percentile(buckets, observed, 0.99) });
    }
    const commits = Number(b.metrics.storeCommits) - Number(a.metrics.storeCommits);
    const buckets = delta(b.metrics.storeCommit, a.metrics.storeCommit);
    commit.commits.push({ t: b.t, v: commits / seconds });
    commit.p50.push({ t: b.t, v: percentile(buckets, commits, 0.5) });
    commit.p99.push({ t: b.t, v: percentile(buckets, commits, 0.99) });
  }
  return { perMethod, commit };
}

function health(rest, page) {
  const body = el("div", { id: "health" });
  show(page, el("h2", {}, "Health"), body);
  const draw = () => {
    const latest = history.metrics[history.metrics.length - 1];
    if (history.metricsError) {
      body.replaceChildren(notice(history.metricsError, "Metrics"));
      return;
    }
    if (!latest) {
      body.replaceChildren(el("p", {}, "Reading the metrics…"));
      return;
    }
    const { perMethod, commit } = healthSeries();
    const m = latest.metrics;
    const active = (m.entities || []).map((e) => [e.service, e.entityType, String(e.active)]);
    const methods = Object.keys(perMethod).sort().map((key) => {
      const s = perMethod[key];
      return el("section", { class: "method-health" }, el("h4", {}, key),
        el("div", { class: "charts" },
          chart("Requests", { "req/s": s.rate }, "/s"),
          chart("Errors", { "% of requests": s.errors }, "%"),
          chart("Latency", { p50: s.p50, p99: s.p99 }, "ms")));
    });
    body.replaceChildren(
      el("p", {}, `Requests in flight: ${m.requestsInFlight}. The charts cover the last five ` +
        "minutes (since the console was opened), one reading a second; latencies are of unary calls."),
      table("Active entities", ["Service", "Entity type", "Active"], active),
      el("h3", {}, "Store commits"),
      el("div", { class: "charts" },
        chart("Commits", { "commits/s": commit.commits }, "/s"),
        chart("Commit latency", { p50: commit.p50, p99: commit.p99 }, "ms")),
      el("h3", {}, "Methods"),
      ...(methods.length ? methods : [el("p", {}, "No requests yet.")]));
  };
  page.onSample = draw;
  draw();
}
health.title = "Health";

// -- start ----------------------------------------------------------------------------------

function setUpToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  input.value = token();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    render();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    render();
  });
}

window.addEventListener("hashchange", async () => {
  await render();
  // Keyboard and screen-reader users land on what they chose: the method or entity heading
  // or workflow (below the list on a phone), else the page.
  const target = document.querySelector("#method-heading, #entity-heading, #workflow-heading") ||
    document.getElementById("main");
  target.setAttribute("tabindex", "-1");
  target.focus();
});
document.addEventListener("DOMContentLoaded", () => {
  setUpToken();
  render();
  startSampling();
});
