"""The report's words in Portuguese and English: outcomes, event types, actions, reasons and
the CSV's column names. The API serves it (``/api/catalogue``), the page and the CSV use
it, so a code reads the same everywhere; the codes stay in the data and in filters."""

from __future__ import annotations

from typing import Any

from streams.reasons import ENGLISH, PT_BR
from streams.records import Action, EventType, Outcome

LANGUAGES = ("pt", "en")

OUTCOMES = {
    "pt": {
        Outcome.SENT: "Enviado",
        Outcome.SKIPPED: "Ignorado",
        Outcome.SUPERSEDED: "Substituído",
        Outcome.RETRY_SCHEDULED: "Nova tentativa agendada",
        Outcome.DEAD_LETTERED: "Com erro",
        Outcome.INVALID: "Inválido",
        Outcome.RESENT: "Reenviado",
        Outcome.WAITING: "Aguardando",
    },
    "en": {
        Outcome.SENT: "Sent",
        Outcome.SKIPPED: "Skipped",
        Outcome.SUPERSEDED: "Superseded",
        Outcome.RETRY_SCHEDULED: "Retry scheduled",
        Outcome.DEAD_LETTERED: "Failed",
        Outcome.INVALID: "Invalid",
        Outcome.RESENT: "Resent",
        Outcome.WAITING: "Waiting",
    },
}

EVENT_TYPES = {
    "pt": {
        EventType.INVOICE_AUTHORIZED: "NF-e autorizada",
        EventType.PICKING_STARTED: "Separação iniciada",
        EventType.SHIPPED: "Despachado",
        EventType.DELIVERED: "Entregue",
        EventType.CANCELED: "Cancelado",
        EventType.STATUS_CHANGED: "Situação alterada",
    },
    "en": {
        EventType.INVOICE_AUTHORIZED: "Invoice (NF-e) authorized",
        EventType.PICKING_STARTED: "Picking started",
        EventType.SHIPPED: "Shipped",
        EventType.DELIVERED: "Delivered",
        EventType.CANCELED: "Cancelled",
        EventType.STATUS_CHANGED: "Status changed",
    },
}

ACTIONS = {
    "pt": {
        Action.INVOICE: "Enviar nota fiscal",
        Action.START_HANDLING: "Iniciar manuseio",
        Action.SHIP: "Marcar como despachado",
        Action.SHIP_WITH_TRACKING: "Despachar com rastreio",
        Action.DELIVER: "Marcar como entregue",
        Action.CANCEL: "Cancelar pedido",
        Action.UPDATE_STATUS: "Atualizar situação",
    },
    "en": {
        Action.INVOICE: "Send the invoice",
        Action.START_HANDLING: "Start handling",
        Action.SHIP: "Mark as shipped",
        Action.SHIP_WITH_TRACKING: "Ship with tracking",
        Action.DELIVER: "Mark as delivered",
        Action.CANCEL: "Cancel the order",
        Action.UPDATE_STATUS: "Update the status",
    },
}

# the CSV's columns, in order, and their names
COLUMNS = {
    "pt": {
        "decided_at": "Data",
        "occurred_at": "Data no ERP",
        "integration": "Integração",
        "platform": "Plataforma",
        "erp_order_id": "Pedido no ERP",
        "platform_order_id": "Pedido na plataforma",
        "event_type": "Evento",
        "action": "Ação",
        "outcome": "Resultado",
        "reason": "Motivo",
        "reason_code": "Código do motivo",
        "attempt": "Tentativa",
        "due_at": "Próxima tentativa",
        "http_status": "HTTP",
        "latency_ms": "Latência (ms)",
        "error": "Detalhe técnico",
        "event_id": "Id do evento",
    },
    "en": {
        "decided_at": "Date",
        "occurred_at": "Date in the ERP",
        "integration": "Integration",
        "platform": "Platform",
        "erp_order_id": "ERP order",
        "platform_order_id": "Platform order",
        "event_type": "Event",
        "action": "Action",
        "outcome": "Outcome",
        "reason": "Reason",
        "reason_code": "Reason code",
        "attempt": "Attempt",
        "due_at": "Next attempt",
        "http_status": "HTTP",
        "latency_ms": "Latency (ms)",
        "error": "Technical detail",
        "event_id": "Event id",
    },
}

REASONS = {"pt": PT_BR, "en": ENGLISH}


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else "pt"


def catalogue(lang: str) -> dict[str, Any]:
    return {
        "outcomes": {k.value: v for k, v in OUTCOMES[lang].items()},
        "event_types": {k.value: v for k, v in EVENT_TYPES[lang].items()},
        "actions": {k.value: v for k, v in ACTIONS[lang].items()},
        "reasons": {k.value: v for k, v in REASONS[lang].items()},
        "columns": COLUMNS[lang],
    }


KINDS: dict[str, dict[str, Any]] = {
    "outcomes": OUTCOMES,
    "event_types": EVENT_TYPES,
    "actions": ACTIONS,
    "reasons": REASONS,
}


def text(kind: str, code: str, lang: str) -> str:
    """The text of ``code`` of ``kind`` (outcomes, event_types, actions, reasons); the code
    itself when it has none (an empty action, a code from a newer version)."""
    table: dict[Any, str] = KINDS[kind][lang]
    return table.get(code, code)
