"""``queuedeck serve``: run the console on Werkzeug's threaded server.

For production, run gunicorn on ``dashboard:create_app()`` (see the
``Procfile``); both refuse to listen beyond this machine without credentials.
"""

from __future__ import annotations

import os

import click

from .settings import ConsoleSettings, is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7145


@click.command("serve")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Anything but loopback needs QUEUEDECK_USERNAME "
    "and QUEUEDECK_PASSWORD.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on.",
)
@click.option(
    "--debug", is_flag=True, help="Reload on code changes; never in production."
)
def serve(host: str, port: int, debug: bool) -> None:
    """Serve the queue console in a browser at http://HOST:PORT/."""
    try:
        settings = ConsoleSettings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    check_bind(host, settings)

    from .app import create_app
    from .state import console_state

    app = create_app(settings)
    # With --debug, Werkzeug's reloader runs the app in a child process that
    # it marks with WERKZEUG_RUN_MAIN. The parent only watches the files.
    if not debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        console_state(app).start_background()
    click.echo(f"queuedeck console on http://{_url_host(host)}:{port}/")
    app.run(host=host, port=port, debug=debug, threaded=True)


def check_bind(host: str, settings: ConsoleSettings) -> None:
    """Reject a non-loopback *host* unless credentials protect the console.

    :raises click.BadParameter: naming the variables to set.
    """
    if is_loopback(host) or settings.has_credentials:
        return
    raise click.BadParameter(
        f"refusing to listen on {host!r} without credentials, because anyone who "
        "can reach it could retry and purge jobs; set QUEUEDECK_USERNAME and "
        "QUEUEDECK_PASSWORD (and QUEUEDECK_SECRET_KEY), or listen on 127.0.0.1",
        param_hint="--host",
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
