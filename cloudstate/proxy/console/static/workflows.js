// The console's Workflows page (loaded after console.js, whose helpers it uses): per workflow
// service its workflows, a page at a time; one workflow's state, step and history, read again
// every second while it is open, with Suspend / Resume / Cancel (a refusal shows the engine's
// message, HTTP 409). Admin operations: ListServices, ListWorkflows, GetWorkflow and the controls.
"use strict";

const WORKFLOW_PAGE_SIZE = 20;

async function workflows(rest, page) {
  const [serviceName, workflowId] = rest;
  const listed = await api("/v1/services");
  const services = listed.services.filter((s) => s.kind === "workflow").map((s) => s.name);
  if (!services.length) {
    show(page, el("h2", {}, "Workflows"),
      el("div", { id: "workflows" }, el("p", { class: "unavailable" },
        "This user function has no workflow services.")));
    return;
  }
  const service = services.includes(serviceName) ? serviceName : services[0];
  const select = el("select", { id: "workflow-service" },
    services.map((name) => el("option", { value: name, selected: name === service }, name)));
  select.addEventListener("change", () => { location.hash = `#/workflows/${select.value}`; });
  const list = el("div", { id: "workflows", "aria-live": "off" });
  const more = el("button", { type: "button", id: "workflows-more", hidden: true }, "Next page");
  const detail = el("section", { id: "workflow", class: "detail" });
  show(page, el("h2", {}, "Workflows"), field("Workflow service", select),
    el("div", { class: "split" }, el("section", { class: "side" }, list, more), detail));

  // The list: the first pages shown so far, read again every second (statuses move).
  let tokens = [""];
  let shownList = "";
  const loadList = async () => {
    const rows = [];
    let next = "";
    try {
      for (const pageToken of tokens) {
        const query = new URLSearchParams({ page_size: String(WORKFLOW_PAGE_SIZE), page_token: pageToken });
        const data = await api(`/v1/workflows/${encodeURIComponent(service)}?${query}`);
        rows.push(...data.workflows);
        next = data.nextPageToken || "";
      }
    } catch (error) {
      shownList = "";
      list.replaceChildren(notice(error, "Workflows"));
      return;
    }
    const text = JSON.stringify([rows, next]);
    if (text === shownList) return; // unchanged: keep the page (and the focus) as it is
    shownList = text;
    more.hidden = !next;
    more.dataset.next = next;
    list.replaceChildren(table(`Workflows of ${service}`,
      ["Workflow", "Status", "Step", "Attempt", "Transitions", "Reason"],
      rows.map((w) => [
        el("a", { href: `#/workflows/${service}/${encodeURIComponent(w.workflowId)}`,
          "aria-current": w.workflowId === workflowId ? "true" : null }, w.workflowId),
        el("span", { class: `status status-${w.status.toLowerCase()}` }, w.status),
        w.step, String(w.attempt), String(w.transitions), w.reason]), "workflows"));
  };
  more.addEventListener("click", () => {
    tokens.push(more.dataset.next);
    loadList();
  });
  await loadList();
  every(page, loadList, POLL_MS);
  if (!workflowId) {
    detail.append(el("p", {}, "Choose a workflow to see its state and history."));
    return;
  }
  await workflowDetail(page, detail, service, workflowId, loadList);
}
workflows.title = "Workflows";

const CONTROLS = {
  suspend: ["RUNNING", "WAITING"],
  resume: ["SUSPENDED"],
  cancel: ["RUNNING", "WAITING", "SUSPENDED"],
};

async function workflowDetail(page, detail, service, workflowId, loadList) {
  const path = `/v1/workflows/${encodeURIComponent(service)}/${encodeURIComponent(workflowId)}`;
  const reason = el("input", { id: "workflow-reason", type: "text", autocomplete: "off" });
  const status = el("p", { id: "workflow-status", role: "status" });
  const buttons = {};
  for (const verb of Object.keys(CONTROLS)) {
    buttons[verb] = el("button", { type: "button", id: `workflow-${verb}`,
      class: verb === "cancel" ? "danger" : null }, verb[0].toUpperCase() + verb.slice(1));
  }
  const body = el("div", { id: "workflow-body", "aria-live": "polite" });
  detail.replaceChildren(el("h3", { id: "workflow-heading" }, workflowId),
    el("form", { class: "inline", id: "workflow-controls", onsubmit: (e) => e.preventDefault() },
      field("Reason (suspend, cancel)", reason),
      el("div", { class: "buttons" }, Object.values(buttons))),
    status, body);
  let shown = "";
  const refresh = async () => {
    try {
      const workflow = await api(path);
      const text = JSON.stringify(workflow);
      if (text === shown) return;
      shown = text;
      for (const [verb, from] of Object.entries(CONTROLS)) {
        // Offered when the engine would take it; the engine still decides (409 otherwise).
        buttons[verb].disabled = !workflow.found || !from.includes(workflow.status);
      }
      body.replaceChildren(...workflowView(workflow));
    } catch (error) {
      shown = "";
      body.replaceChildren(notice(error, "Workflow"));
    }
  };
  const act = async (verb) => {
    status.textContent = `${verb}…`;
    status.className = "";
    try {
      const reply = await api(`${path}:${verb}`, {
        method: "POST", body: JSON.stringify({ reason: reason.value }),
      });
      status.textContent = `${verb}: now ${reply.status}${reply.step ? ` at step ${reply.step}` : ""}`;
      status.className = "ok";
    } catch (error) {
      status.textContent = `${verb} refused: ${error instanceof ApiError ? error.describe() : error}`;
      status.className = "error";
    }
    await Promise.all([refresh(), loadList()]);
  };
  for (const verb of Object.keys(CONTROLS)) buttons[verb].addEventListener("click", () => act(verb));
  await refresh();
  every(page, refresh, POLL_MS);
}

function workflowView(workflow) {
  if (!workflow.found) {
    return [el("p", { id: "workflow-summary" }, "No command started this workflow.")];
  }
  const facts = [
    ["Status", workflow.status + (workflow.suspendedFrom ? ` (from ${workflow.suspendedFrom})` : "")],
    ["Step", workflow.step],
    ["Attempt", String(workflow.attempt)],
    ["Transitions", String(workflow.transitions)],
    ["Reason", workflow.reason],
    ["Last error", workflow.lastError],
    ["Started", when(workflow.startedAt)],
    ["Deadline", when(workflow.deadline)],
    ["Pause until", when(workflow.pauseUntil)],
  ].filter(([, value]) => value);
  const parts = [
    el("p", { id: "workflow-summary" }, `${workflow.status} at step ${workflow.step || "–"}`),
    el("dl", { class: "facts" }, facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
    el("h4", {}, `State: ${workflow.stateType || "none"}`),
    el("pre", { id: "workflow-state" }, json(workflow.state === undefined ? null : workflow.state)),
  ];
  if (workflow.inputType) {
    parts.push(el("h4", {}, `Input of the current step: ${workflow.inputType}`),
      el("pre", { id: "workflow-input" }, json(workflow.input)));
  }
  parts.push(table(`History (${(workflow.history || []).length} step executions, oldest first)`,
    ["Transition", "Step", "Started", "Ended", "Attempts", "Outcome"],
    (workflow.history || []).map((h) => [String(h.transition), h.step, when(h.startedAt),
      when(h.endedAt), String(h.attempts), h.outcome]), "history"));
  return parts;
}
