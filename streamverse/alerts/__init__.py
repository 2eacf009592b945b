"""alerts area of the StreamVerse control center."""
