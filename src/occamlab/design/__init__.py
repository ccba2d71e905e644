"""design room (see DESIGN.md)."""
