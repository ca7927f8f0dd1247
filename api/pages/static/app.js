// DealDesk web app: a little plain JavaScript over the JSON API (/api/v1), authenticated by the
// session cookie; every unsafe call repeats the CSRF cookie in the X-CSRF-Token header.
"use strict";

(function () {
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)dealdesk_csrf=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    return { ok: response.ok, status: response.status, data };
  }

  // A 422's detail as [{path, msg}], the path without the leading "body".
  function problems(data) {
    if (!data || data.detail === undefined) return [{ path: "", msg: "Something went wrong." }];
    if (typeof data.detail === "string") return [{ path: "", msg: data.detail }];
    return data.detail.map(function (d) {
      const loc = (d.loc || []).slice(d.loc && d.loc[0] === "body" ? 1 : 0);
      return { path: loc.join("."), msg: d.msg, line: d.line, rule_id: d.rule_id };
    });
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { node.setAttribute(k, v); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const ROLE_LABELS = { sales_vp: "sales VP", cfo: "CFO", deal_desk: "deal desk" };
  function roleLabel(role) { return ROLE_LABELS[role] || role.replace(/_/g, " "); }

  function money(value, currency) {
    if (value === null || value === undefined) return "–";
    const n = Number(value);
    try {
      return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(n);
    } catch (e) {
      return currency + " " + value;
    }
  }
  function pct(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(2) + "%"; }

  // ---- the deal form: live price and approvals preview ------------------------------------
  function dealForm() {
    const form = document.getElementById("deal-form");
    const data = JSON.parse(document.getElementById("form-data").textContent);
    const products = data.products;
    const deal = data.deal;
    const lines = document.getElementById("lines");
    const template = document.getElementById("line-template");
    const field = function (name) { return form.elements.namedItem(name); };

    function setValue(name, value) {
      const input = field(name);
      if (!input) return;
      if (input.type === "checkbox") { input.checked = !!value; return; }
      if (input.tagName === "SELECT" && value && !Array.from(input.options).some(function (o) { return o.value === String(value); })) {
        input.appendChild(el("option", { value: String(value) }, String(value)));
      }
      input.value = value === null || value === undefined ? "" : String(value);
    }

    const chargeTemplate = document.getElementById("charge-template");
    const tierTemplate = document.getElementById("tier-template");
    const CHARGE_FIELDS = ["unit_price", "unit_cost", "period", "package_size", "package_price",
      "estimated_quantity", "free_units", "minimum_commitment"];
    // A line's, charge's or tier's input (a charge's own come before its tiers' in the page).
    const fieldOf = function (node, f) { return node.querySelector('[data-field="' + f + '"]'); };
    function fill(input, value) { if (input && value !== undefined && value !== null) input.value = String(value); }
    function removable(node, selector) {
      node.querySelector(selector).addEventListener("click", function () { node.remove(); schedule(); });
    }

    function addTier(charge, tier) {
      const node = tierTemplate.content.firstElementChild.cloneNode(true);
      ["up_to", "unit_price", "flat_fee"].forEach(function (f) { fill(fieldOf(node, f), tier[f]); });
      removable(node, "[data-remove-tier]");
      charge.querySelector("[data-tiers]").appendChild(node);
      return node;
    }

    // Show the fields of the charge's type (and, for usage, of its rating model) only: hidden
    // fields are out of the tab order and out of the body sent.
    function showChargeFields(node) {
      const type = fieldOf(node, "type").value;
      const shown = new Set(type === "usage" ? ["usage", fieldOf(node, "model").value] : [type]);
      node.querySelectorAll("[data-show]").forEach(function (part) {
        part.hidden = !part.dataset.show.split(" ").some(function (t) { return shown.has(t); });
      });
      // A tiered model starts with one open tier to fill in.
      const tiers = node.querySelector("[data-tiers]");
      if (!tiers.parentElement.hidden && !tiers.querySelector("[data-tier]")) {
        addTier(node, { up_to: "", unit_price: "" });
      }
    }

    function addCharge(line, charge) {
      const node = chargeTemplate.content.firstElementChild.cloneNode(true);
      fieldOf(node, "type").value = charge.type || "recurring";
      fieldOf(node, "model").value = charge.model || "per_unit";
      fieldOf(node, "period").value = charge.period || "month";
      CHARGE_FIELDS.forEach(function (f) { if (f !== "period") fill(fieldOf(node, f), charge[f]); });
      (charge.tiers || []).forEach(function (t) { addTier(node, t); });
      fieldOf(node, "type").addEventListener("change", function () { showChargeFields(node); });
      fieldOf(node, "model").addEventListener("change", function () { showChargeFields(node); });
      node.querySelector("[data-add-tier]").addEventListener("click", function () {
        fieldOf(addTier(node, { up_to: "", unit_price: "" }), "up_to").focus(); schedule();
      });
      removable(node, "[data-remove-charge]");
      line.querySelector("[data-charges]").appendChild(node);
      showChargeFields(node);
      return node;
    }

    function addLine(line) {
      const node = template.content.firstElementChild.cloneNode(true);
      const custom = !line.sku;
      node.dataset.kind = custom ? "custom" : "product";
      node.querySelectorAll("[data-kind]").forEach(function (part) {
        part.hidden = part.dataset.kind !== node.dataset.kind;
      });
      const sku = fieldOf(node, "sku");
      products.forEach(function (p) { sku.appendChild(el("option", { value: p.sku }, p.sku + " – " + p.name)); });
      if (!custom) sku.value = line.sku;
      fieldOf(node, "quantity").value = line.quantity || "1";
      const byAmount = line.discount_amount !== undefined && line.discount_amount !== null;
      fieldOf(node, "discount_kind").value = byAmount ? "amount" : "pct";
      fill(fieldOf(node, "discount"), byAmount ? line.discount_amount : line.discount_pct);
      if (custom) {
        fieldOf(node, "name").value = line.name || "";
        (line.charges || []).forEach(function (c) { addCharge(node, c); });
        node.querySelector("[data-add-charge]").addEventListener("click", function () {
          fieldOf(addCharge(node, { type: "recurring" }), "type").focus(); schedule();
        });
      }
      removable(node, "[data-remove-line]");
      lines.appendChild(node);
      return node;
    }

    // Only what the rep filled in: a required field left blank comes back as "Field required"
    // next to it, rather than as a zero that prices silently.
    function put(target, key, input) {
      const value = input.value.trim();
      if (value !== "") target[key] = value;
    }
    function chargeBody(node) {
      const type = fieldOf(node, "type").value;
      const charge = { type };
      node.querySelectorAll("[data-field]").forEach(function (input) {
        const f = input.dataset.field;
        if (CHARGE_FIELDS.includes(f) && !input.closest("[data-show]")?.hidden && input.closest("[data-tier]") === null) {
          put(charge, f, input);
        }
      });
      if (type === "usage") {
        charge.model = fieldOf(node, "model").value;
        if (charge.model === "graduated" || charge.model === "volume") {
          charge.tiers = Array.from(node.querySelectorAll("[data-tier]")).map(function (row) {
            const tier = { up_to: fieldOf(row, "up_to").value.trim() || null };
            put(tier, "unit_price", fieldOf(row, "unit_price"));
            put(tier, "flat_fee", fieldOf(row, "flat_fee"));
            return tier;
          });
        }
      }
      return charge;
    }
    function linesBody() {
      return Array.from(lines.querySelectorAll("[data-line]")).map(function (node) {
        const line = { quantity: fieldOf(node, "quantity").value.trim() };
        const discount = fieldOf(node, "discount");
        put(line, fieldOf(node, "discount_kind").value === "amount" ? "discount_amount" : "discount_pct", discount);
        if (node.dataset.kind === "custom") {
          line.name = fieldOf(node, "name").value.trim();
          line.charges = Array.from(node.querySelectorAll("[data-charge]")).map(chargeBody);
        } else {
          line.sku = fieldOf(node, "sku").value;
        }
        return line;
      });
    }

    function body() {
      const v = function (name) { return field(name).value.trim(); };
      const asInt = function (name) { const n = parseInt(v(name), 10); return Number.isNaN(n) ? v(name) : n; };
      const result = {
        currency: v("currency").toUpperCase(),
        term_months: asInt("term_months"),
        start_date: v("start_date"),
        billing_frequency: v("billing_frequency"),
        payment_terms_days: asInt("payment_terms_days"),
        customer: {
          name: v("customer.name"),
          segment: v("customer.segment"),
          region: v("customer.region"),
          new_customer: field("customer.new_customer").checked,
          credit_rating: v("customer.credit_rating"),
        },
        header_discount_pct: v("header_discount_pct") || "0",
        nonstandard_terms: v("nonstandard_terms").split("\n").map(function (s) { return s.trim(); }).filter(Boolean),
        lines: linesBody(),
      };
      if (v("competitor.name")) {
        result.competitor = { name: v("competitor.name") };
        if (v("competitor.price")) result.competitor.price = v("competitor.price");
      }
      return result;
    }

    function clearErrors() {
      form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
      document.getElementById("form-error").textContent = "";
    }

    // The slot for a path such as lines.0.charges.1.tiers.2.up_to: walk down to the line,
    // charge and tier it names, then that container's own slot for the field (or its "_").
    const CONTAINERS = { lines: "[data-line]", charges: "[data-charge]", tiers: "[data-tier]" };
    function lineSlot(parts) {
      let scope = form;
      let selector = null;
      let i = 0;
      while (CONTAINERS[parts[i]] && /^\d+$/.test(parts[i + 1] || "")) {
        const inner = CONTAINERS[parts[i]];
        const found = Array.from(scope.querySelectorAll(inner)).filter(function (n) {
          return selector === null || n.parentElement.closest(selector) === scope;
        })[Number(parts[i + 1])];
        if (!found) return null;
        scope = found; selector = inner; i += 2;
      }
      if (selector === null) return null;
      const mine = function (name) {
        return Array.from(scope.querySelectorAll('[data-slot="' + name + '"]')).find(function (s) {
          return s.closest(selector) === scope;
        });
      };
      return (parts[i] && mine(parts[i])) || mine("_");
    }

    function showErrors(list) {
      clearErrors();
      const general = [];
      list.forEach(function (p) {
        const parts = p.path.split(".");
        const target = parts[0] === "lines" && parts.length > 1 ? lineSlot(parts) :
          form.querySelector('[data-error-for="' + parts.slice(0, 2).join(".") + '"]') ||
          form.querySelector('[data-error-for="' + parts[0] + '"]');
        if (target) target.textContent = (target.textContent ? target.textContent + " " : "") + p.msg;
        else general.push((p.path ? p.path + ": " : "") + p.msg);
      });
      document.getElementById("form-error").textContent = general.join(" ");
    }

    function showQuote(q) {
      const t = q.totals;
      // Under each line, how it was priced (tier by tier for usage), in the pricing's words.
      const nodes = lines.querySelectorAll("[data-line]");
      q.lines.forEach(function (line, i) {
        const out = nodes[i] && nodes[i].querySelector("[data-breakdown]");
        if (out) {
          out.textContent = line.breakdown.map(function (b) { return b.text; }).join("; ") +
            " · estimated TCV " + money(line.tcv_estimated, q.currency) + ", margin " + pct(line.gross_margin_pct);
        }
      });
      const figures = document.getElementById("figures");
      figures.replaceChildren();
      [["ACV", money(t.acv, q.currency)], ["TCV", money(t.tcv, q.currency)], ["MRR", money(t.mrr, q.currency)],
       ["Discount", pct(t.discount_pct)], ["Margin", pct(t.gross_margin_pct)],
       ["Risk", q.approvals ? String(q.approvals.risk.score) : "–"]].forEach(function ([label, value]) {
        const box = el("div", { "data-figure": label });
        box.appendChild(el("dt", {}, label));
        box.appendChild(el("dd", {}, value));
        figures.appendChild(box);
      });
      const approvals = document.getElementById("approvals");
      approvals.replaceChildren();
      approvals.classList.remove("muted");
      const plan = q.approvals;
      if (!plan) { approvals.textContent = "No active policy."; return; }
      const list = el("ul", { class: "reasons" });
      plan.violations.forEach(function (v) { list.appendChild(el("li", { class: "error" }, "Policy violation: " + v.text)); });
      plan.stages.forEach(function (s) {
        const who = s.approvers.map(function (a) { return a.username; }).join(", ");
        list.appendChild(el("li", {}, "Needs " + roleLabel(s.role) + " approval because " +
          s.reasons.map(function (r) { return r.text; }).join("; ") + (who ? " (" + who + ")" : "")));
      });
      if (!plan.stages.length && !plan.violations.length) {
        list.appendChild(el("li", { class: "ok" }, "Standard offer: approved at once."));
      }
      approvals.appendChild(list);
      if (plan.risk.factors.length) {
        approvals.appendChild(el("p", { class: "muted" }, "Risk " + plan.risk.score + ": " +
          plan.risk.factors.map(function (f) { return f.detail || f.name; }).join("; ")));
      }
    }

    let sequence = 0;
    async function reprice() {
      const mine = ++sequence;
      const state = document.getElementById("quote-state");
      state.textContent = "updating…";
      const result = await api("POST", "/api/v1/quotes/price", body());
      if (mine !== sequence) return; // a newer keystroke's answer will follow
      state.textContent = "";
      if (result.ok) { clearErrors(); showQuote(result.data); }
      else showErrors(problems(result.data));
    }
    const schedule = debounce(reprice, 300);

    ["currency", "term_months", "start_date", "billing_frequency", "payment_terms_days",
     "header_discount_pct", "competitor.name", "customer.name", "customer.segment", "customer.region",
     "customer.credit_rating", "customer.new_customer"].forEach(function (name) {
      const parts = name.split(".");
      let value = deal;
      parts.forEach(function (p) { value = value === null || value === undefined ? undefined : value[p]; });
      setValue(name, value);
    });
    setValue("competitor.price", deal.competitor ? deal.competitor.price : "");
    setValue("nonstandard_terms", (deal.nonstandard_terms || []).join("\n"));
    if (!field("start_date").value) {
      const d = new Date(); d.setMonth(d.getMonth() + 1, 1);
      field("start_date").value = d.toISOString().slice(0, 10);
    }
    deal.lines.forEach(addLine);

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    document.getElementById("add-product").addEventListener("click", function () {
      fieldOf(addLine({ sku: products.length ? products[0].sku : "", quantity: "1" }), "sku").focus(); schedule();
    });
    document.getElementById("add-custom").addEventListener("click", function () {
      fieldOf(addLine({ name: "", quantity: "1", charges: [{ type: "recurring" }] }), "name").focus(); schedule();
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = document.getElementById("submit-deal");
      button.disabled = true;
      const dealId = form.dataset.dealId;
      const result = dealId
        ? await api("PUT", "/api/v1/deals/" + encodeURIComponent(dealId), body())
        : await api("POST", "/api/v1/deals", body());
      button.disabled = false;
      if (result.ok) {
        window.location.assign("/deals/" + encodeURIComponent(dealId || result.data.id));
      } else {
        showErrors(problems(result.data));
      }
    });
    reprice();
  }

  // ---- the deal page: send, withdraw ------------------------------------------------------
  function dealPage() {
    const actions = document.getElementById("deal-actions");
    const dealId = actions ? actions.dataset.dealId : null;
    const withdraw = document.getElementById("withdraw");
    if (withdraw) {
      withdraw.addEventListener("click", async function () {
        if (!window.confirm("Withdraw this deal? Its open approvals are cancelled.")) return;
        const result = await api("POST", "/api/v1/deals/" + dealId + "/withdraw", { reason: "" });
        if (result.ok) window.location.reload();
        else window.alert(problems(result.data).map(function (p) { return p.msg; }).join(" "));
      });
    }
    const send = document.getElementById("send-form");
    if (send) {
      send.addEventListener("submit", async function (event) {
        event.preventDefault();
        const out = document.getElementById("send-result");
        send.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
        const result = await api("POST", "/api/v1/deals/" + dealId + "/send", {
          to: send.elements.namedItem("to").value.trim(),
          message: send.elements.namedItem("message").value,
        });
        if (result.ok) {
          out.className = "ok";
          out.replaceChildren(document.createTextNode("Sent. The customer's link: "),
            el("a", { href: result.data.link, id: "customer-link" }, result.data.link));
          document.getElementById("deal-status").textContent = "sent";
        } else {
          problems(result.data).forEach(function (p) {
            const slot = send.querySelector('[data-error-for="' + p.path + '"]');
            if (slot) slot.textContent = p.msg; else { out.className = "error"; out.textContent = p.msg; }
          });
        }
      });
    }
  }

  // ---- the inbox: decide without leaving the page ----------------------------------------
  function inbox() {
    async function decide(card, decision, comment) {
      const result = await api("POST", "/api/v1/approvals/" + card.dataset.taskId + "/decision", {
        decision, comment, version: Number(card.dataset.version),
      });
      const out = card.querySelector(".result");
      if (result.ok) {
        card.classList.add("done");
        card.querySelectorAll("button, textarea").forEach(function (b) { b.disabled = true; });
        out.className = "result ok";
        out.textContent = { approve: "Approved", reject: "Rejected", request_changes: "Changes requested" }[decision] +
          " · deal is " + result.data.deal_status.replace(/_/g, " ");
        const open = document.querySelectorAll(".task:not(.done)").length;
        document.getElementById("open-count").textContent = open + " open";
      } else {
        out.className = "result error";
        out.textContent = problems(result.data).map(function (p) { return p.msg; }).join(" ");
      }
      return result.ok;
    }
    document.querySelectorAll(".task").forEach(function (card) {
      card.querySelectorAll("[data-decision]").forEach(function (button) {
        button.addEventListener("click", function () {
          decide(card, button.dataset.decision, card.querySelector("textarea").value.trim());
        });
      });
    });
    document.querySelectorAll("[data-bulk]").forEach(function (button) {
      button.addEventListener("click", async function () {
        button.disabled = true;
        for (const id of button.dataset.bulk.split(" ")) {
          const card = document.querySelector('.task[data-task-id="' + id + '"]');
          if (card && !card.classList.contains("done")) await decide(card, "approve", "");
        }
      });
    });
  }

  // ---- admin: policy --------------------------------------------------------------------
  function showPolicyProblems(list) {
    const box = document.getElementById("policy-errors");
    box.replaceChildren();
    box.className = list.length ? "error" : "ok";
    if (!list.length) { box.textContent = "The draft is valid."; return; }
    const ul = el("ul", { class: "reasons" });
    list.forEach(function (p) {
      const where = (p.rule_id ? "Rule " + p.rule_id : "Document") + (p.line ? " (line " + p.line + ")" : "");
      const item = el("li", { "data-rule-id": p.rule_id || "", "data-line": p.line || "" });
      const link = el("a", { href: "#policy-document" }, where);
      link.addEventListener("click", function (event) { event.preventDefault(); selectLine(p.line); });
      item.appendChild(link);
      item.appendChild(document.createTextNode(": " + p.msg));
      ul.appendChild(item);
    });
    box.appendChild(ul);
  }
  function selectLine(line) {
    const area = document.getElementById("policy-document");
    if (!line) { area.focus(); return; }
    const rows = area.value.split("\n");
    const start = rows.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    area.focus();
    area.setSelectionRange(start, start + rows[line - 1].length);
  }
  function adminPolicy() {
    const doc = function () { return document.getElementById("policy-document").value; };
    document.getElementById("policy-validate").addEventListener("click", async function () {
      const result = await api("POST", "/api/v1/policies/validate", { document: doc() });
      showPolicyProblems(result.ok ? [] : problems(result.data));
    });
    document.getElementById("policy-save").addEventListener("click", async function () {
      const result = await api("PUT", "/api/v1/policies", { document: doc() });
      if (result.ok) {
        const box = document.getElementById("policy-errors");
        box.className = "ok";
        box.textContent = "Saved: version " + result.data.version + " is active.";
      } else {
        showPolicyProblems(problems(result.data));
      }
    });
    document.getElementById("policy-dry-run").addEventListener("click", async function () {
      const out = document.getElementById("dry-run-result");
      out.replaceChildren();
      const result = await api("POST", "/admin/policy/dry-run", {
        document: doc(), deal_id: document.getElementById("dry-run-deal").value,
      });
      if (!result.ok) { out.className = "error"; out.textContent = problems(result.data).map(function (p) { return p.msg; }).join(" "); return; }
      if (!result.data.valid) { showPolicyProblems(result.data.errors); out.className = "error"; out.textContent = "The draft has problems; see above."; return; }
      out.className = "";
      [["Draft", result.data.draft], ["Active", result.data.active]].forEach(function ([label, plan]) {
        if (!plan) return;
        const section = el("div", { "data-plan": label.toLowerCase() });
        section.appendChild(el("h3", {}, label + " policy on " + result.data.deal));
        const ul = el("ul", { class: "reasons" });
        if (plan.error) ul.appendChild(el("li", { class: "error" }, plan.error));
        else {
          plan.violations.forEach(function (v) { ul.appendChild(el("li", { class: "error" }, "Violation: " + v)); });
          plan.stages.forEach(function (s) {
            ul.appendChild(el("li", {}, "Stage " + s.stage + ": " + s.role + " (" + s.approvers.join(", ") + ") because " + s.reasons.join("; ")));
          });
          if (plan.standard_offer) ul.appendChild(el("li", { class: "ok" }, "Standard offer"));
          ul.appendChild(el("li", { class: "muted" }, "Risk " + plan.risk));
        }
        section.appendChild(ul);
        out.appendChild(section);
      });
    });
  }

  // ---- admin: templates -----------------------------------------------------------------
  function adminTemplates() {
    const area = document.getElementById("template-source");
    const name = area.dataset.name;
    const errors = document.getElementById("template-errors");
    function show(list) {
      errors.className = "error";
      errors.textContent = list.map(function (p) { return (p.line ? "Line " + p.line + ": " : "") + p.msg; }).join(" ");
    }
    document.getElementById("template-preview").addEventListener("click", async function () {
      const response = await fetch("/api/v1/templates/" + name + "/preview", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" },
        body: JSON.stringify({ source: area.value }),
      });
      const text = await response.text();
      if (response.ok) {
        errors.textContent = "";
        // A sandboxed frame with no permissions: the draft's markup is shown, never run.
        document.getElementById("template-frame").srcdoc = text;
      } else {
        let data = null;
        try { data = JSON.parse(text); } catch (e) { data = { detail: text }; }
        show(problems(data));
      }
    });
    document.getElementById("template-save").addEventListener("click", async function () {
      const result = await api("PUT", "/api/v1/templates/" + name, { source: area.value });
      if (result.ok) { errors.className = "ok"; errors.textContent = "Saved (revision " + result.data.revision + ")."; }
      else show(problems(result.data));
    });
    const reset = document.getElementById("template-reset");
    if (reset) {
      reset.addEventListener("click", async function () {
        const result = await api("DELETE", "/api/v1/templates/" + name);
        if (result.ok) window.location.reload(); else show(problems(result.data));
      });
    }
  }

  // ---- admin: catalog -------------------------------------------------------------------
  function adminCatalog() {
    document.querySelectorAll("[data-save-product]").forEach(function (button) {
      button.addEventListener("click", async function () {
        const box = button.closest(".product");
        const out = box.querySelector(".result");
        let spec;
        try { spec = JSON.parse(box.querySelector(".product-spec").value); }
        catch (e) { out.className = "result error"; out.textContent = "Not valid JSON: " + e.message; return; }
        const result = await api("PUT", "/api/v1/catalog/products/" + encodeURIComponent(button.dataset.saveProduct), spec);
        out.className = result.ok ? "result ok" : "result error";
        out.textContent = result.ok ? "Saved." : problems(result.data).map(function (p) { return (p.path ? p.path + ": " : "") + p.msg; }).join(" ");
      });
    });
  }

  // ---- admin: users and delegation windows ----------------------------------------------
  // Each problem goes to the form's slot for its field (the first part of its path); the rest
  // to the form's result line.
  function showFieldErrors(form, list, out) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    const general = [];
    list.forEach(function (p) {
      const slot = p.path ? form.querySelector('[data-error-for="' + p.path.split(".")[0] + '"]') : null;
      if (slot) slot.textContent = p.msg;
      else general.push(p.msg);
    });
    out.className = general.length ? "result error" : "result";
    out.textContent = general.join(" ");
  }
  function listField(value) {
    return value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }
  function checked(form, name) {
    return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map(function (b) { return b.value; });
  }
  // A datetime-local value is the browser's local time: sent as an instant with its offset.
  function instant(value) {
    const moment = new Date(value);
    return value && !Number.isNaN(moment.getTime()) ? moment.toISOString() : value;
  }
  function onSubmit(form, send) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = form.querySelector(".result");
      const result = await send(form.elements);
      if (result.ok) window.location.reload();
      else showFieldErrors(form, problems(result.data), out);
    });
  }
  function adminUsers() {
    document.querySelectorAll(".user-form").forEach(function (form) {
      onSubmit(form, function (f) {
        return api("PATCH", "/api/v1/users/" + encodeURIComponent(form.dataset.username), {
          full_name: f.namedItem("full_name").value,
          email: f.namedItem("email").value.trim(),
          roles: checked(form, "roles"),
          approval_roles: listField(f.namedItem("approval_roles").value),
          manager: f.namedItem("manager").value || null,
          active: f.namedItem("active").checked,
        });
      });
    });
    const create = document.getElementById("new-user");
    onSubmit(create, function (f) {
      return api("POST", "/api/v1/users", {
        username: f.namedItem("username").value.trim(),
        full_name: f.namedItem("full_name").value,
        email: f.namedItem("email").value.trim(),
        password: f.namedItem("password").value,
        roles: checked(create, "roles"),
        approval_roles: listField(f.namedItem("approval_roles").value),
        manager: f.namedItem("manager").value || null,
      });
    });
    onSubmit(document.getElementById("new-delegation"), function (f) {
      return api("POST", "/api/v1/delegations", {
        delegator: f.namedItem("delegator").value,
        delegate: f.namedItem("delegate").value,
        starts_at: instant(f.namedItem("starts_at").value),
        ends_at: instant(f.namedItem("ends_at").value),
      });
    });
    document.querySelectorAll("[data-end-delegation]").forEach(function (button) {
      button.addEventListener("click", async function () {
        const url = "/api/v1/delegations/" + encodeURIComponent(button.dataset.endDelegation);
        // An open window is ended (kept on record); one not yet open is cancelled.
        const result = button.dataset.state === "open" ? await api("POST", url + "/end") : await api("DELETE", url);
        if (result.ok) { window.location.reload(); return; }
        const out = document.getElementById("delegation-result");
        out.className = "result error";
        out.textContent = problems(result.data).map(function (p) { return p.msg; }).join(" ");
      });
    });
  }

  // ---- finance: the reports as tables (the charts are drawn on the server) -------------
  function finance() {
    const filter = document.getElementById("report-filter");
    function cell(value) {
      if (value === null || value === undefined) return "–";
      if (typeof value === "object") return JSON.stringify(value);
      return String(value);
    }
    async function load(section) {
      const params = new URLSearchParams();
      if (section.dataset.groupBy) params.set("group_by", section.dataset.groupBy);
      ["from", "to"].forEach(function (name) {
        const value = filter.elements.namedItem(name).value;
        if (value) params.set(name, value);
      });
      const query = params.toString();
      const url = "/api/v1/reports/" + section.dataset.report + (query ? "?" + query : "");
      section.querySelectorAll("[data-download]").forEach(function (link) {
        link.href = url + (query ? "&" : "?") + "format=" + link.dataset.download;
      });
      const body = section.querySelector(".report-body");
      const result = await api("GET", url);
      body.replaceChildren();
      if (!result.ok) {
        body.className = "table-wrap report-body error";
        body.textContent = problems(result.data).map(function (p) { return p.msg; }).join(" ");
        return;
      }
      const rows = Array.isArray(result.data) ? result.data : result.data.rows || [];
      body.className = "table-wrap report-body";
      if (!rows.length) { body.textContent = "No data for this period."; body.className += " muted"; return; }
      const flat = rows.map(function (row) {
        const out = {};
        Object.entries(row.group || {}).forEach(function ([k, v]) { out[k] = v; });
        Object.entries(row).forEach(function ([k, v]) { if (k !== "group") out[k] = v; });
        return out;
      });
      const columns = Object.keys(flat[0]);
      const table = el("table");
      const head = el("tr");
      columns.forEach(function (c) { head.appendChild(el("th", {}, c.replace(/_/g, " "))); });
      table.appendChild(el("thead")).appendChild(head);
      const tbody = el("tbody");
      flat.forEach(function (row) {
        const tr = el("tr");
        columns.forEach(function (c) {
          const text = cell(row[c]);
          tr.appendChild(el("td", /^-?[\d.]+$/.test(text) ? { class: "num" } : {}, text));
        });
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      body.appendChild(table);
    }
    // The filter is a plain GET form: applying it reloads the page, charts and tables alike.
    document.querySelectorAll(".report").forEach(load);
  }

  const pages = {
    finance,
    "deal-form": dealForm, deal: dealPage, inbox, "admin-policy": adminPolicy,
    "admin-templates": adminTemplates, "admin-catalog": adminCatalog, "admin-users": adminUsers,
  };
  const init = pages[document.body.dataset.page];
  if (init) init();
})();
