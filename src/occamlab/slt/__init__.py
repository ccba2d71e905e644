"""slt room (see DESIGN.md)."""
