"""dashboard: the queuedeck web console for queue monitoring and dead-letter triage.

Run it standalone with ``queuedeck serve`` or gunicorn on :func:`create_app`,
or mount it in a host Flask app::

    from dashboard import init_app

    init_app(app, url_prefix="/admin/queues", auth_check=lambda: is_admin())

It reads the queue only through :class:`queue_core.Queue`, so it works on
every backend.
"""

from .app import create_app
from .extension import init_app, make_blueprint
from .settings import ConsoleSettings
from .state import ConsoleState, console_state

__all__ = [
    "ConsoleSettings",
    "ConsoleState",
    "console_state",
    "create_app",
    "init_app",
    "make_blueprint",
]
