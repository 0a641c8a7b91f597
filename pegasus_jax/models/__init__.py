"""Flax linen networks, by architecture (no losses, optimisers or training here), and
`flax_variables`: how the families keep a network's parameters apart from its model state."""
