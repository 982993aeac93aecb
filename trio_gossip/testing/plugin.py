"""The pytest plugin (entry point ``pytest11``): the ``gossip`` fixture, ``--gossip-seed``,
a fresh seed per test printed with its replay command on failure, and the
``gossip_seeds(n)`` marker for tests that must pass on several seeds."""

from __future__ import annotations

import inspect
import random
import shlex
from collections.abc import Generator, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trio_gossip.shell.sim_clock import SimClock

if TYPE_CHECKING:
    from trio_gossip.core.config import Config
    from trio_gossip.testing.cluster import GossipCluster
    from trio_gossip.testing.node import DelegateFactory, Kind

# Every pytest run loads this plugin (an installed entry point), so the cluster machinery is
# imported only by a test that asks for the fixture.

_SEED_KEY = pytest.StashKey[int]()


class Gossip(trio.abc.Clock):
    """The ``gossip`` fixture. It is also the test's clock: pytest-trio runs a test on any
    Clock among its fixtures, so a test that takes ``gossip`` runs on simulated time."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._clock = SimClock()

    def cluster(self, nodes: int = 5, *, kind: Kind = "plain", config: Config | None = None,
                delegates: DelegateFactory | None = None, join: bool = True,
                formed: bool = False,
                ) -> AbstractAsyncContextManager[GossipCluster]:  # fmt: skip
        """``open_cluster`` with this test's seed."""
        from trio_gossip.testing.cluster import open_cluster  # noqa: PLC0415

        return open_cluster(nodes, seed=self.seed, kind=kind, config=config,
                            delegates=delegates, join=join, formed=formed)  # fmt: skip

    def start_clock(self) -> None:
        self._clock.start_clock()

    def current_time(self) -> float:
        return self._clock.current_time()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return self._clock.deadline_to_sleep_time(deadline)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gossip-seed", type=int, default=None, metavar="SEED",
                     help="run every gossip test on this seed (replays a failure)")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gossip_seeds(n): run this gossip test on n seeds (--gossip-seed: one)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("gossip_seeds")
    if marker is None or "gossip_seed" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--gossip-seed")
    count = int(marker.args[0]) if marker.args else 3
    if chosen is not None:
        seeds = [chosen]
    else:
        picker = random.Random(random.SystemRandom().getrandbits(64))
        seeds = [picker.getrandbits(32) for _ in range(count)]
    metafunc.parametrize("gossip_seed", seeds, indirect=True, ids=[f"seed{s}" for s in seeds])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # An async test that takes ``gossip`` is a Trio test, with or without trio_mode.
    for item in items:
        function = getattr(item, "obj", None)
        if ("gossip" in getattr(item, "fixturenames", ()) and
                inspect.iscoroutinefunction(function) and
                item.get_closest_marker("trio") is None):  # fmt: skip
            item.add_marker(pytest.mark.trio)


@pytest.fixture
def gossip_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: the marker's parameter, else --gossip-seed, else a fresh one."""
    seed = getattr(request, "param", None)
    if seed is None:
        seed = request.config.getoption("--gossip-seed")
    if seed is None:
        seed = random.SystemRandom().getrandbits(32)
    request.node.stash[_SEED_KEY] = int(seed)
    return int(seed)


@pytest.fixture
def gossip(gossip_seed: int) -> Iterator[Gossip]:
    """Builds clusters on this test's seed, with Trio's scheduling order fixed by it."""
    from trio_gossip.apps.sim.runner import (  # noqa: PLC0415
        deterministic_scheduler,
        patient_collector,
    )

    with ExitStack() as stack:
        stack.enter_context(deterministic_scheduler(gossip_seed))
        stack.enter_context(patient_collector())
        yield Gossip(gossip_seed)


def replay_command(nodeid: str, seed: int) -> str:
    return f"python -m pytest {shlex.quote(nodeid)} --gossip-seed={seed}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:  # fmt: skip
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    seed = item.stash.get(_SEED_KEY, None)
    if seed is not None and report.failed:
        report.sections.append(
            ("gossip seed", f"seed {seed}; replay with:\n  {replay_command(item.nodeid, seed)}"))
