"""StreamVerse Control Center: operate a global video streaming platform."""

__version__ = "0.1.0"
