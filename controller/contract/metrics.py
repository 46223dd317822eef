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
FEEDBACK_UNKNOWN = PREFIX + "feedback_unknown_total"
# Per shadow variant: labels joined to both the primary's and the shadow's prediction of the
# same request, by (primary correct|incorrect) x (shadow correct|incorrect): McNemar pairs.
PAIRED_FEEDBACK = PREFIX + "shadow_paired_feedback_total"
REWARDS = PREFIX + "feedback_reward_sum"
FAULTS = PREFIX + "faults_injected_total"
REJECTED = PREFIX + "rejected_requests_total"
TABLE_VERSION = PREFIX + "table_version"
TABLE_REJECTED = PREFIX + "table_rejected_total"
# 1 for the table a router serves: version and digest (contract.table.table_digest).
TABLE_INFO = PREFIX + "table_info"
VARIANT_INFO = PREFIX + "variant_info"
WEIGHT = PREFIX + "variant_weight_basis_points"
STORE_SIZE = PREFIX + "feedback_store_entries"

# Bucket bounds: a latencyOver threshold must be one of LATENCY_BUCKETS.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))

# Users as the unit of analysis: the router counts requests, latencies and labels per hashed
# unit bucket (UNIT_BUCKET_LABEL, "0".."K-1"); K is the router's --unit-buckets.
UNIT_BUCKET_LABEL = "unit_bucket"
DEFAULT_UNIT_BUCKETS = 16
MAX_UNIT_BUCKETS = 64
