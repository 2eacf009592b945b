"""SLOs: files in three forms (native, OpenSLO, Sloth), error budgets, burn rates, Prometheus rules, SLA report."""
