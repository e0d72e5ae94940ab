"""Strings of the journeys page (post-sale automation), ``key → (pt-BR, en)``.

``nav.journeys`` is the one key outside the ``journeys.`` prefix: the navigation builds
its labels as ``nav.<page>`` (web/templates/base.html).
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.journeys": ("Jornadas", "Journeys"),
    "journeys.title": ("Jornadas pós-venda", "Post-sale journeys"),
    "journeys.who": (
        "Cada jornada com quantos clientes entraram, estão em cada etapa e receberam, "
        "ficaram de fora ou foram adiados em cada envio.",
        "Each journey with how many customers entered, are at each step and were sent, "
        "left out or postponed at each send.",
    ),
    "journeys.empty": (
        "Nenhuma jornada cadastrada ainda.",
        "No journeys yet.",
    ),
    "journeys.status.active": ("ativa", "active"),
    "journeys.status.paused": ("pausada", "paused"),
    "journeys.version": ("versão {version}", "version {version}"),
    "journeys.trigger.order_placed": ("Gatilho: pedido feito", "Trigger: order placed"),
    "journeys.trigger.segment_entered": (
        "Gatilho: entrada no segmento",
        "Trigger: segment entered",
    ),
    "journeys.trigger.segment_exited": ("Gatilho: saída do segmento", "Trigger: segment exited"),
    "journeys.trigger.event": ("Gatilho: evento", "Trigger: event"),
    "journeys.trigger.points_expiring": (
        "Gatilho: pontos a expirar",
        "Trigger: points about to expire",
    ),
    "journeys.runs.entered": ("Entraram", "Entered"),
    "journeys.runs.active": ("Em andamento", "In progress"),
    "journeys.runs.completed": ("Concluíram", "Completed"),
    "journeys.runs.exited": ("Saíram antes", "Exited early"),
    "journeys.runs.holdout": ("Grupo de controle", "Holdout"),
    "journeys.nodes_caption": (
        "Por etapa: clientes nela agora e as decisões de envio.",
        "Per step: customers there now and the send decisions.",
    ),
    "journeys.col.node": ("Etapa", "Step"),
    "journeys.col.type": ("Tipo", "Type"),
    "journeys.col.here": ("Aqui agora", "Here now"),
    "journeys.col.sent": ("Enviadas", "Sent"),
    "journeys.col.pending": ("Na fila", "Queued"),
    "journeys.col.held_out": ("Controle, não enviadas", "Holdout, not sent"),
    "journeys.col.consent": ("Sem consentimento", "No consent"),
    "journeys.col.cap_skipped": ("Puladas pelo limite", "Skipped by cap"),
    "journeys.col.cap_deferred": ("Adiadas pelo limite", "Deferred by cap"),
    "journeys.col.quiet_deferred": ("Adiadas pelo horário", "Deferred by quiet hours"),
    "journeys.col.failed": ("Falharam", "Failed"),
    "journeys.col.journey": ("Jornada", "Journey"),
    "journeys.col.channel": ("Canal", "Channel"),
    "journeys.col.state": ("Situação", "Status"),
    "journeys.col.subject": ("Assunto", "Subject"),
    "journeys.node.wait": ("Espera", "Wait"),
    "journeys.node.wait_for_event": ("Espera por evento", "Wait for event"),
    "journeys.node.condition": ("Condição", "Condition"),
    "journeys.node.split": ("Divisão aleatória", "Random split"),
    "journeys.node.holdout": ("Grupo de controle", "Holdout"),
    "journeys.node.send": ("Envio", "Send"),
    "journeys.node.give_points": ("Dar pontos", "Give points"),
    "journeys.node.exit": ("Fim", "End"),
    "journeys.channel.email": ("E-mail", "E-mail"),
    "journeys.channel.webhook": ("Webhook", "Webhook"),
    "journeys.channel.points": ("Pontos", "Points"),
    "journeys.state.pending": ("na fila", "queued"),
    "journeys.state.sending": ("enviando", "sending"),
    "journeys.state.sent": ("enviada", "sent"),
    "journeys.state.failed": ("falhou", "failed"),
    "journeys.state.unknown": ("resultado desconhecido", "outcome unknown"),
    "journeys.state.suppressed": ("não enviada", "not sent"),
    "journeys.state.held_out": ("controle", "holdout"),
    "journeys.reason.consent": ("sem consentimento", "no consent"),
    "journeys.reason.cap": ("limite de frequência", "frequency cap"),
    "journeys.recent": ("Mensagens recentes", "Recent messages"),
    "journeys.no_messages": ("Nenhuma mensagem decidida ainda.", "No messages decided yet."),
    "journeys.preview": ("Prévia da mensagem", "Message preview"),
    "journeys.preview_choose": ("Envio", "Send step"),
    "journeys.preview_show": ("Mostrar", "Show"),
    "journeys.preview_for": (
        "Como {name} receberia o modelo {template}:",
        "As {name} would receive the template {template}:",
    ),
    "journeys.preview_subject": ("Assunto:", "Subject:"),
    "journeys.preview_text": ("Versão em texto", "Plain-text version"),
    "journeys.no_preview": (
        "Sem cliente com e-mail para a prévia.",
        "No customer with an e-mail for the preview.",
    ),
}
