"""Metric-provider implementations (network I/O) behind analysis.provider.MetricProvider."""
