"use strict";
// The page's own labels; the words for codes (outcomes, events, actions, reasons) come from
// the history's catalogue (/api/catalogue), shared with the CSV.
const TEXT = {
  pt: { title: "Histórico de Envio de Situação", tab_all: "Todos", tab_errors: "Erros", tab_pending: "Pendentes",
        from: "De", to: "Até", integration: "Integração", order: "Pedido", order_hint: "nº no ERP ou na plataforma",
        event: "Evento", outcome: "Resultado", filter: "Filtrar", actions: "Ações", resend_selected: "Reenviar selecionados",
        apply: "Aplicar", export: "Exportar CSV", when: "Data", action: "Ação", reason: "Motivo", attempt: "Tentativa",
        due: "Próxima tentativa", latency: "Latência (ms)", prev: "Anterior", next: "Próxima",
        page: "Página {p} de {n} — {t} registros", order_history: "Histórico do pedido", detail: "Detalhe técnico",
        occurred: "Data no ERP", close: "Fechar", enter: "Entrar", login_text: "Informe o token de acesso ao relatório.",
        none_selected: "Selecione ao menos um registro.", resent: "{n} evento(s) reenviado(s).",
        not_resent: "{n} não reenviado(s):", missing: "o evento original não está mais no Kafka",
        pending: "já reenviado, aguardando o resultado", not_found: "não encontrado no seu histórico",
        forbidden: "Seu perfil não permite reenviar.", empty: "Nenhum registro encontrado.", bad_token: "Token recusado.",
        all_tenants: "todas as contas", select_all: "Selecionar todos", select_row: "Selecionar {id}",
        pending_counts: "Pendentes por integração:", no_order: "Pedido não encontrado.",
        backlog: "Nas lojas agora (fila / estacionados / enviando):", operator: "operador", viewer: "visualizador",
        tab_health: "Saúde", h_state: "Situação", h_sent: "Enviados", h_skipped: "Ignorados", h_errors: "Erros", h_rate: "Sucesso",
        h_p50: "ERP → plataforma p50", h_p95: "p95", h_open: "Erros em aberto", h_pending: "Pendentes", h_last: "Último sucesso",
        h_queued: "Na fila", h_parked: "Estacionados", h_sending: "Enviando", h_paused: "Pausada até", h_circuit: "Circuito aberto",
        healthy: "Saudável", circuit_open: "loja sem responder", paused: "pausada pela plataforma", late: "evento esperando há mais de 15 min",
        open_errors: "erros em aberto", low_success: "sucesso abaixo de 90%", open_for: "há {d}", never: "nunca",
        health_empty: "Nenhuma integração com eventos no período." },
  en: { title: "Status send history", tab_all: "All", tab_errors: "Errors", tab_pending: "Pending",
        from: "From", to: "To", integration: "Integration", order: "Order", order_hint: "ERP or platform number",
        event: "Event", outcome: "Outcome", filter: "Filter", actions: "Actions", resend_selected: "Resend selected",
        apply: "Apply", export: "Export CSV", when: "Date", action: "Action", reason: "Reason", attempt: "Attempt",
        due: "Next attempt", latency: "Latency (ms)", prev: "Previous", next: "Next",
        page: "Page {p} of {n} — {t} rows", order_history: "Order history", detail: "Technical detail",
        occurred: "Date in the ERP", close: "Close", enter: "Sign in", login_text: "Enter the report's access token.",
        none_selected: "Select at least one row.", resent: "{n} event(s) resent.",
        not_resent: "{n} not resent:", missing: "the original event is no longer in Kafka",
        pending: "resent already, waiting for its outcome", not_found: "not found in your history",
        forbidden: "Your role cannot resend.", empty: "No rows found.", bad_token: "Token refused.",
        all_tenants: "all accounts", select_all: "Select all", select_row: "Select {id}",
        pending_counts: "Pending per integration:", no_order: "Order not found.",
        backlog: "At the stores now (queued / parked / sending):", operator: "operator", viewer: "viewer",
        tab_health: "Health", h_state: "State", h_sent: "Sent", h_skipped: "Skipped", h_errors: "Errors", h_rate: "Success",
        h_p50: "ERP → platform p50", h_p95: "p95", h_open: "Open errors", h_pending: "Pending", h_last: "Last success",
        h_queued: "Queued", h_parked: "Parked", h_sending: "Sending", h_paused: "Paused until", h_circuit: "Circuit open",
        healthy: "Healthy", circuit_open: "store not answering", paused: "paused by the platform", late: "an event waiting over 15 min",
        open_errors: "open errors", low_success: "success below 90%", open_for: "for {d}", never: "never",
        health_empty: "No integration with events in the period." },
};
// selected: the event ids the operator ticked; they stay ticked when the rows are drawn again
const state = { tab: "todos", page: 1, pageSize: 50, total: 0, lang: localStorage.getItem("lang") || "pt",
                words: { outcomes: {}, event_types: {}, actions: {}, reasons: {} }, selected: new Set(), role: "viewer", who: null };
const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) => (TEXT[state.lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k]);
const word = (kind, code) => (code && state.words[kind][code]) || code || "";
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function applyLanguage() {
  document.documentElement.lang = state.lang === "pt" ? "pt-BR" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.title = t("title");
  $("lang").value = state.lang;
}

async function loadWords() {
  state.words = await (await api("/api/catalogue?lang=" + state.lang)).json();
  for (const [select, kind] of [["f-event", "event_types"], ["f-outcome", "outcomes"]]) {
    const box = $(select), chosen = box.value;
    box.replaceChildren(new Option("", ""));
    for (const [code, text] of Object.entries(state.words[kind])) box.appendChild(new Option(text, code));
    box.value = chosen;
  }
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
    // typed in the browser's zone, as the times are shown: sent as an instant
    params.set(name, name === "since" || name === "until" ? new Date(value).toISOString() : value);
  }
  return params;
}

function cell(text, cls) { const td = document.createElement("td"); td.textContent = text == null ? "" : text; if (cls) td.className = cls; return td; }

// dd/mm/aaaa HH:mm:ss in the browser's zone (pt); yyyy-mm-dd HH:mm:ss (en)
function when(iso) {
  if (!iso) return "";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}:${parts.second}`;
  return state.lang === "pt" ? `${parts.day}/${parts.month}/${parts.year} ${time}` : `${parts.year}-${parts.month}-${parts.day} ${time}`;
}

function pill(outcome) {
  const td = document.createElement("td"); const span = document.createElement("span");
  span.className = "pill " + outcome; span.dataset.outcome = outcome; span.textContent = word("outcomes", outcome);
  td.appendChild(span); return td;
}

// the reason in words; the technical detail of an error folded under it
function reasonCell(row) {
  const td = cell(word("reasons", row.reason_code));
  if (row.error) {
    const details = document.createElement("details"); const summary = document.createElement("summary");
    summary.textContent = t("detail"); const pre = document.createElement("pre"); pre.textContent = row.error;
    details.append(summary, pre); td.appendChild(details);
  }
  return td;
}

function orderPath(integration, order) { return "/pedido/" + [integration, order].map(encodeURIComponent).join("/"); }

function orderLink(row) {
  const td = document.createElement("td"); const link = document.createElement("a");
  link.className = "order"; link.textContent = row.platform_order_id; link.href = orderPath(row.integration, row.platform_order_id);
  link.title = row.erp_order_id ? `ERP ${row.erp_order_id}` : "";
  link.addEventListener("click", (e) => { e.preventDefault(); showTimeline(row.integration, row.platform_order_id); });
  td.appendChild(link); return td;
}

let loads = 0, settled = 0;
async function load() {
  const healthTab = state.tab === "saude";
  // the health tab has its own table; the events' table, paging and actions are not its
  for (const id of ["events", "pager", "row-actions"]) $(id).hidden = healthTab;
  $("health").hidden = !healthTab;
  if (healthTab) { $("pending-counts").hidden = true; $("backlog").hidden = true; await loadHealth(); return; }
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
  const operator = state.role === "operator";
  const pendingTab = state.tab === "pendentes";
  document.querySelectorAll(".due-col").forEach((el) => { el.hidden = !pendingTab; });
  const body = $("rows");
  body.replaceChildren();
  for (const row of data.rows) {
    const tr = document.createElement("tr");
    tr.dataset.eventId = row.event_id;
    const check = document.createElement("td");
    check.className = "pick-col"; check.hidden = !operator;
    if (operator) {
      const box = document.createElement("input");
      box.type = "checkbox"; box.className = "pick"; box.value = row.event_id; box.setAttribute("aria-label", t("select_row", { id: row.event_id }));
      box.checked = state.selected.has(row.event_id);
      box.addEventListener("change", () => { if (box.checked) state.selected.add(row.event_id); else state.selected.delete(row.event_id); });
      check.appendChild(box);
    }
    tr.appendChild(check);
    tr.appendChild(cell(when(row.decided_at)));
    tr.appendChild(cell(row.integration));
    tr.appendChild(orderLink(row));
    tr.appendChild(cell(word("event_types", row.event_type)));
    tr.appendChild(cell(word("actions", row.action)));
    tr.appendChild(pill(row.outcome));
    tr.appendChild(reasonCell(row));
    tr.appendChild(cell(row.attempt, "num"));
    const due = cell(when(row.due_at)); due.className = "due-col"; due.hidden = !pendingTab; tr.appendChild(due);
    tr.appendChild(cell(row.http_status, "num"));
    tr.appendChild(cell(row.latency_ms == null ? "" : Number(row.latency_ms).toFixed(1), "num"));
    body.appendChild(tr);
  }
  if (!data.rows.length) { const tr = document.createElement("tr"); const td = cell(t("empty")); td.colSpan = 12; tr.appendChild(td); body.appendChild(tr); }
  const counts = $("pending-counts");
  counts.hidden = !pendingTab || !data.by_integration || !data.by_integration.length;
  if (!counts.hidden) {
    counts.replaceChildren(t("pending_counts") + " ");
    data.by_integration.forEach((c, i) => counts.append((i ? " · " : "") + `${c.integration}: ${c.rows}`));
  }
  if (pendingTab) await showBacklog(); else $("backlog").hidden = true;
  const pages = Math.max(1, Math.ceil(state.total / state.pageSize));
  $("pageinfo").textContent = t("page", { p: state.page, n: pages, t: state.total });
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  $("all").checked = false;
}

function locale() { return state.lang === "pt" ? "pt-BR" : "en"; }
function seconds(ms) {
  if (ms == null) return "";
  return ms >= 60000 ? duration(ms / 1000) : new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(ms / 1000) + " s";
}
function percent(rate) { return rate == null ? "" : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(rate); }
function duration(s) {
  if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return s >= 60 ? `${Math.floor(s / 60)} min` : `${Math.round(s)} s`;
}

// a count that opens the tab it counts, filtered to the integration
function tabLink(count, tab, integration) {
  const td = document.createElement("td"); td.className = "num";
  if (!count) { td.textContent = "0"; return td; }
  const a = document.createElement("a"); a.textContent = count; a.href = "?" + new URLSearchParams({ tab, integration });
  a.className = "to-" + tab;
  a.addEventListener("click", (e) => { e.preventDefault(); openTab(tab, integration); });
  td.appendChild(a); return td;
}

function openTab(tab, integration) { $("filters").elements.integration.value = integration; selectTab(tab); }

// per integration, for the period and now; the unhealthy first (the API's order)
async function loadHealth() {
  const mine = ++loads;
  const body = $("health-rows");
  body.setAttribute("aria-busy", "true");
  const params = filterParams(); ["tab", "page", "page_size", "order", "event_type", "outcome"].forEach((p) => params.delete(p));
  const response = await api("/api/integration-health?" + params);
  const data = await response.json();
  document.body.dataset.settled = String(++settled);
  if (mine !== loads) return;
  body.setAttribute("aria-busy", "false");
  if (!response.ok) { notice(data.error || response.statusText, "error"); return; }
  body.replaceChildren();
  for (const h of data.integrations) {
    const tr = document.createElement("tr");
    tr.dataset.integration = h.integration; tr.className = h.problems.length ? "unhealthy" : "healthy";
    const name = document.createElement("td"); const link = document.createElement("a");
    link.textContent = h.integration; link.className = "integration";
    const tab = h.open_errors ? "erros" : "pendentes";
    link.href = "?" + new URLSearchParams({ tab, integration: h.integration });
    link.addEventListener("click", (e) => { e.preventDefault(); openTab(tab, h.integration); });
    name.appendChild(link); tr.appendChild(name);
    tr.appendChild(cell(h.problems.length ? h.problems.map((p) => t(p)).join(", ") : t("healthy"), "state"));
    [h.sent, h.skipped, h.errors].forEach((n) => tr.appendChild(cell(n, "num")));
    tr.appendChild(cell(percent(h.success_rate), "num"));
    tr.appendChild(cell(seconds(h.p50_ms), "num"));
    tr.appendChild(cell(seconds(h.p95_ms), "num"));
    tr.appendChild(tabLink(h.open_errors, "erros", h.integration));
    tr.appendChild(tabLink(h.pending, "pendentes", h.integration));
    tr.appendChild(cell(h.last_success ? when(h.last_success) : t("never")));
    [h.queued, h.parked, h.sending].forEach((n) => tr.appendChild(cell(n, "num")));
    tr.appendChild(cell(when(h.paused_until)));
    tr.appendChild(cell(h.circuit_open_s > 0 ? t("open_for", { d: duration(h.circuit_open_s) }) : ""));
    body.appendChild(tr);
  }
  if (!data.integrations.length) { const tr = document.createElement("tr"); const td = cell(t("health_empty")); td.colSpan = 16; tr.appendChild(td); body.appendChild(tr); }
}

// what the workers hold for each store right now (in memory, parked, being sent)
async function showBacklog() {
  const box = $("backlog");
  const response = await api("/api/backlog");
  const stores = response.ok ? (await response.json()).stores : [];
  box.hidden = !stores.length;
  if (!stores.length) return;
  box.replaceChildren(t("backlog") + " ");
  stores.slice(0, 20).forEach((s, i) => box.append((i ? " · " : "") + `${s.integration_id}: ${s.queued} / ${s.parked} / ${s.in_flight}`));
}

function notice(text, kind) { const n = $("notice"); n.replaceChildren(text); n.className = kind || ""; }

async function resendSelected() {
  const ids = [...state.selected];
  if (!ids.length) { notice(t("none_selected"), "error"); return; }
  const response = await api("/api/resend", { method: "POST", body: JSON.stringify({ event_ids: ids }) });
  const data = await response.json().catch(() => ({}));
  if (response.status === 403) { notice(t("forbidden"), "error"); return; }
  if (!response.ok) { notice(data.error || response.statusText, "error"); return; }
  // every selected event is resent, or named with why it was not
  const refused = [...(data.missing || []).map((id) => [id, "missing"]), ...(data.pending || []).map((id) => [id, "pending"]),
                   ...(data.not_found || []).map((id) => [id, "not_found"])];
  notice(t("resent", { n: data.resent }), refused.length ? "error" : "ok");
  if (refused.length) {
    const list = document.createElement("ul"); list.id = "not-resent";
    for (const [id, why] of refused) { const li = document.createElement("li"); li.textContent = `${id}: ${t(why)}`; list.appendChild(li); }
    $("notice").append(" " + t("not_resent", { n: refused.length }), list);
  }
  (data.event_ids || []).forEach((id) => state.selected.delete(id));
  await load();
}

async function showTimeline(integration, order) {
  const response = await api("/api/order?" + new URLSearchParams({ integration, order }));
  const rows = response.ok ? await response.json() : [];
  $("tl-title").textContent = `${integration} / ${order}` + (rows.length && rows[0].erp_order_id ? ` (ERP ${rows[0].erp_order_id})` : "");
  const body = $("tl-rows");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    [when(row.decided_at), when(row.occurred_at), word("event_types", row.event_type), word("actions", row.action)].forEach((v) => tr.appendChild(cell(v)));
    tr.appendChild(pill(row.outcome));
    tr.appendChild(cell(word("reasons", row.reason_code)));
    tr.appendChild(cell(row.attempt, "num"));
    tr.appendChild(cell(row.http_status, "num"));
    tr.appendChild(cell(row.error || "", "detail"));
    body.appendChild(tr);
  }
  if (!rows.length) { const tr = document.createElement("tr"); const td = cell(t("no_order")); td.colSpan = 9; tr.appendChild(td); body.appendChild(tr); }
  const dialog = $("timeline");
  if (!dialog.open) dialog.showModal();
  dialog.scrollTop = 0;
  $("tl-heading").focus();  // opens at its heading, not at its last row
}

async function exportCsv() {
  const params = filterParams(); params.delete("page"); params.delete("page_size");
  params.set("lang", state.lang); params.set("tz", zone);
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

function showWho() {
  const who = state.who;
  if (who) $("who").textContent = `${who.name} · ${who.tenant === "*" ? t("all_tenants") : who.tenant} · ${t(who.role)}`;
}

function showLogin(message) { $("app").hidden = true; $("login").hidden = false; $("login_error").textContent = message || ""; }

// /pedido/{integration}/{order}: the ERP's order menu opens that order's timeline
function orderFromPath() {
  const match = location.pathname.match(/^\/pedido\/([^/]+)\/([^/]+)$/);
  return match ? [decodeURIComponent(match[1]), decodeURIComponent(match[2])] : null;
}

// ?tab=erros&integration=loja-1: the alerts' links (deploy/prometheus/alerts.yml) and the
// health tab's open the report on a tab, filtered
const TAB_NAMES = ["todos", "erros", "pendentes", "saude"];
function fromAddress() {
  const query = new URLSearchParams(location.search);
  for (const name of ["integration", "order", "event_type", "outcome"]) {
    const field = $("filters").elements[name];
    if (query.get(name) && field) field.value = query.get(name);
  }
  const tab = query.get("tab");
  if (TAB_NAMES.includes(tab)) {
    state.tab = tab;
    document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
  }
}

async function start() {
  const me = await api("/api/me");
  if (!me.ok) return;
  const who = await me.json();
  state.role = who.role;
  state.who = who;
  showWho();
  // a viewer is not offered what it cannot do
  document.querySelectorAll(".operator-only").forEach((el) => { el.hidden = who.role !== "operator"; });
  await loadWords();
  $("login").hidden = true; $("app").hidden = false;
  fromAddress();
  await load();
  const order = orderFromPath();
  if (order) await showTimeline(...order);
}

$("enter").addEventListener("click", () => { sessionStorage.setItem("ordersync-token", $("token").value.trim()); start().catch(() => {}); });
$("lang").addEventListener("change", async (e) => {
  state.lang = e.target.value; localStorage.setItem("lang", state.lang); applyLanguage(); showWho();
  if (token()) { await loadWords(); await load(); }
});
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
if (fromHash) { sessionStorage.setItem("ordersync-token", fromHash); history.replaceState(null, "", location.pathname + location.search); }
if (token()) start().catch(() => {}); else showLogin();
