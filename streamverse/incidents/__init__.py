"""incidents area of the StreamVerse control center."""
