"""slo area of the StreamVerse control center."""
