"""Strings of the shopper's page (``/shop/<brand>``), pt-BR first."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "shopper.title": ("Meus pontos", "My points"),
    "shopper.sign_in.lead": (
        "Informe seu e-mail e enviaremos um link para você entrar, sem senha.",
        "Enter your e-mail and we will send you a link to sign in, no password needed.",
    ),
    "shopper.sign_in.email": ("E-mail", "E-mail"),
    "shopper.sign_in.submit": ("Enviar link", "Send link"),
    "shopper.sign_in.sent": (
        "Se este e-mail for de um cliente, o link chega em instantes. Ele vale por 15 minutos "
        "e para uma única entrada.",
        "If this e-mail belongs to a customer, the link arrives in a moment. It lasts 15 "
        "minutes and works once.",
    ),
    "shopper.sign_in.bad_email": ("Este e-mail não parece válido.", "This e-mail looks invalid."),
    "shopper.sign_in.too_many": (
        "Muitos pedidos de link para este e-mail. Tente de novo em alguns minutos.",
        "Too many link requests for this e-mail. Try again in a few minutes.",
    ),
    "shopper.sign_in.confirm": (
        "Toque no botão para entrar na sua página.",
        "Tap the button to open your page.",
    ),
    "shopper.sign_in.enter": ("Entrar", "Sign in"),
    "shopper.sign_in.expired": (
        "Este link expirou ou já foi usado. Peça um novo.",
        "This link has expired or was already used. Ask for a new one.",
    ),
    "shopper.sign_in.referred": (
        "Você recebeu o código de indicação {code}. Entre e informe-o na seção Indicações.",
        "You were given the referral code {code}. Sign in and enter it under Referrals.",
    ),
    "shopper.hello": ("Olá, {name}!", "Hello, {name}!"),
    "shopper.hello_anonymous": ("Olá!", "Hello!"),
    "shopper.sign_out": ("Sair", "Sign out"),
    "shopper.no_program": (
        "Esta marca ainda não tem programa de fidelidade.",
        "This brand has no loyalty program yet.",
    ),
    "shopper.points.title": ("Pontos", "Points"),
    "shopper.points.available": ("disponíveis", "available"),
    "shopper.points.pending": ("Pendentes", "Pending"),
    "shopper.points.pending_on": (
        "{points} pontos liberados em {date}",
        "{points} points released on {date}",
    ),
    "shopper.points.pending_held": (
        "{points} pontos aguardando a confirmação da compra",
        "{points} points waiting for the purchase to be confirmed",
    ),
    "shopper.points.expiring": ("Expiram em breve", "Expiring soon"),
    "shopper.points.expiring_on": (
        "{points} pontos expiram em {date}",
        "{points} points expire on {date}",
    ),
    "shopper.tier.title": ("Nível", "Tier"),
    "shopper.tier.none": ("Você ainda não tem um nível.", "You have no tier yet."),
    "shopper.tier.current": ("Você é {tier}", "You are {tier}"),
    "shopper.tier.top": ("Você está no nível mais alto.", "You are in the top tier."),
    "shopper.tier.next.points": (
        "{current} de {threshold} pontos para {tier}",
        "{current} of {threshold} points to {tier}",
    ),
    "shopper.tier.next.orders": (
        "{current} de {threshold} pedidos para {tier}",
        "{current} of {threshold} orders to {tier}",
    ),
    "shopper.tier.next.spend": (
        "{current} de {threshold} em compras para {tier}",
        "{current} of {threshold} spent to {tier}",
    ),
    "shopper.pool.title": ("Conta da empresa", "Company account"),
    "shopper.pool.lead": (
        "Seus pontos somam com os de {company}: um só saldo.",
        "Your points pool with {company}'s: one balance.",
    ),
    "shopper.pool.balance": ("Saldo da empresa", "Company balance"),
    "shopper.pool.tier": ("Nível da empresa", "Company tier"),
    "shopper.pool.buyer": ("Comprador", "Buyer"),
    "shopper.pool.earned": ("Acumulou", "Earned"),
    "shopper.pool.redeemed": ("Resgatou", "Redeemed"),
    "shopper.coalition": (
        "Acumule e troque seus pontos em: {brands}.",
        "Earn and redeem your points at: {brands}.",
    ),
    "shopper.challenges.title": ("Desafios", "Challenges"),
    "shopper.challenges.none": ("Nenhum desafio aberto agora.", "No challenge open now."),
    "shopper.challenges.progress": ("{current} de {target}", "{current} of {target}"),
    "shopper.challenges.bonus": ("+{points} pontos", "+{points} points"),
    "shopper.challenges.done": ("Concluído", "Completed"),
    "shopper.badges.title": ("Selos", "Badges"),
    "shopper.badges.none": ("Nenhum selo ainda.", "No badges yet."),
    "shopper.quizzes.title": ("Quizzes", "Quizzes"),
    "shopper.quizzes.reward_points": ("Vale {points} pontos", "Worth {points} points"),
    "shopper.quizzes.reward_coupon": ("Vale um cupom: {coupon}", "Worth a coupon: {coupon}"),
    "shopper.quizzes.submit": ("Enviar respostas", "Send answers"),
    "shopper.quizzes.passed": ("Você passou!", "You passed!"),
    "shopper.quizzes.failed": (
        "Não foi desta vez. Tente no próximo período.",
        "Not this time. Try again next period.",
    ),
    "shopper.quizzes.coupon": ("Seu cupom: {code}", "Your coupon: {code}"),
    "shopper.referral.title": ("Indicações", "Referrals"),
    "shopper.referral.lead": (
        "Indique um amigo: quando a primeira compra dele passar do prazo de devolução, "
        "vocês dois ganham pontos.",
        "Refer a friend: when their first order passes the return window, you both earn points.",
    ),
    "shopper.referral.link": ("Seu link de indicação", "Your referral link"),
    "shopper.referral.code": ("Código", "Code"),
    "shopper.referral.create": ("Gerar meu link", "Get my link"),
    "shopper.referral.claim": ("Recebeu um código?", "Got a code?"),
    "shopper.referral.claim_submit": ("Usar código", "Use code"),
    "shopper.rewards.title": ("Recompensas", "Rewards"),
    "shopper.rewards.none": ("Nenhuma recompensa disponível.", "No rewards available."),
    "shopper.rewards.cost": ("{points} pontos", "{points} points"),
    "shopper.rewards.redeem": ("Resgatar", "Redeem"),
    "shopper.rewards.left": ("{count} restantes", "{count} left"),
    "shopper.experiences.title": ("Experiências", "Experiences"),
    "shopper.experiences.early_access": ("Acesso antecipado", "Early access"),
    "shopper.experiences.event_seat": ("Lugar em evento", "Event seat"),
    "shopper.experiences.on": ("em {date}", "on {date}"),
    "shopper.experiences.missing.tier": ("Requer um nível mais alto", "Needs a higher tier"),
    "shopper.experiences.missing.badge": ("Requer um selo", "Needs a badge"),
    "shopper.experiences.missing.segment": (
        "Exclusivo para um grupo de clientes",
        "Exclusive to a group of customers",
    ),
    "shopper.redeemed.title": ("Meus resgates", "My redemptions"),
    "shopper.redeemed.coupon": ("Cupom {code}", "Coupon {code}"),
    "shopper.redeemed.cancelled": ("cancelado", "cancelled"),
    "shopper.notice.quiz_passed": ("Quiz concluído: você passou!", "Quiz done: you passed!"),
    "shopper.notice.quiz_failed": ("Quiz concluído.", "Quiz done."),
    "shopper.notice.quiz_quiz_already_attempted": (
        "Você já respondeu este quiz neste período.",
        "You already took this quiz this period.",
    ),
    "shopper.notice.redeemed": (
        "Resgate feito! Seu cupom está abaixo.",
        "Redeemed! Your coupon is below.",
    ),
    "shopper.notice.referral_ready": (
        "Seu link de indicação está pronto.",
        "Your referral link is ready.",
    ),
    "shopper.notice.referral_unavailable": (
        "Esta marca não tem programa de indicação.",
        "This brand has no referral program.",
    ),
    "shopper.notice.claimed": (
        "Código aceito! Os pontos chegam depois da sua primeira compra.",
        "Code accepted! The points arrive after your first order.",
    ),
    "shopper.notice.claim_rejected": (
        "Este código não pode ser usado para você.",
        "This code cannot be used for you.",
    ),
    "shopper.notice.claim_unknown": ("Código não encontrado.", "Code not found."),
    "shopper.notice.failed": (
        "Não foi possível concluir. Confira seus pontos e tente de novo.",
        "That did not work. Check your points and try again.",
    ),
}
