"""A small real model server: a joblib scikit-learn model behind a KServe v1 style JSON API.

`python -m controller.modelserver --model v1.joblib --port 8080` (see docs/modelserver.md);
`python -m controller.modelserver.train --out DIR` trains the demo's three models.
"""
