"""eigenlearning room (see DESIGN.md)."""
