"""Money: price catalog, metered cost, forecast, anomalies, savings, capacity plan, cost report."""
