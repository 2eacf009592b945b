"""Control-plane FastAPI app that every area router joins."""
