"""SLOs: files in three forms (native, OpenSLO, Sloth), budgets, burn rates, rules, SLA report."""
