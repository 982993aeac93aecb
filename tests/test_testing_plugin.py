"""trio_gossip.testing and its pytest plugin: the example runs, a failure prints its seed and
replay command, and the replay reproduces the same history digest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from trio_gossip.testing import GossipTimeoutError, open_cluster, run

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

_FAILING = '''
async def test_digest(gossip):
    async with gossip.cluster(5) as cluster:
        await cluster.converged()
        await cluster.kill("node-02")
        await cluster.detected("node-02")
        print("DIGEST", cluster.digest())
        assert False
'''


def test_the_sharding_example_passes() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "examples" / "test_sharding.py")],
                          capture_output=True, text=True, timeout=240, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 passed" in done.stdout


def test_a_failure_prints_a_replay_that_reproduces_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_planted=_FAILING)
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    out = first.stdout.str()
    first.assert_outcomes(failed=1)
    seed = int(re.search(r"--gossip-seed=(\d+)", out).group(1))  # type: ignore[union-attr]
    assert "python -m pytest test_planted.py::test_digest --gossip-seed=" in out
    digests = set(re.findall(r"DIGEST (\w+)", out))
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--gossip-seed={seed}")
    assert set(re.findall(r"DIGEST (\w+)", again.stdout.str())) == digests
    other = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--gossip-seed={seed + 1}")
    assert set(re.findall(r"DIGEST (\w+)", other.stdout.str())) != digests


def test_same_seed_same_digest_and_bounded_waits() -> None:
    async def main() -> tuple[str, float]:
        async with open_cluster(6, seed=11) as cluster:
            took = await cluster.converged()
            assert took <= cluster.convergence_bound()
            await cluster.kill("node-04")
            detected = await cluster.detected("node-04")
            assert detected <= cluster.detection_bound()
            await cluster.restart("node-04")
            await cluster.converged()
            return cluster.digest(), detected

    assert run(main, seed=11) == run(main, seed=11)


def test_a_timeout_says_what_each_node_believed() -> None:
    async def partitioned() -> str:
        async with open_cluster(4, seed=3) as cluster:
            await cluster.converged()
            cluster.partition(["node-00", "node-01"], ["node-02", "node-03"])
            await cluster.kill("node-03")
            try:
                await cluster.converged(timeout=5.0)
            except GossipTimeoutError as error:
                return str(error)
            return "converged"

    message = run(partitioned, seed=3)
    assert "within 5.00 simulated s" in message
    assert "node-00: alive=" in message
    assert "node-00: alive=node-00,node-01 suspect=node-02,node-03" in message
    assert "NOT ALIVE node-02 STILL LISTS node-03" in message
    assert "(not running: node-03)" in message
    assert "partition node-00,node-01 | node-02,node-03" in message


_SEEDS = '''
import pytest
seen = []

@pytest.mark.gossip_seeds(3)
async def test_many(gossip):
    async with gossip.cluster(3) as cluster:
        await cluster.converged()
    seen.append(gossip.seed)
    print("SEED", gossip.seed)
'''


def test_the_marker_runs_several_seeds_and_the_option_pins_one(pytester: pytest.Pytester
                                                                ) -> None:  # fmt: skip
    pytester.makepyfile(test_seeds=_SEEDS)
    many = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    many.assert_outcomes(passed=3)
    assert len(set(re.findall(r"SEED (\d+)", many.stdout.str()))) == 3
    one = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--gossip-seed=77")
    one.assert_outcomes(passed=1)
    assert re.findall(r"SEED (\d+)", one.stdout.str()) == ["77"]
