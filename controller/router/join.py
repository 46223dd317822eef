"""The label join: prediction tokens issued on the request path, verified and counted by
whichever replica receives the feedback (docs/router.md, "Delayed feedback").

Stateless across replicas: the token carries the prediction. Per replica and bounded: the
replay filter (a replay to the same replica is refused; to another replica, or after this
replica restarted, it is counted again: at most once per replica and restart, and only by
someone who holds a genuine token) and the late shadow answers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

from controller.contract import metrics as names
from controller.router.credentials import SigningKeys
from controller.router.feedback import (
    FeedbackError,
    FeedbackSettings,
    LateShadows,
    ReplayFilter,
    paired_outcomes,
    parse_feedback,
)
from controller.router.metrics import Counter, Gauge, Registry
from controller.router.token import (
    EXPERIMENT,
    PENDING,
    Claims,
    LabelResult,
    TokenError,
    encode,
    encode_parts,
    json_text,
    judged,
    shadows_json,
    verify,
)

TOKEN_HEADER = b"x-prediction-token"
RENDERED_CODES = 4096
REFUSAL_STATUS = {"malformed": 400, "unknown_key": 403, "bad_signature": 403,
                  "other_rollout": 403, "expired": 410, "not_yet_valid": 403,
                  "replayed": 409, "replay_window": 410, "bad_unit_bucket": 400}
# Label values "0".."MAX_UNIT_BUCKETS-1", made once.
_BUCKET_NAMES = tuple(str(i) for i in range(names.MAX_UNIT_BUCKETS))


class JoinMetrics:
    def __init__(self, r: Registry) -> None:
        # Per unit bucket (from the token): the analysis's unit-level variance of accuracy.
        self.feedback = r.add(Counter(names.FEEDBACK,
                                      "Joined labels by variant (shadows included), the "
                                      "window the prediction was served in and unit bucket.",
                                      (names.VARIANT_LABEL, names.RESULT_LABEL,
                                       names.SERVED_LABEL, names.UNIT_BUCKET_LABEL)))
        self.refused = r.add(Counter(names.FEEDBACK_REFUSED,
                                     "Feedback refused for its token: malformed, unknown_key, "
                                     "bad_signature, other_rollout, expired, not_yet_valid, "
                                     "replayed, replay_window, bad_unit_bucket.",
                                     (names.REASON_LABEL,)))
        self.rewards = r.add(Counter(names.REWARDS,
                                     "Sum of numeric rewards joined to the serving variant.",
                                     (names.VARIANT_LABEL, names.SERVED_LABEL,
                                      names.UNIT_BUCKET_LABEL)))
        self.reward_count = r.add(Counter(names.REWARD_COUNT, "Rewards joined.",
                                          (names.VARIANT_LABEL, names.SERVED_LABEL,
                                           names.UNIT_BUCKET_LABEL)))
        self.served = r.add(Counter(names.PREDICTIONS_SERVED,
                                    "Prediction tokens handed out (experiment traffic).",
                                    (names.VARIANT_LABEL, names.SERVED_LABEL)))
        self.paired = r.add(Counter(
            names.PAIRED_FEEDBACK, "Labels joined to a shadow's and its primary's prediction of "
            "the same request, by each one's result.",
            (names.VARIANT_LABEL, names.PRIMARY_RESULT_LABEL, names.SHADOW_RESULT_LABEL,
             names.SERVED_LABEL)))
        self.unjoined = r.add(Counter(names.SHADOW_LABELS_UNJOINED,
                                      "Labels whose shadow answer came late and is not on "
                                      "this replica (or expired).", (names.VARIANT_LABEL,)))
        self.override_feedback = r.add(Counter(
            names.OVERRIDE_FEEDBACK, "Labels of forced or segment-pinned predictions.",
            (names.VARIANT_LABEL, names.ASSIGNMENT_LABEL, names.RESULT_LABEL)))
        self.limit = r.add(Gauge(names.LIMIT, "Configured memory bounds of the router.",
                                 (names.SETTING_LABEL,)))
        self.usage = r.add(Gauge(names.LIMIT_USAGE, "How much of each bound is in use.",
                                 (names.SETTING_LABEL,)))


class LabelJoin:
    """Issues tokens (`issue`, on the request path) and counts feedback (`feedback`)."""

    def __init__(self, registry: Registry, settings: FeedbackSettings, keys: SigningKeys,
                 late: LateShadows, wall_clock: Callable[[], float] = time.time) -> None:
        if not 2 <= settings.unit_buckets <= names.MAX_UNIT_BUCKETS:
            raise ValueError(f"unit_buckets must be in 2..{names.MAX_UNIT_BUCKETS}")
        self.metrics = JoinMetrics(registry)
        self.settings = settings
        self.keys = keys
        self.late = late
        self.wall_clock = wall_clock
        self.replays = ReplayFilter(settings.replay_filter_entries, settings.token_validity_s)
        self.rollout = ""
        self._rendered: dict[str, str] = {}
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = 0
        for setting, value in (("replay_filter_entries", settings.replay_filter_entries),
                               ("late_shadow_entries", settings.late_shadow_entries),
                               ("feedback_body_bytes", settings.max_feedback_bytes),
                               ("token_validity_seconds", settings.token_validity_s)):
            self.metrics.limit.set((setting,), value)

    def next_id(self) -> str:
        """A token id: unique (a random prefix per process and a counter); the MAC, not the
        id, is what makes tokens unguessable."""
        self._id_counter += 1
        return self._id_prefix + format(self._id_counter, "x")

    def issue(self, claims: Claims) -> bytes:
        key_id, key = self.keys.current
        if claims.assignment == EXPERIMENT:
            self.metrics.served.inc((claims.variant, claims.window))
        return encode(claims, key_id, key).encode()

    def issue_fast(self, token_id: str, head: str, variant: str, window: str, experiment: bool,
                   unit_bucket: int, prediction: str, shadows: tuple[tuple[str, str], ...]
                   ) -> bytes:
        """`issue` for the request path: `head` is token.head_json of the variant's claims,
        and prediction codes are rendered once (classifiers repeat a few)."""
        key_id, key = self.keys.current
        if experiment:
            self.metrics.served.inc((variant, window))
        rendered = self._rendered.get(prediction)
        if rendered is None:
            if len(self._rendered) >= RENDERED_CODES:
                self._rendered.clear()
            rendered = self._rendered[prediction] = json_text(prediction)
        return encode_parts(token_id, int(self.wall_clock()), head, unit_bucket, rendered,
                            shadows_json(shadows) if shadows else "[]", key_id, key).encode()

    def refresh(self) -> None:
        """Off the request path (the flush timer): keys, expiry, usage gauges."""
        self.keys.refresh()
        now = self.wall_clock()
        self.replays.expire(now)
        self.late.expire(now)
        self.metrics.usage.set(("replay_filter_entries",), len(self.replays))
        self.metrics.usage.set(("late_shadow_entries",), len(self.late))

    def feedback(self, body: bytes, max_depth: int) -> tuple[int, dict[str, object]]:
        if len(body) > self.settings.max_feedback_bytes:
            return 413, {"error": f"body: larger than {self.settings.max_feedback_bytes} bytes"}
        try:
            token, label, reward = parse_feedback(body, max_depth, self.settings.max_reward)
            claims, bucket = self._authentic(token)
        except FeedbackError as bad:
            return 400, {"error": str(bad)}
        except TokenError as refused:  # a name of its own: mypyc types each `as` variable
            self.metrics.refused.inc((refused.reason,))
            return REFUSAL_STATUS.get(refused.reason, 400), {"error": str(refused),
                                                             "reason": refused.reason}
        return 200, self._count(claims, bucket, label, reward)

    def _authentic(self, token: str) -> tuple[Claims, str]:
        """The claims of a token to count now, and its unit bucket as a label value."""
        claims = verify(token, self.keys.accepted())
        bucket = self.unit_bucket(claims.unit_bucket)
        now = self.wall_clock()
        age = now - claims.issued
        if age > self.settings.token_validity_s:
            raise TokenError("expired", "token expired: the label came too late")
        if age < -self.settings.clock_skew_s:
            raise TokenError("not_yet_valid", "token issued in the future")
        if self.rollout and claims.rollout != self.rollout:
            raise TokenError("other_rollout", "token of another rollout")
        refusal = self.replays.admit(claims.token_id, claims.issued, now)
        if refusal is not None:
            raise TokenError(refusal, "token already counted" if refusal == "replayed" else
                             "token older than this replica's replay filter remembers")
        return claims, bucket

    def unit_bucket(self, bucket: int) -> str:
        """The label value of a token's unit bucket, within 0..K-1 whatever the token says
        (signed, but checked all the same: the label's cardinality is Prometheus's). A bucket
        of a router with more buckets (K lowered since) is folded onto ours, so one unit's
        labels stay in one bucket; one no router issues is refused."""
        if not 0 <= bucket < names.MAX_UNIT_BUCKETS:
            top = names.MAX_UNIT_BUCKETS - 1
            raise TokenError("bad_unit_bucket", f"token unit bucket {bucket} is outside 0..{top}")
        return _BUCKET_NAMES[bucket % self.settings.unit_buckets]

    def _count(self, claims: Claims, bucket: str, label: str | None, reward: float | None
               ) -> dict[str, object]:
        m = self.metrics
        results: dict[str, LabelResult] = {}
        experiment = claims.assignment == EXPERIMENT
        if label is not None:
            verdict = judged(claims.prediction, label)
            if verdict is not None:
                results[claims.variant] = verdict
                if experiment:
                    m.feedback.inc((claims.variant, verdict, claims.window, bucket))
                else:
                    m.override_feedback.inc((claims.variant, claims.assignment, verdict))
            for shadow, code in claims.shadows:
                if code == PENDING:
                    found = self.late.take(claims.token_id, shadow, self.wall_clock())
                    if found is None:
                        m.unjoined.inc((shadow,))
                        continue
                    code = found
                verdict = judged(code, label)
                if verdict is not None:
                    results[shadow] = verdict
                    m.feedback.inc((shadow, verdict, claims.window, bucket))
            if experiment:
                for shadow, ours, theirs in paired_outcomes(claims.variant, results):
                    m.paired.inc((shadow, ours, theirs, claims.window))
        if reward is not None and experiment and math.isfinite(reward):
            m.rewards.inc((claims.variant, claims.window, bucket), reward)
            m.reward_count.inc((claims.variant, claims.window, bucket))
        return {"tokenId": claims.token_id, "variant": claims.variant,
                "assignment": claims.assignment, "served": claims.window, "results": results}
