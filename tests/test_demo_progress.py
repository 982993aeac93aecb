"""``trio-gossip demo`` in a pipe or a log: progress lines and member tables, from the
simulated state and time alone."""

from __future__ import annotations

import io
import itertools
import re

import pytest

from trio_gossip.apps.demo_options import DemoOptions
from trio_gossip.apps.sim.demo import run
from trio_gossip.apps.sim.table import progress_line, span, table_lines
from trio_gossip.apps.sim.views import NodeView, Survey

PROGRESS = re.compile(
    r"^t= *(?P<t>\d+\.\d\d)s  (?P<phase>\w+) +complete views +(?P<done>\d+)/(?P<of>\d+)  "
    r"members seen (?P<seen>[\d-]+) \(median [\d.]+\)  suspecting (?P<suspecting>\d+)  "
    r"holding dead (?P<dead>\d+)$",
    re.MULTILINE,
)
ROW = re.compile(r"^    (node-\d\d) +(?:(\d+) +(\d+) +(\d+)  (yes|no)|\((\w+)\))$", re.MULTILINE)
MORE = re.compile(
    r"^    (\d+) more +([\d-]+) +([\d-]+) +([\d-]+)  (\d+)/(\d+)(?: \((\d+) stopped\))?$",
    re.MULTILINE,
)


def _demo(nodes: int, seed: int) -> str:
    out = io.StringIO()
    assert run(DemoOptions(nodes=nodes, seed=seed), out) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def story() -> str:
    return _demo(14, 3)


def _after(text: str, milestone: str) -> str:
    """The text from the last line announcing ``milestone`` to the next progress line."""
    start = text.rindex(f">> {milestone}")
    rest = text[start:].split("\n", 2)[2]  # skip the milestone and its progress line
    end = rest.find("\nt=")
    return rest if end < 0 else rest[:end]


def test_the_final_table_shows_every_survivor_with_all_alive(story: str) -> None:
    victim = re.search(r">> (node-\d\d) killed", story)
    assert victim is not None
    table = _after(story, "every survivor has")
    rows = ROW.findall(table)
    assert len(rows) == 10
    for name, alive, suspect, dead, complete, gone in rows:
        if name == victim[1]:
            assert gone == "killed"
        else:
            assert (alive, suspect, dead, complete) == ("13", "0", "1", "yes")
    more = MORE.search(table)
    assert more is not None
    count, alive, suspect, dead, complete, of, stopped = more.groups()
    assert count == "4"
    assert (alive, suspect, dead) == ("13", "0", "1")
    assert complete == of == str(4 - int(stopped or 0))


def test_the_tables_follow_the_joins(story: str) -> None:
    joined = ROW.findall(_after(story, "every join() has returned"))
    assert joined[0][:5] == ("node-00", "14", "0", "0", "yes")  # the seed knows everyone
    assert all(0 < int(row[1]) <= 14 for row in joined)
    converged = ROW.findall(_after(story, "every node sees all 14"))
    assert {row[1:5] for row in converged} == {("14", "0", "0", "yes")}


def test_progress_lines_count_the_views(story: str) -> None:
    lines = [m.groupdict() for m in PROGRESS.finditer(story)]
    assert lines[0]["phase"] == "joining"
    converged = [line for line in lines if line["phase"] == "converged"]
    assert converged
    assert all((c["done"], c["of"], c["seen"]) == ("14", "14", "14") for c in converged)
    failure = [line for line in lines if line["phase"] == "failure"]
    # Nobody's view is complete until the victim is declared dead.
    assert failure[0]["done"] == "0"
    assert failure[0]["of"] == "13"
    assert any(int(f["suspecting"]) == 13 for f in failure)
    final = lines[-1]
    assert final["phase"] == "agreed"
    assert (final["done"], final["of"], final["seen"], final["dead"]) == ("13", "13", "13", "13")


@pytest.mark.parametrize(("nodes", "seed"), [(14, 3), (30, 1)])
def test_progress_lines_come_every_few_simulated_seconds(nodes: int, seed: int) -> None:
    text = _demo(nodes, seed)
    times = [float(t) for t in re.findall(r"^t= *(\d+\.\d\d)s", text, re.MULTILINE)]
    # The longest interval is a tenth of the calm (n probe intervals of 1 s), at least a
    # probe interval, plus the 0.2 s tick it is checked at.
    limit = max(1.0, nodes / 10) + 0.2 + 0.01
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= limit
    assert times == sorted(times)
    assert sum(1 for line in text.splitlines() if "  converged  " in line) >= 10


def test_a_table_gives_ranges_and_stopped_nodes() -> None:
    views = [NodeView(f"node-{i:02d}", running=True, status="running", alive=5 + i % 3,
                      suspect=0, dead=0, complete=i % 3 == 2) for i in range(12)]  # fmt: skip
    views[1] = NodeView("node-01", running=False, status="killed")
    views[11] = NodeView("node-11", running=False, status="killed")
    survey = Survey(tuple(views))
    lines = table_lines(survey)
    assert lines[0].split() == ["node", "alive", "suspect", "dead", "complete"]
    assert lines[1].split() == ["node-00", "5", "0", "0", "no"]
    assert lines[2].split() == ["node-01", "(killed)"]
    assert lines[-1].split() == ["2", "more", "6", "0", "0", "0/1", "(1", "stopped)"]
    # The columns line up: everything before the last one ends at the same place.
    assert len({len(line.rsplit("  ", 1)[0]) for line in lines if "killed" not in line}) == 1
    assert progress_line(survey, 1.5, "joining") == (
        "t=   1.50s  joining    complete views   3/10  members seen 5-7 (median 6)  "
        "suspecting 0  holding dead 0"
    )


def test_span() -> None:
    assert span([]) == "-"
    assert span([3, 3]) == "3"
    assert span([4, 2, 9]) == "2-9"
