"""costs area of the StreamVerse control center."""
