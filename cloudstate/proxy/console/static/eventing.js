// The console's Eventing & views page (loaded after console.js, whose helpers it uses):
// consumers with their lag and parked messages (charts from the page's sampling), the parked
// messages with Redrive / Redrive all / Discard, a consumer's reset (asks first), a view's
// rebuild with its progress, and a query box calling a view's query method through CallMethod.
"use strict";

function eventing(rest, page) {
  const body = el("div", { id: "consumers", "aria-live": "off" });
  const status = el("p", { id: "eventing-status", role: "status" });
  const parked = el("div", { id: "parked" });
  const reset = el("div", { id: "eventing-reset" });
  const rebuilds = el("div", { id: "rebuilds" });
  const query = el("div", { id: "view-query" });
  show(page, el("h2", {}, "Eventing & views"), body, status,
    el("h3", {}, "Parked messages"), parked,
    el("h3", {}, "Replay and reset"), reset,
    el("h3", {}, "View rebuilds"), rebuilds,
    el("h3", {}, "Query a view"), query);
  const act = async (what, path, request) => {
    try {
      const reply = await api(path, { method: "POST", body: JSON.stringify(request) });
      status.textContent = `${what}: ${JSON.stringify(reply)}`;
      status.className = "ok";
    } catch (error) {
      status.textContent = `${what}: ${error instanceof ApiError ? error.describe() : error}`;
      status.className = "error";
    }
    await Promise.all([refreshParked(), refreshRebuilds()]);
  };
  const draw = () => drawConsumers(body);
  page.onSample = draw;
  draw();
  const refreshParked = parkedMessages(parked, act);
  const refreshRebuilds = viewRebuilds(rebuilds);
  resetForms(reset, act);
  viewQuery(query);
  refreshParked();
  refreshRebuilds();
  every(page, () => Promise.all([refreshParked(), refreshRebuilds()]), POLL_MS);
}
eventing.title = "Eventing & views";

function drawConsumers(body) {
  const latest = history.consumers[history.consumers.length - 1];
  if (history.consumersError) {
    body.replaceChildren(notice(history.consumersError, "Consumers"));
    return;
  }
  if (!latest) {
    body.replaceChildren(el("p", {}, "Reading the consumers…"));
    return;
  }
  const rows = latest.consumers.map((c) => [c.consumerId, c.kind, c.source, String(c.offset),
    String(c.headOffset), String(c.pending), el("span", { class: "lag" }, Number(c.lagSeconds).toFixed(1)),
    String(c.delivered), String(c.failures), String(c.parked || 0), c.lastError]);
  const lag = {};
  const pending = {};
  const short = (id) => id.split(":").pop();
  for (const point of history.consumers) {
    for (const c of point.consumers) {
      (lag[short(c.consumerId)] = lag[short(c.consumerId)] || []).push({ t: point.t, v: c.lagSeconds });
      (pending[short(c.consumerId)] = pending[short(c.consumerId)] || []).push({ t: point.t, v: Number(c.pending) });
    }
  }
  body.replaceChildren(
    table("Consumers", ["Consumer", "Kind", "Source", "Offset", "Head", "Pending", "Lag (s)",
      "Delivered", "Failures", "Parked", "Last error"], rows, "consumers"),
    el("p", { class: "hint" }, "Lag: the age of the oldest event a consumer has not handled. " +
      "The charts cover the last five minutes (since the console was opened)."),
    el("div", { class: "charts" },
      chart("Lag, seconds", lag, "s"),
      chart("Pending events", pending, "")));
}

// Parked messages: one table, a Redrive all per consumer; Discard asks first (it is for good).
function parkedMessages(box, act) {
  let shown = "";
  return async () => {
    try {
      const data = await api("/v1/parked-messages");
      const text = JSON.stringify(data);
      if (text === shown) return; // unchanged: keep the page (and the focus) as it is
      shown = text;
      const messages = data.parked || [];
      const consumers = [...new Set(messages.map((m) => m.consumerId))];
      const all = consumers.map((id) => el("button", {
        type: "button", "aria-label": `Redrive all of ${id}`,
        onclick: () => act(`Redrive all of ${id}`, "/v1/parked-messages:redrive", { consumer_id: id, all: true }),
      }, `Redrive all (${id.split(":").pop()})`));
      box.replaceChildren(el("div", { class: "buttons" }, all), table("Parked messages",
        ["Consumer", "Offset", "What", "Type", "Event", "Attempts", "Last error", "Failed at", "Actions"],
        messages.map((m) => {
          const name = `${m.consumerId} @ ${m.offset}`;
          const one = { consumer_id: m.consumerId, offset: m.offset };
          const discard = el("button", { type: "button", class: "danger", "aria-label": `Discard ${name}` },
            "Discard");
          discard.addEventListener("click", () => {
            if (discard.dataset.armed) return act(`Discard ${name}`, "/v1/parked-messages:discard", one);
            discard.dataset.armed = "1";
            discard.textContent = "Really discard?";
            discard.setAttribute("aria-label", `Really discard ${name}? It is never delivered`);
          });
          return [m.consumerId, String(m.offset), m.what, m.type, el("pre", {}, json(m.data)),
            String(m.attempts), m.lastError, when(m.failedAt),
            el("span", { class: "buttons" },
              m.redrive ? el("span", {}, "redrive pending") : el("button", {
                type: "button", "aria-label": `Redrive ${name}`,
                onclick: () => act(`Redrive ${name}`, "/v1/parked-messages:redrive", one),
              }, "Redrive"),
              discard)];
        }), "parked"));
    } catch (error) {
      shown = "";
      box.replaceChildren(notice(error, "Parked messages"));
    }
  };
}

// Reset an eventing consumer (to the beginning, a time or an offset: asks first), rebuild a view.
async function resetForms(box, act) {
  let consumers;
  try {
    consumers = (await api("/v1/consumers")).consumers;
  } catch (error) {
    box.replaceChildren(notice(error, "Consumers"));
    return;
  }
  const eventingOnes = consumers.filter((c) => c.kind !== "view");
  const viewOnes = consumers.filter((c) => c.kind === "view");
  const forms = [];
  if (eventingOnes.length) {
    const consumer = el("select", { id: "reset-consumer" },
      eventingOnes.map((c) => el("option", { value: c.consumerId }, c.consumerId)));
    const to = el("select", { id: "reset-to" },
      el("option", { value: "beginning" }, "the beginning"),
      el("option", { value: "time" }, "a time"),
      el("option", { value: "offset" }, "after an offset"));
    const where = el("input", { id: "reset-where", type: "text", autocomplete: "off",
      placeholder: "2026-12-01T00:00:00Z or 42" });
    const button = el("button", { type: "submit", id: "reset-button", class: "danger" }, "Reset");
    const disarm = () => {
      delete button.dataset.armed;
      button.textContent = "Reset";
    };
    [consumer, to, where].forEach((input) => input.addEventListener("input", disarm));
    forms.push(el("form", { class: "inline", id: "reset-form", onsubmit: (event) => {
      event.preventDefault();
      if (!button.dataset.armed) {
        button.dataset.armed = "1";
        button.textContent = `Really reset ${consumer.value.split(":").pop()}?`;
        return;
      }
      disarm();
      const request = { consumer_id: consumer.value };
      if (to.value === "beginning") request.beginning = true;
      else if (to.value === "time") request.time = where.value.trim();
      else request.offset = where.value.trim();
      act(`Reset ${consumer.value}`, "/v1/consumers:reset", request);
    } }, field("Consumer", consumer), field("Reset to", to),
    field("Time or offset", where, "for a time or an offset"),
    el("div", { class: "buttons" }, button)));
  }
  if (viewOnes.length) {
    const view = el("select", { id: "rebuild-consumer" },
      viewOnes.map((c) => el("option", { value: c.consumerId },
        `${c.view || c.consumerId} (${(c.tables || []).join(", ")})`)));
    forms.push(el("form", { class: "inline", id: "rebuild-form", onsubmit: (event) => {
      event.preventDefault();
      act(`Rebuild ${view.value}`, "/v1/views:rebuild", { consumer_id: view.value });
    } }, field("View", view),
    el("div", { class: "buttons" }, el("button", { type: "submit", id: "rebuild-button" }, "Rebuild"))));
  }
  box.replaceChildren(...(forms.length ? forms : [el("p", {}, "No consumers to reset.")]),
    el("p", { class: "hint" }, "A reset delivers the events again from there (handlers see them " +
      "twice); a view is rebuilt instead: its current rows answer until the new ones caught up."));
}

function viewRebuilds(box) {
  let shown = "";
  return async () => {
    try {
      const data = await api("/v1/views/rebuilds");
      const text = JSON.stringify(data);
      if (text === shown) return;
      shown = text;
      box.replaceChildren(table("Running rebuilds", ["View", "Tables", "Generation", "Progress",
        "Pending", "Lag (s)", "Started"], (data.rebuilds || []).map((r) => [r.view,
        (r.tables || []).join(", "), String(r.generation),
        el("progress", { max: Math.max(1, Number(r.headOffset)), value: Number(r.offset),
          "aria-label": `${r.view}: offset ${r.offset} of ${r.headOffset}` }),
        String(r.pending), Number(r.lagSeconds).toFixed(1), when(r.started)]), "rebuilds"));
    } catch (error) {
      shown = "";
      box.replaceChildren(notice(error, "View rebuilds"));
    }
  };
}

// The query box: a view's query method (its own query language), called with a JSON request.
async function viewQuery(box) {
  let data;
  try {
    data = await describe();
  } catch (error) {
    box.replaceChildren(notice(error, "Views"));
    return;
  }
  const choices = [];
  for (const service of data.services.filter((s) => s.kind === "view")) {
    const routed = service.methods.filter((m) => m.httpRoutes.length && !m.clientStreaming);
    for (const method of routed.length ? routed : service.methods) choices.push([service, method]);
  }
  if (!choices.length) {
    box.replaceChildren(el("p", {}, "This user function has no views."));
    return;
  }
  const method = el("select", { id: "query-method" }, choices.map(([s, m], index) =>
    el("option", { value: index }, `${s.name}.${m.name}`)));
  const request = el("textarea", { id: "query-request", rows: 4, spellcheck: "false" });
  const fill = () => { request.value = json(skeleton(choices[method.value][1].inputType, 0)); };
  method.addEventListener("change", fill);
  fill();
  const status = el("p", { id: "query-status", role: "status" });
  const result = el("div", { id: "query-result", "aria-live": "polite" });
  const run = async () => {
    const [service, chosen] = choices[method.value];
    let body;
    try {
      body = JSON.parse(request.value || "{}");
    } catch (error) {
      status.textContent = `The request is not valid JSON: ${error.message}`;
      status.className = "error";
      return;
    }
    const replies = [];
    status.textContent = "Querying…";
    status.className = "";
    try {
      await callMethod(service.name, chosen.name, body, undefined, (reply) => replies.push(reply));
      const rows = replies.flatMap(resultRows);
      const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
      result.replaceChildren(table(`Results of ${chosen.name}`, columns,
        rows.map((row) => columns.map((c) => cellText(row[c]))), "query"));
      status.textContent = `OK: ${rows.length} ${rows.length === 1 ? "row" : "rows"}`;
      status.className = "ok";
    } catch (error) {
      status.textContent = error instanceof ApiError ? `Error ${error.describe()}` : String(error);
      status.className = "error";
    }
  };
  box.replaceChildren(el("form", { class: "call", id: "query-form",
    onsubmit: (event) => { event.preventDefault(); run(); } },
  field("Query method", method), field("Request (JSON)", request),
  el("div", { class: "buttons" }, el("button", { type: "submit", id: "query-button" }, "Query"))),
  status, result);
}

// A reply's rows: the items of its first list of messages (e.g. {"products": [...]}), else
// the reply itself as one row.
function resultRows(reply) {
  if (reply && typeof reply === "object" && !Array.isArray(reply)) {
    const list = Object.values(reply).find((v) => Array.isArray(v) && v.every(
      (item) => item && typeof item === "object"));
    if (list) return list;
    return [reply];
  }
  return [{ value: reply }];
}

function cellText(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
