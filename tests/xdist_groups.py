"""`--dist loadgroup` under pytest 9: each test's xdist_group as its node id's `@group`.

pytest-xdist (3.8) sends the tests marked `@pytest.mark.xdist_group(name)` to one worker by
appending `@name` to `item._nodeid` on each worker, and its scheduler groups by that suffix.
pytest 9 keeps a node id in `item._id` (`item.nodeid` is `str(item._id)`), so the assignment
was lost: every group was spread over the workers like any test, and a module fixture that a
group shares was built once per worker. Here the suffix is set where pytest 9 reads it (the
same id xdist gives on older pytest), when xdist's own did not take.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            try:  # pytest 9's internals; another pytest: the groups spread (slower, not wrong)
                from _pytest.nodeid import NodeId
            except ImportError:
                return
            item._id = NodeId.parse(item.nodeid + suffix)


# pytest-xdist's loadgroup scheduler counts a worker's pending tests over every unit it was ever
# given, done ones too, each time a test ends (pytest-dev/pytest-xdist#279, open): quadratic,
# ~2 CPU seconds of the controller's for this suite's ~3,800 tests (one unit each), taken from
# the two workers' cores. Here a unit leaves the count once its last test is done.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class DoneUnitsDropped(LoadGroupScheduling):
        def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
            nodeid = self.registered_collections[node][item_index]
            scope = self._split_scope(nodeid)
            units = self.assigned_work[node]
            units[scope][nodeid] = True
            if all(units[scope].values()):
                del units[scope]
            self._reschedule(node)

    return DoneUnitsDropped(config, log)
