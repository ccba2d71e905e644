"""kernels room (see DESIGN.md)."""
