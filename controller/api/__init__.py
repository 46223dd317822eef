"""The ModelRollout API (rollouts.mlops.dev/v1alpha1), defined once as pydantic models."""

GROUP = "rollouts.mlops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelRollout"
PLURAL = "modelrollouts"
SINGULAR = "modelrollout"
SHORT_NAMES = ("mro",)
