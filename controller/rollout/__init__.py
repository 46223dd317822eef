"""The rollout core: pure functions of (spec, status, observations, now); no kopf, no kubernetes."""
