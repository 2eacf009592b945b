"""Live driver: the platform components served over real HTTP on loopback."""
