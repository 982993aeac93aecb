"""``GET /memberlist``: the node's members, its KV keys and its KV message history as HTML.

The facts are dskit's memberlist page (kv/memberlist/http_status_handler.go and
status.gohtml): health score, members, each key's codec, local version, update time and
encoded size, and the sent and received messages of ``-memberlist.message-history-buffer-
bytes``. Unlike dskit's page nothing here changes on GET (dskit deletes the history on
``?deleteMessages=true``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trio_gossip.apps.agent.api import STATE_NAMES
from trio_gossip.apps.agent.pages import clock_text, render

if TYPE_CHECKING:
    from trio_gossip.apps.agent.http import Handler, Request, Response
    from trio_gossip.apps.agent.runner import Agent
    from trio_gossip.core.membership.member import Member
    from trio_gossip.shell.kv.history import KVMessage, MessageHistory
    from trio_gossip.shell.kv.store import KVStore

META_SHOWN = 64  # bytes of metadata shown raw when it is not Serf tags


def _member_row(agent: Agent, member: Member) -> dict[str, Any]:
    tags = agent.delegate.tags_of(member.meta)
    raw = member.meta[:META_SHOWN].hex() + ("…" if len(member.meta) > META_SHOWN else "")
    host = f"[{member.host}]" if ":" in member.host else member.host
    return {
        "name": member.name,
        "address": f"{host}:{member.port}",
        "state": STATE_NAMES.get(member.state, str(member.state)),
        "incarnation": member.incarnation,
        "tags": sorted(tags.items()),
        "raw_meta": raw,
        "protocol": f"{member.pmin}..{member.pmax} ({member.pcur}),"
                    f" delegate {member.dmin}..{member.dmax} ({member.dcur})",
    }  # fmt: skip


def _kv_table(kv: KVStore) -> dict[str, Any]:
    rows = []
    total = 0
    for key, entry in sorted(kv.replica.entries.items()):
        size = 0 if entry.deleted else len(entry.encoded(kv.codecs))
        total += size
        rows.append({"key": key, "codec": entry.codec, "version": entry.version,
                     "deleted": entry.deleted, "updated": clock_text(entry.updated_at),
                     "size": size})  # fmt: skip
    return {"entries": rows, "total": total}


def _message_row(history: MessageHistory, message: KVMessage) -> dict[str, Any]:
    pair = history.decode(message)
    records = message.changes if message.lane else None
    if pair is not None and records is None and not message.lane:
        records = history.records(pair)
    if pair is not None and pair.deleted:
        shown = "key deleted"
    else:
        shown = ", ".join(records) if records is not None else "?"
    return {
        "id": message.id,
        "time": clock_text(message.time),
        "key": pair.key if pair is not None else "(does not decode)",
        "codec": pair.codec if pair is not None else "?",
        "stamp": clock_text(pair.updated_at) if pair is not None and pair.updated_at else "-",
        "size": message.size,
        "version": message.version,
        "lane": message.lane or "-",
        "records": shown,
    }


def _history_tables(history: MessageHistory) -> dict[str, Any]:
    history.sync()  # pick up what arrived since the last look (a read: nothing is lost)
    return {
        "limit": history.sent.limit,
        "received": [_message_row(history, m) for m in reversed(list(history.received))],
        "sent": [_message_row(history, m) for m in reversed(list(history.sent))],
    }


def memberlist_handler(agent: Agent) -> Handler:
    """The ``GET /memberlist`` route of ``agent``."""

    async def handle(request: Request) -> Response:
        node = agent.node
        live = {m.name: m for m in node.members()}
        departed = [m for name, m in agent.book.departed.items() if name not in live]
        members = sorted([*live.values(), *departed], key=lambda m: m.name)
        kv = agent.kv if agent.kv is not None and agent.kv.running else None
        history = agent.history if kv is not None else None
        return render(
            "memberlist.html",
            node=node.local_member.name,
            now=clock_text(),
            health_score=node.health_score,
            member_count=node.num_members(),
            members=[_member_row(agent, m) for m in members],
            kv=_kv_table(kv) if kv is not None else None,
            history=_history_tables(history) if history is not None else None,
        )

    return handle
