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
    ReasonCode.OPERATOR_RESEND: "Reenviado pelo operador",
}


def markdown_table() -> str:
    lines = ["| code | texto no relatório |", "| --- | --- |"]
    lines += [f"| `{code.value}` | {PT_BR[code]} |" for code in ReasonCode]
    return "\n".join(lines)
