"""collectors area of the StreamVerse control center."""
