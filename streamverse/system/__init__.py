"""The composition root: wires the areas into a live system, drills and the app; nothing imports it."""
