"""The ``recompra`` command: one Typer app assembling every domain's commands."""

from __future__ import annotations

import typer

from recompra.cli import (
    automation,
    backup,
    cases,
    commercial,
    demo,
    engagement,
    hub,
    keys,
    loyalty,
    measurement,
    pipeline,
    privacy,
    segments,
    users,
    voc,
)
from recompra.cli.serve import serve

app = typer.Typer(
    name="recompra",
    help="Recompra: customer data hub, RFM, CLV, loyalty and cross-sell for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(demo.demo)
app.add_typer(hub.db_app, name="db")
app.add_typer(hub.hub_app, name="hub")
hub.import_app.command("olist-funnel")(commercial.import_olist_funnel_command)
hub.import_app.command("spend")(commercial.import_spend_command)
app.add_typer(hub.import_app, name="import")
app.command()(hub.generate)
app.command()(hub.stats)
app.command()(hub.snapshot)
app.command()(pipeline.analyze)
app.command()(pipeline.predict)
app.command("pipeline")(pipeline.run_all)

recommend_app = typer.Typer(help="Cross-sell and upsell tables.", no_args_is_help=True)
recommend_app.command("refresh")(pipeline.recommend_refresh)
app.add_typer(recommend_app, name="recommend")
evaluate_app = typer.Typer(help="Offline evaluations.", no_args_is_help=True)
evaluate_app.command("recommendations")(pipeline.evaluate_recommendations)
app.add_typer(evaluate_app, name="evaluate")

# Engagement commands live in their own module but read as loyalty's sub-commands.
loyalty.app.add_typer(engagement.challenges_app, name="challenges")
loyalty.app.add_typer(engagement.quizzes_app, name="quizzes")
loyalty.app.add_typer(engagement.referrals_app, name="referrals")
app.add_typer(loyalty.app, name="loyalty")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(privacy.app, name="privacy")
app.add_typer(segments.app, name="segments")
app.add_typer(automation.journeys_app, name="journeys")
app.add_typer(automation.webhooks_app, name="webhooks")
app.add_typer(cases.app, name="cases")
app.add_typer(cases.surveys_app, name="surveys")
app.command()(automation.worker)
app.command()(voc.nps)
app.add_typer(voc.app, name="voc")
app.command()(automation.mailbox)
app.command()(measurement.uplift)
app.command("uplift-target")(measurement.uplift_target)
app.command()(commercial.funnel)
app.add_typer(commercial.forecast_app, name="forecast")
app.add_typer(commercial.leads_app, name="leads")
app.command()(commercial.cac)
app.add_typer(commercial.okrs_app, name="okrs")
app.command()(commercial.maturity)
app.add_typer(backup.app, name="backup")
app.command()(serve)


if __name__ == "__main__":
    app()
