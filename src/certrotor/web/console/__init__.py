"""The web console: the fleet at a glance, rotate and check now, onboarding by consent; server-rendered.

``certrotor web serve`` (and ``certrotor daemon --web-port``) serve it; see :mod:`.app` for its
assembly, :mod:`.routes` for its pages and :mod:`.server` for how it listens.
"""

from certrotor.web.console.app import Console, ConsoleOptions, create_console_app
from certrotor.web.console.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ListenPlan,
    RunningConsole,
    open_console,
    plan_listening,
    serve_beside,
    serve_forever,
    serve_in_thread,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Console",
    "ConsoleOptions",
    "ListenPlan",
    "RunningConsole",
    "create_console_app",
    "open_console",
    "plan_listening",
    "serve_beside",
    "serve_forever",
    "serve_in_thread",
]
