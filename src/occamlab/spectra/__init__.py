"""spectra room (see DESIGN.md)."""
