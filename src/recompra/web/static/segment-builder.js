// The segment builder: edits a rule tree (groups of conditions, nested) and keeps the
// JSON definition beside it; preview and save post that JSON with the page's CSRF token.
"use strict";
(function () {
  const form = document.getElementById("segment-builder");
  if (!form) return;
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const FIELDS = read("segment-fields");
  const T = read("segment-texts");
  const BY_NAME = Object.fromEntries(FIELDS.map((f) => [f.name, f]));
  const root = document.getElementById("rule-root");
  const json = document.getElementById("seg-json");
  const result = document.getElementById("seg-result");
  const NO_VALUE = ["is_null", "is_not_null"];

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => node.append(c));
    return node;
  };

  // ---- model <-> document -------------------------------------------------------------
  const condition = (field) => {
    const spec = BY_NAME[field || "state"];
    return { field: spec.name, op: spec.ops[0][0], value: "", days: "", event: "" };
  };
  const group = (kind) => ({ kind: kind || "all", negate: false, children: [] });

  function fromNode(node) {
    if (node.all || node.any) {
      const kind = node.all ? "all" : "any";
      return { kind, negate: false, children: node[kind].map(fromNode) };
    }
    if (node.not) {
      const inner = fromNode(node.not);
      if (inner.children) return { ...inner, negate: !inner.negate };
      return { kind: "all", negate: true, children: [inner] };
    }
    const text = (v) => (Array.isArray(v) ? v.join(", ") : v === undefined || v === null ? "" : String(v));
    return { field: node.field, op: node.op, value: text(node.value), days: text(node.days), event: text(node.event) };
  }

  function scalar(spec, text, op) {
    const raw = String(text).trim();
    if (spec.kind === "boolean") return raw === "true";
    const numeric = ["number", "money"].includes(spec.kind) || op.startsWith("within") || spec.kind === "birthday";
    if (numeric && raw !== "" && !isNaN(Number(raw.replace(",", ".")))) return Number(raw.replace(",", "."));
    return raw;
  }

  function toNode(item) {
    if (item.children) {
      const node = { [item.kind]: item.children.map(toNode) };
      return item.negate ? { not: node } : node;
    }
    const spec = BY_NAME[item.field];
    const node = { field: item.field, op: item.op };
    if (!NO_VALUE.includes(item.op)) {
      if (["in", "not_in", "between"].includes(item.op)) {
        node.value = String(item.value).split(/[;,]/).map((v) => v.trim()).filter((v) => v !== "")
          .map((v) => scalar(spec, v, item.op));
      } else {
        node.value = scalar(spec, item.value, item.op);
      }
    }
    if (spec.days && String(item.days).trim() !== "") node.days = Number(item.days);
    if (spec.event) node.event = String(item.event).trim();
    return node;
  }

  function documentOf() {
    return {
      key: document.getElementById("seg-key").value.trim(),
      name: {
        "pt-BR": document.getElementById("seg-name-pt").value.trim(),
        en: document.getElementById("seg-name-en").value.trim(),
      },
      rule: toNode(model),
    };
  }

  // ---- rendering ----------------------------------------------------------------------
  function fieldSelect(item) {
    const select = el("select", { class: "cond-field", "aria-label": T.field });
    const groups = {};
    FIELDS.forEach((f) => {
      if (!groups[f.group]) groups[f.group] = select.appendChild(el("optgroup", { label: f.group }));
      const option = el("option", { value: f.name }, f.label);
      if (f.name === item.field) option.selected = true;
      groups[f.group].append(option);
    });
    select.addEventListener("change", () => {
      Object.assign(item, condition(select.value));
      render();
    });
    return select;
  }

  function valueControl(item, spec) {
    const update = (e) => { item.value = e.target.value; sync(); };
    const label = T.value;
    if (NO_VALUE.includes(item.op)) return el("span", { class: "cond-value" });
    if (spec.kind === "boolean") {
      const select = el("select", { class: "cond-value", "aria-label": label, onchange: update },
        el("option", { value: "true" }, T.yes), el("option", { value: "false" }, T.no));
      select.value = item.value === "false" ? "false" : "true";
      item.value = select.value;
      return select;
    }
    if (spec.choices.length && ["eq", "ne"].includes(item.op)) {
      const select = el("select", { class: "cond-value", "aria-label": label, onchange: update },
        spec.choices.map(([v, text]) => el("option", { value: v }, text)));
      if (item.value) select.value = item.value; else item.value = select.value;
      return select;
    }
    if (spec.choices.length && ["in", "not_in"].includes(item.op)) {
      const chosen = String(item.value).split(",").map((v) => v.trim());
      const select = el("select", { class: "cond-value", multiple: "", "aria-label": label, size: "4",
        onchange: (e) => { item.value = [...e.target.selectedOptions].map((o) => o.value).join(", "); sync(); } },
        spec.choices.map(([v, text]) => {
          const o = el("option", { value: v }, text);
          o.selected = chosen.includes(v);
          return o;
        }));
      return select;
    }
    const type = spec.kind === "date" && !["between", "within_days", "within_next_days"].includes(item.op) ? "date" : "text";
    return el("input", { class: "cond-value", type, value: item.value, "aria-label": label, oninput: update });
  }

  function conditionRow(item, parent) {
    const spec = BY_NAME[item.field];
    const ops = el("select", { class: "cond-op", "aria-label": T.operator,
      onchange: (e) => { item.op = e.target.value; render(); } },
      spec.ops.map(([op, text]) => {
        const o = el("option", { value: op }, text);
        o.selected = op === item.op;
        return o;
      }));
    const row = el("div", { class: "cond" }, fieldSelect(item), ops, valueControl(item, spec));
    if (spec.event) {
      row.append(el("input", { class: "cond-event", value: item.event, placeholder: T.event_type,
        "aria-label": T.event_type, oninput: (e) => { item.event = e.target.value; sync(); } }));
    }
    if (spec.days) {
      const text = spec.days === "required" ? T.window_required : T.window;
      row.append(el("input", { class: "cond-days", inputmode: "numeric", value: item.days, placeholder: text,
        "aria-label": text, oninput: (e) => { item.days = e.target.value; sync(); } }));
    }
    row.append(removeButton(item, parent));
    return row;
  }

  function removeButton(item, parent) {
    return el("button", { type: "button", class: "remove", "aria-label": T.remove, title: T.remove,
      onclick: () => { parent.children.splice(parent.children.indexOf(item), 1); render(); } }, "×");
  }

  function groupBox(item, parent) {
    const mode = el("select", { class: "group-mode", "aria-label": T.match_all,
      onchange: (e) => {
        item.negate = e.target.value === "none";
        item.kind = e.target.value === "any" ? "any" : "all";
        render();
      } },
      el("option", { value: "all" }, T.match_all),
      el("option", { value: "any" }, T.match_any),
      el("option", { value: "none" }, T.negate));
    mode.value = item.negate ? "none" : item.kind;
    const head = el("div", { class: "group-head" }, mode);
    if (parent) head.append(removeButton(item, parent));
    const body = el("div", { class: "group-body" },
      item.children.map((child) => (child.children ? groupBox(child, item) : conditionRow(child, item))));
    const actions = el("div", { class: "group-actions" },
      el("button", { type: "button", class: "add-condition",
        onclick: () => { item.children.push(condition()); render(); } }, T.add_condition),
      el("button", { type: "button", class: "add-group",
        onclick: () => { item.children.push({ ...group("any"), children: [condition()] }); render(); } }, T.add_group));
    return el("fieldset", { class: "group" }, head, body, actions);
  }

  function sync() {
    json.value = JSON.stringify(documentOf(), null, 2);
  }

  function render() {
    root.replaceChildren(groupBox(model, null));
    sync();
  }

  // ---- server calls -------------------------------------------------------------------
  async function post(path) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify(documentOf()),
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 400 && body.problems) {
      result.replaceChildren(el("p", { class: "problems-title" }, T.problems),
        el("ul", { class: "problems" }, body.problems.map((p) => el("li", {}, el("code", {}, p.path), " ", p.message))));
      return null;
    }
    if (!response.ok) {
      result.replaceChildren(el("p", { class: "problems-title" }, String(response.status)));
      return null;
    }
    return body;
  }

  document.getElementById("seg-preview").addEventListener("click", async () => {
    const body = await post("/dashboard/segments/preview");
    if (!body) return;
    result.replaceChildren(el("p", { id: "preview-summary", "data-members": String(body.members) }, body.summary),
      el("p", { class: "muted" }, T.sample),
      el("ul", { class: "plain" }, body.sample.map((m) =>
        el("li", {}, el("a", { href: "/dashboard/customers/" + m.id }, m.name), m.place ? " · " + m.place : ""))));
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = await post("/dashboard/segments");
    if (body) window.location.assign(body.url);
  });

  document.getElementById("seg-json-apply").addEventListener("click", () => {
    try {
      const doc = JSON.parse(json.value);
      model = fromNode(doc.rule || { all: [] });
      if (!model.children) model = { kind: "all", negate: false, children: [model] };
      if (doc.key && !document.getElementById("seg-key").readOnly) document.getElementById("seg-key").value = doc.key;
      if (doc.name) {
        document.getElementById("seg-name-pt").value = doc.name["pt-BR"] || "";
        document.getElementById("seg-name-en").value = doc.name.en || "";
      }
      render();
    } catch (error) {
      result.replaceChildren(el("p", { class: "problems-title" }, T.problems), el("p", {}, String(error)));
    }
  });

  ["seg-key", "seg-name-pt", "seg-name-en"].forEach((id) =>
    document.getElementById(id).addEventListener("input", sync));

  const loaded = read("segment-document");
  let model = loaded ? fromNode(loaded.rule) : { ...group("all"), children: [condition()] };
  if (!model.children) model = { kind: "all", negate: false, children: [model] };
  render();
})();
