"""features room (see DESIGN.md)."""
