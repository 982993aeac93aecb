"""A small service for the trio_gossip.testing tests: each node names the leader of the
cluster (the smallest member name it believes alive), from its membership events. The
planted bug: ``ignore_failures`` forgets to drop members that failed (only leaves count)."""

from __future__ import annotations

from collections.abc import Iterable

from trio_gossip import BaseDelegate, EventKind, MemberEvent
from trio_gossip.testing import GossipCluster, open_cluster, run
from trio_gossip.testing.faults import Fault

NAMES = [f"node-0{i}" for i in range(4)]


class LeaderView(BaseDelegate):
    def __init__(self, *, ignore_failures: bool = False) -> None:
        self.members: set[str] = set()
        self.ignore_failures = ignore_failures

    def notify_event(self, event: MemberEvent) -> None:
        if event.kind is EventKind.JOINED:
            self.members.add(event.member.name)
        elif event.kind is EventKind.LEFT or (
            event.kind is EventKind.FAILED and not self.ignore_failures
        ):
            self.members.discard(event.member.name)

    def leader(self) -> str | None:
        return min(self.members, default=None)


def one_leader_after_repair(schedule: Iterable[Fault], *, buggy: bool, seed: int = 1) -> bool:
    """Run the schedule on four nodes, repair everything, wait for convergence and for each
    killed node's detection: does every running node list exactly the running nodes (and so
    name the same running leader)?"""
    views: dict[str, LeaderView] = {}

    def view_of(name: str) -> LeaderView:
        views[name] = LeaderView(ignore_failures=buggy)  # a restart starts a fresh view
        return views[name]

    async def main() -> bool:
        async with open_cluster(len(NAMES), seed=seed, delegates=view_of) as cluster:
            await cluster.converged()
            await cluster.run_schedule(schedule)
            await cluster.repair()
            await settle(cluster)
            running = {h.name for h in cluster.running()}
            # Each running node lists exactly the running nodes, so all name one leader.
            return all(views[name].members == running for name in running)

    return run(main, seed=seed)


async def settle(cluster: GossipCluster) -> None:
    await cluster.converged()
    for handle in list(cluster.nodes.values()):
        if not handle.running:
            await cluster.detected(handle.name)
