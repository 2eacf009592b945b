"""The Streamlit control center; it reaches the control plane only through the typed client."""
