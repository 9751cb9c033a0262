"""Layer 2: running workflows and steps durably, and the handles that watch them."""
