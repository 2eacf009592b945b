"""The StreamVerse platform being operated: edges, origin, routing, gateway, viewers."""
