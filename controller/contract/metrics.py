"""The router's metric names, label names and bucket bounds (documented in docs/router.md).

The router exports them and the analysis queries them: both import this one definition.
"""

from __future__ import annotations

PREFIX = "modelrouter_"

# Label names.
VARIANT_LABEL = "variant"
CODE_LABEL = "code"
REASON_LABEL = "reason"
LABEL_LABEL = "label"
RESULT_LABEL = "result"
KIND_LABEL = "kind"
ROLE_LABEL = "role"
MODEL_LABEL = "model"
VERSION_LABEL = "version"
DIGEST_LABEL = "digest"
# The serving window of a labelled prediction (the table's `window` when it was served).
SERVED_LABEL = "served"
# How a unit reached its variant: "forced" (override header/cookie) or "segment" (pinned).
ASSIGNMENT_LABEL = "assignment"
SETTING_LABEL = "setting"
# The primary's and the shadow's label results on one request (paired feedback).
PRIMARY_RESULT_LABEL = "primary"
SHADOW_RESULT_LABEL = "shadow"

# Series.
REQUESTS = PREFIX + "requests_total"
ERRORS = PREFIX + "errors_total"
DURATION = PREFIX + "request_duration_seconds"
PREDICTIONS = PREFIX + "predictions_total"
SCORES = PREFIX + "prediction_score"
SHADOW_REQUESTS = PREFIX + "shadow_requests_total"
SHADOW_DURATION = PREFIX + "shadow_duration_seconds"
COMPARISONS = PREFIX + "shadow_comparisons_total"
SHADOW_DROPPED = PREFIX + "shadow_dropped_total"
FEEDBACK = PREFIX + "feedback_total"
# Labels and rewards refused: a bad, expired or replayed prediction token (reason).
FEEDBACK_REFUSED = PREFIX + "feedback_refused_total"
# Per shadow variant: labels joined to both the primary's and the shadow's prediction of the
# same request, by (primary correct|incorrect) x (shadow correct|incorrect): McNemar pairs.
PAIRED_FEEDBACK = PREFIX + "shadow_paired_feedback_total"
REWARDS = PREFIX + "feedback_reward_sum"
REWARD_COUNT = PREFIX + "feedback_rewards_total"
# Tokens handed out with experiment answers, by variant and serving window: label coverage is
# FEEDBACK / PREDICTIONS_SERVED per window.
PREDICTIONS_SERVED = PREFIX + "predictions_served_total"
# Labels for a shadow whose answer came after the primary's and is not on this replica.
SHADOW_LABELS_UNJOINED = PREFIX + "shadow_labels_unjoined_total"
# Forced and segment-pinned traffic: served, but kept out of the experiment's series.
OVERRIDE_REQUESTS = PREFIX + "override_requests_total"
OVERRIDE_FEEDBACK = PREFIX + "override_feedback_total"
FAULTS = PREFIX + "faults_injected_total"
REJECTED = PREFIX + "rejected_requests_total"
TABLE_VERSION = PREFIX + "table_version"
TABLE_REJECTED = PREFIX + "table_rejected_total"
# 1 for the table a router serves: version and digest (contract.table.table_digest).
TABLE_INFO = PREFIX + "table_info"
VARIANT_INFO = PREFIX + "variant_info"
WEIGHT = PREFIX + "variant_weight_basis_points"
# Every memory bound of the feedback path (setting) and how much of it is used.
LIMIT = PREFIX + "limit"
LIMIT_USAGE = PREFIX + "limit_usage"

# Bucket bounds: a latencyOver threshold must be one of LATENCY_BUCKETS.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))

# Users as the unit of analysis: the router counts requests, latencies and labels per hashed
# unit bucket (UNIT_BUCKET_LABEL, "0".."K-1"); K is the router's --unit-buckets.
UNIT_BUCKET_LABEL = "unit_bucket"
DEFAULT_UNIT_BUCKETS = 16
MAX_UNIT_BUCKETS = 64
