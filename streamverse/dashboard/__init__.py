"""dashboard area of the StreamVerse control center."""
