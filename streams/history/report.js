"use strict";
const TEXT = {
  pt: { title: "Histórico de Envio de Situação", tab_all: "Todos", tab_errors: "Erros", from: "De", to: "Até",
        integration: "Integração", order: "Pedido", event: "Evento", outcome: "Resultado", filter: "Filtrar",
        actions: "Ações", resend_selected: "Reenviar selecionados", apply: "Aplicar", export: "Exportar CSV",
        when: "Data", action: "Ação", reason: "Motivo", attempt: "Tentativa", latency: "Latência (ms)",
        prev: "Anterior", next: "Próxima", page: "Página {p} de {n} — {t} registros", order_history: "Histórico do pedido",
        detail: "Detalhe", close: "Fechar", enter: "Entrar", login_text: "Informe o token de acesso ao relatório.",
        none_selected: "Selecione ao menos um registro.", resent: "{n} evento(s) reenviado(s).",
        forbidden: "Seu perfil não permite reenviar.", empty: "Nenhum registro encontrado.", bad_token: "Token recusado." },
  en: { title: "Status send history", tab_all: "All", tab_errors: "Errors", from: "From", to: "To",
        integration: "Integration", order: "Order", event: "Event", outcome: "Outcome", filter: "Filter",
        actions: "Actions", resend_selected: "Resend selected", apply: "Apply", export: "Export CSV",
        when: "Date", action: "Action", reason: "Reason", attempt: "Attempt", latency: "Latency (ms)",
        prev: "Previous", next: "Next", page: "Page {p} of {n} — {t} rows", order_history: "Order history",
        detail: "Detail", close: "Close", enter: "Sign in", login_text: "Enter the report's access token.",
        none_selected: "Select at least one row.", resent: "{n} event(s) resent.",
        forbidden: "Your role cannot resend.", empty: "No rows found.", bad_token: "Token refused." },
};
// selected: the event ids the operator ticked; they stay ticked when the rows are drawn again
const state = { tab: "todos", page: 1, pageSize: 50, total: 0, lang: localStorage.getItem("lang") || "pt", reasons: {}, selected: new Set() };
const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) => (TEXT[state.lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k]);

function applyLanguage() {
  document.documentElement.lang = state.lang === "pt" ? "pt-BR" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = t("title");
  $("lang").value = state.lang;
}

function token() { return sessionStorage.getItem("ordersync-token") || ""; }

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { "Content-Type": "application/json", Authorization: "Bearer " + token(), ...(options.headers || {}) } });
  if (response.status === 401) { showLogin(t("bad_token")); throw new Error("unauthorized"); }
  return response;
}

function filterParams() {
  const params = new URLSearchParams({ tab: state.tab, page: state.page, page_size: state.pageSize });
  for (const [name, value] of new FormData($("filters"))) {
    if (!value) continue;
    params.set(name, name === "since" || name === "until" ? new Date(value).toISOString() : value);
  }
  return params;
}

function cell(text, cls) { const td = document.createElement("td"); td.textContent = text == null ? "" : text; if (cls) td.className = cls; return td; }
function reasonText(code) { return state.lang === "pt" && state.reasons[code] ? state.reasons[code] : code; }
function when(iso) { return iso ? new Date(iso).toLocaleString(state.lang === "pt" ? "pt-BR" : "en-GB") : ""; }

function pill(outcome) { const td = document.createElement("td"); const span = document.createElement("span"); span.className = "pill " + outcome; span.textContent = outcome; td.appendChild(span); return td; }

let loads = 0, settled = 0;
async function load() {
  // only the newest request may draw the rows: an older answer arriving late would replace
  // the view the operator is looking at, and the rows they ticked with it
  const mine = ++loads;
  $("rows").setAttribute("aria-busy", "true");
  const response = await api("/api/history?" + filterParams());
  const data = await response.json();
  document.body.dataset.settled = String(++settled);  // answers handled, drawn or not
  if (mine !== loads) return;
  $("rows").setAttribute("aria-busy", "false");
  if (!response.ok) { notice(data.error || response.statusText, "error"); return; }
  state.total = data.total;
  const body = $("rows");
  body.replaceChildren();
  for (const row of data.rows) {
    const tr = document.createElement("tr");
    tr.dataset.eventId = row.event_id;
    const check = document.createElement("td");
    const box = document.createElement("input");
    box.type = "checkbox"; box.className = "pick"; box.value = row.event_id; box.setAttribute("aria-label", row.event_id);
    box.checked = state.selected.has(row.event_id);
    box.addEventListener("change", () => { if (box.checked) state.selected.add(row.event_id); else state.selected.delete(row.event_id); });
    check.appendChild(box); tr.appendChild(check);
    tr.appendChild(cell(when(row.decided_at)));
    tr.appendChild(cell(row.integration));
    const orderCell = document.createElement("td");
    const link = document.createElement("a");
    link.className = "order"; link.textContent = row.platform_order_id;
    link.addEventListener("click", () => showTimeline(row.tenant, row.integration, row.platform_order_id));
    orderCell.appendChild(link); tr.appendChild(orderCell);
    tr.appendChild(cell(row.event_type));
    tr.appendChild(cell(row.action));
    tr.appendChild(pill(row.outcome));
    const reason = cell(reasonText(row.reason_code));
    if (row.error) { const err = document.createElement("div"); err.className = "err"; err.textContent = row.error; reason.appendChild(err); }
    tr.appendChild(reason);
    tr.appendChild(cell(row.attempt, "num"));
    tr.appendChild(cell(row.http_status, "num"));
    tr.appendChild(cell(row.latency_ms == null ? "" : Number(row.latency_ms).toFixed(1), "num"));
    body.appendChild(tr);
  }
  if (!data.rows.length) { const tr = document.createElement("tr"); const td = cell(t("empty")); td.colSpan = 11; tr.appendChild(td); body.appendChild(tr); }
  const pages = Math.max(1, Math.ceil(state.total / state.pageSize));
  $("pageinfo").textContent = t("page", { p: state.page, n: pages, t: state.total });
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  $("all").checked = false;
}

function notice(text, kind) { const n = $("notice"); n.textContent = text; n.className = kind || ""; }

async function resendSelected() {
  const ids = [...document.querySelectorAll("input.pick:checked")].map((b) => b.value);
  if (!ids.length) { notice(t("none_selected"), "error"); return; }
  const response = await api("/api/resend", { method: "POST", body: JSON.stringify({ event_ids: ids }) });
  const data = await response.json().catch(() => ({}));
  if (response.status === 403) { notice(t("forbidden"), "error"); return; }
  if (!response.ok) { notice(data.error || response.statusText, "error"); return; }
  notice(t("resent", { n: data.resent }), "ok");
  ids.forEach((id) => state.selected.delete(id));
  await load();
}

async function showTimeline(tenant, integration, order) {
  const response = await api("/api/orders/" + [tenant, integration, order].map(encodeURIComponent).join("/"));
  const rows = await response.json();
  $("tl-title").textContent = `${integration} / ${order}`;
  const body = $("tl-rows");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    [when(row.decided_at), row.event_type, row.action].forEach((v) => tr.appendChild(cell(v)));
    tr.appendChild(pill(row.outcome));
    tr.appendChild(cell(reasonText(row.reason_code)));
    tr.appendChild(cell(row.attempt, "num"));
    tr.appendChild(cell(row.http_status, "num"));
    tr.appendChild(cell(row.error || ""));
    body.appendChild(tr);
  }
  $("timeline").showModal();
}

async function exportCsv() {
  const params = filterParams(); params.delete("page"); params.delete("page_size");
  const response = await api("/api/history.csv?" + params);
  const blob = await response.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = `historico-${state.tab}.csv`; a.click();
}

function selectTab(tab) {
  state.tab = tab; state.page = 1;
  document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
  notice("");
  load();
}

function showLogin(message) { $("app").hidden = true; $("login").hidden = false; $("login_error").textContent = message || ""; }

async function start() {
  const me = await api("/api/me");
  if (!me.ok) return;
  const who = await me.json();
  $("who").textContent = `${who.name} · ${who.tenant === "*" ? "todas as contas" : who.tenant} · ${who.role}`;
  state.reasons = await (await api("/api/reasons")).json();
  $("login").hidden = true; $("app").hidden = false;
  await load();
}

$("enter").addEventListener("click", () => { sessionStorage.setItem("ordersync-token", $("token").value.trim()); start().catch(() => {}); });
$("lang").addEventListener("change", (e) => { state.lang = e.target.value; localStorage.setItem("lang", state.lang); applyLanguage(); load(); });
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
$("filters").addEventListener("submit", (e) => { e.preventDefault(); state.page = 1; load(); });
$("prev").addEventListener("click", () => { state.page -= 1; load(); });
$("next").addEventListener("click", () => { state.page += 1; load(); });
$("all").addEventListener("change", (e) => document.querySelectorAll("input.pick").forEach((b) => {
  b.checked = e.target.checked;
  if (b.checked) state.selected.add(b.value); else state.selected.delete(b.value);
}));
$("apply").addEventListener("click", () => { if ($("actions").value === "resend") resendSelected(); });
$("csv").addEventListener("click", exportCsv);
$("tl-close").addEventListener("click", () => $("timeline").close());

applyLanguage();
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { sessionStorage.setItem("ordersync-token", fromHash); history.replaceState(null, "", location.pathname); }
if (token()) start().catch(() => {}); else showLogin();
