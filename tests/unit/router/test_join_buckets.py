"""Labels and rewards counted per unit bucket, the bucket taken from the verified token and
kept within 0..K-1 (the label's cardinality is bounded whatever a token says)."""

from __future__ import annotations

import json

import pytest

from controller.contract.metrics import MAX_UNIT_BUCKETS, UNIT_BUCKET_LABEL
from controller.router.credentials import SigningKeys
from controller.router.feedback import FeedbackSettings, LateShadows
from controller.router.join import LabelJoin
from controller.router.metrics import Registry
from controller.router.settings import build_parser, settings_from
from controller.router.token import EXPERIMENT, Claims, encode

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def make_join(unit_buckets: int = 4) -> LabelJoin:
    return LabelJoin(Registry(), FeedbackSettings(unit_buckets=unit_buckets),
                     SigningKeys(None, lambda: NOW), LateShadows(10, 60.0), lambda: NOW)


def label(join: LabelJoin, bucket: int, token_id: str, **body: object
          ) -> tuple[int, dict[str, object]]:
    claims = Claims(token_id, int(NOW) - 5, "ns/m", "v2/step-1", "candidate", "v2",
                    EXPERIMENT, bucket, "=cat", (("shadow-a", "=dog"),))
    key_id, key = join.keys.current
    payload = {"token": encode(claims, key_id, key), **body}
    return join.feedback(json.dumps(payload).encode(), 64)


def _render(join: LabelJoin) -> str:
    registry = Registry()
    registry.add(join.metrics.feedback)
    registry.add(join.metrics.rewards)
    registry.add(join.metrics.reward_count)
    registry.add(join.metrics.refused)
    return registry.render().decode()


def test_labels_shadows_and_rewards_carry_the_tokens_unit_bucket() -> None:
    join = make_join()
    assert label(join, 3, "t1", label="cat", reward=2.5)[0] == 200
    text = _render(join)
    bucket = f'{UNIT_BUCKET_LABEL}="3"'
    assert (f'modelrouter_feedback_total{{variant="candidate",result="correct",'
            f'served="v2/step-1",{bucket}}} 1') in text
    assert (f'modelrouter_feedback_total{{variant="shadow-a",result="incorrect",'
            f'served="v2/step-1",{bucket}}} 1') in text
    assert (f'modelrouter_feedback_reward_sum{{variant="candidate",served="v2/step-1",'
            f'{bucket}}} 2.5') in text
    assert (f'modelrouter_feedback_rewards_total{{variant="candidate",served="v2/step-1",'
            f'{bucket}}} 1') in text


def test_a_bucket_of_a_router_with_more_buckets_is_folded_into_range() -> None:
    """K lowered since the prediction was served: the label still counts, in bucket b mod K."""
    join = make_join(unit_buckets=4)
    assert label(join, 6, "t1", label="cat")[0] == 200
    assert label(join, MAX_UNIT_BUCKETS - 1, "t2", label="cat")[0] == 200
    counted = join.metrics.feedback
    assert counted.get(("candidate", "correct", "v2/step-1", "2")) == 1
    assert counted.get(("candidate", "correct", "v2/step-1", str((MAX_UNIT_BUCKETS - 1) % 4))) \
        == 1


@pytest.mark.parametrize("bucket", [-1, MAX_UNIT_BUCKETS, 10**12])
def test_a_signed_token_with_an_impossible_bucket_is_refused_and_counts_nothing(
        bucket: int) -> None:
    join = make_join()
    status, answer = label(join, bucket, "t1", label="cat", reward=1.0)
    assert status == 400
    assert answer["reason"] == "bad_unit_bucket"
    assert join.metrics.refused.get(("bad_unit_bucket",)) == 1
    text = _render(join)
    assert "modelrouter_feedback_total{" not in text
    assert "modelrouter_feedback_reward_sum{" not in text
    # refused before the replay filter: it remembers nothing of it
    assert len(join.replays) == 0


@pytest.mark.parametrize("buckets", [0, 1, MAX_UNIT_BUCKETS + 1])
def test_the_join_refuses_an_unbounded_bucket_count(buckets: int) -> None:
    with pytest.raises(ValueError, match="unit_buckets"):
        make_join(buckets)


def test_the_unit_buckets_flag_reaches_the_join() -> None:
    settings = settings_from(build_parser().parse_args(["--unit-buckets", "8"]))
    assert settings.feedback.unit_buckets == 8
    assert settings.proxy.unit_buckets == 8
