"""HTML rendering for the agent's status pages (``/memberlist``, ``/ring``).

Everything a page shows came from the network (member names, tags, KV keys, ring instance
ids): Jinja2 escapes every value (``autoescape=True``), the templates mark nothing safe, and
the pages carry a Content-Security-Policy that runs no script at all, so a name like
``<script>`` is text. grafana/dskit renders the same pages with Go's html/template
(kv/memberlist/status.gohtml, ring/ring_status.gohtml).
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import Any

from trio_gossip.apps.agent.http import HTML, Response

TEMPLATES = Path(__file__).with_name("templates")

# No scripts, no plugins, no framing; forms post only to this endpoint.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@functools.cache
def _environment() -> Any:  # a jinja2.Environment (the 'http' extra)
    import jinja2  # noqa: PLC0415

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, status: int = 200, **context: Any) -> Response:
    """A template rendered as an HTML response."""
    try:
        html = _environment().get_template(template).render(**context)
    except ImportError:
        return Response(501, "the status pages need the 'http' extra (jinja2)", "text/plain")
    return Response(status, html, HTML, headers=(("content-security-policy", CSP),))


def html_message(status: int, node: str, title: str, text: str) -> Response:
    """A short page for a refusal or an error a browser shows (the text is escaped)."""
    return render("message.html", status, node=node, now=clock_text(), title=title, text=text)


def clock_text(seconds: float | None = None) -> str:
    """UTC wall-clock time to the millisecond, as dskit's pages print it."""
    moment = (datetime.datetime.now(tz=datetime.UTC) if seconds is None
              else datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC))  # fmt: skip
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def age_text(seconds: float) -> str:
    """How long ago, to the tenth of a second."""
    return f"{max(seconds, 0.0):.1f} s ago"
