"""Traffic routers: one Protocol, one module per implementation, one registry."""
