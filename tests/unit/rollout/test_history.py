"""What the status remembers of finished rollouts, and for how long old stables stay warm."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.status import ModelRolloutStatus
from controller.rollout.draft import SCALE_DOWN_LIMIT, parse_time
from tests.unit.rollout.world import World, base_spec, revision_for, settled, with_image

pytestmark = pytest.mark.unit

ONE_STEP = {"canary": {"steps": [{"setWeight": 100}]}}


def deployed(**changes: Any) -> World:
    world = World(base_spec(strategy=ONE_STEP, **changes))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    return world


def roll_out(world: World, images: range) -> list[str]:
    revisions = []
    for n in images:
        spec = with_image(world.spec, f"model:{n}")
        world.edit(spec)
        world.run_until(settled)
        revisions.append(revision_for(spec))
    return revisions


def test_history_keeps_the_newest_revision_history_limit_entries() -> None:
    world = deployed(revisionHistoryLimit=2)
    revisions = roll_out(world, range(2, 5))
    assert [h.revision for h in world.status.history] == revisions[-2:]
    assert all(h.outcome == "Promoted" for h in world.status.history)


def test_history_defaults_to_ten_entries() -> None:
    world = deployed()
    revisions = roll_out(world, range(2, 14))
    assert [h.revision for h in world.status.history] == revisions[-10:]


def test_history_up_to_the_largest_limit_is_a_valid_status() -> None:
    world = deployed(revisionHistoryLimit=20)
    revisions = roll_out(world, range(2, 24))
    assert [h.revision for h in world.status.history] == revisions[-20:]
    written = world.status.model_dump(by_alias=True, exclude_none=True)
    assert ModelRolloutStatus.model_validate(written) == world.status


def test_a_lowered_limit_applies_at_the_next_reconcile() -> None:
    world = deployed()
    revisions = roll_out(world, range(2, 6))
    assert len(world.status.history) == 4
    world.edit({**world.spec, "revisionHistoryLimit": 1})
    world.tick()
    assert [h.revision for h in world.status.history] == revisions[-1:]


def test_scale_downs_keep_at_most_the_limit_of_old_stables_warm() -> None:
    strategy = {"canary": {"steps": [{"setWeight": 100}], "scaleDownDelaySeconds": 86_400}}
    world = World(base_spec(strategy=strategy))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    first = world.status.stable_revision
    revisions = [first or "", *roll_out(world, range(2, SCALE_DOWN_LIMIT + 4))]
    warm = [s.revision for s in world.status.scale_downs]
    assert warm == revisions[-SCALE_DOWN_LIMIT - 1:-1]
    assert first not in world.plans[-1].deployments


def test_an_old_stable_is_deleted_after_its_scale_down_delay() -> None:
    strategy = {"canary": {"steps": [{"setWeight": 100}], "scaleDownDelaySeconds": 120}}
    world = World(base_spec(strategy=strategy))
    world.run_until(lambda w: w.condition("Healthy")[0] == "True")
    old = world.status.stable_revision
    roll_out(world, range(2, 3))
    assert old in world.plans[-1].deployments
    promoted_at = parse_time(world.status.history[-1].finished_at)
    assert promoted_at is not None
    world.run_until(lambda w: old not in w.plans[-1].deployments)
    assert (world.now - promoted_at).total_seconds() == 120  # a deletion wakes the world at once
    assert world.status.scale_downs == []
