"""The closed list of reason codes an outcome can carry, with the text the report shows.

``docs/reason-codes.md`` is generated from this table (``ordersync reasons``),
so the two never disagree.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # sent
    DELIVERED = "DELIVERED"
    ALREADY_DONE = "ALREADY_DONE"
    ALREADY_DELIVERED = "ALREADY_DELIVERED"
    # routing decisions
    AUTOMATION_ORDER_UPDATES_OFF = "AUTOMATION_ORDER_UPDATES_OFF"
    AUTOMATION_CANCELLATIONS_OFF = "AUTOMATION_CANCELLATIONS_OFF"
    AUTOMATION_DELIVERY_INFO_OFF = "AUTOMATION_DELIVERY_INFO_OFF"
    AUTOMATIONS_OFF = "AUTOMATIONS_OFF"
    FULFILLMENT_MODE = "FULFILLMENT_MODE"
    MAGENTO1_SCHEDULED_SYNC = "MAGENTO1_SCHEDULED_SYNC"
    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    UNKNOWN_INTEGRATION = "UNKNOWN_INTEGRATION"
    TENANT_MISMATCH = "TENANT_MISMATCH"
    UNKNOWN_PLATFORM = "UNKNOWN_PLATFORM"
    ACTION_UNSUPPORTED = "ACTION_UNSUPPORTED"
    STATUS_UNMAPPED = "STATUS_UNMAPPED"
    SUPERSEDED_BY_NEWER = "SUPERSEDED_BY_NEWER"
    # bad input
    NOT_FRAMED = "NOT_FRAMED"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"
    UNDECODABLE = "UNDECODABLE"
    INVALID_EVENT = "INVALID_EVENT"
    OVERSIZED = "OVERSIZED"
    KEY_MISMATCH = "KEY_MISMATCH"
    BAD_CONTROL_HEADER = "BAD_CONTROL_HEADER"
    FORGED_CONTROL_HEADER = "FORGED_CONTROL_HEADER"
    # platform answers
    HTTP_SERVER_ERROR = "HTTP_SERVER_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    STORE_UNRESPONSIVE = "STORE_UNRESPONSIVE"
    HTTP_REJECTED = "HTTP_REJECTED"
    AUTH_REJECTED = "AUTH_REJECTED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    REDIRECT_REFUSED = "REDIRECT_REFUSED"
    CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
    ADDRESS_BLOCKED = "ADDRESS_BLOCKED"
    INSECURE_URL = "INSECURE_URL"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # the NF-e document
    NFE_XML_MISSING = "NFE_XML_MISSING"
    NFE_URL_REFUSED = "NFE_URL_REFUSED"
    NFE_FETCH_FAILED = "NFE_FETCH_FAILED"
    NFE_TOO_LARGE = "NFE_TOO_LARGE"
    NFE_XML_INVALID = "NFE_XML_INVALID"
    NFE_KEY_MISMATCH = "NFE_KEY_MISMATCH"
    NFE_NOT_AUTHORIZED = "NFE_NOT_AUTHORIZED"
    NFE_REJECTED = "NFE_REJECTED"
    NFE_ORDER_MISMATCH = "NFE_ORDER_MISMATCH"
    NFE_NOT_ACCEPTED = "NFE_NOT_ACCEPTED"
    NFE_ISSUED_BY_PLATFORM = "NFE_ISSUED_BY_PLATFORM"
    NFE_NOT_ISSUED_BY_SELLER = "NFE_NOT_ISSUED_BY_SELLER"
    NFE_NOT_REQUIRED = "NFE_NOT_REQUIRED"
    # waiting
    ORDER_HELD = "ORDER_HELD"
    STORE_QUEUED = "STORE_QUEUED"
    # operators
    OPERATOR_RESEND = "OPERATOR_RESEND"


PT_BR: dict[ReasonCode, str] = {
    ReasonCode.DELIVERED: "Enviado à plataforma",
    ReasonCode.ALREADY_DONE: "A plataforma já tinha esta atualização",
    ReasonCode.ALREADY_DELIVERED: "Já enviado à plataforma: não foi enviado de novo",
    ReasonCode.AUTOMATION_ORDER_UPDATES_OFF: 'Automação "Enviar atualizações de pedidos" desligada',
    ReasonCode.AUTOMATION_CANCELLATIONS_OFF: 'Automação "Enviar situação de pedidos cancelados" desligada',
    ReasonCode.AUTOMATION_DELIVERY_INFO_OFF: 'Automação "Enviar informações de entrega" desligada',
    ReasonCode.AUTOMATIONS_OFF: "Automações de atualização e de entrega desligadas",
    ReasonCode.FULFILLMENT_MODE: "Integração em modo Fulfillment: informações de entrega não são enviadas",
    ReasonCode.MAGENTO1_SCHEDULED_SYNC: "Magento 1.x: atualizado pelas tarefas agendadas",
    ReasonCode.INTEGRATION_DISABLED: "Integração desativada",
    ReasonCode.UNKNOWN_INTEGRATION: "Integração não cadastrada",
    ReasonCode.TENANT_MISMATCH: "A integração pertence a outra conta",
    ReasonCode.UNKNOWN_PLATFORM: "Plataforma desconhecida",
    ReasonCode.ACTION_UNSUPPORTED: "A plataforma não oferece esta ação",
    ReasonCode.STATUS_UNMAPPED: "Situação do ERP sem correspondência na plataforma",
    ReasonCode.SUPERSEDED_BY_NEWER: "Já foi enviada uma atualização mais recente",
    ReasonCode.NOT_FRAMED: "Mensagem fora do formato esperado",
    ReasonCode.UNKNOWN_SCHEMA: "Esquema da mensagem desconhecido",
    ReasonCode.UNDECODABLE: "Mensagem ilegível",
    ReasonCode.INVALID_EVENT: "Evento com dados inválidos",
    ReasonCode.OVERSIZED: "Mensagem grande demais",
    ReasonCode.KEY_MISMATCH: "Chave da mensagem não corresponde ao pedido do evento",
    ReasonCode.BAD_CONTROL_HEADER: "Cabeçalho de controle ilegível",
    ReasonCode.FORGED_CONTROL_HEADER: "Cabeçalho de controle sem assinatura do ordersync",
    ReasonCode.HTTP_SERVER_ERROR: "Erro no servidor da plataforma",
    ReasonCode.RATE_LIMITED: "Limite de requisições da plataforma atingido",
    ReasonCode.TIMEOUT: "A plataforma não respondeu a tempo",
    ReasonCode.CONNECTION_ERROR: "Falha de conexão com a plataforma",
    ReasonCode.STORE_UNRESPONSIVE: "A loja não responde: envios pausados por alguns segundos",
    ReasonCode.HTTP_REJECTED: "A plataforma recusou a requisição",
    ReasonCode.AUTH_REJECTED: "Credenciais recusadas pela plataforma",
    ReasonCode.TOKEN_EXPIRED: "Token de acesso expirado ou inválido",
    ReasonCode.ORDER_NOT_FOUND: "Pedido não encontrado na plataforma",
    ReasonCode.REDIRECT_REFUSED: "A plataforma respondeu com redirecionamento",
    ReasonCode.CREDENTIALS_MISSING: "Credenciais da integração não encontradas",
    ReasonCode.ADDRESS_BLOCKED: "Endereço da loja não permitido",
    ReasonCode.INSECURE_URL: "Endereço da loja sem HTTPS",
    ReasonCode.INTERNAL_ERROR: "Erro interno",
    ReasonCode.NFE_XML_MISSING: "Evento sem o XML da NF-e (nem o XML, nem o endereço dele)",
    ReasonCode.NFE_URL_REFUSED: "Endereço do XML da NF-e recusado: só https nos servidores do ERP cadastrados na integração",
    ReasonCode.NFE_FETCH_FAILED: "Não foi possível baixar o XML da NF-e do ERP",
    ReasonCode.NFE_TOO_LARGE: "XML da NF-e grande demais",
    ReasonCode.NFE_XML_INVALID: "O XML não é uma NF-e legível",
    ReasonCode.NFE_KEY_MISMATCH: "Chave de acesso do XML diferente da chave do evento",
    ReasonCode.NFE_NOT_AUTHORIZED: "NF-e sem autorização de uso (protocolo com cStat 100)",
    ReasonCode.NFE_REJECTED: "A plataforma recusou o XML da NF-e",
    ReasonCode.NFE_ORDER_MISMATCH: "A plataforma diz que a NF-e não corresponde ao pedido",
    ReasonCode.NFE_NOT_ACCEPTED: "O envio não aceita NF-e importada",
    ReasonCode.NFE_ISSUED_BY_PLATFORM: "Envio Full: a NF-e é emitida pelo Mercado Livre",
    ReasonCode.NFE_NOT_ISSUED_BY_SELLER: "Vendedor sem emissão de NF-e (fluxo DC-e)",
    ReasonCode.NFE_NOT_REQUIRED: "A logística do envio não pede a NF-e",
    ReasonCode.ORDER_HELD: "Aguardando o evento anterior do mesmo pedido",
    ReasonCode.STORE_QUEUED: "Aguardando a vez da loja (limite de envios da plataforma)",
    ReasonCode.OPERATOR_RESEND: "Reenviado pelo operador",
}


ENGLISH: dict[ReasonCode, str] = {
    ReasonCode.DELIVERED: "Sent to the platform",
    ReasonCode.ALREADY_DONE: "The platform already had this update",
    ReasonCode.ALREADY_DELIVERED: "Already sent to the platform: not sent again",
    ReasonCode.AUTOMATION_ORDER_UPDATES_OFF: 'Automation "Send order updates" is off',
    ReasonCode.AUTOMATION_CANCELLATIONS_OFF: 'Automation "Send cancelled-order status" is off',
    ReasonCode.AUTOMATION_DELIVERY_INFO_OFF: 'Automation "Send delivery information" is off',
    ReasonCode.AUTOMATIONS_OFF: "Update and delivery automations are off",
    ReasonCode.FULFILLMENT_MODE: "Integration in Fulfillment mode: delivery information is not sent",
    ReasonCode.MAGENTO1_SCHEDULED_SYNC: "Magento 1.x: updated by the scheduled jobs",
    ReasonCode.INTEGRATION_DISABLED: "Integration disabled",
    ReasonCode.UNKNOWN_INTEGRATION: "Integration not registered",
    ReasonCode.TENANT_MISMATCH: "The integration belongs to another account",
    ReasonCode.UNKNOWN_PLATFORM: "Unknown platform",
    ReasonCode.ACTION_UNSUPPORTED: "The platform does not offer this action",
    ReasonCode.STATUS_UNMAPPED: "ERP status with no platform equivalent",
    ReasonCode.SUPERSEDED_BY_NEWER: "A newer update was already sent",
    ReasonCode.NOT_FRAMED: "Message not in the expected format",
    ReasonCode.UNKNOWN_SCHEMA: "Unknown message schema",
    ReasonCode.UNDECODABLE: "Unreadable message",
    ReasonCode.INVALID_EVENT: "Event with invalid data",
    ReasonCode.OVERSIZED: "Message too large",
    ReasonCode.KEY_MISMATCH: "Message key does not match the event's order",
    ReasonCode.BAD_CONTROL_HEADER: "Unreadable control header",
    ReasonCode.FORGED_CONTROL_HEADER: "Control header without ordersync's signature",
    ReasonCode.HTTP_SERVER_ERROR: "Platform server error",
    ReasonCode.RATE_LIMITED: "Platform request limit reached",
    ReasonCode.TIMEOUT: "The platform did not answer in time",
    ReasonCode.CONNECTION_ERROR: "Could not connect to the platform",
    ReasonCode.STORE_UNRESPONSIVE: "The store does not answer: sends paused for a few seconds",
    ReasonCode.HTTP_REJECTED: "The platform refused the request",
    ReasonCode.AUTH_REJECTED: "Credentials refused by the platform",
    ReasonCode.TOKEN_EXPIRED: "Access token expired or invalid",
    ReasonCode.ORDER_NOT_FOUND: "Order not found on the platform",
    ReasonCode.REDIRECT_REFUSED: "The platform answered with a redirect",
    ReasonCode.CREDENTIALS_MISSING: "The integration's credentials were not found",
    ReasonCode.ADDRESS_BLOCKED: "Store address not allowed",
    ReasonCode.INSECURE_URL: "Store address without HTTPS",
    ReasonCode.INTERNAL_ERROR: "Internal error",
    ReasonCode.NFE_XML_MISSING: "The event has no NF-e XML (neither the XML nor its address)",
    ReasonCode.NFE_URL_REFUSED: "NF-e XML address refused: https only, on the ERP hosts the integration lists",
    ReasonCode.NFE_FETCH_FAILED: "Could not download the NF-e XML from the ERP",
    ReasonCode.NFE_TOO_LARGE: "NF-e XML too large",
    ReasonCode.NFE_XML_INVALID: "The XML is not a readable NF-e",
    ReasonCode.NFE_KEY_MISMATCH: "The XML's access key differs from the event's",
    ReasonCode.NFE_NOT_AUTHORIZED: "NF-e without its authorization (a protocol with cStat 100)",
    ReasonCode.NFE_REJECTED: "The platform refused the NF-e XML",
    ReasonCode.NFE_ORDER_MISMATCH: "The platform says the NF-e does not match the order",
    ReasonCode.NFE_NOT_ACCEPTED: "The shipment does not take an imported NF-e",
    ReasonCode.NFE_ISSUED_BY_PLATFORM: "Full shipment: Mercado Livre issues the NF-e",
    ReasonCode.NFE_NOT_ISSUED_BY_SELLER: "Seller without NF-e (DC-e flow)",
    ReasonCode.NFE_NOT_REQUIRED: "The shipment's logistics does not ask for the NF-e",
    ReasonCode.ORDER_HELD: "Waiting for the order's earlier event",
    ReasonCode.STORE_QUEUED: "Waiting for the store's turn (the platform's request limit)",
    ReasonCode.OPERATOR_RESEND: "Resent by an operator",
}


def markdown_table() -> str:
    lines = ["| code | texto no relatório | text in the report |", "| --- | --- | --- |"]
    lines += [f"| `{code.value}` | {PT_BR[code]} | {ENGLISH[code]} |" for code in ReasonCode]
    return "\n".join(lines)
