"""The data-plane contract: what the operator writes and the router reads (the routing table,
variant names, metric names and buckets). Imported by both sides; imports neither."""
